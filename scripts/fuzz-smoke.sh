#!/usr/bin/env bash
# CI: builds the libFuzzer targets in build-fuzz (clang-14, ASan+UBSan; tests/fuzz) and runs each
# for about 20 s over its committed seed corpus. Non-zero on any crash, hang or leak. Prints the
# time the build and the runs took.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ONEMAP_FUZZ_BUILD:-$root/build-fuzz}
seconds=${ONEMAP_FUZZ_SMOKE_SECONDS:-20}

start=$(date +%s)
if [ ! -f "$build/build.ninja" ]; then
  CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DONEMAP_FUZZ=ON -DONEMAP_BUILD_TESTS=OFF -DONEMAP_BUILD_BENCH=OFF
fi
nice -n 19 cmake --build "$build" -j2 --target onemap_fuzz
built=$(date +%s)
status=0
rm -rf "$build/fuzz-smoke"
ONEMAP_FUZZ_BUILD=$build ONEMAP_FUZZ_OUT=$build/fuzz-smoke "$root/bench/fuzz.sh" "${seconds}s" || status=$?
end=$(date +%s)
echo "fuzz-smoke: build $((built - start)) s, runs $((end - built)) s, total $((end - start)) s"
exit $status
