#!/usr/bin/env bash
# clang-tidy-14 with the committed .clang-tidy over every onemap source file of the build:
# core/, importers/, tileserver/ (libraries and mains), tests/ and bench/; the headers they
# include follow .clang-tidy's HeaderFilterRegex (ours only). Needs a configure-only build dir
# for compile_commands.json plus the generated protobuf headers, nothing else built.
# Exits non-zero on any warning (.clang-tidy: WarningsAsErrors '*').
# Usage: scripts/tidy.sh [regex of files, default all of the above]
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
trap 'echo "tidy: took $(( $(date +%s) - start )) s"' EXIT

BUILD_DIR=${ONEMAP_TIDY_BUILD_DIR:-build-tidy}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" --target core/vector_tile.pb.h tileserver/src/glyphs/glyphs.pb.h >/dev/null

files=${1:-"^$PWD/(core|importers|tileserver|tests|bench)/"}
# run-clang-tidy-14 always asks for colour and prints each command line and clang's counts of
# suppressed (not ours) warnings; only the findings are worth reading.
set +e
run-clang-tidy-14 -p "$BUILD_DIR" -j 2 -quiet "$files" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' |
  grep -Ev '^(/usr/bin/)?clang-tidy-14 |^[0-9]+ warnings? (generated|treated as errors)\.$|^Suppressed [0-9]+ warnings|^Use -header-filter|^Use -system-headers'
status=${PIPESTATUS[0]}
set -e
[ "$status" -eq 0 ] && echo "tidy: clean" || echo "tidy: findings above"
exit "$status"
