#!/usr/bin/env bash
# Uncached PNG rendering: the basemap (styles/basemap.json over the layers of
# tileserver/onemap.yaml) drawn by onemap-server beside MapServer 8 drawing the same layers with
# the same colours, widths, dashes, labels and zoom ranges (bench/mapserver/basemap.map.in,
# generated from the style), over the same tile list, in one run, at 2 clients.
#
#   onemap, cache 0      --cache-mb 0: every request draws its whole 4x4 metatile (1024 px) and
#                        keeps nothing — the worst case
#   onemap, metatiled    a fresh server with its cache on: every tile of each metatile is asked
#                        for once, so each metatile is drawn once for 16 distinct new tiles
#   MapServer, warm      python3-mapscript: 2 processes holding the parsed mapfile and their
#                        PostGIS connections, one 256-px map per tile (the fairer peer)
#   MapServer, warm      the same processes drawing each 4x4 metatile once (+16 px buffer) and
#   metatiled            cutting its tiles, re-encoded by PIL: what MapCache in front of MapServer
#                        does, the like-for-like of "onemap, metatiled"
#   MapServer, CGI       `mapserv` mode=tile&tilemode=gmap: a fresh process per tile, as the
#                        Debian cgi-mapserver runs
#
# Data: the committed sample (manifest), then, unless N_PARCELS is 0, the sample with its
# parcels replaced by N_PARCELS generated ones. Tiles: BLOCKS seeded metatile-aligned 4x4
# blocks per zoom at z10, z12, z14, z16 over Zhumadian (fewer where the city has fewer),
# shuffled within each zoom; the same list for every side.
#
#   bench/render_bench.sh [N_PARCELS] [BLOCKS] [CLIENTS]     (defaults 200000, 16, 2; ~3 min)
#   ONEMAP_BUILD=build-bench bench/render_bench.sh           (build folder, default build)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
BLOCKS=${2:-16}
CLIENTS=${3:-2}
BUILD=$PWD/${ONEMAP_BUILD:-build}
for tool in "$BUILD/tileserver/onemap-server" "$BUILD/importers/onemap-import"; do
  [ -x "$tool" ] || { echo "render_bench: build $tool first" >&2; exit 1; }
done
command -v mapserv >/dev/null && /usr/bin/python3 -c 'import mapscript' 2>/dev/null ||
  apt-get install -y -qq mapserver-bin cgi-mapserver python3-mapscript >/dev/null
DATA=${ONEMAP_BENCH_DATA:-/tmp/onemap-bench-$N}
if [ "$N" -gt 0 ] && [ ! -f "$DATA/natural-resources/dltb_2023.shp" ]; then
  /usr/bin/python3 data-samples/generate.py --out "$DATA" --parcels "$N" > /dev/null
fi
/usr/bin/python3 bench/mapserver/style2mapfile.py | cmp -s - bench/mapserver/basemap.map.in ||
  echo "render_bench: bench/mapserver/basemap.map.in is older than the style; regenerate it with" \
       "bench/mapserver/style2mapfile.py" >&2
WORK=$(mktemp -d /tmp/onemap-render.XXXX)
chmod 755 "$WORK"

/usr/bin/python3 - "$BLOCKS" > "$WORK/tiles.txt" <<'PY'
import math, random, sys
random.seed(20261127)
W, E, S, N = 113.10, 115.22, 32.28, 33.53
def tx(lon, z): return int((lon + 180) / 360 * 2**z)
def ty(lat, z):
    r = math.radians(lat); return int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * 2**z)
