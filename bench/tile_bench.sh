#!/usr/bin/env bash
# Uncached tile benchmark (issue 5): the 1M-parcel DLTB layer imported by onemap-import, the
# same fixed tile list (three bands) fetched from onemap-server with its cache off, and built by
# the raw PostGIS query Martin issues (ST_AsMVT over ST_AsMVTGeom(ST_Transform(geom, 3857), ...)
# with the && filter) through libpq, both at 2 clients, in one run.
#
#   bench/tile_bench.sh [N_PARCELS] [CLIENTS]     (defaults 1000000, 2)
#
# BASELINE_SERVER=/path/to/an/older/onemap-server adds that build beside the current one, in
# interleaved rounds (current, baseline, PostGIS; ROUNDS times, default 2), to check that a
# change does not slow uncached tiles down.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
CLIENTS=${2:-2}
DATA=${ONEMAP_BENCH_DATA:-/tmp/onemap-bench-$N}
[ -f "$DATA/natural-resources/dltb_2023.shp" ] ||
  /usr/bin/python3 data-samples/generate.py --out "$DATA" --parcels "$N"

# Fixed tile list over Zhumadian (113.10-115.22E, 32.28-33.53N): every tile z0-z9, a seeded
# sample of 40 tiles per zoom z10-z16.
/usr/bin/python3 - > /tmp/onemap-tiles.txt <<'PY'
import math, random
random.seed(20261127)
W, E, S, N = 113.10, 115.22, 32.28, 33.53
def tx(lon, z): return int((lon + 180) / 360 * 2**z)
def ty(lat, z):
    r = math.radians(lat); return int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * 2**z)
for z in range(0, 17):
    xs = range(tx(W, z), tx(E, z) + 1); ys = range(ty(N, z), ty(S, z) + 1)
    tiles = [(x, y) for x in xs for y in ys]
    if z >= 10: tiles = random.sample(tiles, min(40, len(tiles)))
    for x, y in sorted(tiles): print(z, x, y)
PY
export ONEMAP_BENCH_SHP=$DATA/natural-resources/dltb_2023.shp ONEMAP_ROOT=$PWD CLIENTS
export BASELINE_SERVER=${BASELINE_SERVER:-} ROUNDS=${ROUNDS:-2}
pg_virtualenv -t -i '--encoding=UTF8 --locale=C.UTF-8' -o 'shared_buffers=512MB' -o 'max_wal_size=4GB' \
  -o 'maintenance_work_mem=512MB' bash -c '
set -euo pipefail
createdb tb
"$ONEMAP_ROOT/build/importers/onemap-import" -q --db dbname=tb --layer dltb --encoding GBK --id-field BSM \
  --valid-from 2023-12-31 "$ONEMAP_BENCH_SHP" > /dev/null
echo "tiles: $(wc -l < /tmp/onemap-tiles.txt) ($(awk "\$1<=8" /tmp/onemap-tiles.txt | wc -l) z0-8," \
     "$(awk "\$1>=9 && \$1<=11" /tmp/onemap-tiles.txt | wc -l) z9-11, $(awk "\$1>=12" /tmp/onemap-tiles.txt | wc -l) z12-16)"
"$ONEMAP_ROOT/build/tileserver/onemap-server" --db dbname=tb --port 18080 --cache-mb 0 --log-level warn &
server=$!
baseline=""
if [ -n "$BASELINE_SERVER" ]; then
  "$BASELINE_SERVER" --db dbname=tb --port 18090 --cache-mb 0 --log-level warn &
  baseline=$!
fi
cleanup() { kill "$server" $baseline 2>/dev/null || true; }
trap cleanup EXIT
for i in $(seq 50); do curl -sf http://127.0.0.1:18080/health >/dev/null && break; sleep 0.1; done
[ -z "$baseline" ] || for i in $(seq 50); do curl -sf http://127.0.0.1:18090/health >/dev/null && break; sleep 0.1; done
for round in $(seq "$ROUNDS"); do
  echo "== round $round: onemap (this build)"
  "$ONEMAP_ROOT/build/bench/tile_load" --tiles /tmp/onemap-tiles.txt --clients "$CLIENTS" onemap http://127.0.0.1:18080/tiles/dltb
  if [ -n "$baseline" ]; then
    echo "== round $round: onemap (baseline $BASELINE_SERVER)"
    "$ONEMAP_ROOT/build/bench/tile_load" --tiles /tmp/onemap-tiles.txt --clients "$CLIENTS" onemap http://127.0.0.1:18090/tiles/dltb
  fi
  echo "== round $round: PostGIS ST_AsMVT (transform in the query)"
  "$ONEMAP_ROOT/build/bench/tile_load" --tiles /tmp/onemap-tiles.txt --clients "$CLIENTS" postgis dbname=tb onemap_data.dltb__v1
done
echo "server peak RSS: $(grep VmHWM /proc/$server/status)"
[ -z "$baseline" ] || { echo "baseline peak RSS: $(grep VmHWM /proc/$baseline/status)"; kill $baseline; }
kill $server; wait $server 2>/dev/null || true
# Memory under a cache budget smaller than the tiles: 2,000 extra z14 tiles (~60 KB each)
# through a 32 MB cache, twice.
"$ONEMAP_ROOT/build/tileserver/onemap-server" --db dbname=tb --port 18080 --cache-mb 32 --log-level warn &
server=$!
for i in $(seq 50); do curl -sf http://127.0.0.1:18080/health >/dev/null && break; sleep 0.1; done
/usr/bin/python3 -c "
import math
def tx(lon, z): return int((lon + 180) / 360 * 2**z)
def ty(lat, z):
    r = math.radians(lat); return int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * 2**z)
x0, y0 = tx(113.9, 14), ty(33.2, 14)
for i in range(2000): print(14, x0 + i % 50, y0 + i // 50)
" > /tmp/onemap-tiles-mem.txt
for pass in 1 2; do
  "$ONEMAP_ROOT/build/bench/tile_load" --tiles /tmp/onemap-tiles-mem.txt --clients "$CLIENTS" onemap http://127.0.0.1:18080/tiles/dltb
done
echo "cache 32 MB: $(grep VmHWM /proc/$server/status); $(curl -s http://127.0.0.1:18080/stats)"
'
