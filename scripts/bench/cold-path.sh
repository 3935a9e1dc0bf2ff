#!/usr/bin/env bash
# Broker cold resolve on PostgreSQL, side by side (issue 20): two builds of the broker's
# `bench_resolve` example (a base commit and this one) run alternately (A B, then B A, …) at
# each concurrency, each run on a fresh database of the same server; prints every run with the
# 1-minute load average taken just before it, then the medians per build and concurrency.
#
#   scripts/bench/cold-path.sh BASE_BIN NEW_BIN POSTGRES_URL [ROUNDS] [REQUESTS]
#
# A third side, `floor`, runs beside them (NEW_BIN's `bench_resolve floor`, same harness, same
# pool and concurrency): the least database work a durable cold resolve needs (the broker's
# one lookup statement per request, one group-committed audit insert per batch) behind a bare
# route, no broker logic. NEXUS_BENCH_FLOOR=0 leaves it out.
#
# Then, at 64 concurrent's scale, an open loop (NEXUS_BENCH_OPEN=0 leaves it out): requests at
# a fixed rate, 50 % and 80 % of the new build's median closed-loop throughput at 64, for new
# and floor alike (same rates), p99 counted from each request's scheduled start: the latency a
# deployment below saturation sees.
#
# Build each side with `cargo build --release -p nexus-broker --example bench_resolve` and copy
# target/release/examples/bench_resolve out of the way before building the other. The databases
# the runs create (nexus_broker_bench_*) are dropped at the end.
#
# CPU per resolve, beside every run (the machine may be loaded; CPU per request barely
# depends on that): `bench` = the bench process (load client and broker share it), `pg` = the
# PostgreSQL server (postmaster with its exited children, plus live backends), both over the
# whole run (start-up, migrations and the 50 warm-up resolves included) ÷ timed resolves. `pg`
# needs the server on this machine and readable (else it prints n/a). Builds that print it
# (new, floor) add `window cpu/resolve`: the same two figures sampled around the timed load
# only (the bench reads /proc itself), the firmer ones; the medians show them as `win`.
set -euo pipefail
BASE="${1:?usage: $0 BASE_BIN NEW_BIN POSTGRES_URL [ROUNDS] [REQUESTS]}"
NEW="${2:?}"
PG="${3:?}"
ROUNDS="${4:-3}"
REQUESTS="${5:-6400}"
RESULTS="$(mktemp)"
ERR="$(mktemp)"
trap 'rm -f "$RESULTS" "$ERR"' EXIT

TICK="$(getconf CLK_TCK)"
PG_PID="$(head -1 "$(psql "$PG" -Atc 'SHOW data_directory' 2>/dev/null)/postmaster.pid" 2>/dev/null || true)"

