#!/usr/bin/env bash
# Time-to-ready of `nexus dev` (process start → dev.env written, i.e. both listeners serve and
# the dev workspace exists) on a fresh home and on a restart, plus the wall time of one
# `nexus resolve` round trip. Prints min / median / max in milliseconds.
#
#   cli/benches/startup.sh [RUNS]        (uses ${CARGO_TARGET_DIR:-target}/debug/nexus)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS="${1:-10}"
NEXUS="${NEXUS_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/debug/nexus}"
WORK="$(mktemp -d)"
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT

now_ms() { date +%s%3N; }

# Start a stack on HOME; sets PID and ELAPSED (ms until dev.env appears). No subshell: the
# stack must stay this shell's child, and must not hold a command substitution's pipe open.
start_stack() {
  local home="$1" t0
  t0=$(now_ms)
  "$NEXUS" dev --home "$home" --gateway-addr 127.0.0.1:0 --broker-addr 127.0.0.1:0 \
    >/dev/null 2>&1 &
  PID=$!
  until [ -f "$home/dev.env" ]; do
    kill -0 "$PID" 2>/dev/null || { echo "nexus dev exited" >&2; exit 1; }
    sleep 0.005
  done
  ELAPSED=$(( $(now_ms) - t0 ))
}

stop_stack() { kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }

stats() { sort -n | awk '{a[NR]=$1} END {printf "min %d  median %d  max %d  (n=%d)\n", a[1], a[int((NR+1)/2)], a[NR], NR}'; }

cold=(); warm=(); resolve=()
for i in $(seq "$RUNS"); do
  home="$WORK/home$i"
  start_stack "$home"; cold+=("$ELAPSED"); stop_stack
  start_stack "$home"; warm+=("$ELAPSED")
  if [ "$i" = 1 ]; then
    NEXUS_HOME="$home" "$NEXUS" providers apply examples/providers.yaml >/dev/null 2>&1
    printf 'sk_bench' | NEXUS_HOME="$home" "$NEXUS" connections import --workspace dev \
      --provider example --kind api_key >/dev/null
    for _ in $(seq "$RUNS"); do
      t0=$(now_ms)
      NEXUS_HOME="$home" "$NEXUS" resolve --workspace dev --provider example >/dev/null
      resolve+=($(( $(now_ms) - t0 )))
    done
  fi
  stop_stack
done
echo "nexus dev, fresh home → dev.env (ms):  $(printf '%s\n' "${cold[@]}" | stats)"
echo "nexus dev, restart    → dev.env (ms):  $(printf '%s\n' "${warm[@]}" | stats)"
echo "nexus resolve, one round trip (ms):    $(printf '%s\n' "${resolve[@]}" | stats)"
