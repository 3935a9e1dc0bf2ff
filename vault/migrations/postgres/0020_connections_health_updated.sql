-- no-transaction
-- The console's health filter (`health = 'failing'|'needs_reauth'`, design 18 §4) in its keyset
-- order. Without it a rare health walks `connections_updated` and filters row by row: at 100k
-- connections with 20 failing, the first page reads all 100k. With it, the page is an index
-- range scan in the requested order, no Sort node (EXPLAIN in docs/operators/scaling.md).
-- Built CONCURRENTLY (see 0011: one statement per file, outside a transaction).
-- An interrupted build leaves an INVALID index: `DROP INDEX CONCURRENTLY connections_health_updated;`, then restart.
CREATE INDEX CONCURRENTLY IF NOT EXISTS connections_health_updated ON connections (health, updated_at DESC, id DESC);
