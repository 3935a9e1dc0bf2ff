-- Issue 20: the global rule "a resource URI names one workspace" gets its own table,
-- `mcp_resource_uris` (on PostgreSQL it stays on the coordinator of a sharded database while
-- `mcp_resources` is distributed by workspace; see the twin file and 0047), written by the
-- store in the same transaction as every insert and delete of a resource, and backfilled here.
-- `mcp_resources` also gets the unique (workspace_id, resource_uri) the PostgreSQL table is
-- keyed by. Its inline global UNIQUE (resource_uri) stays on SQLite: dropping it means
-- rebuilding the table, and rebuilding a referenced table with foreign_keys on cascade-deletes
-- its grants (see 0038); it states the same rule as the map, and SQLite is never sharded.
CREATE TABLE mcp_resource_uris (
    resource_uri  TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    resource_id   TEXT NOT NULL
);
INSERT INTO mcp_resource_uris (resource_uri, workspace_id, resource_id)
    SELECT resource_uri, workspace_id, id FROM mcp_resources;
CREATE UNIQUE INDEX mcp_resources_workspace_uri_key ON mcp_resources (workspace_id, resource_uri);
