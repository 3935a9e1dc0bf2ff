-- The operators' console's keyset order (design 18 §4); see the PostgreSQL twin of this file.
CREATE INDEX IF NOT EXISTS connections_provider_updated ON connections (provider_name, updated_at DESC, id DESC);
