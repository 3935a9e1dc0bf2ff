-- Issue 20: `connection_usage` gets the distribution column and a key that starts with it,
-- so it can live on the shard of its connection. The table holds one row per (connection,
-- principal) used recently and is written at most once a minute per row (best effort: a
-- blocked write never fails a resolve), so the backfill runs in this transaction; the table
-- is locked for its duration (seconds for a million rows).
SET LOCAL lock_timeout = '10s';
ALTER TABLE connection_usage ADD COLUMN workspace_id TEXT;
UPDATE connection_usage SET workspace_id = c.workspace_id
    FROM connections c WHERE c.id = connection_usage.connection_id;
DELETE FROM connection_usage WHERE workspace_id IS NULL;
ALTER TABLE connection_usage ALTER COLUMN workspace_id SET NOT NULL;
ALTER TABLE connection_usage DROP CONSTRAINT connection_usage_pkey;
ALTER TABLE connection_usage ADD PRIMARY KEY (workspace_id, connection_id, principal);
