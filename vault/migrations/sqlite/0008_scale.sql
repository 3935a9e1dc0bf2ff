-- Issue 20: the keyset order of a workspace's connection listing (`ORDER BY created_at, id`),
-- read from the index instead of sorting the workspace's rows (see the PostgreSQL twin).
CREATE INDEX IF NOT EXISTS connections_workspace_created
    ON connections (workspace_id, created_at, id);
