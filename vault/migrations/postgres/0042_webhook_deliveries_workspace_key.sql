-- no-transaction
-- Issue 20: the new primary key of `webhook_deliveries`, (workspace_id, id), built
-- CONCURRENTLY (deliveries are queued and completed while it builds; NULLs, from rows an older
-- broker wrote since 0040, are allowed in a unique index and filled in 0045); 0045 makes it
-- the primary key. An interrupted build leaves an INVALID index:
-- `DROP INDEX CONCURRENTLY webhook_deliveries_workspace_key;`, then restart.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS webhook_deliveries_workspace_key ON webhook_deliveries (workspace_id, id);
