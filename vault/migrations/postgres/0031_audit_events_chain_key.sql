-- no-transaction
-- Issue 20: the new primary key of `audit_events`, (chain, id), built CONCURRENTLY (no lock
-- that blocks appends while it builds; one statement, outside a transaction); 0034 makes it
-- the primary key. An interrupted build leaves an INVALID index:
-- `DROP INDEX CONCURRENTLY audit_events_chain_key;`, then restart.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS audit_events_chain_key ON audit_events (chain, id);
