#!/usr/bin/env bash
# Resolve on seeded databases, small (~1 min with the build): the 1M scenario of
# scripts/bench/million.sh at 1,000 and 20,000 connections, debug build, one round. A
# correctness check only: every resolve must answer the token seeded for exactly its workspace
# and provider, on databases loaded by the seeding tool. No timing is asserted (the 1k vs 1M
# figures are in BENCHMARKS.md, from a release build).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${NEXUS_TEST_DATABASE_URL:-}" ]; then
  [ -n "${NEXUS_REQUIRE_PG:-}" ] && { echo "53-million: NEXUS_TEST_DATABASE_URL is required" >&2; exit 1; }
  echo "53-million: skipped (no NEXUS_TEST_DATABASE_URL)" >&2; exit 0
fi
cargo build -q -p nexus-broker --example bench_resolve
exec bash scripts/bench/million.sh "${CARGO_TARGET_DIR:-target}/debug/examples/bench_resolve" \
  "$NEXUS_TEST_DATABASE_URL" 400 8 1000,20000 1
