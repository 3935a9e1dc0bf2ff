#!/usr/bin/env bash
# Many replicas with faults (issue 20): 3 brokers and 3 gateways (`nexus serve`) on one
# PostgreSQL, the loopback OAuth provider of nexus-testkit issuing short-lived tokens, and a load
# client (scripts/bench/cluster_load.py) resolving through all gateways and checking every
# answer. While loaded: kill -9 a broker and restart it, restart PostgreSQL, rotate the master
# key. Then it judges:
#   - 0 wrong answers (static secrets exact; every new access token introspected at the provider:
#     active, issued for that workspace's grant, never served to another workspace);
#   - every failure a typed retryable error (counted by code);
#   - 0 `invalid_grant` at the provider (no refresh token used twice);
#   - exactly one refresh per expiry: refreshes accepted by the provider = distinct access
#     tokens served;
#   - the audit chain of every workspace verifies afterwards;
# and prints the time from PostgreSQL accepting connections again to the last failed request.
#
# Usage: scripts/bench/cluster.sh [--short]
#   --short: ~40 s, for CI (scripts/test.d/52-cluster.sh); no timing is asserted in either mode.
# Environment: NEXUS_BIN / NEXUS_TESTKIT_BIN (default: debug builds of this checkout, built
# here), CLUSTER_PG_PORT (default: a free port), CLUSTER_THREADS (default 8), CLUSTER_KEEP=1
# (keep the work directory with every log).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"

MODE=full
[ "${1:-}" = "--short" ] && MODE=short
if [ "$MODE" = short ]; then
  TTL=10 MARGIN=3 GW_MARGIN=2 WORKSPACES=3 WARM=3 GAP=4 PG_DOWN=2 TAIL=8
else
  TTL=20 MARGIN=5 GW_MARGIN=3 WORKSPACES=6 WARM=8 GAP=10 PG_DOWN=3 TAIL=20
fi
THREADS="${CLUSTER_THREADS:-8}"
free_ports() { # N: N loopback ports free right now
  python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}
PG_PORT="${CLUSTER_PG_PORT:-$(free_ports 1)}"

if [ -z "${NEXUS_BIN:-}" ] || [ -z "${NEXUS_TESTKIT_BIN:-}" ]; then
  cargo build -q -p nexus-cli -p nexus-testkit
fi
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
NEXUS="${NEXUS_BIN:-$TARGET/nexus}"
TESTKIT="${NEXUS_TESTKIT_BIN:-$TARGET/nexus-testkit}"

WORK="$(mktemp -d /tmp/nexus-cluster.XXXXXX)"
chmod 755 "$WORK" # the PostgreSQL cluster below belongs to the postgres user when run as root
PG_DIR="$WORK/pg"
PIDS=()
LOAD_PID=""
pg_ctl_as_owner() {
  local bin
  bin="$(dirname "$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")"
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$bin/pg_ctl" "$@"); else "$bin/pg_ctl" "$@"; fi
}
cleanup() {
  [ -n "$LOAD_PID" ] && kill -TERM "$LOAD_PID" 2>/dev/null
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  pg_ctl_as_owner -D "$PG_DIR" -m immediate stop >/dev/null 2>&1 || true
  if [ "${CLUSTER_KEEP:-0}" = 1 ]; then echo "cluster: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

say() { echo "cluster: $*" >&2; }
mark() { echo "$(date +%s.%N) $1" >>"$WORK/markers"; say "$1"; }
# The address a service printed once it listens (waits up to 60 s; fails if the process died).
listening() { # NAME LOG PID
  local addr
  for _ in $(seq 600); do
    addr=$(sed -n "s/^nexus: $1 listening on //p" "$2" | tail -1)
    if [ -n "$addr" ]; then echo "$addr"; return; fi
    kill -0 "$3" 2>/dev/null || break
    sleep 0.1
  done
  say "$1 did not start:"; cat "$2" >&2; return 1
}

# --- PostgreSQL: its own cluster and port, so this script may restart it.
DB_URL="$(NEXUS_PG_DIR="$PG_DIR" NEXUS_PG_PORT="$PG_PORT" bash scripts/pg-start.sh)"
psql -q "$DB_URL" -c "CREATE DATABASE nexus_cluster"
DB_URL="${DB_URL%/*}/nexus_cluster"

# --- Secrets shared by the fleet: one keyring file, the admin and internal tokens.
umask 077
head -c 32 /dev/urandom | base64 >"$WORK/keyring"
ADMIN_TOKEN="adm_$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
INTERNAL_TOKEN="int_$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
umask 022

# --- The provider: short-lived access tokens, rotating refresh tokens.
"$TESTKIT" oauth --expires-in "$TTL" --ignore-stdin >"$WORK/oauth.json" 2>"$WORK/oauth.log" </dev/null &
PIDS+=($!)
for _ in $(seq 300); do [ -s "$WORK/oauth.json" ] && break; sleep 0.1; done
OAUTH_URL=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["url"])' "$WORK/oauth.json")

