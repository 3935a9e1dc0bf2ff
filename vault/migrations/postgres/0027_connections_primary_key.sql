-- Issue 20: swap the primary key of `connections` to (workspace_id, id), using the index 0024
-- built CONCURRENTLY, and point the foreign keys at it. Every statement here is catalog-only
-- (no table scan, no index build): `ADD PRIMARY KEY USING INDEX` reuses the built index and
-- both columns are already NOT NULL; the foreign keys are added NOT VALID (0028 validates them
-- without blocking writes). The ACCESS EXCLUSIVE lock on `connections` is held only for this
-- short transaction, but it must wait for running queries on the table: `lock_timeout` makes
-- a busy database fail the migration (the broker exits; start it again) instead of queueing
-- every resolve behind it.
SET LOCAL lock_timeout = '5s';
ALTER TABLE pending_authorizations DROP CONSTRAINT pending_authorizations_connection_id_fkey;
ALTER TABLE connection_usage DROP CONSTRAINT connection_usage_connection_id_fkey;
ALTER TABLE connections DROP CONSTRAINT connections_pkey;
ALTER TABLE connections ADD CONSTRAINT connections_pkey PRIMARY KEY USING INDEX connections_workspace_key;
ALTER TABLE pending_authorizations ADD CONSTRAINT pending_authorizations_connection_fkey
    FOREIGN KEY (workspace_id, connection_id) REFERENCES connections (workspace_id, id) ON DELETE CASCADE NOT VALID;
ALTER TABLE connection_usage ADD CONSTRAINT connection_usage_connection_fkey
    FOREIGN KEY (workspace_id, connection_id) REFERENCES connections (workspace_id, id) ON DELETE CASCADE NOT VALID;
