#!/usr/bin/env bash
# Runs every libFuzzer target of tests/fuzz, one at a time, for N minutes each (default 10;
# "20s" for seconds) over a copy of its committed seed corpus, with a per-input time limit, an
# RSS limit and leak detection, and prints per target: executions, exec/s, coverage (cov: and
# ft: from libFuzzer's final status line), corpus size at the end, and what it found (crash,
# timeout = hang, leak, oom). Exits non-zero on any finding; the inputs are kept under the run
# directory (artifacts/) for a regression test.
#
#   bench/fuzz.sh [minutes|Ns] [target…]
#
# Builds the targets first in the sanitized tree (scripts/configure-sanitized.sh: clang-14,
# ASan+UBSan, default build-san). ONEMAP_SAN_BUILD_DIR overrides that tree, ONEMAP_FUZZ_OUT the
# run directory.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
span=${1:-10}
shift || true
if [[ $span =~ ^([0-9]+)s$ ]]; then
  seconds=${BASH_REMATCH[1]}
elif [[ $span =~ ^[0-9]+$ ]]; then
  seconds=$((span * 60))
else
  echo "usage: bench/fuzz.sh [minutes|Ns] [target…]" >&2
  exit 2
fi
all_targets=(request wmts features datetime style expression manifest text_decoder mvt red_line)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

# Longest input per target: requests and KVP as front-end limits allow, a style or WKB large
# enough for real documents and geometries.
declare -A MAX_LEN=([request]=4096 [wmts]=2048 [features]=2048 [datetime]=64 [style]=16384
                    [expression]=4096 [manifest]=8192 [text_decoder]=1024 [mvt]=16384 [red_line]=16384)
declare -A DICT=([request]=request [wmts]=wmts [features]=features [style]=style [expression]=style
                 [manifest]=manifest)

build=$(bash "$root/scripts/configure-sanitized.sh")
out=${ONEMAP_FUZZ_OUT:-$build/fuzz-runs/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
if ! nice -n 19 cmake --build "$build" -j2 --target onemap_fuzz >"$out/build.log" 2>&1; then
  tail -40 "$out/build.log" >&2
  echo "fuzz: the targets do not build (log: $out/build.log)" >&2
  exit 2
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0:handle_abort=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "fuzz: $seconds s per target, runs in $out"
printf '%-13s %12s %8s %7s %8s %14s  %s\n' target executions exec/s cov ft corpus findings
status=0
for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/fuzz_$t
  work=$out/$t
  mkdir -p "$work/corpus" "$work/artifacts"
  cp "$root/tests/fuzz/corpus/$t/"* "$work/corpus/"
  opts=(-max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -max_len="${MAX_LEN[$t]}" -detect_leaks=1
        -print_final_stats=1 -artifact_prefix="$work/artifacts/")
  [ -z "${DICT[$t]:-}" ] || opts+=(-dict="$root/tests/fuzz/${DICT[$t]}.dict")
  started=$(date +%s)
  rc=0
  nice -n 19 "$bin" "${opts[@]}" "$work/corpus" >"$work/log" 2>&1 || rc=$?
  elapsed=$(($(date +%s) - started))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -1)
  last=$(grep -E '^#[0-9]+.* cov: ' "$work/log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corpus="$(find "$work/corpus" -type f | wc -l) files/$(du -sk "$work/corpus" | cut -f1)K"
  findings=""
  for kind in crash timeout leak oom; do
    n=$(find "$work/artifacts" -name "$kind-*" | wc -l)
    [ "$n" -eq 0 ] || findings+="$n $kind "
  done
  if [ "$rc" -ne 0 ] && [ -z "$findings" ]; then
    findings="exit $rc (see log) "
  fi
  if [ -n "$findings" ]; then
    status=1
    findings+="after ${elapsed} s: $work/artifacts"
  else
    findings=none
  fi
  printf '%-13s %12s %8s %7s %8s %14s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$corpus" "$findings"
done
exit $status
