#!/usr/bin/env bash
# Broker cold resolve on PostgreSQL, side by side (issue 20): two builds of the broker's
# `bench_resolve` example (a base commit and this one) run alternately (A B, then B A, …) at
# each concurrency, each run on a fresh database of the same server; prints every run with the
# 1-minute load average taken just before it, then the medians per build and concurrency.
#
#   scripts/bench/cold-path.sh BASE_BIN NEW_BIN POSTGRES_URL [ROUNDS] [REQUESTS]
#
# Build each side with `cargo build --release -p nexus-broker --example bench_resolve` and copy
# target/release/examples/bench_resolve out of the way before building the other. The databases
# the runs create (nexus_broker_bench_*) are dropped at the end.
#
# CPU per resolve, beside every run (the machine may be loaded; CPU per request barely
# depends on that): `bench` = the bench process (load client and broker share it), `pg` = the
# PostgreSQL server (postmaster with its exited children, plus live backends), both over the
# whole run (start-up, migrations and the 50 warm-up resolves included) ÷ timed resolves. `pg`
# needs the server on this machine and readable (else it prints n/a).
set -euo pipefail
BASE="${1:?usage: $0 BASE_BIN NEW_BIN POSTGRES_URL [ROUNDS] [REQUESTS]}"
NEW="${2:?}"
PG="${3:?}"
ROUNDS="${4:-3}"
REQUESTS="${5:-6400}"
RESULTS="$(mktemp)"
trap 'rm -f "$RESULTS"' EXIT

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

run() { # side binary concurrency round
  local load out pg0 pg1 times bench_s n
  load="$(cut -d' ' -f1 /proc/loadavg)"
  pg0="$(pg_ticks)"
  # `times` in the subshell: the CPU (user, system) of the bench process it ran.
  out="$( (NEXUS_BENCH_DATABASE_URL="$PG" "$2" "$REQUESTS" "$3" 2>/dev/null | tail -1; times) )"
  pg1="$(pg_ticks)"
  times="$(echo "$out" | tail -1)"
  out="$(echo "$out" | head -1)"
  bench_s="$(echo "$times" | awk '{ for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] } print s }')"
  n="$(echo "$out" | sed -E 's/^[a-z]+: ([0-9]+) resolves.*/\1/')"
  cpu="$(awk -v b="$bench_s" -v p0="$pg0" -v p1="$pg1" -v t="$TICK" -v n="$n" -v pid="$PG_PID" 'BEGIN {
    pg = (pid == "") ? "n/a" : sprintf("%.0f", (p1 - p0) / t / n * 1e6);
    printf "cpu/resolve: bench %.0f us, pg %s us", b / n * 1e6, pg }')"
  echo "$1 c=$3 round=$4 load=$load | $out | $cpu" | tee -a "$RESULTS"
}

for c in 16 64; do
  for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then
      run base "$BASE" "$c" "$r"; run new "$NEW" "$c" "$r"
    else
      run new "$NEW" "$c" "$r"; run base "$BASE" "$c" "$r"
    fi
  done
done

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
    pg = re.search(r"pg (\d+) us", line)
    pg = float(pg.group(1)) if pg else float("nan")
    rows.setdefault((c, side), []).append((rps, p50, p99, load, failed, bench, pg))
print("\nmedians (runs):")
for (c, side), runs in sorted(rows.items()):
    med = lambda i: statistics.median(r[i] for r in runs)
    print(f"{side:4} {c}: {med(0):7.0f} req/s  p50 {med(1):7.2f} ms  p99 {med(2):7.2f} ms  "
          f"cpu/resolve bench {med(5):5.0f} us pg {med(6):5.0f} us  "
          f"load {min(r[3] for r in runs):.1f}-{max(r[3] for r in runs):.1f}  failed {sum(r[4] for r in runs)}  ({len(runs)} runs)")
for c in sorted({c for c, _ in rows}):
    if (c, "base") in rows and (c, "new") in rows:
        b = statistics.median(r[0] for r in rows[(c, "base")])
        n = statistics.median(r[0] for r in rows[(c, "new")])
        print(f"{c}: new / base throughput = {n / b:.2f}x")
PY

psql "$PG" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'nexus_broker_bench_%'" \
  | while read -r db; do psql "$PG" -qc "DROP DATABASE $db"; done
