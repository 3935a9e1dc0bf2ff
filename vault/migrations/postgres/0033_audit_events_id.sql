-- no-transaction
-- Issue 20: when 0034 moves the primary key to (chain, id), the id-ordered reads that span
-- chains (the admin listing and the JSON-lines export, both admin work that fans out on a
-- sharded database) keep an index on `id`, non-unique so a sharded database can keep it.
-- Built CONCURRENTLY; an interrupted build: `DROP INDEX CONCURRENTLY audit_events_id;`, then restart.
CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_events_id ON audit_events (id);
