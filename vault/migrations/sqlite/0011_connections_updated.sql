-- The operators' console's keyset order (design 18 §4); see the PostgreSQL twin of this file.
CREATE INDEX IF NOT EXISTS connections_updated ON connections (updated_at DESC, id DESC);
