-- no-transaction
-- Issue 20: the new primary key of `agent_sessions` (one row per session an agent opens, the
-- identity table that grows with traffic), (workspace_id, id), built CONCURRENTLY; 0036 makes
-- it the primary key. An interrupted build leaves an INVALID index:
-- `DROP INDEX CONCURRENTLY agent_sessions_workspace_key;`, then restart.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS agent_sessions_workspace_key ON agent_sessions (workspace_id, id);
