#!/usr/bin/env bash
# Rust: every crate's tests (unit, integration, vectors, PostgreSQL), lints and formatting.
# All three run even when one fails, so a formatting slip does not hide a test failure.
set -uo pipefail
status=0
cargo test --workspace || status=1
cargo clippy --workspace --all-targets -- -D warnings || status=1
cargo fmt --all -- --check || status=1
# The public edge links no vault code: no database driver, sealing, signing or aws-lc-rs.
if cargo tree -p nexus-gateway -e normal --prefix none |
  grep -E '^(nexus-broker|nexus-vault|sqlx|aes-gcm|aws-lc-rs|aws-lc-sys|jsonwebtoken) '; then
  echo "10-rust: nexus-gateway depends on the vault crates above" >&2
  status=1
fi
exit $status
