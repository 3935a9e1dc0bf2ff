#!/usr/bin/env bash
# Build what Maven packs: the native library (cargo, debug unless NEXUS_JVM_PROFILE=release) and
# the Kotlin UniFFI generates from it (library mode, so the bindings always match the .so).
#   target/native/linux-x86-64/libnexus_jvm.so   → the jar's linux-x86-64/ (JNA's resource path)
#   target/generated-sources/uniffi/              → compiled with src/main/kotlin
# Debug info is stripped from the packed copy only (the jar stays small; cargo's copy keeps it).
set -euo pipefail
cd "$(dirname "$0")"
HERE="$PWD"
ROOT="$(cd .. && pwd)"
PROFILE="${NEXUS_JVM_PROFILE:-debug}"
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

flags=(-q -p nexus-sdk-jvm)
[ "$PROFILE" = release ] && flags+=(--release)
(cd "$ROOT" && cargo build "${flags[@]}" >&2)
TARGET_DIR="$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
LIB="$TARGET_DIR/$PROFILE/libnexus_jvm.so"

GEN="$HERE/target/generated-sources/uniffi"
rm -rf "$GEN" && mkdir -p "$GEN"
"$TARGET_DIR/$PROFILE/uniffi-bindgen" generate --library "$LIB" --language kotlin \
  --out-dir "$GEN" --no-format >&2

NATIVE="$HERE/target/native/linux-x86-64"
mkdir -p "$NATIVE"
objcopy --strip-debug "$LIB" "$NATIVE/libnexus_jvm.so.tmp"
mv "$NATIVE/libnexus_jvm.so.tmp" "$NATIVE/libnexus_jvm.so"
