#!/usr/bin/env bash
# Hot paths (issue 20), each against its floor in the same run, then one table:
#
#   gateway  warm GET /v1/resolve through `nexus serve gateway` with the production JSON access
#            log on (written to a file), vs a bare axum server answering the same bytes
#            (gateway/examples/bare_resolve.rs); wrk, 64 connections, alternating rounds.
#            Goal: gateway req/s >= 0.85 x floor.
#   go       sdk-go BenchmarkCacheHit vs map + time.Until (and map alone, for reference).
#            Goal: <= 60 ns and 0 allocs.
#   node     `await getToken()` hit (release addon), no session and under a session, vs an
#            awaited Map lookup + performance.now() check (and + Date.now(), and the Map alone).
#            Goal: <= 1.2 x the floor. CPU time per call, median of rounds.
#   python   `get_cached_token` hit (release extension), no session and under a session, vs a
#            dict lookup + time.monotonic() check (and + time.time(), and the dict alone).
#            Goal: <= 1.1 x the floor. CPU time per call, median of rounds.
#
#   scripts/bench/hot-paths.sh              # all four
#   scripts/bench/hot-paths.sh go node      # some of them
#
# Builds what a part needs in release first (SKIP_BUILD=1 to use what is there). Time on the
# 2 vCPU machine with the builds already done: gateway ~2 min (3 rounds x 2 x 15 s + start-up),
# go ~1 min, node ~1 min, python ~30 s; a first release build of the CLI, the addon or the
# extension adds 2-10 min each. Knobs: ROUNDS (3), BENCH_SECONDS (15), CONNECTIONS (64);
# PROFILE=debug checks that the script runs without release builds (figures meaningless).
# Needs wrk (apt-get install wrk), go, node + npm, python3 >= 3.9, curl.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
PARTS=("$@")
[ ${#PARTS[@]} -eq 0 ] && PARTS=(gateway go node python)
ROUNDS="${ROUNDS:-3}"
SECONDS_PER_RUN="${BENCH_SECONDS:-15}"
CONNECTIONS="${CONNECTIONS:-64}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
PROFILE="${PROFILE:-release}"
CARGO_PROFILE=(--release)
[ "$PROFILE" = release ] || CARGO_PROFILE=()
OUT="$TARGET/hot-paths"
WORK="$(mktemp -d)"
RESULTS="$WORK/results.tsv" # part \t figure \t floor \t ratio \t goal \t verdict
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$OUT"
: >"$RESULTS"

build() { [ "${SKIP_BUILD:-0}" = 1 ] || "$@"; }
load1() { cut -d' ' -f1 /proc/loadavg; }
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }
wait_for_url() { for _ in $(seq 600); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "timed out waiting for $1" >&2; return 1; }
wait_for_file() { for _ in $(seq 600); do [ -s "$1" ] && return 0; sleep 0.1; done; echo "timed out waiting for $1" >&2; return 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "# hot paths: $(date -u +%FT%TZ), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"

# --- gateway ---------------------------------------------------------------------------------
part_gateway() {
  command -v wrk >/dev/null || { echo "gateway: wrk is missing (apt-get install wrk)" >&2; return 1; }
  build cargo build -q "${CARGO_PROFILE[@]}" -p nexus-cli
  build cargo build -q "${CARGO_PROFILE[@]}" -p nexus-gateway --example bare_resolve
  local nexus="${NEXUS_BIN:-$TARGET/$PROFILE/nexus}" bare="$TARGET/$PROFILE/examples/bare_resolve"
  # The broker (SQLite) of `nexus dev`; its own gateway stays idle.
  "$nexus" dev --home "$WORK/dev" --gateway-addr 127.0.0.1:0 --broker-addr 127.0.0.1:0 2>"$WORK/dev.log" &
  PIDS+=($!)
  wait_for_file "$WORK/dev/dev.env"
  local broker admin internal key
  broker="$(set -a && . "$WORK/dev/dev.env" && echo "$NEXUS_BROKER_URL")"
  admin="$(set -a && . "$WORK/dev/dev.env" && echo "$NEXUS_ADMIN_TOKEN")"
  internal="$(cat "$WORK/dev/internal.token")"
  NEXUS_BROKER_URL="$broker" NEXUS_ADMIN_TOKEN="$admin" "$nexus" workspaces create bench >/dev/null 2>&1 || true
  NEXUS_BROKER_URL="$broker" NEXUS_ADMIN_TOKEN="$admin" "$nexus" providers apply examples/providers.yaml >/dev/null 2>&1
  printf 'bench-upstream-key' | NEXUS_BROKER_URL="$broker" NEXUS_ADMIN_TOKEN="$admin" \
    "$nexus" connections import --workspace bench --provider example --kind api_key >/dev/null
  key="$(NEXUS_BROKER_URL="$broker" NEXUS_ADMIN_TOKEN="$admin" "$nexus" api-keys create --workspace bench 2>/dev/null)"

  # The gateway as production runs it: `nexus serve`, JSON logs at info (access lines on),
  # stderr to a file. Rate limits out of the way: they are not what is measured.
  local port log="$WORK/gateway.log"
  port="$(free_port)"
  env NEXUS_BROKER_URL="$broker" NEXUS_INTERNAL_TOKEN="$internal" NEXUS_GATEWAY_ADDR="127.0.0.1:$port" \
    NEXUS_GATEWAY_RATE_LIMIT_PER_SEC=100000000 NEXUS_GATEWAY_RATE_LIMIT_BURST=100000000 \
    NEXUS_LOG=info NEXUS_LOG_FORMAT=json "$nexus" serve gateway 2>>"$log" &
  PIDS+=($!)
  wait_for_url "http://127.0.0.1:$port/healthz"
  local url="http://127.0.0.1:$port/v1/resolve?workspace_id=bench&provider_name=example"
  curl -fsS -H "Authorization: Bearer $key" "$url" >"$WORK/body.json"
  # The access log is on and well formed before anything is measured.
  for _ in $(seq 100); do grep -q '"nexus_gateway::access"' "$log" && break; sleep 0.1; done
  grep '"nexus_gateway::access"' "$log" | tail -1 | python3 -c '
import json, sys
line = json.loads(sys.stdin.read())
f = line["fields"]
assert f["route"] == "/v1/resolve" and f["status"] == 200 and f["workspace"] == "bench", line
print("gateway: access line ok:", json.dumps(line))'

  local bport bare_pid gw_pid="${PIDS[-1]}"
  bport="$(free_port)"
  "$bare" "127.0.0.1:$bport" "$WORK/body.json" 2>/dev/null &
  bare_pid=$!
  PIDS+=("$bare_pid")
  wait_for_url "http://127.0.0.1:$bport/v1/resolve"
  # The floor gets the very same request (path, query, Authorization header; it ignores them)
  # and must answer the same bytes: status, header names and values (the request id and Date
  # aside: a fresh id per request, same length), body.
  local floor_url="http://127.0.0.1:$bport/v1/resolve?workspace_id=bench&provider_name=example"
  answer() { curl -fsS -D - -o "$2" -H "Authorization: Bearer $key" "$1" | tr -d '\r' \
    | sed -E 's/^(x-request-id: ).*/\1<id>/I; s/^(date: ).*/\1<date>/I' | sort; }
  if ! diff <(answer "$url" "$WORK/gw.body") <(answer "$floor_url" "$WORK/floor.body") >&2 \
    || ! cmp -s "$WORK/gw.body" "$WORK/floor.body"; then
    echo "floor answers other bytes than the gateway" >&2
    return 1
  fi
  echo "gateway: floor answers the same status, headers and $(wc -c <"$WORK/floor.body")-byte body"

  # One wrk run against $1 while `perf stat` counts the CPU time of process $2 (every thread:
  # the access-log writer too). Prints "req/s requests cpu_ms".
  measure() {
    local target="$1" pid="$2" out="$WORK/perf.$RANDOM"
    perf stat -e task-clock -x, -p "$pid" -o "$out" &
    local perf_pid=$!
    sleep 0.2
    local text
    text="$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -H "Authorization: Bearer $key" "$target" 2>&1)"
    kill -INT "$perf_pid"
    wait "$perf_pid" 2>/dev/null || true
    echo "$text" >>"$WORK/wrk.txt"
    printf '%s %s %s\n' "$(awk '/Requests\/sec/ {print $2}' <<<"$text")" \
      "$(awk '/requests in/ {print $1}' <<<"$text")" \
      "$(awk -F, '/task-clock/ {print $1}' "$out")"
  }
  command -v perf >/dev/null || { echo "gateway: perf is missing (apt-get install linux-perf)" >&2; return 1; }
  local r floor gw
  for r in $(seq "$ROUNDS"); do
    : >"$log" # keep the log file small; the writer appends
    floor="$(measure "$floor_url" "$bare_pid")"
    gw="$(measure "$url" "$gw_pid")"
    echo "$floor $gw" >>"$WORK/gateway.rounds"
    python3 - "$r" "$(load1)" $floor $gw <<'PY'
import sys
r, load, frps, freq, fcpu, grps, greq, gcpu = sys.argv[1:]
fus, gus = float(fcpu) * 1000 / float(freq), float(gcpu) * 1000 / float(greq)
print(f"gateway round {r} (load {load}): floor {float(frps):,.0f} req/s {fus:.2f} us CPU/req, "
      f"gateway {float(grps):,.0f} req/s {gus:.2f} us CPU/req; ratio {float(grps) / float(frps):.3f} "
      f"(CPU per request {gus / fus:.2f}x the floor's)")
PY
  done
  local metrics dropped written
  metrics="$(curl -fsS "http://127.0.0.1:$port/metrics")"
  dropped="$(awk '/^nexus_gateway_access_log_dropped_total/ {print $2}' <<<"$metrics")"
  written="$(awk '/^nexus_gateway_access_log_written_total/ {print $2}' <<<"$metrics")"
  echo "gateway: access lines written ${written:-?}, dropped ${dropped:-?} (the last round's file: $(wc -l <"$log") lines)"
  python3 - "$WORK/gateway.rounds" "$RESULTS" <<'EOF'
import statistics, sys
# per round: floor req/s, requests, CPU ms; gateway req/s, requests, CPU ms
rounds = [tuple(map(float, l.split())) for l in open(sys.argv[1])]
floor = statistics.median(r[0] for r in rounds)
gw = statistics.median(r[3] for r in rounds)
ratio = statistics.median(r[3] / r[0] for r in rounds)
fus = statistics.median(r[2] * 1000 / r[1] for r in rounds)
gus = statistics.median(r[5] * 1000 / r[4] for r in rounds)
verdict = "met" if ratio >= 0.85 else f"missed by {0.85 - ratio:.2f}"
with open(sys.argv[2], "a") as out:
    out.write(f"gateway warm resolve, JSON access log on (median of {len(rounds)})\t{gw:,.0f} req/s, {gus:.2f} us CPU/req\t"
              f"bare axum {floor:,.0f} req/s, {fus:.2f} us CPU/req\t{ratio:.2f}x (CPU {gus / fus:.2f}x)\t>= 0.85x\t{verdict}\n")
EOF
}

# --- go --------------------------------------------------------------------------------------
part_go() {
  # One test binary, five rounds; each round runs the hit and its floors back to back, so a
  # burst of load hits both sides rather than one benchmark's five runs.
  (cd sdk-go && go test -c -o "$WORK/go.test" .)
  local r
  for r in 1 2 3 4 5; do
    (cd sdk-go && "$WORK/go.test" -test.run '^$' -test.benchtime 500ms -test.benchmem \
      -test.bench '^BenchmarkCacheHit(|Parallel|FloorMonotonic|FloorMapOnly)$')
  done | tee "$WORK/go.txt" | grep '^Benchmark'
  python3 - "$WORK/go.txt" "$RESULTS" <<'EOF'
import re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    m = re.match(r"^(Benchmark\w+)-\d+\s+\d+\s+([\d.]+) ns/op\s+(\d+) B/op\s+(\d+) allocs/op", line)
    if m:
        runs.setdefault(m[1], []).append((float(m[2]), int(m[4])))
med = {k: statistics.median(ns for ns, _ in v) for k, v in runs.items()}
allocs = max(a for _, a in runs["BenchmarkCacheHit"])
hit, mono, maponly = med["BenchmarkCacheHit"], med["BenchmarkCacheHitFloorMonotonic"], med["BenchmarkCacheHitFloorMapOnly"]
ok = hit <= 60 and allocs == 0
verdict = "met" if ok else (f"missed by {hit - 60:.0f} ns" if allocs == 0 else f"{allocs} allocs")
with open(sys.argv[2], "a") as out:
    out.write(f"go cache hit, no session (median of 5)\t{hit:.1f} ns, {allocs} allocs\t"
              f"map + time.Until {mono:.1f} ns (map alone {maponly:.1f})\t{hit / mono:.2f}x\t<= 60 ns, 0 allocs\t{verdict}\n")
    out.write(f"go cache hit, parallel (median of 5)\t{med['BenchmarkCacheHitParallel']:.1f} ns\t-\t-\t-\t-\n")
EOF
}

# --- node ------------------------------------------------------------------------------------
part_node() {
  # The release addon built by plain cargo, beside the CLI's release build (shares its
  # dependencies; napi's own build would compile them again for an explicit target), loaded
  # through NAPI_RS_NATIVE_LIBRARY_PATH by the package's generated loader (native/index.js).
  local addon="$OUT/node/nexus-sdk.linux-x64-gnu.node"
  build cargo build -q "${CARGO_PROFILE[@]}" -p nexus-sdk-node
  mkdir -p "$OUT/node" && cp "$TARGET/$PROFILE/libnexus_sdk_node.so" "$addon"
  (
    cd bindings-node
    [ -d node_modules ] || npm ci --no-audit --no-fund --silent
    # Rebuild the generated loader/types and the compiled TypeScript whenever their sources are
    # newer: a stale dist/ (untracked) measures an older hit path without saying so.
    if [ ! -f native/index.d.ts ] || [ -n "$(find src Cargo.toml ../core/src -newer native/index.d.ts -name '*.rs' -o -newer native/index.d.ts -name Cargo.toml | head -1)" ]; then
      npm run -s build:native
    fi
    if [ ! -f dist/index.mjs ] || [ -n "$(find src native/index.d.ts -newer dist/index.mjs \( -name '*.ts' -o -name '*.mts' \) | head -1)" ]; then
      npm run -s build:ts
    fi
  )
  NAPI_RS_NATIVE_LIBRARY_PATH="$addon" node bindings-node/bench/hit.mjs | tee "$WORK/node.json"
  python3 - "$WORK/node.json" "$RESULTS" <<'EOF'
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
ratio, bare = r["ratio_vs_map_clock"], r["ratio_vs_map"]
verdict = "met" if ratio <= 1.2 else f"missed by {ratio - 1.2:.2f}x"
bare_verdict = "met" if bare <= 1.2 else f"missed by {bare - 1.2:.2f}x"
clock = r["clock_alone_cpu_ns"]["performance_now"]
with open(sys.argv[2], "a") as out:
    out.write(f"node `await getToken()` hit, no session (median of {r['rounds']}, CPU)\t{r['hit_ns']:.0f} ns\t"
              f"awaited Map + performance.now() {r['floor_map_clock_ns']:.0f} ns (+ Date.now() {r['floor_map_date_ns']:.0f})\t{ratio:.2f}x\t<= 1.2x\t{verdict}\n")
    out.write(f"node hit vs the bare Map (no clock)\t{r['hit_ns']:.0f} ns\tawaited Map {r['floor_map_ns']:.0f} ns "
              f"(performance.now() alone {clock:.0f} ns)\t{bare:.2f}x\t<= 1.2x\t{bare_verdict}\n")
    out.write(f"node hit under a session\t{r['hit_session_ns']:.0f} ns\tMap + performance.now() {r['floor_map_clock_ns']:.0f} ns\t"
              f"{r['ratio_session_vs_map_clock']:.2f}x\t-\t-\n")
EOF
}

# --- python ----------------------------------------------------------------------------------
part_python() {
  # The release extension assembled as maturin would (the package's Python files + _native).
  build cargo build -q "${CARGO_PROFILE[@]}" -p nexus-sdk-python --features extension-module
  rm -rf "$OUT/python" && mkdir -p "$OUT/python"
  cp -r bindings-python/python/nexus_sdk "$OUT/python/"
  cp "$TARGET/$PROFILE/lib_native.so" "$OUT/python/nexus_sdk/_native.abi3.so"
  PYTHONPATH="$OUT/python" python3 bindings-python/bench/hit.py | tee "$WORK/python.json"
  python3 - "$WORK/python.json" "$RESULTS" <<'EOF'
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
ratio = r["ratio_vs_dict_clock"]
verdict = "met" if ratio <= 1.1 else f"missed by {ratio - 1.1:.2f}x"
with open(sys.argv[2], "a") as out:
    out.write(f"python `get_cached_token` hit, no session (median of {r['rounds']}, CPU, CPython {r['python']})\t{r['hit_ns']:.0f} ns\t"
              f"dict + time.monotonic() {r['floor_dict_clock_ns']:.0f} ns (+ time.time() {r['floor_dict_time_ns']:.0f}, dict alone {r['floor_dict_ns']:.0f})\t"
              f"{ratio:.2f}x\t<= 1.1x\t{verdict}\n")
    out.write(f"python hit under a session\t{r['hit_session_ns']:.0f} ns\tdict + time.monotonic() {r['floor_dict_clock_ns']:.0f} ns\t"
              f"{r['ratio_session_vs_dict_clock']:.2f}x\t-\t-\n")
EOF
}

for part in "${PARTS[@]}"; do
  case "$part" in
    gateway | go | node | python)
      started=$(date +%s)
      echo "## $part (load average $(cut -d' ' -f1-3 /proc/loadavg))"
      "part_$part" || row "$part" "FAILED (see above)" "-" "-" "-" "-"
      echo "## $part took $(($(date +%s) - started)) s"
      ;;
    *) echo "unknown part: $part (gateway, go, node, python)" >&2; exit 2 ;;
  esac
done

echo
echo "| figure | measured | floor (same run) | ratio | goal | status |"
echo "| --- | --- | --- | --- | --- | --- |"
while IFS=$'\t' read -r a b c d e f; do echo "| $a | $b | $c | $d | $e | $f |"; done <"$RESULTS"
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
