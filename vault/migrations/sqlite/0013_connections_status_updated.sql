-- The operators' console's keyset order (design 18 §4); see the PostgreSQL twin of this file.
CREATE INDEX IF NOT EXISTS connections_status_updated ON connections (status, updated_at DESC, id DESC);
