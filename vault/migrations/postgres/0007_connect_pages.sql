-- Connect pages and the operators' console (design 18 §1, §3, §4).
--
-- connect_link_uses: the `jti` of every redeemed signed connect link, so a link opens a session
-- once (a replay hits the primary key). Rows are pruned once their link has expired.
CREATE TABLE connect_link_uses (
    jti         TEXT PRIMARY KEY,
    used_at     BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

-- Browser sessions of the connect page (`connect`) and the console (`console`). The cookie holds
-- 32 random bytes; only their SHA-256 is stored, so a database reader cannot ride a session.
CREATE TABLE browser_sessions (
    id_hash       TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    workspace_id  TEXT,
    user_id       TEXT,
    providers     TEXT,
    subject       TEXT,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);

-- The console's keyset indexes on `connections` are built in 0011-0014 (one per file, so
-- PostgreSQL can build each CONCURRENTLY without blocking writes to a large table).
