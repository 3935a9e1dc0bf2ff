#!/usr/bin/env bash
# Rust: formatting, lints, and every crate's tests (unit, integration, vectors, PostgreSQL).
set -euo pipefail
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
