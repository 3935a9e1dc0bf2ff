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
HERE="$(cd "$(dirname "$0")" && pwd)"
MIGRATIONS="$HERE/../../vault/migrations/postgres"
DB=nexus_migrate_1m
DB_URL="${SERVER%/*}/$DB"
WORK="$(mktemp -d)"
PGBIN="$(dirname "$(command -v psql 2>/dev/null || ls /usr/lib/postgresql/*/bin/psql | sort -V | tail -1)")"
psql() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
  [ -n "${LOAD_PID:-}" ] && kill "$LOAD_PID" 2>/dev/null || true
  [ -n "${SAMPLER_PID:-}" ] && kill "$SAMPLER_PID" 2>/dev/null || true
  psql "$SERVER" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
now() { date +%s.%N; }

echo "machine: $(nproc) cores, load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
psql "$SERVER" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
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
(cd "$WORK" && exec "$PGBIN/pgbench" -n -c "$CLIENTS" -j 2 -T 3600 -f resolve.sql -l --log-prefix=load "$DB_URL" >"$WORK/pgbench.out" 2>&1) &
LOAD_PID=$!
(
  while :; do
    psql "$DB_URL" -At -c "SELECT COALESCE(extract(epoch FROM max(now() - state_change)), 0) FROM pg_stat_activity WHERE wait_event_type = 'Lock'" 2>/dev/null || true
    sleep 0.1
  done >"$WORK/lockwait"
) &
SAMPLER_PID=$!
sleep 15
mig_start=$(now)
for f in "$MIGRATIONS"/002[4-8]_*.sql; do
  s=$(now)
  if head -1 "$f" | grep -q '^-- no-transaction'; then psql "$DB_URL" -f "$f"; else psql "$DB_URL" -1 -f "$f"; fi
  printf '%-45s %8.2f s\n' "$(basename "$f")" "$(echo "$(now) - $s" | bc)"
done
mig_end=$(now)
sleep 15
kill "$SAMPLER_PID" "$LOAD_PID" 2>/dev/null || true
wait "$LOAD_PID" 2>/dev/null || true
SAMPLER_PID= LOAD_PID=
printf 'migrations 0024-0028 in all: %.2f s\n' "$(echo "$mig_end - $mig_start" | bc)"
printf 'longest lock wait seen (sampled every 100 ms): %.3f s\n' "$(sort -g "$WORK/lockwait" | tail -1)"
# pgbench log: client tx latency_us script epoch_s epoch_us (the end of the transaction).
cat "$WORK"/load.* | awk -v a="$mig_start" -v b="$mig_end" '
  { t = $5 + $6 / 1e6; ms = $3 / 1000;
    if (t < a) print "before", ms; else if (t <= b) print "during", ms; }' |
  sort -k1,1 -k2,2g | awk '
  function report(name, n,   i50, i99) {
    if (n == 0) { printf "%s the migrations: no transactions\n", name; return }
    i50 = int(n * 0.50) + 1; i99 = int(n * 0.99) + 1; if (i99 > n) i99 = n
    printf "%s the migrations: %d transactions, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
      name, n, v[i50], v[i99], v[n] }
  $1 != cur { if (cur != "") report(cur, n); cur = $1; n = 0 }
  { v[++n] = $2 }
  END { report(cur, n) }'
echo "(the floor is the same load before the migrations; $CLIENTS pgbench clients, load average now $(cut -d' ' -f1-3 /proc/loadavg))"
