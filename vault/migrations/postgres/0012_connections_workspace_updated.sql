-- no-transaction
-- The operators' console lists connections newest first with keyset pagination on
-- (updated_at, id) keys (design 18 §4). Built CONCURRENTLY: a plain CREATE INDEX would block
-- every write to `connections` for as long as the build takes on a table of millions of rows;
-- CONCURRENTLY cannot run in a transaction, hence `no-transaction` and one statement per file.
-- An interrupted build leaves an INVALID index: `DROP INDEX CONCURRENTLY connections_workspace_updated;`, then restart.
CREATE INDEX CONCURRENTLY IF NOT EXISTS connections_workspace_updated ON connections (workspace_id, updated_at DESC, id DESC);
