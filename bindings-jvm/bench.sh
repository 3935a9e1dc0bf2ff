#!/usr/bin/env bash
# JVM SDK benchmarks (BENCHMARKS.md): cache hit vs ConcurrentHashMap, OkHttp with and without
# NexusInterceptor on loopback. Builds an optimised native library first; prints results on stdout.
set -euo pipefail
cd "$(dirname "$0")"
NEXUS_JVM_PROFILE="${NEXUS_JVM_PROFILE:-release}" bash build-native.sh
mvn -B -q -o test-compile dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile=target/bench-classpath.txt
java -Djna.nosys=true -cp "target/test-classes:target/classes:$(cat target/bench-classpath.txt)" dev.nexus.sdk.bench.JvmBench
