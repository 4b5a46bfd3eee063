#!/usr/bin/env bash
# Uncached tile benchmark (issues 5 and 17): the 1M-parcel DLTB layer imported by onemap-import,
# the same fixed tile list fetched from onemap-server with its tile cache off, and built by
# PostGIS with the single ST_AsMVT query Martin and pg_tileserv issue, through libpq, all at
# CLIENTS concurrent clients, in ROUNDS interleaved rounds (default 2):
#   - onemap (this build, `--cache-mb 0`; the layer versions held in memory, tile_store.hpp,
#     after a warm-up pass has asked for them and their loads have ended);
#   - postgis3857: the peer at its best, ST_AsMVT over a precomputed EPSG:3857 copy of the table
#     with its own GiST index, no transform in the query;
#   - postgis: the same query transforming the stored EPSG:4490 geometry (Martin over onemap's
#     table as it is).
# Every side's tile carries the same columns (every attribute of the layer, id = fid). Each peer
# gets one discarded warm-up pass too. Reported per band: tiles/s, p50/p95/max, KB and features
# per tile; the server's RSS and what it holds.
#
#   bench/tile_bench.sh [N_PARCELS] [CLIENTS]     (defaults 1000000, 2)
#
# BASELINE_SERVER=/path/to/an/older/onemap-server adds that build beside the current one;
# Z12_ONLY=1 keeps the z12-z16 band alone; LOW_ONLY=1 the z0-z11 bands (issue 18: DLTB dissolved by
# class), with the peers on z9-z11 only (their z0-z8 tiles hold up to every parcel of the city).
# The layer is imported as the manifest does, with --class-field DLBM.
# TILE_MEMORY_MB (default 2048) is the server's --tile-memory-mb.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
CLIENTS=${2:-2}
DATA=${ONEMAP_BENCH_DATA:-/tmp/onemap-bench-$N}
[ -f "$DATA/natural-resources/dltb_2023.shp" ] ||
  /usr/bin/python3 data-samples/generate.py --out "$DATA" --parcels "$N"

# Fixed tile list over Zhumadian (113.10-115.22E, 32.28-33.53N): every tile z0-z9, a seeded
# sample of 40 tiles per zoom at z10-z11 and of 85 per zoom at z12-z16.
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
    if z >= 10: tiles = random.sample(tiles, min(40 if z < 12 else 85, len(tiles)))
    for x, y in sorted(tiles): print(z, x, y)
PY
# Z12_ONLY=1: the z12-16 band alone (the peers spend minutes on the low zooms' huge tiles).
[ "${Z12_ONLY:-0}" = 1 ] && { awk '$1 >= 12' /tmp/onemap-tiles.txt > /tmp/onemap-tiles-z12.txt; mv /tmp/onemap-tiles-z12.txt /tmp/onemap-tiles.txt; }
cp /tmp/onemap-tiles.txt /tmp/onemap-tiles-peer.txt
if [ "${LOW_ONLY:-0}" = 1 ]; then
  awk '$1 <= 11' /tmp/onemap-tiles.txt > /tmp/onemap-tiles-low.txt; mv /tmp/onemap-tiles-low.txt /tmp/onemap-tiles.txt
  awk '$1 >= 9' /tmp/onemap-tiles.txt > /tmp/onemap-tiles-peer.txt
fi
export LOW_ONLY=${LOW_ONLY:-0}
export ONEMAP_BENCH_SHP=$DATA/natural-resources/dltb_2023.shp ONEMAP_ROOT=$PWD CLIENTS
export BASELINE_SERVER=${BASELINE_SERVER:-} ROUNDS=${ROUNDS:-2} TILE_MEMORY_MB=${TILE_MEMORY_MB:-2048}
pg_virtualenv -t -i '--encoding=UTF8 --locale=C.UTF-8' -o 'shared_buffers=512MB' -o 'max_wal_size=4GB' \
  -o 'maintenance_work_mem=512MB' bash -c '
set -euo pipefail
createdb tb
started=$(date +%s)
"$ONEMAP_ROOT/build/importers/onemap-import" -q --db dbname=tb --layer dltb --class-field DLBM --encoding GBK --id-field BSM \
  --valid-from 2023-12-31 "$ONEMAP_BENCH_SHP" > /dev/null
