#!/usr/bin/env bash
# Go SDK (sdk-go/): formatting, vet, and every test with the race detector — the shared
# conformance vectors, the loopback tests, and the end-to-end test against `nexus dev` (which
# fails instead of skipping when NEXUS_REQUIRE_STACK=1). Uses the machine's Go; installs nothing.
set -euo pipefail
cd "$(dirname "$0")/../../sdk-go"
unformatted="$(gofmt -l .)"
if [ -n "$unformatted" ]; then
  echo "gofmt: these files need formatting:" >&2
  echo "$unformatted" >&2
  exit 1
fi
go vet ./...
go test -race -count=1 ./...
