#!/usr/bin/env bash
# Cold resolve under concurrency, short (~1 min with the build): the broker's `bench_resolve`
# (the scenario of scripts/bench/cold-path.sh) in its check mode, debug build, 400 resolves at
# 32 concurrent, every one a group-committed audit append on one workspace's chain. A
# correctness check only: every answer must carry a token the provider holds active, and the
# workspace's audit chain must verify over at least every resolve. SQLite always; PostgreSQL
# when NEXUS_TEST_DATABASE_URL is set. No timing is asserted (the figures are in BENCHMARKS.md,
# from a release build).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q -p nexus-broker --example bench_resolve
BIN="${CARGO_TARGET_DIR:-target}/debug/examples/bench_resolve"
NEXUS_BENCH_CHECK=1 "$BIN" 400 32
if [ -z "${NEXUS_TEST_DATABASE_URL:-}" ]; then
  [ -n "${NEXUS_REQUIRE_PG:-}" ] && { echo "54-cold-path: NEXUS_TEST_DATABASE_URL is required" >&2; exit 1; }
  echo "54-cold-path: PostgreSQL skipped (no NEXUS_TEST_DATABASE_URL)" >&2; exit 0
fi
NEXUS_BENCH_CHECK=1 NEXUS_BENCH_DATABASE_URL="$NEXUS_TEST_DATABASE_URL" "$BIN" 400 32
