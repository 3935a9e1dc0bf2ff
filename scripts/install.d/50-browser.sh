#!/usr/bin/env bash
# Browser tests (scripts/test.d/55-browser.sh): Debian's Chromium, driven by playwright-core from
# tests/browser/ (which downloads no browser of its own). Skipped when both are already there.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x /usr/bin/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium
fi
dir=tests/browser
stamp="$dir/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ]; then
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
