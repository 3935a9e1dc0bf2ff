-- no-transaction
-- Issue 20: `mcp_resources.resource_uri` is unique across workspaces, a constraint a sharded
-- database cannot keep on a table distributed by `workspace_id`. Its replacement, unique
-- (workspace_id, resource_uri), is built first CONCURRENTLY (writes go on while it builds; one
-- statement, no transaction); 0047 makes it the constraint and moves the global rule (one URI,
-- one workspace) to the coordinator-local map `mcp_resource_uris`.
-- An interrupted build leaves an INVALID index: `DROP INDEX CONCURRENTLY mcp_resources_workspace_uri_key;`, then restart.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS mcp_resources_workspace_uri_key ON mcp_resources (workspace_id, resource_uri);
