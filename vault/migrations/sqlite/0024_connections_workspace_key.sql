-- Issue 20: the PostgreSQL twin builds the (workspace_id, id) key of `connections` here. On
-- SQLite (never sharded) `id` stays the primary key and this unique index is what the
-- composite foreign keys of 0026 and 0027 reference, so both backends have the same
-- foreign-key shape and the store runs the same queries.
CREATE UNIQUE INDEX IF NOT EXISTS connections_workspace_key ON connections (workspace_id, id);
