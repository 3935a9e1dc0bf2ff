#!/usr/bin/env bash
# Node SDK: build the native addon (napi, debug) and the TypeScript layer (tsc --strict), build
# the MCP examples (stdio and remote), then run every test in bindings-node/test/ with node's test runner.
#
# The end-to-end tests need `nexus` and `nexus-testkit` (built here); under CI a missing stack
# is a failure (NEXUS_REQUIRE_STACK=1), on a laptop those tests skip.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"

if [ -n "${CI:-}" ]; then
  export NEXUS_REQUIRE_STACK=1
fi

# The stack the end-to-end tests start (no-ops when already built).
cargo build -q -p nexus-cli -p nexus-testkit
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
export NEXUS_BIN="${NEXUS_BIN:-$TARGET/debug/nexus}"
export NEXUS_TESTKIT_BIN="${NEXUS_TESTKIT_BIN:-$TARGET/debug/nexus-testkit}"

cd "$ROOT/bindings-node"
npx napi build --platform --output-dir native --js index.js --dts index.d.ts
# A debug addon is ~85 MB of debug info; without it `npm pack` (packaging test) is 4x faster.
if command -v strip >/dev/null 2>&1; then strip --strip-debug native/*.node; fi
npx tsc -p tsconfig.json
node scripts/write-esm-entry.cjs
npx tsc -p test/tsconfig.json

(cd "$ROOT/examples/ts-mcp" && npx tsc -p tsconfig.json)
(cd "$ROOT/examples/ts-mcp-remote" && npx tsc -p tsconfig.json)

# One file at a time: the end-to-end files each start their own stack, and the machine is small.
node --test --test-concurrency=1 test/