pg_ticks() { # CPU ticks of the PostgreSQL server so far (exited backends are in cutime/cstime)
  [ -n "$PG_PID" ] && [ -r "/proc/$PG_PID/stat" ] || { echo 0; return; }
  { sed 's/.*) //' "/proc/$PG_PID/stat" | awk '{print $12 + $13 + $14 + $15}'
    for c in $(cat /proc/"$PG_PID"/task/*/children 2>/dev/null); do
      # A backend may exit between listing and reading: count it as 0, not as a failure.
      { sed 's/.*) //' "/proc/$c/stat" 2>/dev/null || true; } | awk '{print $12 + $13}'
    done; } | awk '{s += $1} END {print s + 0}'
}

FLOOR="${NEXUS_BENCH_FLOOR:-1}"
OPEN="${NEXUS_BENCH_OPEN:-1}"

run() { # side binary concurrency round [rate]
  local load out pg0 pg1 times bench_s n mode="" rate="${5:-}"
  [ "$1" = floor ] && mode=floor
  load="$(cut -d' ' -f1 /proc/loadavg)"
  pg0="$(pg_ticks)"
  # `times` in the subshell: the CPU (user, system) of the bench process it ran.
  # A failed run (its stderr's last line) is reported and the others go on.
  out="$( (NEXUS_BENCH_DATABASE_URL="$PG" NEXUS_BENCH_RATE="$rate" NEXUS_BENCH_PG_PID="$PG_PID" \
      "$2" $mode "$REQUESTS" "$3" 2>"$ERR" | tail -1; times) )" || true
  if ! echo "$out" | head -1 | grep -q ' resolves, '; then
    echo "$1 c=$3 round=$4 FAILED: $(tail -1 "$ERR")" >&2
    return 0
  fi
  pg1="$(pg_ticks)"
  times="$(echo "$out" | tail -1)"
  out="$(echo "$out" | head -1)"
  bench_s="$(echo "$times" | awk '{ for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] } print s }')"
  n="$(echo "$out" | sed -E 's/^[a-z-]+: ([0-9]+) resolves.*/\1/')"
  cpu="$(awk -v b="$bench_s" -v p0="$pg0" -v p1="$pg1" -v t="$TICK" -v n="$n" -v pid="$PG_PID" 'BEGIN {
    pg = (pid == "") ? "n/a" : sprintf("%.0f", (p1 - p0) / t / n * 1e6);
    printf "cpu/resolve: bench %.0f us, pg %s us", b / n * 1e6, pg }')"
  local shape="c=$3"
  [ -n "$rate" ] && shape="open@$rate"
  echo "$1 $shape round=$4 load=$load | $out | $cpu" | tee -a "$RESULTS"
}

for c in 16 64; do
  for r in $(seq 1 "$ROUNDS"); do
    sides="base new"
    [ $((r % 2)) = 0 ] && sides="new base"
    [ "$FLOOR" = 1 ] && { [ $((r % 2)) = 1 ] && sides="$sides floor" || sides="floor $sides"; }
    for side in $sides; do
      bin="$NEW"; [ "$side" = base ] && bin="$BASE"
      run "$side" "$bin" "$c" "$r"
    done
  done
done

if [ "$OPEN" = 1 ]; then
  # The rates: 50 % and 80 % of the new build's median closed-loop throughput at 64.
  max="$(grep '^new c=64 ' "$RESULTS" | sed -E 's/.* ([0-9.]+) req\/s.*/\1/' | sort -n \
    | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')"
  for pct in 50 80; do
    rate="$(awk -v m="$max" -v p="$pct" 'BEGIN {printf "%.0f", m * p / 100}')"
    for r in $(seq 1 "$ROUNDS"); do
      sides="new"; [ "$FLOOR" = 1 ] && sides="new floor"
      [ $((r % 2)) = 0 ] && [ "$FLOOR" = 1 ] && sides="floor new"
      for side in $sides; do run "$side" "$NEW" 64 "$r" "$rate"; done
    done
  done
fi

python3 - "$RESULTS" <<'PY'
import re, statistics, sys
def ms(text):
    m = re.match(r"([\d.]+)(ns|µs|us|ms|s)$", text)
    v, unit = float(m.group(1)), m.group(2)
    return v * {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1, "s": 1e3}[unit]
rows = {}
for line in open(sys.argv[1], encoding="utf-8"):
    side, c = line.split()[0], line.split()[1]
    load = float(re.search(r"load=([\d.]+)", line).group(1))
    rps = float(re.search(r"([\d.]+) req/s", line).group(1))
    p50 = ms(re.search(r"p50 (\S+),", line).group(1))
    p99 = ms(re.search(r"p99 (\S+),", line).group(1))
    failed = int(re.search(r"(\d+) failed", line).group(1))
    bench = float(re.search(r"bench (\d+) us", line).group(1))
    pg = re.search(r"cpu/resolve: bench \d+ us, pg (\d+) us", line)
    pg = float(pg.group(1)) if pg else float("nan")
    win = re.search(r"window cpu/resolve: process (\d+) us, pg (\d+) us", line)
    wb, wp = (float(win.group(1)), float(win.group(2))) if win else (float("nan"), float("nan"))
    rows.setdefault((c, side), []).append((rps, p50, p99, load, failed, bench, pg, wb, wp))
print("\nmedians (runs):")
for (c, side), runs in sorted(rows.items()):
    med = lambda i: statistics.median(r[i] for r in runs)
    print(f"{side:4} {c}: {med(0):7.0f} req/s  p50 {med(1):7.2f} ms  p99 {med(2):7.2f} ms  "
          f"cpu/resolve bench {med(5):5.0f} us pg {med(6):5.0f} us (win {med(7):4.0f} + {med(8):4.0f} us)  "
          f"load {min(r[3] for r in runs):.1f}-{max(r[3] for r in runs):.1f}  failed {sum(r[4] for r in runs)}  ({len(runs)} runs)")
for c in sorted({c for c, _ in rows}):
    med = lambda side, i: statistics.median(r[i] for r in rows[(c, side)])
    if (c, "base") in rows and (c, "new") in rows:
        print(f"{c}: new / base throughput = {med('new', 0) / med('base', 0):.2f}x")
    if (c, "floor") in rows and (c, "new") in rows:
        print(f"{c}: new / floor throughput = {med('new', 0) / med('floor', 0):.2f}x, "
              f"p99 new / floor = {med('new', 2) / med('floor', 2):.2f}x, "
              f"window cpu/resolve (process + pg) new / floor = "
              f"{(med('new', 7) + med('new', 8)) / (med('floor', 7) + med('floor', 8)):.2f}x")
PY

psql "$PG" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'nexus_broker_bench_%'" \
  | while read -r db; do psql "$PG" -qc "DROP DATABASE $db"; done
