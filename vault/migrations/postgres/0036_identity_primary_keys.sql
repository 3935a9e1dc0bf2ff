-- Issue 20: `api_keys`, `agents` and `agent_sessions` are keyed (workspace_id, id) and a
-- session names its agent by (workspace_id, agent_id). `api_keys` and `agents` are created by
-- administrators (a few rows per workspace), so their new keys are built here, inside the
-- transaction (well under a second for 100,000 rows); `agent_sessions` reuses the index 0035
-- built CONCURRENTLY. An API key or agent credential is presented as `nxk_<id>_…` /
-- `nxa_<id>_…` before its workspace is known, so both keep a non-unique index on `id` (on a
-- sharded database that lookup fans out; docs/operators/scaling.md). The foreign key is added
-- NOT VALID (0037 validates it without blocking writes); `lock_timeout` fails the migration
-- (the broker exits; start it again) rather than queue requests behind a long query.
SET LOCAL lock_timeout = '5s';
ALTER TABLE agent_sessions DROP CONSTRAINT agent_sessions_agent_id_fkey;

ALTER TABLE api_keys DROP CONSTRAINT api_keys_pkey;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_pkey PRIMARY KEY (workspace_id, id);
CREATE INDEX api_keys_id ON api_keys (id);

ALTER TABLE agents DROP CONSTRAINT agents_pkey;
ALTER TABLE agents ADD CONSTRAINT agents_pkey PRIMARY KEY (workspace_id, id);
CREATE INDEX agents_id ON agents (id);

ALTER TABLE agent_sessions DROP CONSTRAINT agent_sessions_pkey;
ALTER TABLE agent_sessions ADD CONSTRAINT agent_sessions_pkey PRIMARY KEY USING INDEX agent_sessions_workspace_key;
ALTER TABLE agent_sessions ADD CONSTRAINT agent_sessions_agent_fkey
    FOREIGN KEY (workspace_id, agent_id) REFERENCES agents (workspace_id, id) ON DELETE CASCADE NOT VALID;
