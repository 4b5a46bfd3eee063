#!/usr/bin/env bash
# Configures the one sanitized tree (default build-san): clang-14, every library and program
# built with AddressSanitizer + UBSan (UB not recoverable) and libFuzzer's coverage
# instrumentation, warnings as errors, -O1 -g1. scripts/sanitize.sh runs the test suite in it;
# bench/fuzz.sh and scripts/fuzz-smoke.sh run the libFuzzer targets (tests/fuzz) built in it.
# One tree for both, so CI compiles the code once for the two. Prints the tree's path.
# Usage: scripts/configure-sanitized.sh  (ONEMAP_SAN_BUILD_DIR overrides the folder)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ONEMAP_SAN_BUILD_DIR:-$root/build-san}
case $build in /*) ;; *) build=$root/$build ;; esac
if [ ! -f "$build/build.ninja" ]; then
  CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DONEMAP_FUZZ=ON -DONEMAP_WERROR=ON -DONEMAP_BUILD_BENCH=OFF >&2
fi
echo "$build"
