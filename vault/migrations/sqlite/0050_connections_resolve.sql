-- The resolve's lookup in its own order (one index entry and one row per resolve); see the
-- PostgreSQL twin of this file.
CREATE INDEX IF NOT EXISTS connections_resolve ON connections (workspace_id, provider_name, (CASE WHEN status = 'active' THEN 0 ELSE 1 END), updated_at DESC, id) WHERE status <> 'revoked' AND owner_kind IS NULL;
