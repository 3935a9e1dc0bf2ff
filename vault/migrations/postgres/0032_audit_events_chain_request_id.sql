-- no-transaction
-- Issue 20: a sharded database keeps a unique index only if it holds the distribution column,
-- so the server-generated `request_id` becomes unique per chain (it is random, so still
-- unique in practice across chains); 0034 drops the global index. Built CONCURRENTLY; an
-- interrupted build: `DROP INDEX CONCURRENTLY audit_events_chain_request_id;`, then restart.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS audit_events_chain_request_id ON audit_events (chain, request_id);
