#!/usr/bin/env bash
# The webhook outbox's distribution-ready key migrations (issue 20: 0040–0045) timed on a large
# PostgreSQL database while events are written and deliveries completed. The companion of
# migrate-1m.sh (0024–0028) and migrate-tenantkeys.sh (0030–0039).
#
#   scripts/bench/migrate-webhookkeys.sh POSTGRES_URL [DELIVERIES] [CLIENTS]
#
# POSTGRES_URL: a server (a database `nexus_migrate_webhookkeys` is created there and dropped at
# the end). Defaults: 1,000,000 deliveries (and as many attempts) of 500,000 events in 10,000
# workspaces, one global endpoint, 8 load clients.
#
# 1. Migrate a new database to 0039 (the files, applied as sqlx does) and fill it with SQL.
# 2. Start the load: `pgbench` clients each writing an event (the outbox insert of a connection
#    change) and completing a random delivery by id (the dispatcher's completion UPDATE). Both
#    statements are valid before, during and after the migrations; queueing deliveries and
#    recording attempts are not in the load, because an older broker's form of those (without
#    `workspace_id`) is refused from 0045 on by design (upgrade brokers together).
# 3. After 15 s of load, apply 0040–0045 the way sqlx does and time each; sample the longest
#    lock wait in `pg_stat_activity` every 100 ms; 15 s more load, then stop.
# 4. Print each migration's time, the longest lock wait, and the load's p50/p99/max before
#    (the floor) and during the migrations.
set -euo pipefail
SERVER="${1:?usage: $0 POSTGRES_URL [DELIVERIES] [CLIENTS]}"
N="${2:-1000000}"
CLIENTS="${3:-8}"
W=10000
HERE="$(cd "$(dirname "$0")" && pwd)"
MIGRATIONS="$HERE/../../vault/migrations/postgres"
DB=nexus_migrate_webhookkeys
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
apply() {
  if head -1 "$1" | grep -q '^-- no-transaction'; then psql "$DB_URL" -f "$1"; else psql "$DB_URL" -1 -f "$1"; fi
}
echo "machine: $(nproc) cores, load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
psql "$SERVER" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
for f in "$MIGRATIONS"/00[0-3]*.sql; do apply "$f" 2>/dev/null; done
t0=$(now)
E=$((N / 2))
psql "$DB_URL" -1 <<SQL
INSERT INTO workspaces (id, created_at) SELECT 'w' || g, 1 FROM generate_series(0, $W - 1) g;
INSERT INTO webhook_endpoints (id, workspace_id, url, secret, created_at, updated_at)
  VALUES ('we_all', NULL, 'https://hooks.example.test/in', '\x00'::bytea, 1, 1);
INSERT INTO webhook_events (id, workspace_id, connection_id, event_type, sequence, payload, created_at)
  SELECT 'ev' || g, 'w' || (g % $W), 'c' || (g % ($W * 10)), 'connection.refresh_failed', g, '{"type":"connection.refresh_failed"}', 1
  FROM generate_series(0, $E - 1) g;
INSERT INTO webhook_deliveries (event_id, endpoint_id, ordering_key, state, attempts, next_attempt_at, created_at, delivered_at)
  SELECT 'ev' || (g % $E), 'we_all', 'c' || (g % ($W * 10)), 'delivered', 1, 1, 1, 2 FROM generate_series(0, $N - 1) g;
INSERT INTO webhook_attempts (delivery_id, attempt, at, status, duration_ms) SELECT id, 1, 2, 200, 5 FROM webhook_deliveries;
SQL
psql "$DB_URL" -c "VACUUM (ANALYZE)" >/dev/null
echo "filled in $(echo "$(now) - $t0" | bc) s: $(psql "$DB_URL" -At -c "SELECT pg_size_pretty(pg_total_relation_size('webhook_deliveries'))") in webhook_deliveries" >&2
cat > "$WORK/load.sql" <<SQL
\set w random(0, $W - 1)
\set d random(1, $N)
INSERT INTO webhook_events (id, workspace_id, connection_id, event_type, sequence, payload, created_at)
  VALUES (gen_random_uuid()::text, 'w' || :w, 'c' || :w, 'connection.refresh_failed', 1, '{}', 1);
UPDATE webhook_deliveries SET last_status = 200, lease_owner = NULL, lease_until = NULL WHERE id = :d;
SQL
(cd "$WORK" && exec "$PGBIN/pgbench" -n -c "$CLIENTS" -j 2 -T 3600 -f load.sql -l --log-prefix=load "$DB_URL" >"$WORK/pgbench.out" 2>&1) &
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
for f in "$MIGRATIONS"/004[0-5]*.sql; do
  s=$(now)
  apply "$f" 2>/dev/null
  printf '%-45s %8.2f s\n' "$(basename "$f")" "$(echo "$(now) - $s" | bc)"
done
mig_end=$(now)
sleep 15
kill "$SAMPLER_PID" "$LOAD_PID" 2>/dev/null || true
wait "$LOAD_PID" 2>/dev/null || true
SAMPLER_PID= LOAD_PID=
printf 'migrations 0040-0045 in all: %.2f s\n' "$(echo "$mig_end - $mig_start" | bc)"
printf 'longest lock wait seen (sampled every 100 ms): %.3f s\n' "$(sort -g "$WORK/lockwait" | tail -1)"
echo "not valid after the run: $(psql "$DB_URL" -At -c "SELECT count(*) FROM pg_constraint WHERE NOT convalidated") constraints, $(psql "$DB_URL" -At -c "SELECT count(*) FROM pg_index WHERE NOT indisvalid") indexes"
if grep -q "aborted" "$WORK/pgbench.out"; then echo "load clients aborted:"; grep -i "abort\|error" "$WORK/pgbench.out" | head -5; fi
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
