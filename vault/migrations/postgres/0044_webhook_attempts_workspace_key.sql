-- no-transaction
-- Issue 20: the new primary key of `webhook_attempts`, (workspace_id, delivery_id, attempt),
-- built CONCURRENTLY (the dispatcher records attempts while it builds); 0045 makes it the
-- primary key. An interrupted build leaves an INVALID index:
-- `DROP INDEX CONCURRENTLY webhook_attempts_workspace_key;`, then restart.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS webhook_attempts_workspace_key ON webhook_attempts (workspace_id, delivery_id, attempt);
