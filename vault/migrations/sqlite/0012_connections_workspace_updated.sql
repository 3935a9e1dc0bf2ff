-- The operators' console's keyset order (design 18 §4); see the PostgreSQL twin of this file.
CREATE INDEX IF NOT EXISTS connections_workspace_updated ON connections (workspace_id, updated_at DESC, id DESC);
