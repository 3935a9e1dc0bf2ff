-- no-transaction
-- Issue 20: once the primary key is (workspace_id, id) (0027), the queries that still find a
-- connection by id alone (refresh bookkeeping, keep-alive, key rotation; listed in
-- docs/operators/scaling.md) keep an index on id. Not unique: a sharded database cannot
-- enforce uniqueness without the distribution column (ids are random, 128 bits).
-- An interrupted build leaves an INVALID index: `DROP INDEX CONCURRENTLY connections_id;`, then restart.
CREATE INDEX CONCURRENTLY IF NOT EXISTS connections_id ON connections (id);
