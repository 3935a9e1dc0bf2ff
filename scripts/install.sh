#!/usr/bin/env bash
# Install everything the test suites need, idempotently, inside the repository where possible
# (.venv for Python tools, node_modules for npm). Runs every scripts/install.d/*.sh in order.
set -euo pipefail
cd "$(dirname "$0")/.."
for step in scripts/install.d/*.sh; do
  [ -e "$step" ] || continue
  bash "$step"
done
