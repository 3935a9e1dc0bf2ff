-- no-transaction
-- Issue 20: the global rule "a resource URI names one workspace" moves from a unique
-- constraint on the tenant table to `mcp_resource_uris`, a small table that stays on the
-- coordinator of a sharded database (like `oauth_clients`): the authorization server reads it
-- to learn a URI's workspace before it knows one, then reads the resource on that workspace's
-- shard. The store writes it in the same transaction as every insert and delete of a resource.
-- No foreign key: a coordinator-local table cannot reference a distributed one.
-- One BEGIN … COMMIT, `lock_timeout` 5 s (a busy table fails the migration, the broker exits,
-- start it again), and it may run again after an interruption.
BEGIN;
SET LOCAL lock_timeout = '5s';
CREATE TABLE IF NOT EXISTS mcp_resource_uris (
    resource_uri  TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    resource_id   TEXT NOT NULL
);
-- SHARE: the authorization server keeps reading resources while the backfill copies them, but
-- no resource is added until the map holds every existing one (an older broker still running
-- would otherwise add a URI the map never learns).
LOCK TABLE mcp_resources IN SHARE MODE;
INSERT INTO mcp_resource_uris (resource_uri, workspace_id, resource_id)
    SELECT resource_uri, workspace_id, id FROM mcp_resources
    ON CONFLICT (resource_uri) DO NOTHING;
-- Catalog only: the old constraint's index is dropped, 0046's index becomes the constraint.
ALTER TABLE mcp_resources DROP CONSTRAINT IF EXISTS mcp_resources_resource_uri_key;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'mcp_resources_workspace_uri_key') THEN
        ALTER TABLE mcp_resources ADD CONSTRAINT mcp_resources_workspace_uri_key
            UNIQUE USING INDEX mcp_resources_workspace_uri_key;
    END IF;
END $$;
COMMIT;
