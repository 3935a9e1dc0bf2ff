-- Nexus broker schema (SQLite). Kept column-for-column identical to migrations/postgres so the
-- same queries run on both. Times are BIGINT unix milliseconds; secrets are BLOB ciphertexts
-- (see src/crypto.rs for the sealed format); JSON lives in TEXT.

CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    name        TEXT,
    created_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    prefix        TEXT NOT NULL,
    key_hash      TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX api_keys_workspace ON api_keys(workspace_id);

CREATE TABLE providers (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    kind           TEXT NOT NULL,
    spec           TEXT NOT NULL,
    client_secret  BLOB,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE connections (
    id                 TEXT PRIMARY KEY,
    workspace_id       TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    provider_name      TEXT NOT NULL,
    user_id            TEXT,
    status             TEXT NOT NULL,
    scopes             TEXT NOT NULL,
    access_token       BLOB,
    access_expires_at  BIGINT,
    refresh_token      BLOB,
    credentials        BLOB,
    token_type         TEXT,
    version            BIGINT NOT NULL DEFAULT 0,
    last_refresh_at    BIGINT,
    last_error         TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX connections_lookup ON connections(workspace_id, provider_name, status);

CREATE TABLE pending_authorizations (
    state_hash     TEXT PRIMARY KEY,
    connection_id  TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    workspace_id   TEXT NOT NULL,
    provider_name  TEXT NOT NULL,
    code_verifier  BLOB,
    nonce          TEXT,
    redirect_uri   TEXT NOT NULL,
    return_url     TEXT,
    scopes         TEXT NOT NULL,
    expires_at     BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE audit_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            BIGINT NOT NULL,
    workspace_id  TEXT,
    action        TEXT NOT NULL,
    target        TEXT,
    principal     TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    request_id    TEXT,
    detail        TEXT,
    prev_hash     TEXT,
    hash          TEXT
);
CREATE INDEX audit_events_workspace_at ON audit_events(workspace_id, at);

-- Metadata only: key material never touches the database.
CREATE TABLE encryption_keys (
    id          TEXT PRIMARY KEY,
    created_at  BIGINT NOT NULL,
    active_at   BIGINT,
    retired_at  BIGINT
);