echo "import: $(( $(date +%s) - started )) s"
COLS=$(psql -Atq tb -c "SELECT string_agg(quote_ident(column_name), '"'"', '"'"' ORDER BY ordinal_position)
                        FROM information_schema.columns WHERE table_schema = '"'"'onemap_data'"'"'
                        AND table_name = '"'"'dltb__v1'"'"' AND column_name <> '"'"'geom'"'"'")
started=$(date +%s)
psql -q tb -c "CREATE SCHEMA peer; CREATE TABLE peer.dltb3857 AS SELECT $COLS, ST_Transform(geom, 3857) AS geom
               FROM onemap_data.dltb__v1; CREATE INDEX ON peer.dltb3857 USING gist (geom);"
psql -q tb -c "VACUUM ANALYZE peer.dltb3857"
echo "the peer'"'"'s EPSG:3857 copy with its GiST index: $(( $(date +%s) - started )) s; columns: $COLS"
echo "tiles: $(wc -l < /tmp/onemap-tiles.txt) ($(awk "\$1<=8" /tmp/onemap-tiles.txt | wc -l) z0-8," \
     "$(awk "\$1>=9 && \$1<=11" /tmp/onemap-tiles.txt | wc -l) z9-11, $(awk "\$1>=12" /tmp/onemap-tiles.txt | wc -l) z12-16)"
"$ONEMAP_ROOT/build/tileserver/onemap-server" --db dbname=tb --port 18080 --cache-mb 0 \
  --tile-memory-mb "$TILE_MEMORY_MB" --log-level info > /tmp/onemap-tile-bench-server.log 2>&1 &
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
load() { "$ONEMAP_ROOT/build/bench/tile_load" --tiles /tmp/onemap-tiles.txt --clients "$CLIENTS" --columns "$COLS" "$@"; }
load_peer() { "$ONEMAP_ROOT/build/bench/tile_load" --tiles /tmp/onemap-tiles-peer.txt --clients "$CLIENTS" --columns "$COLS" "$@"; }
echo "== warm-up (discarded): onemap asks for the versions it draws from, each peer reads its table once"
started=$(date +%s)
load onemap http://127.0.0.1:18080/tiles/dltb > /dev/null
# The loads run in the background: wait until none is queued or running.
for i in $(seq 900); do
  curl -s http://127.0.0.1:18080/stats | python3 -c "import json, sys
m = json.load(sys.stdin)[\"tile_memory\"]; sys.exit(0 if not m[\"loading\"] and m[\"queued\"] == 0 else 1)" && break
  sleep 1
done
echo "held after $(( $(date +%s) - started )) s: $(curl -s http://127.0.0.1:18080/stats | python3 -c "import json,sys; print(json.load(sys.stdin)[\"tile_memory\"])")"
grep "tile store" /tmp/onemap-tile-bench-server.log || true
load onemap http://127.0.0.1:18080/tiles/dltb > /dev/null
[ -z "$baseline" ] || load onemap http://127.0.0.1:18090/tiles/dltb > /dev/null
load_peer postgis3857 dbname=tb peer.dltb3857 > /dev/null
load_peer postgis dbname=tb onemap_data.dltb__v1 > /dev/null
for round in $(seq "$ROUNDS"); do
  echo "== round $round: onemap (this build)"
  load onemap http://127.0.0.1:18080/tiles/dltb
  if [ -n "$baseline" ]; then
    echo "== round $round: onemap (baseline $BASELINE_SERVER)"
    load onemap http://127.0.0.1:18090/tiles/dltb
  fi
  echo "== round $round: PostGIS ST_AsMVT over the precomputed EPSG:3857 copy with its GiST index"
  load_peer postgis3857 dbname=tb peer.dltb3857
  echo "== round $round: PostGIS ST_AsMVT transforming in the query"
  load_peer postgis dbname=tb onemap_data.dltb__v1
done
echo "server memory: $(grep -E "VmHWM|VmRSS" /proc/$server/status | tr -s " \t\n" " "); holds: $(curl -s http://127.0.0.1:18080/stats | python3 -c "import json,sys; print(json.load(sys.stdin)[\"tile_memory\"])")"
[ -z "$baseline" ] || { echo "baseline peak RSS: $(grep VmHWM /proc/$baseline/status)"; kill $baseline; }
kill $server; wait $server 2>/dev/null || true
[ "$LOW_ONLY" = 1 ] && exit 0
# Memory under a cache budget smaller than the tiles: 2,000 extra z14 tiles (~60 KB each)
# through a 32 MB cache, twice.
"$ONEMAP_ROOT/build/tileserver/onemap-server" --db dbname=tb --port 18080 --cache-mb 32 --tile-memory-mb 0 --log-level warn &
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
