#!/usr/bin/env bash
# Many replicas with faults, short mode (~40 s): 3 brokers and 3 gateways on one PostgreSQL of
# their own, load through every gateway while a broker is killed (-9) and restarted, PostgreSQL
# restarts and the master key rotates. A correctness check only: 0 wrong answers, every failure
# typed and retryable, no refresh token used twice, one refresh per token served, audit chains
# verify. No timing is asserted (the figures are in BENCHMARKS.md, from the full mode).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec bash scripts/bench/cluster.sh --short
