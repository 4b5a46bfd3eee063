#!/usr/bin/env bash
# "Which grid am I in?" (issue 7), one run on the committed sample (2024 grids, 2,383 polygons):
#  - in-process: Google Benchmark BM_core_locate_point (one core);
#  - PostGIS: the same question (ST_Covers with the GiST index, smallest code) through libpq with
#    pgbench at 2 and 64 clients over 20,000 seeded points;
#  - HTTP: wrk at 64 keep-alive connections on GET /locate over the same points (also with a
#    browser's Accept-Encoding), beside a bare cpp-httplib handler with the same server settings
#    (bench/http_ceiling, the HTTP stack's ceiling) returning 194 bytes, and replaying for each
#    path the very answer /locate gave (status, type, body: bench/record_answers.py), and the
#    server's own GET /health; three interleaved
#    rounds with servers and wrk sharing both cores, three with each server pinned to core 1
#    and wrk to core 0;
#  - latency below saturation: bench/fixed_rate at 10k and 20k req/s (open loop).
#
#   bench/locate_bench.sh [DURATION_S] [DATA_DIR]   (defaults 10, data-samples/)
#
# DATA_DIR may be a set made by `data-samples/generate.py --out DIR --grids 20000`.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
export DURATION=${1:-10} ONEMAP_ROOT=$PWD
export DATA=${2:-$PWD/data-samples}
export ONEMAP_LOCATE_GRID_SHP=$DATA/grid/2024-07-01/grid.shp
echo "== in-process"
build/bench/bench_locate --benchmark_min_time=2 2>/dev/null | grep BM_
pg_virtualenv -t -i '--encoding=UTF8 --locale=C.UTF-8' -o 'max_connections=200' bash -c '
set -euo pipefail
createdb lb
"$ONEMAP_ROOT/build/importers/onemap-import" -q --db dbname=lb --manifest "$DATA/manifest.yaml" > /dev/null
echo "grids: $(psql -tAd lb -c "SELECT count(*) FROM onemap_data.grid__v2")"
WORK=$(mktemp -d /tmp/onemap-locate.XXXX)
psql -qd lb -c "SELECT setseed(0.27); CREATE TABLE pts AS SELECT g AS id, 113.1 + random() * 2.12 AS x, 32.28 + random() * 1.25 AS y FROM generate_series(1, 20000) g; ALTER TABLE pts ADD PRIMARY KEY (id)"
psql -qAtd lb -c "SELECT x || '"'"' '"'"' || y FROM pts ORDER BY id" > "$WORK/points.txt"
cat > "$WORK/locate.sql" <<SQL
\set i random(1, 20000)
SELECT (SELECT wgbm FROM onemap_data.grid__v2 WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(p.x, p.y), 4490)) ORDER BY wgbm LIMIT 1) FROM pts p WHERE p.id = :i;
SQL
echo "== PostGIS (pgbench, prepared)"
for c in 2 64; do
  echo "clients $c: $(pgbench -n -M prepared -c $c -j 2 -T $DURATION -f "$WORK/locate.sql" lb 2>/dev/null | grep -E "^tps" | sed "s/ (without initial connection time)//")"
