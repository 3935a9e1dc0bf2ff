#!/usr/bin/env bash
# Rust: every crate's tests (unit, integration, vectors, PostgreSQL), lints and formatting.
# All three run even when one fails, so a formatting slip does not hide a test failure.
set -uo pipefail
status=0
cargo test --workspace || status=1
cargo clippy --workspace --all-targets -- -D warnings || status=1
cargo fmt --all -- --check || status=1
exit $status
