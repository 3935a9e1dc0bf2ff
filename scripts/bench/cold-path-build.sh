#!/usr/bin/env bash
# Build the two sides of `cold-path.sh`: the broker's `bench_resolve` example at a base commit
# and in this checkout, release, sharing this checkout's target dir (the base's sources are
# exported with `git archive`, so no worktree is added). Prints the two binary paths.
#
#   scripts/bench/cold-path-build.sh [BASE_COMMIT] [OUT_DIR]     (defaults: ebcf56c, /tmp)
#
# Run it from the checkout's root. Writes OUT_DIR/bench_resolve_base and
# OUT_DIR/bench_resolve_new.
set -euo pipefail
BASE_COMMIT="${1:-ebcf56c}"
OUT="${2:-/tmp}"
ROOT="$PWD"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
SRC="$(mktemp -d /tmp/cold-base-src.XXXXXX)"
trap 'rm -rf "$SRC"' EXIT

git -C "$ROOT" archive "$BASE_COMMIT" | tar -x -C "$SRC"
(cd "$SRC" && CARGO_TARGET_DIR="$TARGET" cargo build --release -p nexus-broker --example bench_resolve)
cp "$TARGET/release/examples/bench_resolve" "$OUT/bench_resolve_base"

# Cargo names a workspace member's artifacts by its workspace-relative path, so the base build
# above wrote the same files this checkout's build uses; without newer sources here, cargo
# would take them as up to date and hand back the base binary.
touch vault/src/lib.rs broker/src/lib.rs protocol/src/lib.rs tests/testkit/src/lib.rs
CARGO_TARGET_DIR="$TARGET" cargo build --release -p nexus-broker --example bench_resolve
cp "$TARGET/release/examples/bench_resolve" "$OUT/bench_resolve_new"
echo "$OUT/bench_resolve_base $OUT/bench_resolve_new"
