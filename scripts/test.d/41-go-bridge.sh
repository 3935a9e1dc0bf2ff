#!/usr/bin/env bash
# Go bridge modules (sdk-go/bridge: WebSocket, sdk-go/grpccreds: gRPC): each is its own Go
# module so that the oauthsdk module stays standard-library only. For each: formatting, vet,
# and every test with the race detector (real servers on 127.0.0.1). Uses the machine's Go;
# the modules' dependencies come from the Go module proxy on first use.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
for module in bridge grpccreds; do
  cd "$root/sdk-go/$module"
  echo "== sdk-go/$module" >&2
  unformatted="$(gofmt -l .)"
  if [ -n "$unformatted" ]; then
    echo "gofmt: these files need formatting:" >&2
    echo "$unformatted" >&2
    exit 1
  fi
  go vet ./...
  go test -race -count=1 ./...
done
