#!/usr/bin/env bash
# The distribution-ready key migrations (issue 20: 0024–0028) timed on a large PostgreSQL
# database while resolve-shaped queries run against it.
#
#   scripts/bench/migrate-1m.sh SEED_BIN POSTGRES_URL [CONNECTIONS] [CLIENTS]
#
# SEED_BIN: `cargo build [--release] -p nexus-vault --example seed`, then
# target/{release,debug}/examples/seed. POSTGRES_URL: a server (a database `nexus_migrate_1m` is
# created there and dropped at the end). Defaults: 1,000,000 connections across 10,000
# workspaces (the existing seeding tool, sealed as in production), 8 load clients.
#
# 1. Seed with the current tool (which migrates to the newest level), then put the database back
#    at migration 0022 exactly as an older broker left it: the old primary keys and foreign
#    keys, no `connection_usage.workspace_id`, the 0024–0028 rows removed from
#    `_sqlx_migrations`. 100,000 `connection_usage` rows are added so 0026 has rows to backfill.
# 2. Start the load: `pgbench` clients running the resolve's queries on this database (find the
#    connection of a random (workspace, provider) by its index, then write its row, as a
#    refresh does), logging every transaction's latency.
# 3. After 15 s of load, apply 0024–0028 the way sqlx does (no-transaction files as they are,
#    the others in one transaction each) and time each; meanwhile sample the longest lock wait
#    in `pg_stat_activity` every 100 ms. 15 s more load, then stop.
# 4. Print each migration's time, the longest lock wait seen, and the load's p50/p99/max before
#    and during the migrations (the "floor" is the same load before them).
#
# The load is pgbench, not `bench_resolve`: the broker's bench creates its own databases, while
# what matters here is what the migrations' locks do to queries on *this* table.
set -euo pipefail
SEED_BIN="${1:?usage: $0 SEED_BIN POSTGRES_URL [CONNECTIONS] [CLIENTS]}"
SERVER="${2:?}"
N="${3:-1000000}"
CLIENTS="${4:-8}"
WORKSPACES=$(( N / 100 ))
DB=nexus_migrate_1m
. "$(dirname "$0")/lib/migrate-under-load.sh"
setup_database
t0=$(now)
NEXUS_DATABASE_URL="$DB_URL" NEXUS_MASTER_KEY_FILE="$WORK/seed.key" "$SEED_BIN" "$N" "$WORKSPACES" 10
echo "seeded $N connections in $(echo "$(now) - $t0" | bc) s" >&2

# Back to migration 0022 (the schema an older broker left).
psql "$DB_URL" -1 <<'SQL'
ALTER TABLE pending_authorizations DROP CONSTRAINT pending_authorizations_connection_fkey;
ALTER TABLE connection_usage DROP CONSTRAINT connection_usage_connection_fkey;
ALTER TABLE connections DROP CONSTRAINT connections_pkey;
DROP INDEX connections_id;
ALTER TABLE connections ADD PRIMARY KEY (id);
ALTER TABLE connection_usage DROP CONSTRAINT connection_usage_pkey;
ALTER TABLE connection_usage DROP COLUMN workspace_id;
ALTER TABLE connection_usage ADD PRIMARY KEY (connection_id, principal);
ALTER TABLE connection_usage ADD FOREIGN KEY (connection_id) REFERENCES connections (id) ON DELETE CASCADE;
ALTER TABLE pending_authorizations ADD FOREIGN KEY (connection_id) REFERENCES connections (id) ON DELETE CASCADE;
INSERT INTO connection_usage (connection_id, principal, last_used_at)
    SELECT id, 'api_key:bench', 1 FROM connections ORDER BY id LIMIT 100000;
DELETE FROM _sqlx_migrations WHERE version BETWEEN 24 AND 28;
SQL
psql "$DB_URL" -c "VACUUM (ANALYZE)" >/dev/null
echo "at migration $(psql "$DB_URL" -At -c 'SELECT max(version) FROM _sqlx_migrations'): $(psql "$DB_URL" -At -c "SELECT pg_size_pretty(pg_total_relation_size('connections'))") in connections" >&2

cat > "$WORK/resolve.sql" <<SQL
\set w random(0, $WORKSPACES - 1)
\set p random(0, 9)
BEGIN;
SELECT id, access_token, version FROM connections
  WHERE workspace_id = 'seed-' || lpad(:w::text, 6, '0') AND provider_name = 'seed-p' || :p AND status <> 'revoked'
  ORDER BY created_at DESC LIMIT 1;
UPDATE connections SET last_keepalive_at = 1
  WHERE workspace_id = 'seed-' || lpad(:w::text, 6, '0') AND provider_name = 'seed-p' || :p AND status = 'active'
  AND id = (SELECT min(id) FROM connections WHERE workspace_id = 'seed-' || lpad(:w::text, 6, '0') AND provider_name = 'seed-p' || :p);
COMMIT;
SQL
migrate_under_load "$WORK/resolve.sql" 0024-0028 "$CLIENTS" "$MIGRATIONS"/002[4-8]_*.sql
