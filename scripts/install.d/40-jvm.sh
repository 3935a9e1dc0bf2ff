#!/usr/bin/env bash
# JVM: a JDK (17+) and Maven for the JVM SDK (bindings-jvm/). Maven resolves the SDK's own
# dependencies and plugins from Maven Central on the first build (scripts/test.d/70-jvm.sh).
set -euo pipefail
need=()
command -v javac >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}"
fi
