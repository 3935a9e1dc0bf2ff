#!/usr/bin/env bash
# Proxy-mode benchmark for BENCHMARKS.md (issue 16): `wrk` through the gateway's proxy against
# `wrk` straight to the same loopback upstream and through a bare forwarding proxy (the floor:
# `nexus-testkit forward`, two HTTP exchanges per call and nothing else), in the same run,
# alternated per round so a change in machine load hits all three; at 64 connections
# (throughput, and p50 which Little's law ties to it: p50 ≈ 64 / req/s) and at 1 connection
# (the added latency of one call); the gateway's RSS sampled every second under 64 connections;
# and the CPU each process spent per request (utime+stime from /proc ÷ requests), which machine
# load barely changes, unlike the wall-clock rates.
#
#   cargo build --release -p nexus-cli -p nexus-testkit && scripts/bench/proxy.sh
#
# Upstream: the testkit echo server (keep-alive; it answers a small JSON echo of the request).
# Gateway: a separate `nexus serve gateway` process in front of `nexus dev`'s broker, so its RSS
# is the gateway's alone; a static API-key provider whose credential the proxy injects; the
# proxy's token cache warm before the first run. Needs `wrk` (apt-get install -y wrk).
# Environment: BENCH_SECONDS (default 10) per run, BENCH_ROUNDS (default 3) pairs of runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
NEXUS="${NEXUS_BIN:-$PWD/target/release/nexus}"
TESTKIT="${NEXUS_TESTKIT_BIN:-$PWD/target/release/nexus-testkit}"
DURATION="${BENCH_SECONDS:-10}"
ROUNDS="${BENCH_ROUNDS:-3}"
CONNECTIONS=64
# The 1-connection runs measure latency, not throughput: shorter is enough.
SINGLE_DURATION="${BENCH_SINGLE_SECONDS:-$(( DURATION < 5 ? DURATION : 5 ))}"
TCK="$(getconf CLK_TCK)"
command -v wrk >/dev/null || { echo "proxy.sh: needs wrk (apt-get install -y wrk)" >&2; exit 2; }
WORK="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

