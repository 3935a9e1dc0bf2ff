#!/usr/bin/env bash
# JVM SDK benchmarks (BENCHMARKS.md): cache hit vs ConcurrentHashMap, OkHttp with and without
# NexusInterceptor on loopback. Builds an optimised native library first; prints results on stdout.
set -euo pipefail
cd "$(dirname "$0")"
NEXUS_JVM_PROFILE="${NEXUS_JVM_PROFILE:-release}" bash build-native.sh
mvn -B -q -o test-compile dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile=target/bench-classpath.txt
# nodelay: the JDK's HttpServer (the loopback upstream) otherwise leaves each keep-alive answer to
# Nagle + the client's delayed ACK, ~40 ms per request, which would be all that is measured.
java -Djna.nosys=true -Dsun.net.httpserver.nodelay=true \
  -cp "target/test-classes:target/classes:$(cat target/bench-classpath.txt)" dev.nexus.sdk.bench.JvmBench "$@"
