#!/usr/bin/env bash
# Resolve at a million connections against the small case, side by side (issue 20): the
# broker's `bench_resolve seeded` mode seeds one fresh database per size on POSTGRES_URL
# (connections sealed as in production, multi-row inserts), vacuums it, starts a broker on
# each, and measures them in alternating rounds; prints every run with its load average, then
# medians and the large/small p50 and p99 ratios (goal ≤ 1.2). It drops the databases it
# created, and fails if any answer failed or carried the wrong token.
#
#   scripts/bench/million.sh BIN POSTGRES_URL [REQUESTS] [CONCURRENCY] [SIZES] [ROUNDS]
#
# BIN: `cargo build --release -p nexus-broker --example bench_resolve`, then
# target/release/examples/bench_resolve. Defaults: 5000 resolves per run, 16 concurrent,
# sizes 1000,1000000, 3 rounds. 1M takes about 1 GB on the server while it runs.
set -euo pipefail
BIN="${1:?usage: $0 BIN POSTGRES_URL [REQUESTS] [CONCURRENCY] [SIZES] [ROUNDS]}"
PG="${2:?}"
echo "machine: $(nproc) cores, load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
NEXUS_BENCH_DATABASE_URL="$PG" "$BIN" seeded "${3:-5000}" "${4:-16}" "${5:-1000,1000000}" "${6:-3}"
