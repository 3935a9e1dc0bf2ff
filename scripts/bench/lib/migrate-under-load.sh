# Shared by migrate-1m.sh and migrate-tenantkeys.sh (sourced, not run): time a range of
# PostgreSQL migrations on a large database while pgbench clients run a workload against it,
# sample the longest lock wait, and compare the workload's latency before (the floor) and
# during the migrations.
#
# The sourcing script sets SERVER (a server URL) and DB (the database to create there, dropped at
# the end), then calls `setup_database`, fills the database, writes its pgbench script and calls
# `migrate_under_load PGBENCH_SCRIPT LABEL CLIENTS MIGRATION_FILE...`.

HERE="$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)"
MIGRATIONS="$HERE/../../vault/migrations/postgres"
DB_URL="${SERVER%/*}/$DB"
WORK="$(mktemp -d)"
PGBIN="$(dirname "$(command -v psql 2>/dev/null || ls /usr/lib/postgresql/*/bin/psql | sort -V | tail -1)")"

psql() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }

cleanup() {
  [ -n "${LOAD_PID:-}" ] && kill "$LOAD_PID" 2>/dev/null || true
  [ -n "${SAMPLER_PID:-}" ] && kill "$SAMPLER_PID" 2>/dev/null || true
  psql "$SERVER" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Apply one migration file the way sqlx does: a `-- no-transaction` file as it is, any other in
# one transaction. TIMING=1 prints each statement's time (to find the step that holds a lock).
apply() {
  local t=(); [ -n "${TIMING:-}" ] && t=(-c '\timing on')
  if head -1 "$1" | grep -q '^-- no-transaction'; then
    psql "$DB_URL" "${t[@]}" -f "$1"
  else
    psql "$DB_URL" -1 "${t[@]}" -f "$1"
  fi
}

setup_database() {
  echo "machine: $(nproc) cores, load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  psql "$SERVER" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
}

# 15 s of load, the migrations (each timed), 15 s more; then the report.
migrate_under_load() {
  local script="$1" label="$2" clients="$3"; shift 3
  local f s mig_start mig_end
  cp "$script" "$WORK/workload.sql"
  (cd "$WORK" && exec "$PGBIN/pgbench" -n -c "$clients" -j 2 -T 3600 -f workload.sql -l \
    --log-prefix=load "$DB_URL" >"$WORK/pgbench.out" 2>&1) &
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
  for f in "$@"; do
    s=$(now)
    apply "$f"
    printf '%-45s %8.2f s\n' "$(basename "$f")" "$(echo "$(now) - $s" | bc)"
  done
  mig_end=$(now)
  sleep 15
  kill "$SAMPLER_PID" "$LOAD_PID" 2>/dev/null || true
  wait "$LOAD_PID" 2>/dev/null || true
  SAMPLER_PID= LOAD_PID=
  printf 'migrations %s in all: %.2f s\n' "$label" "$(echo "$mig_end - $mig_start" | bc)"
  printf 'longest lock wait seen (sampled every 100 ms): %.3f s\n' "$(sort -g "$WORK/lockwait" | tail -1)"
  echo "not valid after the run: $(psql "$DB_URL" -At -c "SELECT count(*) FROM pg_constraint WHERE NOT convalidated") constraints, $(psql "$DB_URL" -At -c "SELECT count(*) FROM pg_index WHERE NOT indisvalid") indexes"
  if grep -q "aborted" "$WORK/pgbench.out"; then
    echo "load clients aborted:"; grep -i "abort\|error" "$WORK/pgbench.out" | head -5
  fi
  # pgbench log: client tx latency_us script epoch_s epoch_us (the end of the transaction).
  cat "$WORK"/load.* | awk -v a="$mig_start" -v b="$mig_end" '
    $1 ~ /^[0-9]+$/ { t = $5 + $6 / 1e6; ms = $3 / 1000;
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
  echo "(the floor is the same load before the migrations; $clients pgbench clients, load average now $(cut -d' ' -f1-3 /proc/loadavg))"
}