done
# Two placements of the same processes: "shared" (servers and load generator share both
# cores, as a one-box deployment) and "pinned" (each server on core 1, wrk on core 0, so the
# figures are the server alone, not the load generator).
start_servers() { # $1: taskset prefix or empty
  $1 "$ONEMAP_ROOT/build/tileserver/onemap-server" --db dbname=lb --port 18070 --config "$ONEMAP_ROOT/tileserver/onemap.yaml" --log-level warn &
  server=$!
  $1 "$ONEMAP_ROOT/build/bench/http_ceiling" 18071 &
  ceiling=$!
  $1 "$ONEMAP_ROOT/build/bench/http_ceiling" 18072 "$WORK/answers.tsv" &
  ceiling_same=$!
  for i in $(seq 50); do curl -sf http://127.0.0.1:18070/health >/dev/null && break; sleep 0.1; done
}
stop_servers() { kill "$server" "$ceiling" "$ceiling_same" 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop_servers EXIT
awk "{print \"/locate?lon=\" \$1 \"&lat=\" \$2}" "$WORK/points.txt" > "$WORK/paths.txt"
# onemap-server answers every path once; the replaying ceiling sends back exactly those bytes.
"$ONEMAP_ROOT/build/tileserver/onemap-server" --db dbname=lb --port 18070 --config "$ONEMAP_ROOT/tileserver/onemap.yaml" --log-level warn &
server=$!
for i in $(seq 50); do curl -sf http://127.0.0.1:18070/health >/dev/null && break; sleep 0.1; done
echo "sample answer: $(curl -s "http://127.0.0.1:18070$(head -1 "$WORK/paths.txt")" | head -c 160)"
/usr/bin/python3 "$ONEMAP_ROOT/bench/record_answers.py" 127.0.0.1:18070 "$WORK/paths.txt" "$WORK/answers.tsv"
echo "recorded answers: $(wc -l < "$WORK/answers.tsv"), mean body $(awk -F "\t" "{s += length(\$4)} END {printf \"%d\", s / NR}" "$WORK/answers.tsv") characters"
kill $server; wait $server 2>/dev/null || true
cat > "$WORK/locate.lua" <<LUA
local pts = {}
for line in io.lines("$WORK/points.txt") do
  local x, y = line:match("([^ ]+) ([^ ]+)")
  pts[#pts + 1] = "/locate?lon=" .. x .. "&lat=" .. y
end
math.randomseed(7)
request = function() return wrk.format("GET", pts[math.random(#pts)]) end
LUA
sed "s#/locate?lon=#/health?lon=#" "$WORK/locate.lua" > "$WORK/health.lua"
# Every side gets the same Lua-generated paths (the ceilings answer any path, /health ignores
# the query), so wrk spends the same on each. "browser" is /locate asked with the
# Accept-Encoding (cpp-httplib alone would answer it with Brotli at quality 11).
run_wrk() { # $1: wrk prefix, $2: threads
  for target in "locate:18070:locate.lua:" "locate-browser:18070:locate.lua:gzip, deflate, br" \
                "ceiling-194B:18071:locate.lua:" "ceiling-replay:18072:locate.lua:" "health:18070:health.lua:"; do
    IFS=: read -r name port script accept <<< "$target"
    out=$($1 wrk -t$2 -c64 -d${DURATION}s --latency ${accept:+-H "Accept-Encoding: $accept"} -s "$WORK/$script" http://127.0.0.1:$port)
    printf "  %-16s req/s=%-9s p50=%-8s p99=%-8s %s\n" "$name" "$(echo "$out" | sed -n "s/^Requests\/sec: *//p")" \
      "$(echo "$out" | sed -n "s/^ *50% *//p")" "$(echo "$out" | sed -n "s/^ *99% *//p")" \
      "$(echo "$out" | grep -E "Socket errors" | tr "\n" " " || true)"
  done
}
for placement in shared pinned; do
  if [ $placement = shared ]; then start_servers ""; wrk_prefix=""; threads=2; else start_servers "taskset -c 1"; wrk_prefix="taskset -c 0"; threads=1; fi
  for round in 1 2 3; do
    echo "== HTTP, $placement, round $round (wrk -t$threads -c64 -d${DURATION}s)"
    run_wrk "$wrk_prefix" $threads
  done
  stop_servers
done
# Latency below saturation: the same paths at fixed rates, open loop (bench/fixed_rate), 64
# connections, on /locate and on the replaying ceiling (shared placement).
start_servers ""
echo "== fixed rate (open loop, 64 connections, ${DURATION}s, shared)"
for rate in 10000 20000; do
  for name in 18070/locate 18072/ceiling-replay; do
    echo "$name $("$ONEMAP_ROOT/build/bench/fixed_rate" http://127.0.0.1:${name%%/*} "$WORK/paths.txt" $rate 64 $DURATION)"
  done
done
'
