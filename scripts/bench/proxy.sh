#!/usr/bin/env bash
# Proxy-mode benchmark for BENCHMARKS.md (issue 16): `wrk` through the gateway's proxy against
# `wrk` straight to the same loopback upstream, in the same run, alternated (direct, proxy,
# direct, proxy, …) so a change in machine load hits both; plus the gateway's RSS sampled every
# second while 64 connections go through the proxy.
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
command -v wrk >/dev/null || { echo "proxy.sh: needs wrk (apt-get install -y wrk)" >&2; exit 2; }
WORK="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

wait_for_file() { for _ in $(seq 600); do [ -s "$1" ] && return 0; sleep 0.1; done; echo "timed out waiting for $1" >&2; return 1; }
wait_for_url() { for _ in $(seq 600); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "timed out waiting for $1" >&2; return 1; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
load() { # url [header]
  if [ $# -gt 1 ]; then wrk -t2 -c"$CONNECTIONS" -d"$DURATION"s --latency -H "$2" "$1" 2>&1
  else wrk -t2 -c"$CONNECTIONS" -d"$DURATION"s --latency "$1" 2>&1; fi
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

"$NEXUS" dev --home "$WORK/dev" --gateway-addr 127.0.0.1:0 --broker-addr 127.0.0.1:0 2>"$WORK/dev.log" &
PIDS+=($!)
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
PROXIED="http://127.0.0.1:$PORT/v1/proxy/$NEXUS_WORKSPACE_ID/bench/items/42?x=1"
AUTH="X-API-Key: $NEXUS_API_KEY"
curl -fsS -H "$AUTH" "$PROXIED" >/dev/null   # warm: the proxy's token cache and its pool
echo "upstream: $UPSTREAM (testkit echo); gateway pid $GW_PID; $CONNECTIONS connections, ${DURATION}s per run"
echo "gateway RSS idle (warm): $(rss_kib "$GW_PID") KiB"

printf 'round direct_rps proxied_rps ratio direct_p50_ms proxied_p50_ms added_p50_ms direct_p99_ms proxied_p99_ms proxied_non2xx rss_first_kib rss_last_kib\n' >"$WORK/rounds"
for round in $(seq "$ROUNDS"); do
  read -r d_rps d_p50 d_p99 d_bad _ <<<"$(load "$DIRECT" | summary)"
  echo "round $round direct  (req/s p50_ms p99_ms non2xx): $d_rps $d_p50 $d_p99 $d_bad"
  : >"$WORK/rss"
  ( while kill -0 "$GW_PID" 2>/dev/null; do rss_kib "$GW_PID" >>"$WORK/rss"; sleep 1; done ) &
  SAMPLER=$!
  read -r p_rps p_p50 p_p99 p_bad _ <<<"$(load "$PROXIED" "$AUTH" | summary)"
  echo "round $round proxied (req/s p50_ms p99_ms non2xx): $p_rps $p_p50 $p_p99 $p_bad"
  kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true
  read -r rss_first rss_min rss_max rss_last <<<"$(awk 'NR==1{f=$1; mn=$1; mx=$1} {if($1<mn)mn=$1; if($1>mx)mx=$1; l=$1} END {print f, mn, mx, l}' "$WORK/rss")"
  echo "round $round gateway RSS KiB during the proxied run (first min max last): $rss_first $rss_min $rss_max $rss_last"
  awk -v r="$round" -v dr="$d_rps" -v pr="$p_rps" -v dp="$d_p50" -v pp="$p_p50" -v d9="$d_p99" -v p9="$p_p99" -v bad="$p_bad" -v f="$rss_first" -v l="$rss_last" \
    'BEGIN {printf "%s %s %s %.3f %s %s %.3f %s %s %s %s %s\n", r, dr, pr, pr / dr, dp, pp, pp - dp, d9, p9, bad, f, l}' >>"$WORK/rounds"
done
echo "gateway RSS after the runs: $(rss_kib "$GW_PID") KiB"

# Every proxied call is recorded: wait (up to 30 s) for the gateway's batches to reach the
# broker, then compare the records stored with the answers the gateway counted.
answered="$(proxied_answers)"
for _ in $(seq 300); do [ "$(stored_records)" -ge "$answered" ] && break; sleep 0.1; done
echo "proxied answers (gateway metrics, warm-up included): $answered; proxy.request records stored: $(stored_records)"
echo "calls that found the audit queue full: $(metric nexus_gateway_proxy_audit_queue_full_total); refused with 503 for it: $(metric nexus_gateway_proxy_audit_refused_total)"

echo
echo "## per round (ratio goal >= 0.5; added p50 goal < 0.3 ms; RSS goal: flat, last - first < 5 MiB)"
column -t "$WORK/rounds"
awk 'NR > 1 {ratio[NR-1] = $4; added[NR-1] = $7; growth[NR-1] = ($12 - $11) / 1024; n = NR - 1}
     function median(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }; return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
     END {
       r = median(ratio, n); a = median(added, n); g = median(growth, n)
       printf "median ratio proxied/direct: %.3f (goal >= 0.5: %s)\n", r, (r >= 0.5 ? "met" : "missed")
       printf "median added p50: %.3f ms (goal < 0.3 ms: %s)\n", a, (a < 0.3 ? "met" : "missed")
       printf "median gateway RSS growth during a proxied run: %.1f MiB (goal < 5 MiB: %s)\n", g, (g < 5 ? "met" : "missed")
     }' "$WORK/rounds"
