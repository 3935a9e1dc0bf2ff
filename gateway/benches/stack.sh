#!/usr/bin/env bash
# Stack benchmark for BENCHMARKS.md (issue 4): gateway RSS idle and under load, warm resolve
# latency at 64 connections, and cold resolve (gateway → broker → store → decrypt, the gateway's
# token cache switched off) on SQLite and on PostgreSQL. Everything on loopback, wrk as the load.
#
#   cargo build --release -p nexus-cli && gateway/benches/stack.sh [postgres-url]
#
# Needs `wrk` (apt-get install wrk). The PostgreSQL URL defaults to the test server that
# scripts/pg-start.sh starts; a fresh database is created for the run.
set -euo pipefail
cd "$(dirname "$0")/../.."
NEXUS="${NEXUS_BIN:-$PWD/target/release/nexus}"
PG_URL="${1:-postgres://postgres@127.0.0.1:55432/postgres}"
DURATION="${BENCH_SECONDS:-10}"
WORK="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

wait_for_file() { for _ in $(seq 300); do [ -s "$1" ] && return 0; sleep 0.1; done; echo "timed out waiting for $1" >&2; return 1; }
wait_for_url() { for _ in $(seq 300); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "timed out waiting for $1" >&2; return 1; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Give a broker a workspace `bench`, an API key, and a static `example` credential.
seed() { # broker_url admin_token → prints the API key
  export NEXUS_BROKER_URL="$1" NEXUS_ADMIN_TOKEN="$2"
  "$NEXUS" workspaces create bench >/dev/null 2>&1 || true
  "$NEXUS" providers apply examples/providers.yaml >/dev/null 2>&1
  printf 'bench-upstream-key' | "$NEXUS" connections import --workspace bench --provider example --kind api_key >/dev/null
  "$NEXUS" api-keys create --workspace bench 2>/dev/null
}

# A separate gateway process in front of a broker; extra env switches the token cache off.
start_gateway() { # broker_url internal_token port [env...]
  local broker="$1" internal="$2" port="$3"; shift 3
  env NEXUS_BROKER_URL="$broker" NEXUS_INTERNAL_TOKEN="$internal" NEXUS_GATEWAY_ADDR="127.0.0.1:$port" \
    NEXUS_GATEWAY_RATE_LIMIT_PER_SEC=100000000 NEXUS_GATEWAY_RATE_LIMIT_BURST=100000000 NEXUS_LOG=warn \
    "$@" "$NEXUS" serve gateway 2>>"$WORK/gateway.log" &
  PIDS+=($!); GW_PID=$!
  wait_for_url "http://127.0.0.1:$port/healthz"
}

load() { # url key connections seconds
  local threads=2; [ "$3" -lt 2 ] && threads=1
  wrk -t"$threads" -c"$3" -d"$4"s --latency -H "Authorization: Bearer $2" "$1" 2>&1
}
summary() { # wrk output → "req/s p50 p99"
  awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {print rps, p50, p99}'
}

echo "# $(date -u +%FT%TZ) $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# --- SQLite: the embedded default (`nexus dev`) -------------------------------------------
"$NEXUS" dev --home "$WORK/dev" --gateway-addr 127.0.0.1:0 --broker-addr 127.0.0.1:0 2>"$WORK/dev.log" &
PIDS+=($!)
wait_for_file "$WORK/dev/dev.env"
set -a; . "$WORK/dev/dev.env"; set +a
KEY="$(seed "$NEXUS_BROKER_URL" "$NEXUS_ADMIN_TOKEN")"
INTERNAL="$(cat "$WORK/dev/internal.token")"
Q="workspace_id=bench&provider_name=example"

PORT="$(free_port)"; start_gateway "$NEXUS_BROKER_URL" "$INTERNAL" "$PORT"
curl -fsS -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/v1/resolve?$Q" >/dev/null
echo "gateway idle RSS: $(rss_kib "$GW_PID") KiB"
WARM="$(load "http://127.0.0.1:$PORT/v1/resolve?$Q" "$KEY" 64 "$DURATION" | summary)"
echo "warm resolve, 64 connections (req/s p50 p99): $WARM"
echo "gateway RSS after load: $(rss_kib "$GW_PID") KiB (peak $(hwm_kib "$GW_PID") KiB)"
kill "$GW_PID"

PORT="$(free_port)"; start_gateway "$NEXUS_BROKER_URL" "$INTERNAL" "$PORT" NEXUS_GATEWAY_TOKEN_CACHE_MAX_TTL_SECS=0
echo "cold resolve SQLite, 1 connection (req/s p50 p99): $(load "http://127.0.0.1:$PORT/v1/resolve?$Q" "$KEY" 1 "$DURATION" | summary)"
kill "$GW_PID"

# --- PostgreSQL: a separate broker process ---------------------------------------------
DB="nexus_bench_$$"
psql "$PG_URL" -qc "CREATE DATABASE $DB" >/dev/null
PG_DB_URL="${PG_URL%/*}/$DB"
BPORT="$(free_port)"; ADMIN="bench-admin-$(openssl rand -hex 24)"; INTERNAL_PG="bench-internal-$(openssl rand -hex 24)"
env NEXUS_DATABASE_URL="$PG_DB_URL" NEXUS_MASTER_KEY="$(head -c32 /dev/urandom | base64)" \
  NEXUS_ADMIN_TOKEN="$ADMIN" NEXUS_INTERNAL_TOKEN="$INTERNAL_PG" NEXUS_BROKER_ADDR="127.0.0.1:$BPORT" \
  NEXUS_BROKER_PUBLIC_URL="http://127.0.0.1:$BPORT" NEXUS_LOG=warn "$NEXUS" serve broker 2>>"$WORK/broker.log" &
PIDS+=($!)
wait_for_url "http://127.0.0.1:$BPORT/healthz"
KEY_PG="$(seed "http://127.0.0.1:$BPORT" "$ADMIN")"
PORT="$(free_port)"; start_gateway "http://127.0.0.1:$BPORT" "$INTERNAL_PG" "$PORT" NEXUS_GATEWAY_TOKEN_CACHE_MAX_TTL_SECS=0
echo "cold resolve PostgreSQL, 1 connection (req/s p50 p99): $(load "http://127.0.0.1:$PORT/v1/resolve?$Q" "$KEY_PG" 1 "$DURATION" | summary)"
kill "$GW_PID"
psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
