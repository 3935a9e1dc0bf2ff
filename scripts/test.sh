#!/usr/bin/env bash
# Run every test suite of Nexus. This is the README's test command and what `.ci/run` calls.
#
# It installs what it needs (scripts/install.sh), starts a throwaway PostgreSQL on loopback
# (scripts/pg-start.sh), then runs each suite in scripts/test.d/ in name order. One file per
# component keeps suites independent: a failing suite does not hide the others' results, and the
# run fails if any suite failed.
#
#   scripts/test.sh              # everything
#   scripts/test.sh rust python  # only suites whose file name contains one of these words
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

bash scripts/install.sh || { echo "test.sh: install failed" >&2; exit 1; }

NEXUS_TEST_DATABASE_URL="$(bash scripts/pg-start.sh)" || { echo "test.sh: PostgreSQL did not start" >&2; exit 1; }
export NEXUS_TEST_DATABASE_URL
# Suites that need PostgreSQL fail (never skip) when it is required and missing.
export NEXUS_REQUIRE_PG=1
export PATH="$ROOT/.venv/bin:$ROOT/target/debug:$PATH"
export CARGO_TERM_COLOR=never
# A CI run builds once from nothing: incremental state would only cost disk (GBs) and time.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi

# The Python, Node and Go suites drive the real stack (`nexus dev`) and the loopback test
# servers (`nexus-testkit`): build both first, and make those suites fail (not skip) without them.
cargo build -p nexus-cli -p nexus-testkit || { echo "test.sh: building the nexus binaries failed" >&2; exit 1; }
export NEXUS_BIN="$ROOT/target/debug/nexus"
export NEXUS_TESTKIT_BIN="$ROOT/target/debug/nexus-testkit"
export NEXUS_REQUIRE_STACK=1

passed=0; failed=0; failed_names=()
for suite in scripts/test.d/*.sh; do
  name="$(basename "$suite" .sh)"
  if [ $# -gt 0 ]; then
    match=0; for w in "$@"; do [[ "$name" == *"$w"* ]] && match=1; done
    [ $match = 1 ] || continue
  fi
  echo "=== suite $name ===" >&2
  start=$SECONDS
  if bash "$suite"; then
    passed=$((passed + 1)); echo "=== suite $name passed ($((SECONDS - start)) s) ===" >&2
  else
    failed=$((failed + 1)); failed_names+=("$name"); echo "=== suite $name FAILED ($((SECONDS - start)) s) ===" >&2
  fi
done

# Disk is a CI limit too (one run ran out of it): say what this run left behind.
echo "disk: target $(du -sh "${CARGO_TARGET_DIR:-$ROOT/target}" 2>/dev/null | cut -f1), $(df -h --output=avail "$ROOT" | tail -1 | tr -d ' ') free" >&2
[ $failed -gt 0 ] && echo "failed suites: ${failed_names[*]}" >&2
echo "suites: $passed passed, $failed failed"
[ $failed -eq 0 ]
