-- no-transaction
-- Issue 20, distribution-ready schema (docs/operators/scaling.md "Path to a sharded
-- PostgreSQL"): the new primary key of `connections`, (workspace_id, id), built first as a
-- unique index CONCURRENTLY (no lock that blocks writes while it builds; cannot run in a
-- transaction, hence `no-transaction` and one statement); 0027 makes it the primary key.
-- An interrupted build leaves an INVALID index: `DROP INDEX CONCURRENTLY connections_workspace_key;`, then restart.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS connections_workspace_key ON connections (workspace_id, id);
