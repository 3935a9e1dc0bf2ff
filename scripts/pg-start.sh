#!/usr/bin/env bash
# Start a throwaway PostgreSQL for tests: its own cluster under $NEXUS_PG_DIR (default
# ./.ci/pg), trust auth, listening only on 127.0.0.1:$NEXUS_PG_PORT (default 55432).
# Prints the connection URL on stdout. Safe to call twice: a running cluster is reused.
# NEXUS_PG_STATEMENTS=1 (benchmarks only) preloads pg_stat_statements with planning tracked, to
# count statements, plans and server time per request (`CREATE EXTENSION pg_stat_statements`
# once, then read the view); it takes effect when the cluster starts.
set -euo pipefail

PG_DIR="${NEXUS_PG_DIR:-$PWD/.ci/pg}"
PG_PORT="${NEXUS_PG_PORT:-55432}"

pg_bin() {
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return; fi
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
  [ -n "$d" ] && echo "$d"
}

BIN="$(pg_bin || true)"
if [ -z "$BIN" ]; then
  echo "pg-start: installing PostgreSQL (apt)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  BIN="$(pg_bin)"
fi

# initdb refuses to run as root, so the cluster belongs to the postgres user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

mkdir -p "$PG_DIR"
if [ "$(id -u)" = 0 ]; then
  # A checkout under a private directory (e.g. `mktemp -d`, mode 0700) is not reachable by the
  # postgres user; then the throwaway cluster lives in its own directory under /tmp instead.
  if ! (cd / && runuser -u postgres -- test -x "$(dirname "$PG_DIR")"); then
    PG_DIR="$(mktemp -d /tmp/nexus-pg.XXXXXX)"
  fi
  chown postgres: "$PG_DIR"; chmod 700 "$PG_DIR"
fi
if [ ! -f "$PG_DIR/PG_VERSION" ]; then
  as_pg "$BIN/initdb" -D "$PG_DIR" -U postgres --auth=trust >/dev/null
fi
EXTRA=""
if [ "${NEXUS_PG_STATEMENTS:-0}" = 1 ]; then
  EXTRA=" -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_planning=on"
fi
if ! as_pg "$BIN/pg_ctl" -D "$PG_DIR" status >/dev/null 2>&1; then
  as_pg "$BIN/pg_ctl" -D "$PG_DIR" -l "$PG_DIR/server.log" \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off$EXTRA" \
    -w start >/dev/null
fi
echo "postgres://postgres@127.0.0.1:$PG_PORT/postgres"
