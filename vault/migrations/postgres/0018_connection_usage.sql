-- Who used each connection recently (design 18 §4 "agents that used it"), for the operators'
-- console: one row per (connection, principal label such as `api_key:<id>` or
-- `session:<id>`), its last successful resolve. Written at most once a minute per row and
-- process (the vault coalesces in memory), so the resolve path does not turn into a write path.
-- A new, empty table: nothing to build CONCURRENTLY.
CREATE TABLE connection_usage (
    connection_id  TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    principal      TEXT NOT NULL,
    last_used_at   BIGINT NOT NULL,
    PRIMARY KEY (connection_id, principal)
);