wait_for_file() { for _ in $(seq 600); do [ -s "$1" ] && return 0; sleep 0.1; done; echo "timed out waiting for $1" >&2; return 1; }
wait_for_url() { for _ in $(seq 600); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "timed out waiting for $1" >&2; return 1; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
load() { # connections url [header]
  local c="$1" t=2 d="$DURATION"; shift
  if [ "$c" = 1 ]; then t=1; d="$SINGLE_DURATION"; fi
  if [ $# -gt 1 ]; then wrk -t"$t" -c"$c" -d"$d"s --latency -H "$2" "$1" 2>&1
  else wrk -t"$t" -c"$c" -d"$d"s --latency "$1" 2>&1; fi
}
cpu_ticks() { # pid... → utime+stime of all, in clock ticks
  local sum=0 pid
  for pid in "$@"; do sum=$(( sum + $(awk '{print $14 + $15}' "/proc/$pid/stat") )); done
  echo "$sum"
}
us_per_req() { # ticks requests → CPU µs per request
  awk -v t="$1" -v n="$2" -v hz="$TCK" 'BEGIN {printf "%.1f", (n > 0 ? t * 1e6 / hz / n : 0)}'
}
summary() { # wrk output → "req/s p50_ms p99_ms non2xx requests" (latencies converted to ms)
  awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
       /Requests\/sec/ {rps=$2} /^ +50%/ {p50=ms($2)} /^ +99%/ {p99=ms($2)} /Non-2xx/ {bad=$NF}
       / requests in / {n=$1}
       END {printf "%s %.3f %.3f %s %s\n", rps, p50, p99, (bad == "" ? 0 : bad), n}'
}
metric() { # name (a gateway counter without labels) → its value
  curl -fsS "http://127.0.0.1:$PORT/metrics" | awk -v n="$1" '$1 == n {print $2}'
}
proxied_answers() { # every answer the gateway gave on the proxy route, whatever the status
  curl -fsS "http://127.0.0.1:$PORT/metrics" | awk '/^nexus_gateway_requests_total\{route="\/v1\/proxy\// {s += $2} END {print s + 0}'
}
stored_records() { # proxy.request records in the broker's audit trail
  python3 -c 'import sqlite3,sys; c=sqlite3.connect("file:"+sys.argv[1]+"?mode=ro", uri=True, timeout=30); print(c.execute("select count(*) from audit_events where action = ?", ("proxy.request",)).fetchone()[0])' "$WORK/dev/nexus.db"
}

echo "# $(date -u +%FT%TZ) $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

"$TESTKIT" echo --ignore-stdin >"$WORK/echo.json" 2>"$WORK/echo.log" </dev/null &
PIDS+=($!)
wait_for_file "$WORK/echo.json"
UPSTREAM="$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["url"])' "$WORK/echo.json")"

ECHO_PID=$!
"$TESTKIT" forward --upstream "$UPSTREAM" --ignore-stdin >"$WORK/forward.json" 2>"$WORK/forward.log" </dev/null &
PIDS+=($!); FWD_PID=$!
wait_for_file "$WORK/forward.json"
FORWARDER="$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["url"])' "$WORK/forward.json")"

"$NEXUS" dev --home "$WORK/dev" --gateway-addr 127.0.0.1:0 --broker-addr 127.0.0.1:0 2>"$WORK/dev.log" &
PIDS+=($!); BROKER_PID=$!
wait_for_file "$WORK/dev/dev.env"
set -a; . "$WORK/dev/dev.env"; set +a
cat >"$WORK/providers.yaml" <<YAML
providers:
  - name: bench
    auth_type: api_key
    api_base_url: $UPSTREAM
    strategy:
      type: header
      config:
        header_name: X-Upstream-Key
YAML
"$NEXUS" providers apply "$WORK/providers.yaml" >/dev/null
printf 'bench-upstream-key' | "$NEXUS" connections import --workspace "$NEXUS_WORKSPACE_ID" --provider bench --kind api_key >/dev/null

PORT="$(free_port)"
env NEXUS_BROKER_URL="$NEXUS_BROKER_URL" NEXUS_INTERNAL_TOKEN="$(cat "$WORK/dev/internal.token")" \
  NEXUS_GATEWAY_ADDR="127.0.0.1:$PORT" NEXUS_GATEWAY_RATE_LIMIT_PER_SEC=100000000 \
  NEXUS_GATEWAY_RATE_LIMIT_BURST=100000000 NEXUS_LOG=warn "$NEXUS" serve gateway 2>>"$WORK/gateway.log" &
PIDS+=($!); GW_PID=$!
wait_for_url "http://127.0.0.1:$PORT/healthz"

DIRECT="$UPSTREAM/items/42?x=1"
BARE="$FORWARDER/items/42?x=1"
PROXIED="http://127.0.0.1:$PORT/v1/proxy/$NEXUS_WORKSPACE_ID/bench/items/42?x=1"
AUTH="X-API-Key: $NEXUS_API_KEY"
curl -fsS -H "$AUTH" "$PROXIED" >/dev/null   # warm: the proxy's token cache and its pool
curl -fsS "$BARE" >/dev/null
echo "upstream: $UPSTREAM (testkit echo, pid $ECHO_PID); bare forwarder: $FORWARDER (pid $FWD_PID); gateway pid $GW_PID; broker (nexus dev) pid $BROKER_PID"
echo "$CONNECTIONS connections × ${DURATION}s and 1 connection × ${SINGLE_DURATION}s per run; CPU per request = utime+stime of the serving processes ÷ requests (wrk's own CPU not counted)"
echo "gateway RSS idle (warm): $(rss_kib "$GW_PID") KiB"

# Wait until the broker has stored a record for every proxied answer (so its CPU for this run's
# records is counted in this run), up to 60 s; prints the seconds waited.
drain_audit() {
  local answered waited=0
  answered="$(proxied_answers)"
  while [ "$(stored_records)" -lt "$answered" ] && [ "$waited" -lt 600 ]; do sleep 0.1; waited=$((waited + 1)); done
  awk -v w="$waited" 'BEGIN {printf "%.1f", w / 10}'
}

# run KIND CONNECTIONS → "req/s p50_ms p99_ms non2xx us_per_req" (and a line on stderr)
run() {
  local kind="$1" c="$2" url procs header=() before after out drained=""
  case "$kind" in
    direct) url="$DIRECT"; procs=("$ECHO_PID") ;;
    bare) url="$BARE"; procs=("$ECHO_PID" "$FWD_PID") ;;
    nexus) url="$PROXIED"; procs=("$ECHO_PID" "$GW_PID" "$BROKER_PID"); header=("$AUTH") ;;
  esac
  local pid split="" each=()
  for pid in "${procs[@]}"; do each+=("$(cpu_ticks "$pid")"); done
  before="$(cpu_ticks "${procs[@]}")"
  read -r rps p50 p99 bad n <<<"$(load "$c" "$url" "${header[@]}" | summary)"
  if [ "$kind" = nexus ]; then drained="$(drain_audit)"; fi
  after="$(cpu_ticks "${procs[@]}")"
  local i=0 names=(upstream "${procs[@]:1}")
  [ "$kind" = nexus ] && names=(upstream gateway broker)
  [ "$kind" = bare ] && names=(upstream forwarder)
  for pid in "${procs[@]}"; do split+=" ${names[$i]} $(us_per_req $(( $(cpu_ticks "$pid") - each[i] )) "$n")"; i=$((i + 1)); done
  out="$rps $p50 $p99 $bad $(us_per_req $((after - before)) "$n")"
  echo "round $round $kind c=$c (req/s p50_ms p99_ms non2xx cpu_us/req): $out [cpu_us/req:$split]${drained:+ (audit drained ${drained}s after the run)}" >&2
  echo "$out"
}

