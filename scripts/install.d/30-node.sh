#!/usr/bin/env bash
# Node: the npm packages of the Node SDK (bindings-node/) and of its MCP example, exactly as
# locked in their package-lock.json files. Skipped when node_modules is already up to date.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v node >/dev/null 2>&1 || { echo "30-node: node is not installed" >&2; exit 1; }
for dir in bindings-node examples/ts-mcp examples/ts-mcp-remote; do
  # npm ci wipes node_modules; only run it when the lock file changed since the last install.
  stamp="$dir/node_modules/.package-lock.json"
  if [ -f "$stamp" ] && [ "$stamp" -nt "$dir/package-lock.json" ]; then
    continue
  fi
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
done
