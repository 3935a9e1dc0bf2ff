-- The console's health filter in its keyset order (design 18 §4); see the PostgreSQL twin of this file.
CREATE INDEX IF NOT EXISTS connections_health_updated ON connections (health, updated_at DESC, id DESC);
