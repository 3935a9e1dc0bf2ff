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
DB=nexus_migrate_webhookkeys
. "$(dirname "$0")/lib/migrate-under-load.sh"
setup_database
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
cat > "$WORK/outbox-load.sql" <<SQL
\set w random(0, $W - 1)
\set d random(1, $N)
INSERT INTO webhook_events (id, workspace_id, connection_id, event_type, sequence, payload, created_at)
  VALUES (gen_random_uuid()::text, 'w' || :w, 'c' || :w, 'connection.refresh_failed', 1, '{}', 1);
UPDATE webhook_deliveries SET last_status = 200, lease_owner = NULL, lease_until = NULL WHERE id = :d;
SQL
migrate_under_load "$WORK/outbox-load.sql" 0040-0045 "$CLIENTS" "$MIGRATIONS"/004[0-5]*.sql
