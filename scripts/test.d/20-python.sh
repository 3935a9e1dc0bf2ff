#!/usr/bin/env bash
# Python SDK: build the extension into .venv (maturin develop, debug), then ruff, the stub check
# (mypy stubtest), mypy on the package, and pytest (unit, vectors, loopback, MCP over stdio,
# end-to-end against `nexus dev` when the binaries exist; required in CI).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || { echo "20-python: .venv is missing; run scripts/install.sh" >&2; exit 1; }
export VIRTUAL_ENV="$ROOT/.venv"
export PATH="$ROOT/.venv/bin:$PATH"
# In CI the end-to-end stack must be there: a missing binary fails instead of skipping.
if [ -n "${CI:-}" ]; then export NEXUS_REQUIRE_STACK=1; fi

# The stack binaries the end-to-end tests start (built here if this run has not built them).
if [ -z "${NEXUS_BIN:-}" ] && [ -n "${NEXUS_REQUIRE_STACK:-}" ]; then
  cargo build -q -p nexus-cli -p nexus-testkit >&2
fi

cd bindings-python
maturin develop --quiet >&2
ruff check . ../examples/python-mcp ../examples/python-mcp-remote
ruff format --check . ../examples/python-mcp ../examples/python-mcp-remote
(cd python && "$PY" -m mypy.stubtest nexus_sdk._native)
"$PY" -m mypy python/nexus_sdk

# pytest exits 5 when it collected nothing: that is a failure here, like any other non-zero.
"$PY" -m pytest tests -q -p no:cacheprovider