printf 'round direct_rps bare_rps nexus_rps nexus/direct nexus/bare bare/direct p50@64_direct p50@64_bare p50@64_nexus p50@64_littles_nexus p50@1_direct p50@1_bare p50@1_nexus added_p50@1_nexus added_p50@1_bare cpu_us/req_direct cpu_us/req_bare cpu_us/req_nexus nexus_non2xx rss_first_kib rss_last_kib\n' >"$WORK/rounds"
for round in $(seq "$ROUNDS"); do
  read -r d_rps d_p50 d_p99 d_bad d_cpu <<<"$(run direct "$CONNECTIONS")"
  read -r b_rps b_p50 b_p99 b_bad b_cpu <<<"$(run bare "$CONNECTIONS")"
  : >"$WORK/rss"
  ( while kill -0 "$GW_PID" 2>/dev/null; do rss_kib "$GW_PID" >>"$WORK/rss"; sleep 1; done ) &
  SAMPLER=$!
  read -r p_rps p_p50 p_p99 p_bad p_cpu <<<"$(run nexus "$CONNECTIONS")"
  kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true
  read -r rss_first rss_min rss_max rss_last <<<"$(awk 'NR==1{f=$1; mn=$1; mx=$1} {if($1<mn)mn=$1; if($1>mx)mx=$1; l=$1} END {print f, mn, mx, l}' "$WORK/rss")"
  echo "round $round gateway RSS KiB during the proxied run (first min max last): $rss_first $rss_min $rss_max $rss_last"
  read -r d1_rps d1_p50 _ _ _ <<<"$(run direct 1)"
  read -r b1_rps b1_p50 _ _ _ <<<"$(run bare 1)"
  read -r p1_rps p1_p50 _ _ _ <<<"$(run nexus 1)"
  awk -v r="$round" -v dr="$d_rps" -v br="$b_rps" -v pr="$p_rps" -v dp="$d_p50" -v bp="$b_p50" -v pp="$p_p50" \
      -v d1="$d1_p50" -v b1="$b1_p50" -v p1="$p1_p50" -v dc="$d_cpu" -v bc="$b_cpu" -v pc="$p_cpu" -v bad="$p_bad" \
      -v f="$rss_first" -v l="$rss_last" -v c="$CONNECTIONS" \
    'BEGIN {printf "%s %s %s %s %.3f %.3f %.3f %s %s %s %.3f %s %s %s %.3f %.3f %s %s %s %s %s %s\n", r, dr, br, pr, pr / dr, pr / br, br / dr, dp, bp, pp, c * 1000 / pr, d1, b1, p1, p1 - d1, b1 - d1, dc, bc, pc, bad, f, l}' >>"$WORK/rounds"
done
echo "gateway RSS after the runs: $(rss_kib "$GW_PID") KiB"

# Every proxied call is recorded: wait (up to 60 s) for the gateway's batches to reach the
# broker, then compare the records stored with the answers the gateway counted.
drain_audit >/dev/null
echo "proxied answers (gateway metrics, warm-up included): $(proxied_answers); proxy.request records stored: $(stored_records)"
echo "calls that found the audit queue full: $(metric nexus_gateway_proxy_audit_queue_full_total); refused with 503 for it: $(metric nexus_gateway_proxy_audit_refused_total)"

echo
echo "## per round (req/s and p50 in ms; p50@64_littles = 64 / req/s, what Little's law allows at 64 connections; cpu_us/req = upstream [+ forwarder | + gateway + broker])"
column -t "$WORK/rounds"
awk 'NR > 1 {n = NR - 1; nd[n] = $5; nb[n] = $6; bd[n] = $7; a1[n] = $15; ab[n] = $16; a64[n] = $10 - $8; dc[n] = $17; bc[n] = $18; pc[n] = $19; growth[n] = ($22 - $21) / 1024}
     function median(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }; return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
     END {
       r = median(nd, n); a = median(a1, n)
       # Round 1 warms the gateway (pools, buffers, allocator pages): its growth is reported
       # apart, and the goal is judged on the rounds after it.
       first = growth[1]; w = 0; for (i = 2; i <= n; i++) warm[++w] = growth[i]
       g = (w > 0) ? median(warm, w) : first
       which = (w > 0) ? sprintf("rounds 2-%d, after the warm-up round", n) : "round 1 only, which includes the warm-up: run 2+ rounds"
       printf "median throughput nexus/direct: %.3f (goal >= 0.5: %s); nexus/bare: %.3f; bare/direct (the floor of any proxy here): %.3f\n", r, (r >= 0.5 ? "met" : "missed"), median(nb, n), median(bd, n)
       printf "median added p50 at 1 connection: nexus %.3f ms (goal < 0.3 ms: %s), bare forwarder %.3f ms; at %d connections: nexus %.3f ms (Little: follows throughput)\n", a, (a < 0.3 ? "met" : "missed"), median(ab, n), 64, median(a64, n)
       printf "median CPU per request (us): direct %.1f, bare %.1f, nexus %.1f (nexus - bare = the gateway+broker own cost: %.1f)\n", median(dc, n), median(bc, n), median(pc, n), median(pc, n) - median(bc, n)
       printf "median gateway RSS growth during a proxied run (%s): %.1f MiB (goal < 5 MiB: %s); round 1 (warm-up): %.1f MiB\n", which, g, (g < 5 ? "met" : "missed"), first
     }' "$WORK/rounds"