for z in (10, 12, 14, 16):
    blocks = [(bx, by) for bx in range(tx(W, z) // 4, tx(E, z) // 4 + 1)
                       for by in range(ty(N, z) // 4, ty(S, z) // 4 + 1)]
    blocks = random.sample(blocks, min(int(sys.argv[1]), len(blocks)))
    tiles = [(z, bx * 4 + i, by * 4 + j) for bx, by in blocks for i in range(4) for j in range(4)]
    random.shuffle(tiles)
    for t in tiles: print(*t)
PY
echo "tiles: $(wc -l < "$WORK/tiles.txt") ($(awk '{print $1}' "$WORK/tiles.txt" | uniq -c | awk '{printf "%s z%s, ", $1, $2}')" \
     "in 4x4 metatile blocks, shuffled within each zoom); clients: $CLIENTS"
sed "s|@WORK@|$WORK|" bench/mapserver/mapserver.conf.in > "$WORK/mapserver.conf"

export ONEMAP_ROOT=$PWD BUILD WORK N DATA CLIENTS MAPSERVER_CONFIG_FILE=$WORK/mapserver.conf
pg_virtualenv -t -i '--encoding=UTF8 --locale=C.UTF-8' -o 'shared_buffers=512MB' -o 'max_wal_size=4GB' \
  -o 'maintenance_work_mem=512MB' bash -c '
set -euo pipefail
cd "$ONEMAP_ROOT"
createdb rb
import_data() { "$BUILD/importers/onemap-import" -q --db dbname=rb "$@" > "$WORK/import.log" 2>&1 || { cat "$WORK/import.log"; exit 1; }; }
import_data --manifest data-samples/manifest.yaml
PORT=18091
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null || true; }
trap cleanup EXIT
start_server() {
  "$BUILD/tileserver/onemap-server" --db dbname=rb --port $PORT --cache-mb "$1" --log-level warn \
    --config tileserver/onemap.yaml --styles styles &
  server=$!
  for i in $(seq 100); do curl -sf http://127.0.0.1:$PORT/health >/dev/null && return; sleep 0.1; done
  echo "onemap-server did not start" >&2; exit 1
}
stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; server=; }

phase() {   # phase NAME: every side over the tile list on the data now in the database
  local name=$1 rec=$WORK/results-$1.tsv
  # The mapfile: each layer as of today (what onemap-server draws by default), its generalised
  # copies as the template expects.
  local args=(-e "s|@CONNECTION@|host=$PGHOST port=$PGPORT dbname=rb user=$PGUSER password=$PGPASSWORD|"
              -e "s|@FONTSET@|$ONEMAP_ROOT/bench/mapserver/fonts.txt|" -e "s|@METATILE_LEVEL@|0|") counts=()
  while IFS="|" read -r layer table zmax; do
    grep -q "@TABLE_${layer}@" bench/mapserver/basemap.map.in || continue
    [ "$zmax" = 12 ] || { echo "$layer: generalised copies to z$zmax, the mapfile expects z12" >&2; exit 1; }
    args+=(-e "s|@TABLE_${layer}@|$table|g")
    counts+=("SELECT \$\$$layer\$\$ AS layer, count(*) AS n, sum(ST_NPoints(geom)) AS p FROM onemap_data.$table")
  done < <(psql -d rb -Atc "SELECT v.layer, v.table_name, v.overview_max_zoom FROM onemap.layer l,
             onemap.version_as_of(l.name, current_date) v")
  sed "${args[@]}" bench/mapserver/basemap.map.in > "$WORK/basemap.map"
  if grep -q "@TABLE_" "$WORK/basemap.map"; then echo "a layer of the mapfile is not in the catalog" >&2; exit 1; fi
  local union
  union=$(printf " UNION ALL %s" "${counts[@]}")
  echo
  echo "== $name: $(psql -d rb -Atc "SELECT format(\$\$%s parcels (%s vertices); %s layers, %s features, %s vertices\$\$,
      sum(n) FILTER (WHERE layer = \$\$dltb\$\$), sum(p) FILTER (WHERE layer = \$\$dltb\$\$), count(*), sum(n), sum(p))
    FROM (${union# UNION ALL }) t")"

  start_server 0
  code=$(curl -s -o "$WORK/probe.png" -w "%{http_code} %{content_type}" http://127.0.0.1:$PORT/tiles/basemap/12/3345/1650.png)
  [ "$code" = "200 image/png" ] || { echo "onemap PNG endpoint: $code" >&2; exit 1; }
  /usr/bin/python3 bench/render_load.py --tiles "$WORK/tiles.txt" --clients "$CLIENTS" --record "$rec" \
    --name "onemap cache 0" onemap http://127.0.0.1:$PORT/tiles/basemap
  echo "onemap-server peak RSS: $(grep VmHWM /proc/$server/status | tr -s " \t" " ")"
  stop_server
  start_server 512
  /usr/bin/python3 bench/render_load.py --tiles "$WORK/tiles.txt" --clients "$CLIENTS" --record "$rec" \
    --name "onemap metatiled" onemap http://127.0.0.1:$PORT/tiles/basemap
  echo "onemap-server peak RSS: $(grep VmHWM /proc/$server/status | tr -s " \t" " "); $(curl -s http://127.0.0.1:$PORT/stats)"
  /usr/bin/python3 bench/render_load.py --tiles "$WORK/tiles.txt" --clients "$CLIENTS" --record "$rec" \
    --name "MapServer warm" mapscript "$WORK/basemap.map"
  /usr/bin/python3 bench/render_load.py --tiles "$WORK/tiles.txt" --clients "$CLIENTS" --record "$rec" \
    --name "MapServer meta" mapscript-metatile "$WORK/basemap.map"
  /usr/bin/python3 bench/render_load.py --tiles "$WORK/tiles.txt" --clients "$CLIENTS" --record "$rec" \
    --name "MapServer CGI" mapserv "$WORK/basemap.map"

  # Rough correctness: the same tiles from both at the largest reservoir, z12 over a point inside
  # it, z15 over a vertex of its shore.
  local reservoir
  reservoir=$(psql -d rb -Atc "SELECT table_name FROM onemap.version_as_of(\$\$reservoir\$\$, current_date)")
  for z in 12 15; do
    read -r lon lat < <(psql -d rb -Atc "SELECT ST_X(p), ST_Y(p) FROM (SELECT CASE WHEN $z < 15
        THEN ST_PointOnSurface(geom) ELSE ST_PointN(ST_ExteriorRing(ST_GeometryN(geom, 1)), 1) END AS p
        FROM onemap_data.$reservoir ORDER BY ST_Area(geom) DESC LIMIT 1) t" | tr "|" " ")
    read -r x y < <(/usr/bin/python3 -c "import math,sys; lon,lat,z=map(float,sys.argv[1:]); r=math.radians(lat)
print(int((lon+180)/360*2**z), int((1-math.log(math.tan(r)+1/math.cos(r))/math.pi)/2*2**z))" "$lon" "$lat" $z)
    curl -sf -o "/tmp/onemap-render-$name-onemap-z$z.png" http://127.0.0.1:$PORT/tiles/basemap/$z/$x/$y.png
    REQUEST_METHOD=GET QUERY_STRING="map=$WORK/basemap.map&mode=tile&tilemode=gmap&tile=$x+$y+$z&layers=all" mapserv |
      /usr/bin/python3 -c "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read().partition(b\"\r\n\r\n\")[2])" \
      > "/tmp/onemap-render-$name-mapserver-z$z.png"
    /usr/bin/python3 - "/tmp/onemap-render-$name-onemap-z$z.png" "/tmp/onemap-render-$name-mapserver-z$z.png" "$z/$x/$y" <<PY
import sys
import numpy as np
from PIL import Image
a, b = (np.asarray(Image.open(p).convert("RGB"), dtype=int) for p in sys.argv[1:3])
def water(i):   # blue-dominant pixels: reservoirs, rivers, water parcels, water labels
    return 100.0 * ((i[..., 2] > i[..., 0] + 40) & (i[..., 2] > i[..., 1] + 10)).mean()
def top(i):
    q = (i // 16 * 16).reshape(-1, 3)
    c, n = np.unique(q, axis=0, return_counts=True)
    return " ".join("#%02X%02X%02X %.0f%%" % (*c[k], 100.0 * n[k] / len(q)) for k in np.argsort(-n)[:3])
print("tile %s: water-blue pixels onemap %.1f %%, MapServer %.1f %%; mean |diff| %.1f/255 per channel;"
      " top colours onemap %s | MapServer %s" % (sys.argv[3], water(a), water(b), np.abs(a - b).mean(), top(a), top(b)))
PY
  done
  stop_server
}

phase sample
if [ "$N" -gt 0 ]; then
  import_data --layer dltb --valid-from 2023-12-31 --encoding GBK --id-field BSM "$DATA/natural-resources/dltb_2023.shp"
  phase "parcels$N"
fi

echo
/usr/bin/python3 - "$WORK/results-sample.tsv" $([ "$N" -gt 0 ] && echo "$WORK/results-parcels$N.tsv") <<PY
import collections, os, sys
for path in sys.argv[1:]:
    rows = collections.defaultdict(dict)
    for line in open(path):
        name, band, n, tps, p50, p95, err = line.rstrip("\n").split("\t")
        rows[band][name] = (float(tps), float(p50), float(p95))
    print("### %s" % os.path.basename(path)[8:-4])
    sides = ["onemap cache 0", "onemap metatiled", "MapServer warm", "MapServer meta", "MapServer CGI"]
    ratios = [("onemap metatiled", "MapServer meta"), ("onemap metatiled", "MapServer warm"),
              ("onemap cache 0", "MapServer warm"), ("onemap metatiled", "MapServer CGI")]
    short = lambda k: k.replace("onemap ", "").replace("MapServer ", "MS ")
    print("| zoom | " + " | ".join(sides) + " | " + " | ".join("%s ÷ %s" % (short(a), short(b)) for a, b in ratios) + " |")
    print("|---" * (1 + len(sides) + len(ratios)) + "|")
    for band, r in rows.items():
        cells = ["%.1f/s (p50 %.1f, p95 %.1f ms)" % r[k] for k in sides]
        cells += ["%.2f×" % (r[a][0] / r[b][0]) for a, b in ratios]
        print("| %s | %s |" % (band, " | ".join(cells)))
PY
'
