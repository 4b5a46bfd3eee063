#!/usr/bin/env bash
# The test suite under AddressSanitizer (LeakSanitizer included) and UndefinedBehaviorSanitizer:
# builds build-asan (gcc, -O1, -fsanitize=address,undefined, UB not recoverable, warnings as
# errors, no benchmarks) and runs ctest there as scripts/test.sh does, against a throwaway
# PostgreSQL/PostGIS cluster. Any report fails the run: in a test binary through its exit
# status; in onemap-server and onemap-import, which the tests start as children, through
# tests/support (server_process checks the server's exit status and output when it stops,
# run_command scans the importer's output).
# Usage: scripts/sanitize.sh [ctest arguments], e.g. scripts/sanitize.sh -LE qgis
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
built=$start
trap 'end=$(date +%s); echo "sanitize: build $(( built - start )) s, tests $(( end - built )) s, total $(( end - start )) s"' EXIT

bash scripts/install-deps.sh
BUILD_DIR=${ONEMAP_ASAN_BUILD_DIR:-build-asan}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
  -DONEMAP_SANITIZE=address,undefined -DONEMAP_WERROR=ON -DONEMAP_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD_DIR" -j2
built=$(date +%s)

# detect_leaks is ASan's default on Linux; spelled out because the run depends on it.
# check_initialization_order catches static initialisers reading another file's globals.
export ASAN_OPTIONS=detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0

pg_virtualenv -t -i '--encoding=UTF8 --locale=C.UTF-8' \
  ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 "$@"
