#!/usr/bin/env bash
# The whole stack, black-box: run `nexus dev` from the built binary, fuzz the gateway's public API
# (and the broker's admin API) with schemathesis, driven by each server's own /openapi.json, and
# require zero server errors (no 5xx for any input) and zero responses that break their documented
# schema. The stack is torn down on every exit path (trap).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"

cargo build -q -p nexus-cli
NEXUS="${CARGO_TARGET_DIR:-$ROOT/target}/debug/nexus"
ST="$(command -v st || echo "$ROOT/.venv/bin/st")"

WORK="$(mktemp -d)"
STACK_PID=""
cleanup() {
  if [ -n "$STACK_PID" ] && kill -0 "$STACK_PID" 2>/dev/null; then
    kill -TERM "$STACK_PID" 2>/dev/null || true
    wait "$STACK_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# Rate limiting is the gateway's business, not what this suite checks: switch it off so the
# fuzzer's burst of requests is judged on correctness only.
NEXUS_GATEWAY_RATE_LIMIT_PER_SEC=0 \
  "$NEXUS" dev --home "$WORK/home" --gateway-addr 127.0.0.1:0 --broker-addr 127.0.0.1:0 \
  2>"$WORK/stack.log" &
STACK_PID=$!

# dev.env appears (atomically) once both listeners serve; poll for it with a deadline.
deadline=$((SECONDS + 120))
until [ -f "$WORK/home/dev.env" ]; do
  if ! kill -0 "$STACK_PID" 2>/dev/null; then
    echo "50-stack: nexus dev exited early:" >&2; cat "$WORK/stack.log" >&2; exit 1
  fi
  if [ $SECONDS -ge $deadline ]; then
    echo "50-stack: no dev.env after 120 s:" >&2; cat "$WORK/stack.log" >&2; exit 1
  fi
  sleep 0.2
done
set -a; . "$WORK/home/dev.env"; set +a

# Give resolve a real credential to return, so the fuzzer reaches its success path too.
"$NEXUS" providers apply examples/providers.yaml >&2
printf '%s' "sk_fuzz_0123456789abcdef" |
  "$NEXUS" connections import --workspace dev --provider example --kind api_key >&2

# Same checks everywhere; the run is reproducible (fixed seed) and bounded per operation.
# Usage: fuzz SERVER_URL [schemathesis options]: the server's own document, against that server.
fuzz() {
  local server="$1"
  shift
  "$ST" --no-color run "$server/openapi.json" --url "$server" \
    --checks not_a_server_error,response_schema_conformance \
    --max-examples "${NEXUS_FUZZ_EXAMPLES:-50}" \
    --seed 1 \
    --request-timeout 10 \
    "$@"
}

status=0
# 1. The gateway's public API (its document lists exactly what it serves), with the dev
#    workspace's API key.
fuzz "$NEXUS_GATEWAY_URL" --header "Authorization: Bearer $NEXUS_API_KEY" \
  --report junit --report-dir "$WORK/report-gateway" || status=$?
# 2. The broker's admin API, from the broker's own document, with the admin token.
fuzz "$NEXUS_BROKER_URL" --include-path-regex '^/admin/' \
  --header "Authorization: Bearer $NEXUS_ADMIN_TOKEN" \
  --report junit --report-dir "$WORK/report-admin" || status=$?

if [ $status -ne 0 ]; then
  echo "50-stack: schemathesis found failures; stack log:" >&2
  tail -n 50 "$WORK/stack.log" >&2
fi
exit $status
