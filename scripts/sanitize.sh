#!/usr/bin/env bash
# The test suite under AddressSanitizer (LeakSanitizer included) and UndefinedBehaviorSanitizer,
# in the sanitized tree of scripts/configure-sanitized.sh (clang-14, -O1, UB not recoverable,
# warnings as errors), against a throwaway PostgreSQL/PostGIS cluster as scripts/test.sh does.
# Any report fails the run: in a test binary through its exit status; in onemap-server and
# onemap-import, which the tests start as children, through tests/support (server_process
# checks the server's exit status and output when it stops, run_command scans the importer's
# output).
# By default every test but the QGIS ones (label qgis: QGIS drives the same server routes as
# the http tests and takes minutes under ASan), the large ones (label large: the dissolve checks
# on 200,000 generated parcels; the sample's run here) and data_samples_invariants (Python checking the
# committed sample files: no onemap code runs); ctest arguments replace that choice, e.g.
#   scripts/sanitize.sh            scripts/sanitize.sh -L unit            scripts/sanitize.sh -R wmts
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
built=$start
trap 'end=$(date +%s); echo "sanitize: build $(( built - start )) s, tests $(( end - built )) s, total $(( end - start )) s"' EXIT

bash scripts/install-deps.sh
build=$(bash scripts/configure-sanitized.sh)
cmake --build "$build" -j2
built=$(date +%s)

# detect_leaks is ASan's default on Linux; spelled out because the run depends on it.
# check_initialization_order catches static initialisers reading another file's globals.
export ASAN_OPTIONS=detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0

[ $# -gt 0 ] || set -- -LE 'qgis|large' -E data_samples_invariants
pg_virtualenv -t -i '--encoding=UTF8 --locale=C.UTF-8' \
  ctest --test-dir "$build" --output-on-failure -j2 "$@"
