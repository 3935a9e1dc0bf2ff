#!/usr/bin/env bash
# The connect page and the console in a real browser: Debian's Chromium driven by playwright-core
# (tests/browser/specs), against a real `nexus dev` stack, the testkit OAuth provider and a real
# OpenID provider (npm oidc-provider, tests/browser/oidc/server.mjs), all on loopback. Screenshots
# of every page go to target/artifacts/browser/ (CI keeps that folder).
# Everything started here is stopped on every exit path (trap).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"

bash scripts/install.d/50-browser.sh
cargo build -q -p nexus-cli -p nexus-testkit
NEXUS="${CARGO_TARGET_DIR:-$ROOT/target}/debug/nexus"
TESTKIT="${CARGO_TARGET_DIR:-$ROOT/target}/debug/nexus-testkit"

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# wait_for FILE WHAT PID: poll (with a deadline) until FILE is non-empty, or fail if PID died.
wait_for() {
  local deadline=$((SECONDS + 120))
  until [ -s "$1" ]; do
    if ! kill -0 "$3" 2>/dev/null; then echo "55-browser: $2 exited early" >&2; cat "$WORK"/*.log >&2; exit 1; fi
    if [ $SECONDS -ge $deadline ]; then echo "55-browser: $2 not ready after 120 s" >&2; exit 1; fi
    sleep 0.2
  done
}

"$TESTKIT" oauth --ignore-stdin </dev/null >"$WORK/oauth.json" 2>"$WORK/oauth.log" &
PIDS+=($!)
wait_for "$WORK/oauth.json" "the testkit OAuth server" "${PIDS[-1]}"
OAUTH_URL="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").split("\n")[0]).url)' "$WORK/oauth.json")"

"$NEXUS" dev --home "$WORK/home" --gateway-addr 127.0.0.1:0 --broker-addr 127.0.0.1:0 2>"$WORK/stack.log" &
PIDS+=($!)
wait_for "$WORK/home/dev.env" "nexus dev" "${PIDS[-1]}"
set -a; . "$WORK/home/dev.env"; set +a

# The OpenID provider starts after the broker (dev.env exported NEXUS_BROKER_URL): its client's
# redirect URI names the broker. A fresh client secret per run, known to it and to the broker only.
OIDC_CLIENT_SECRET="$(node -e 'console.log(require("crypto").randomBytes(24).toString("base64url"))')"
OIDC_LOGIN_CLIENT_SECRET="$(node -e 'console.log(require("crypto").randomBytes(24).toString("base64url"))')"
OIDC_CLIENT_SECRET="$OIDC_CLIENT_SECRET" OIDC_LOGIN_CLIENT_SECRET="$OIDC_LOGIN_CLIENT_SECRET" \
  node tests/browser/oidc/server.mjs </dev/null >"$WORK/oidc.json" 2>"$WORK/oidc.log" &
PIDS+=($!)
wait_for "$WORK/oidc.json" "the oidc-provider server" "${PIDS[-1]}"
OIDC_URL="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").split("\n")[0]).url)' "$WORK/oidc.json")"

# An OAuth provider with discovery (its revocation endpoint included), the same provider without
# a revocation endpoint, the OpenID provider, and a static API-key provider.
export OAUTH_URL OIDC_URL
OIDC_CLIENT_SECRET="$OIDC_CLIENT_SECRET" "$NEXUS" providers apply tests/browser/providers.yaml >&2
# The same OpenID provider as the workspace's identity provider for browser sign-in: the
# authorization server's login, and the console for members of group `nexus-ops` (spec 70).
OIDC_LOGIN_CLIENT_SECRET="$OIDC_LOGIN_CLIENT_SECRET" "$NEXUS" idp add --workspace dev --issuer "$OIDC_URL" \
  --login-client-id nexus-login --login-client-secret-env OIDC_LOGIN_CLIENT_SECRET \
  --console-allow-group nexus-ops >&2
unset OIDC_LOGIN_CLIENT_SECRET

export NEXUS_BROKER_LOG="$WORK/stack.log" NEXUS_OAUTH_URL="$OAUTH_URL" NEXUS_OIDC_URL="$OIDC_URL"
export NEXUS_BROWSER_ARTIFACTS="$ROOT/target/artifacts/browser"
mkdir -p "$NEXUS_BROWSER_ARTIFACTS"
cd tests/browser
# Explicit files: node 20 does not pick up `*.spec.mjs` from a directory on its own.
node --test --test-concurrency=1 --test-reporter=spec specs/*.spec.mjs
