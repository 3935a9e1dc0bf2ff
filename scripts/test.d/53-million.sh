#!/usr/bin/env bash
# Resolve on seeded databases, small (~1 min with the build): the 1M scenario of
# scripts/bench/million.sh at 1,000 and 20,000 connections, debug build, one round. A
# correctness check only: every resolve must answer the token seeded for exactly its workspace
# and provider, on databases loaded by the seeding tool. No timing is asserted (the 1k vs 1M
# figures are in BENCHMARKS.md, from a release build). Then the docs' EXPLAIN script runs on a
# small seeded database.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${NEXUS_TEST_DATABASE_URL:-}" ]; then
  [ -n "${NEXUS_REQUIRE_PG:-}" ] && { echo "53-million: NEXUS_TEST_DATABASE_URL is required" >&2; exit 1; }
  echo "53-million: skipped (no NEXUS_TEST_DATABASE_URL)" >&2; exit 0
fi
TARGET="${CARGO_TARGET_DIR:-target}"
cargo build -q -p nexus-broker --example bench_resolve
bash scripts/bench/million.sh "$TARGET/debug/examples/bench_resolve" \
  "$NEXUS_TEST_DATABASE_URL" 400 8 1000,20000 1

# The EXPLAIN script of the docs (docs/operators/scaling.md) on a small seeded database: every
# statement it prepares, the store's own among them, must still run against the schema.
cargo build -q -p nexus-vault --example seed --example hot_statements
DB="nexus_explain_$$"
DB_URL="${NEXUS_TEST_DATABASE_URL%/*}/$DB"
KEY_DIR="$(mktemp -d)"
trap 'psql "$NEXUS_TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true; rm -rf "$KEY_DIR"' EXIT
psql "$NEXUS_TEST_DATABASE_URL" -qc "CREATE DATABASE $DB"
NEXUS_DATABASE_URL="$DB_URL" NEXUS_MASTER_KEY_FILE="$KEY_DIR/master.key" \
  "$TARGET/debug/examples/seed" 2000 20 5 >&2
psql "$DB_URL" -qc "VACUUM ANALYZE"
PLANS="$(HOT_STATEMENTS="$TARGET/debug/examples/hot_statements" \
  bash scripts/bench/explain-hot-queries.sh "$DB_URL")"
sections="$(grep -c '^--- ' <<<"$PLANS" || true)"
plans="$(grep -c 'QUERY PLAN' <<<"$PLANS" || true)"
if [ "$sections" -lt 10 ] || [ "$plans" -ne "$sections" ]; then
  echo "53-million: explain-hot-queries printed $plans plans for $sections sections" >&2
  printf '%s\n' "$PLANS" >&2
  exit 1
fi
echo "53-million: explain-hot-queries: $plans plans" >&2
