#!/usr/bin/env bash
# "Which grid am I in?" (issue 7), one run on the committed sample (2024 grids, 2,383 polygons):
#  - in-process: Google Benchmark BM_core_locate_point (one core);
#  - PostGIS: the same question (ST_Covers with the GiST index, smallest code) through libpq with
#    pgbench at 2 and 64 clients over 20,000 seeded points;
#  - HTTP: wrk at 64 keep-alive connections on GET /locate over the same points, beside a bare
#    cpp-httplib handler returning 200 bytes with the same server settings (bench/http_ceiling,
#    the HTTP stack's ceiling) and the server's own GET /health;
#  - latency below saturation: bench/fixed_rate at 10k and 20k req/s (open loop) on both.
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
"$ONEMAP_ROOT/build/tileserver/onemap-server" --db dbname=lb --port 18070 --config "$ONEMAP_ROOT/tileserver/onemap.yaml" --log-level warn &
server=$!
"$ONEMAP_ROOT/build/bench/http_ceiling" 18071 &
ceiling=$!
cleanup() { kill "$server" "$ceiling" 2>/dev/null || true; }
trap cleanup EXIT
for i in $(seq 50); do curl -sf http://127.0.0.1:18070/health >/dev/null && break; sleep 0.1; done
echo "sample answer: $(curl -s "http://127.0.0.1:18070/locate?$(head -1 "$WORK/points.txt" | awk "{print \"lon=\" \$1 \"&lat=\" \$2}")" | head -c 160)"
cat > "$WORK/locate.lua" <<LUA
local pts = {}
for line in io.lines("$WORK/points.txt") do
  local x, y = line:match("([^ ]+) ([^ ]+)")
  pts[#pts + 1] = "/locate?lon=" .. x .. "&lat=" .. y
end
math.randomseed(7)
request = function() return wrk.format("GET", pts[math.random(#pts)]) end
LUA
echo "== HTTP (wrk -t2 -c64 -d${DURATION}s)"
# The ceiling gets the same Lua-generated /locate paths (it answers any path), so wrk spends
# the same on both; /health is the plain path.
for target in "18070/locate:-s $WORK/locate.lua" "18071/ceiling:-s $WORK/locate.lua" "18070/health:"; do
  name=${target%%:*}; script=${target#*:}
  out=$(wrk -t2 -c64 -d${DURATION}s --latency $script http://127.0.0.1:$name)
  echo "$name req/s=$(echo "$out" | sed -n "s/^Requests\/sec: *//p") p99=$(echo "$out" | sed -n "s/^ *99% *//p") $(echo "$out" | grep -E "Non-2xx|Socket errors" | tr "\n" " " || true)"
done
# Latency below saturation: the same paths at fixed rates, open loop (bench/fixed_rate), 64
# connections, on /locate and on the ceiling.
awk "{print \"/locate?lon=\" \$1 \"&lat=\" \$2}" "$WORK/points.txt" > "$WORK/paths.txt"
echo "== fixed rate (open loop, 64 connections, ${DURATION}s)"
for rate in 10000 20000; do
  for name in 18070/locate 18071/ceiling; do
    echo "$name $("$ONEMAP_ROOT/build/bench/fixed_rate" http://127.0.0.1:${name%%/*} "$WORK/paths.txt" $rate 64 $DURATION)"
  done
done
'
