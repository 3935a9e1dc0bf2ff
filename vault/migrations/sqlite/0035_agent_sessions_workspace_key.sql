-- Issue 20: on SQLite (never sharded) `id` stays the key of `api_keys`, `agents` and
-- `agent_sessions`; this unique index is what the composite foreign key of 0036 references,
-- so both backends have the same foreign-key shape and run the same queries.
CREATE UNIQUE INDEX IF NOT EXISTS agents_workspace_key ON agents (workspace_id, id);
