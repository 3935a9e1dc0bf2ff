#!/usr/bin/env bash
# Documentation that is executed: build the site (MkDocs, --strict: a broken internal link or
# anchor fails it) with the API reference generated from a live gateway's /openapi.json, then run
# every runnable code block of docs/ against a fresh `nexus dev` stack (scripts/docs/build.py).
# Two self-tests prove the checks bite: a page with a broken anchor must fail the build, and a
# failing sample must fail the runner.
#
# Runs after suites 20 (Python) and 30 (Node), whose outputs it uses: the `nexus_sdk` built into
# .venv, bindings-node/dist with its native addon, and examples/ts-mcp/dist. Missing ones fail
# here with the suite to run.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
PY="$ROOT/.venv/bin/python"
fail() { echo "60-docs: $*" >&2; exit 1; }

# A merge left half-resolved renders as prose: no conflict marker may reach a committed text file
# (docs, designs, sources). Lines of seven `<`/`>` followed by a space, or a lone `=======`.
if markers="$(grep -rInE '^(<<<<<<< |>>>>>>> |=======$)' --exclude-dir=node_modules --exclude-dir=target \
    --exclude-dir=.venv --exclude-dir=.git --exclude-dir=.ci --exclude='*.lock' \
    docs design examples core protocol vault broker gateway cli listener bindings-* sdk-go scripts tests \
    ./*.md 2>/dev/null)"; then
  fail "merge conflict markers left in: $(echo "$markers" | cut -d: -f1-2 | tr '\n' ' ')"
fi

[ -x "$PY" ] || fail ".venv is missing: run scripts/install.sh"
"$PY" -c 'import mkdocs' 2>/dev/null || fail "mkdocs is not in .venv: run scripts/install.sh"
"$PY" -c 'import nexus_sdk' 2>/dev/null ||
  fail "nexus_sdk is not built into .venv: run suite 20 first (scripts/test.sh python docs)"
[ -f bindings-node/dist/index.mjs ] && compgen -G 'bindings-node/native/*.node' >/dev/null ||
  fail "the Node SDK is not built: run suite 30 first (scripts/test.sh node docs)"
[ -f examples/ts-mcp/dist/server.js ] ||
  fail "examples/ts-mcp is not built: run suite 30 first (scripts/test.sh node docs)"

# The stack the samples run against: scripts/test.sh builds it and exports both paths; run
# alone, this suite builds it (a no-op when up to date).
if [ -z "${NEXUS_BIN:-}" ] || [ -z "${NEXUS_TESTKIT_BIN:-}" ]; then
  cargo build -q -p nexus-cli -p nexus-testkit
  TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
  export NEXUS_BIN="${NEXUS_BIN:-$TARGET/debug/nexus}"
  export NEXUS_TESTKIT_BIN="${NEXUS_TESTKIT_BIN:-$TARGET/debug/nexus-testkit}"
fi

"$PY" -m ruff check scripts/docs
"$PY" -m ruff format --check scripts/docs

# 1. The site and every sample.
"$PY" scripts/docs/build.py

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# 2. Self-test: a broken anchor fails the strict build (a copy of the site's sources, so the
#    real pages are untouched).
mkdir -p "$WORK/broken/scripts"
cp -r docs "$WORK/broken/docs"
cp mkdocs.yml "$WORK/broken/"
cp -r scripts/docs "$WORK/broken/scripts/docs"
printf '\nSee [a section that does not exist](protocol.md#no-such-section).\n' >> "$WORK/broken/docs/index.md"
if "$PY" -m mkdocs build --strict --config-file "$WORK/broken/mkdocs.yml" \
  --site-dir "$WORK/broken/site" >"$WORK/broken.log" 2>&1; then
  cat "$WORK/broken.log" >&2
  fail "self-test: a broken anchor did not fail the build"
fi
grep -q 'no-such-section' "$WORK/broken.log" ||
  { cat "$WORK/broken.log" >&2; fail "self-test: the build failed, but not on the broken anchor"; }

# 3. Self-test: a failing sample fails the runner.
if "$PY" scripts/docs/samples.py scripts/docs/selftest/failing-sample.md >"$WORK/failing.log" 2>&1; then
  cat "$WORK/failing.log" >&2
  fail "self-test: a failing sample did not fail the runner"
fi
grep -q 'failing-sample.md:' "$WORK/failing.log" ||
  { cat "$WORK/failing.log" >&2; fail "self-test: the runner failed without naming the sample"; }
echo "60-docs: self-tests passed (broken anchor and failing sample are caught)" >&2
