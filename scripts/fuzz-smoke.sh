#!/usr/bin/env bash
# CI: each libFuzzer target (tests/fuzz) run for about 6 s over its committed seed corpus (every seed input, then mutations), in the
# sanitized tree (scripts/configure-sanitized.sh; built by scripts/sanitize.sh when that ran
# first). Non-zero on any crash, hang or leak. Prints the time the build and the runs took.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${ONEMAP_FUZZ_SMOKE_SECONDS:-6}

start=$(date +%s)
build=$(bash "$root/scripts/configure-sanitized.sh")
cmake --build "$build" -j2 --target onemap_fuzz
built=$(date +%s)
status=0
rm -rf "$build/fuzz-smoke"
ONEMAP_SAN_BUILD_DIR=$build ONEMAP_FUZZ_OUT=$build/fuzz-smoke "$root/bench/fuzz.sh" "${seconds}s" || status=$?
end=$(date +%s)
echo "fuzz-smoke: build $((built - start)) s, runs $((end - built)) s, total $((end - start)) s"
exit $status