# --- Brokers on fixed loopback ports (a restarted broker comes back where its gateway looks).
read -r -a BROKER_PORTS <<<"$(free_ports 3)"
BROKER_PIDS=()
start_broker() { # INDEX
  local i=$1 port=${BROKER_PORTS[$1]}
  NEXUS_DATABASE_URL="$DB_URL" NEXUS_MASTER_KEY_FILE="$WORK/keyring" \
    NEXUS_ADMIN_TOKEN="$ADMIN_TOKEN" NEXUS_INTERNAL_TOKEN="$INTERNAL_TOKEN" \
    NEXUS_BROKER_PUBLIC_URL="http://127.0.0.1:$port" NEXUS_REFRESH_MARGIN_SECS="$MARGIN" \
    NEXUS_DATABASE_MAX_CONNECTIONS=8 NEXUS_LOG=warn \
    "$NEXUS" serve broker --broker-addr "127.0.0.1:$port" >>"$WORK/broker$i.log" 2>&1 &
  BROKER_PIDS[i]=$!
  PIDS+=($!)
  listening broker "$WORK/broker$i.log" "${BROKER_PIDS[$i]}" >/dev/null
}
for i in 0 1 2; do start_broker "$i"; done
# Gateway 0 keeps its caches (production defaults): most of its answers never reach a broker.
# Gateways 1 and 2 cache nothing, so every request they take crosses a broker and PostgreSQL
# (API key check, resolve, audit append) and meets the faults below.
GATEWAYS=()
for i in 0 1 2; do
  cache_ttl=300 key_ttl=10000
  [ "$i" -gt 0 ] && cache_ttl=0 key_ttl=0
  NEXUS_BROKER_URL="http://127.0.0.1:${BROKER_PORTS[$i]}" NEXUS_INTERNAL_TOKEN="$INTERNAL_TOKEN" \
    NEXUS_GATEWAY_RATE_LIMIT_PER_SEC=0 NEXUS_GATEWAY_TOKEN_REFRESH_MARGIN_SECS="$GW_MARGIN" \
    NEXUS_GATEWAY_TOKEN_CACHE_MAX_TTL_SECS="$cache_ttl" NEXUS_GATEWAY_KEY_CACHE_TTL_MS="$key_ttl" \
    NEXUS_LOG=warn \
    "$NEXUS" serve gateway --gateway-addr 127.0.0.1:0 >"$WORK/gateway$i.log" 2>&1 &
  PIDS+=($!)
  GATEWAYS+=("http://$(listening gateway "$WORK/gateway$i.log" $!)")
done
say "3 brokers (ports ${BROKER_PORTS[*]}), 3 gateways (${GATEWAYS[*]}), PostgreSQL :$PG_PORT, provider $OAUTH_URL"

# --- Workspaces, each with a static key connection and an OAuth connection of its own grant.
export NEXUS_BROKER_URL="http://127.0.0.1:${BROKER_PORTS[0]}" NEXUS_ADMIN_TOKEN="$ADMIN_TOKEN"
admin() { # METHOD PATH JSON
  curl -sf -X "$1" -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
    --data "$3" "$NEXUS_BROKER_URL$2" >/dev/null
}
read -r CLIENT_ID CLIENT_SECRET AUTH_URL TOKEN_URL <<<"$(python3 -c '
import json,sys; d=json.loads(open(sys.argv[1]).readline())
print(d["client_id"], d["client_secret"], d["authorization_endpoint"], d["token_endpoint"])' "$WORK/oauth.json")"
admin POST /admin/v1/providers '{"name":"cl-static","auth_type":"api_key"}'
admin POST /admin/v1/providers "{\"name\":\"cl-oauth\",\"auth_type\":\"oauth2\",\"client_id\":\"$CLIENT_ID\",\"client_secret\":\"$CLIENT_SECRET\",\"auth_url\":\"$AUTH_URL\",\"token_url\":\"$TOKEN_URL\"}"
ws_json=()
for n in $(seq 1 "$WORKSPACES"); do
  ws="cluster-$n"
  "$NEXUS" workspaces create "$ws" >/dev/null
  key="$("$NEXUS" api-keys create --workspace "$ws")"
  secret="sk_cluster_${n}_$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
  printf '%s' "$secret" | "$NEXUS" connections import --workspace "$ws" --provider cl-static --kind api_key >/dev/null
  refresh="$(curl -sf -X POST -H 'Content-Type: application/json' --data "{\"scopes\":[\"$ws\"]}" \
    "$OAUTH_URL/_control/issue" | python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])')"
  admin POST "/admin/v1/workspaces/$ws/connections/import" \
    "{\"provider_name\":\"cl-oauth\",\"kind\":\"refresh_token\",\"secret\":\"$refresh\"}"
  ws_json+=("{\"workspace\":\"$ws\",\"api_key\":\"$key\",\"secret\":\"$secret\",\"scope\":\"$ws\"}")
