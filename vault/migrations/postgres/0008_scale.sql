-- no-transaction
-- Issue 20: the keyset order of a workspace's connection listing (`ORDER BY created_at, id`),
-- so a listing (or a page of it) reads the index in order instead of sorting the workspace's
-- rows. Built CONCURRENTLY: on a table of millions of rows a plain CREATE INDEX would block
-- every write to `connections` (refreshes, imports) until it finished; CONCURRENTLY takes no
-- lock that blocks writes. It cannot run inside a transaction, hence `no-transaction` above and
-- one statement in this file. If a build is interrupted PostgreSQL leaves an INVALID index:
-- `DROP INDEX CONCURRENTLY connections_workspace_created;` and start the broker again.
CREATE INDEX CONCURRENTLY IF NOT EXISTS connections_workspace_created
    ON connections (workspace_id, created_at, id);
