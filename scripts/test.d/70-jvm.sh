#!/usr/bin/env bash
# JVM SDK: build the native library (debug) and generate its Kotlin with UniFFI
# (bindings-jvm/build-native.sh), then `mvn install`: Kotlin compile, the JUnit suite (vectors,
# client behaviour through every entry point, concurrency, cancellation, stdout purity, and
# end to end against `nexus dev` + the testkit), the jar with the native library inside, put in
# the local Maven repository. Then a project that depends only on that artifact runs against it,
# and the MCP example (official Java MCP SDK, stdio) runs its stdout-purity test.
#
# Maven runs offline once a build with the same pom.xml files has resolved everything.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
if [ -n "${CI:-}" ]; then export NEXUS_REQUIRE_STACK=1; fi

# The stack the end-to-end tests start (no-ops when already built).
cargo build -q -p nexus-cli -p nexus-testkit
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
export NEXUS_BIN="${NEXUS_BIN:-$TARGET/debug/nexus}"
export NEXUS_TESTKIT_BIN="${NEXUS_TESTKIT_BIN:-$TARGET/debug/nexus-testkit}"

bash bindings-jvm/build-native.sh

stamp="$ROOT/bindings-jvm/target/.maven-resolved"
poms="$(cat bindings-jvm/pom.xml bindings-jvm/smoke/pom.xml examples/jvm-mcp/pom.xml | sha256sum | cut -d' ' -f1)"
offline=()
[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$poms" ] && offline=(-o)

(cd bindings-jvm && mvn -B -q "${offline[@]}" install)

cd bindings-jvm/smoke
mvn -B -q "${offline[@]}" compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt
java -Djna.nosys=true -cp "target/classes:$(cat target/classpath.txt)" smoke.Smoke

cd "$ROOT/examples/jvm-mcp"
mvn -B -q "${offline[@]}" verify
echo "$poms" >"$stamp"
