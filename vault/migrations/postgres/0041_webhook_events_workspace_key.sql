-- no-transaction
-- Issue 20: the new primary key of `webhook_events` (one row per connection event),
-- (workspace_id, id), built CONCURRENTLY (events are written while it builds); 0045 makes it
-- the primary key. An interrupted build leaves an INVALID index:
-- `DROP INDEX CONCURRENTLY webhook_events_workspace_key;`, then restart.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS webhook_events_workspace_key ON webhook_events (workspace_id, id);