done
(
  umask 077
  gw_list=$(printf '"%s",' "${GATEWAYS[@]}")
  ws_list=$(IFS=,; echo "${ws_json[*]}")
  echo "{\"gateways\":[${gw_list%,}],\"workspaces\":[$ws_list],\"oauth_url\":\"$OAUTH_URL\",\"static_provider\":\"cl-static\",\"oauth_provider\":\"cl-oauth\"}" >"$WORK/load.json"
)
stats() { curl -sf "$OAUTH_URL/_control/stats"; }
stats >"$WORK/stats-before.json"

# --- Load, then the faults, one after the other with load running throughout.
python3 scripts/bench/cluster_load.py --config "$WORK/load.json" --threads "$THREADS" \
  --markers "$WORK/markers" --ready "$WORK/ready" >"$WORK/summary.json" 2>"$WORK/load.log" &
LOAD_PID=$!
for _ in $(seq 600); do [ -f "$WORK/ready" ] && break; kill -0 "$LOAD_PID" || break; sleep 0.1; done
[ -f "$WORK/ready" ] || { say "the load client never completed a round"; cat "$WORK/load.log" >&2; exit 1; }
mark load_started
sleep "$WARM"

mark broker_kill
kill -9 "${BROKER_PIDS[1]}"
wait "${BROKER_PIDS[1]}" 2>/dev/null || true
sleep 1
start_broker 1
mark broker_up
sleep "$GAP"

mark pg_down
pg_ctl_as_owner -D "$PG_DIR" -m fast -w stop >/dev/null
sleep "$PG_DOWN"
NEXUS_PG_DIR="$PG_DIR" NEXUS_PG_PORT="$PG_PORT" bash scripts/pg-start.sh >/dev/null
mark pg_up
sleep "$GAP"

mark key_rotate
NEXUS_BROKER_URL="http://127.0.0.1:${BROKER_PORTS[2]}" "$NEXUS" --json keys rotate >"$WORK/rotation.json"
mark key_rotated
sleep "$TAIL"

mark load_stopping
kill -TERM "$LOAD_PID"
wait "$LOAD_PID"
LOAD_PID=""
stats >"$WORK/stats-after.json"

# --- Afterwards: every workspace's audit chain verifies.
verify_failed=0
for n in $(seq 1 "$WORKSPACES"); do
  "$NEXUS" audit verify --workspace "cluster-$n" >>"$WORK/verify.log" 2>&1 || verify_failed=$((verify_failed + 1))
done

python3 - "$WORK" "$MODE" "$verify_failed" <<'PY'
import json, sys
work, mode, verify_failed = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = json.load(open(f"{work}/summary.json"))
before = json.load(open(f"{work}/stats-before.json"))
after = json.load(open(f"{work}/stats-after.json"))
rotation = json.load(open(f"{work}/rotation.json"))
d = {k: after[k] - before.get(k, 0) for k in after}
refreshes = d["refresh_accepted"]
report = {
    "mode": mode,
    "seconds": s["seconds"],
    "requests": s["requests"],
    "ok": s["ok"],
    "ok_by_gateway": s["ok_by_gateway"],
    "wrong_answers": s["wrong_answers"],
    "failures_by_code": s["failures_by_code"],
    "failures_by_phase": s["failures_by_phase"],
    "untyped_failures": s["untyped_failures"],
    "provider_refresh_accepted": refreshes,
    "provider_refresh_rejected_invalid_grant": d["refresh_rejected"],
    "provider_refresh_reuse_detected": d["refresh_reuse_detected"],
    "distinct_access_tokens_served": s["distinct_access_tokens"],
    "reencrypted_by_rotation": rotation.get("reencrypted"),
    "phase_seconds": {m[1]: round(n[0] - m[0], 1) for m, n in zip(s["markers"], s["markers"][1:])},
    "recovery_after_pg_up": s["recovery"],
    "audit_chains_failing_verify": verify_failed,
}
print(json.dumps(report, indent=2))
problems = []
if s["wrong_answers"]: problems.append(f"{s['wrong_answers']} wrong answers: {s['wrong_examples']}")
if s["untyped_failures"]: problems.append(f"untyped/non-retryable failures: {s['failure_examples']}")
if d["refresh_rejected"] or d["refresh_reuse_detected"]: problems.append("invalid_grant at the provider")
if refreshes != s["distinct_access_tokens"]:
    problems.append(f"{refreshes} refreshes for {s['distinct_access_tokens']} distinct tokens served")
if verify_failed: problems.append(f"{verify_failed} audit chains do not verify")
if not rotation.get("reencrypted"): problems.append("the rotation re-encrypted nothing")
if not s["ok"].get("oauth") or not s["ok"].get("static"): problems.append("no successful answers")
if len(s["ok_by_gateway"]) != 3: problems.append(f"not every gateway answered: {s['ok_by_gateway']}")
for p in problems: print("cluster: FAIL:", p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
