#!/usr/bin/env bash
# PNG rendering from cold caches: the basemap (styles/basemap.json over the layers of
# tileserver/onemap.yaml) drawn by onemap-server beside MapServer 8 drawing the same layers with
# the same colours, widths, dashes, labels and zoom ranges (bench/mapserver/basemap.map.in,
# generated from the style), over the same requests, in one run, at CLIENTS (2) clients.
#
# Access patterns (PATTERNS, default "scattered viewports pans"), each at z12, z14, z16 (ZOOMS),
# at random places of Zhumadian: inside its bounding box (113.10–115.22 E, 32.28–33.53 N) with
# the centre of the tile, or of every screen, inside the city (the union of the sample's
# counties, where the parcels are):
#   scattered   SCATTERED (default PLACES) single tiles per zoom, no two in the same 4x4
#               metatile (fewer where the city has fewer metatiles: ~25 at z12), each a random
#               tile of a random metatile; requested one after another by the clients, each
#               taking the next when free. Metric: tiles/s, p50/p95 per tile.
#   viewports   VIEWPORTS (default PLACES/4) screens of 5x4 tiles (1280x1024) per zoom, at random
#               tile offsets (not metatile-aligned), no two touching the same metatile (fewer
#               where they do not fit: ~7 at z12). A screen's 20 tiles are requested together by
#               the clients, nearest the screen's centre first (as Leaflet orders them), each
#               client taking the next when free; the next screen starts when the last tile of
#               this one has arrived. Metric: tiles/s (tiles / sum of screen times), p50/p95 per
#               tile, and the time to complete a screen (first request's start to last
#               response's end), p50 and mean.
#   pans        PANS (default PLACES/16, at least 1) pan sequences per zoom, no two touching the
#               same metatile (1 fits at z12): a random 5x4 screen, loaded untimed (it fills the
#               client's cache), then MOVES (8) screens each moved 2 tiles from the previous,
#               east and south alternately (east first); of each new screen only the tiles not
#               on the previous one are requested (8 after an east move, 10 after a south one;
#               the rest are in the client's cache), as a viewport's are. Metric: tiles/s (new
#               tiles / sum of new-screen times), time to complete each new screen.
#   blocks      (the former benchmark; PATTERNS=blocks, zooms default to 10 12 14 16) BLOCKS (16)
#               metatile-aligned 4x4 blocks per zoom anywhere in the bounding box, their tiles
#               shuffled within each zoom:
#               every tile of each metatile is asked for once, as a stream like "scattered"
#               ("onemap" here is the former "onemap metatiled").
#
# Sides (SIDES, default "onemap warm meta"; for PATTERNS=blocks all five):
#   onemap      "onemap": a fresh onemap-server for every pattern and round, its tile cache on
#               (--cache-mb 512) and empty, so cold: what users get. HTTP, one
#               keep-alive connection per client. Before timing, the layer data the server holds
#               in memory (--tile-memory-mb, loaded in the background after a first request) is
#               loaded by a vector tile per zoom at the city centre, as on a server that has been
#               up; only the tile cache is cold (SETTLE=0: time the server just started).
#   onemap0     "onemap cache 0": --cache-mb 0, every request is drawn and nothing is kept (the
#               worst case).
#   warm        "MapServer warm": python3-mapscript, CLIENTS processes holding the parsed mapfile
#               and their PostGIS connections, one 256-px map per tile (no HTTP on this side).
#   meta        "MapServer meta": the same processes in front of a MapCache-like cache: a tile
#               not cached takes its metatile's lock, draws the 4x4 metatile (+16-px buffer),
#               cuts and PNG-encodes (PIL, zlib 6) all 16 tiles and stores them in a folder of
#               /dev/shm shared by the processes, new (cold) for every pattern and round; other
#               requests for that metatile wait on the lock, then read. For "blocks", as before:
#               one task per metatile of the list, latency per metatile.
#   cgi         "MapServer CGI": `mapserv` mode=tile&tilemode=gmap, a fresh process per tile, as
#               the Debian cgi-mapserver runs (slow: ~150 ms a tile).
#
# Rounds (ROUNDS, default 2), interleaved: round 1 runs every pattern, each over every side in
# the order of SIDES, then round 2 the same again. Each round draws its places from its own seed
# (a different set; at z12 the city is small, so sets overlap in part); within a round every side
# gets the same requests. Tables merge the rounds (tiles/s = tiles / time over both) and give
# each ratio's per-round values in brackets. Targets (issue): scattered onemap ÷ MapServer warm
# tiles/s ≥ 1; viewports screen time onemap ÷ MapServer warm ≤ 0.7; pans onemap ÷ MapServer
# warm tiles/s ≥ 1.5.
#
# Data: the committed sample (manifest), then, unless N_PARCELS is 0, the sample with its
# parcels replaced by N_PARCELS generated ones (ONEMAP_BENCH_DATA, default
# /tmp/onemap-bench-N_PARCELS, generated when missing). SAMPLE=0 skips the runs on the sample.
#
#   bench/render_bench.sh [N_PARCELS] [PLACES] [CLIENTS]     (defaults 200000, 48, 2)
#   PATTERNS="scattered viewports pans" SIDES="onemap warm meta" ROUNDS=2 ZOOMS="12 14 16"
#   SCATTERED=PLACES VIEWPORTS=PLACES/4 PANS=PLACES/16 MOVES=8 BLOCKS=16 SAMPLE=1 SETTLE=1
#   ONEMAP_BUILD=build-bench                                 (build folder, default build)
#   LOG_LEVEL=info                                           (onemap-server's, default warn)
# PLACES scales the run. With 1M parcels and SAMPLE=0, PLACES 48 took 8 min (2026-12-02, 2 cores
# shared with a build), ~2.5 min of it onemap-server loading its held layers after each of its
# 6 starts (SETTLE); the sample's runs add ~2.5 min. PLACES 24 roughly halves the timed part.
# The binaries are copied at the start, so a rebuild during the run does not change them.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
PLACES=${2:-48}
CLIENTS=${3:-2}
PATTERNS=${PATTERNS:-scattered viewports pans}
if [ "$PATTERNS" = blocks ]; then SIDES=${SIDES:-onemap0 onemap warm meta cgi}; else SIDES=${SIDES:-onemap warm meta}; fi
ROUNDS=${ROUNDS:-2}
if [ "$PATTERNS" = blocks ]; then ZOOMS=${ZOOMS:-10 12 14 16}; else ZOOMS=${ZOOMS:-12 14 16}; fi
SCATTERED=${SCATTERED:-$PLACES}
VIEWPORTS=${VIEWPORTS:-$(( PLACES / 4 > 0 ? PLACES / 4 : 1 ))}
PANS=${PANS:-$(( PLACES / 16 > 0 ? PLACES / 16 : 1 ))}
MOVES=${MOVES:-8}
BLOCKS=${BLOCKS:-16}
SAMPLE=${SAMPLE:-1}
SETTLE=${SETTLE:-1}
for p in $PATTERNS; do
  case $p in scattered|viewports|pans|blocks) ;; *) echo "render_bench: unknown pattern $p" >&2; exit 1;; esac
done
for s in $SIDES; do
  case $s in onemap|onemap0|warm|meta|cgi) ;; *) echo "render_bench: unknown side $s" >&2; exit 1;; esac
done
BUILD=$PWD/${ONEMAP_BUILD:-build}
WORK=$(mktemp -d /tmp/onemap-render.XXXX)
chmod 755 "$WORK"
mkdir "$WORK/bin"
trap 'rm -rf "$WORK/bin"' EXIT   # the results stay in $WORK
for tool in tileserver/onemap-server importers/onemap-import; do   # another build may be under way
  for i in $(seq 60); do [ -x "$BUILD/$tool" ] && cp "$BUILD/$tool" "$WORK/bin/" && break; sleep 2; done
  [ -x "$WORK/bin/${tool#*/}" ] || { echo "render_bench: build $BUILD/$tool first" >&2; exit 1; }
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

# The plans: $WORK/plan-PATTERN-rROUND.txt, in render_load.py's format ("z x y" for a stream,
# "z x y SCREEN TIMED" for screens).
/usr/bin/python3 - "$WORK" "$ROUNDS" "$PATTERNS" "$ZOOMS" "$SCATTERED" "$VIEWPORTS" "$PANS" "$MOVES" "$BLOCKS" \
  data-samples/grid/2024-07-01/county.shp <<'PY'
import math, random, sys
from osgeo import ogr
from shapely import wkb
from shapely.geometry import Point
from shapely.ops import unary_union
from shapely.prepared import prep
work, rounds, patterns, zooms = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), list(map(int, sys.argv[4].split()))
n_scattered, n_viewports, n_pans, moves, n_blocks = map(int, sys.argv[5:10])
counties = ogr.Open(sys.argv[10])   # their union (lon/lat) is the city: where the data is
city = prep(unary_union([wkb.loads(bytes(f.GetGeometryRef().ExportToWkb())) for f in counties.GetLayer()]))
def inside(x, y, z):   # tile coordinates (fractional) inside the city
    return city.contains(Point(x / 2**z * 360 - 180, math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / 2**z))))))
SEED = 20261127
W, E, S, N = 113.10, 115.22, 32.28, 33.53
SW, SH = 5, 4   # a 1280x1024 screen
def tx(lon, z): return int((lon + 180) / 360 * 2**z)
def ty(lat, z):
    r = math.radians(lat); return int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * 2**z)
def metas(tiles): return {(x // 4, y // 4) for x, y in tiles}
def screen(x0, y0): return [(x0 + i, y0 + j) for j in range(SH) for i in range(SW)]
def browser_order(tiles, x0, y0):   # nearest the screen's centre first, as Leaflet does
    cx, cy = x0 + SW / 2, y0 + SH / 2
    return sorted(tiles, key=lambda t: ((t[0] + 0.5 - cx) ** 2 + (t[1] + 0.5 - cy) ** 2, t[1], t[0]))
def place(rng, fits, used, tries=2000):   # a random place whose metatiles no earlier place touches
    for _ in range(tries):
        got = fits(rng)
        if got is not None and not (metas(got[1]) & used):
            used |= metas(got[1])
            return got[0]
    return None
counts = {}
for r in range(1, rounds + 1):
    for pattern in patterns:
        lines = []
        for z in zooms:
            rng = random.Random('%d-%s-%d-%d' % (SEED, pattern, r, z))
            x_lo, x_hi, y_lo, y_hi = tx(W, z), tx(E, z), ty(N, z), ty(S, z)
            used, n = set(), 0
            if pattern == 'blocks':
                blocks = [(bx, by) for bx in range(x_lo // 4, x_hi // 4 + 1) for by in range(y_lo // 4, y_hi // 4 + 1)]
                blocks = rng.sample(blocks, min(n_blocks, len(blocks)))
                tiles = [(bx * 4 + i, by * 4 + j) for bx, by in blocks for i in range(4) for j in range(4)]
                rng.shuffle(tiles)
                lines += ['%d %d %d' % (z, x, y) for x, y in tiles]
                n = len(blocks)
            elif pattern == 'scattered':
                blocks = [(bx, by) for bx in range(x_lo // 4, x_hi // 4 + 1) for by in range(y_lo // 4, y_hi // 4 + 1)]
                rng.shuffle(blocks)
                for bx, by in blocks:
                    if n == n_scattered:
                        break
                    tiles = [(x, y) for x in range(max(bx * 4, x_lo), min(bx * 4 + 3, x_hi) + 1)
                             for y in range(max(by * 4, y_lo), min(by * 4 + 3, y_hi) + 1) if inside(x + 0.5, y + 0.5, z)]
                    if tiles:
                        lines.append('%d %d %d' % (z, *rng.choice(tiles)))
                        n += 1
            elif pattern == 'viewports':
                def fits(rng):
                    x0, y0 = rng.randint(x_lo, x_hi - SW + 1), rng.randint(y_lo, y_hi - SH + 1)
                    return ((x0, y0), screen(x0, y0)) if inside(x0 + SW / 2, y0 + SH / 2, z) else None
                for k in range(n_viewports):
                    at = place(rng, fits, used) if x_hi - x_lo + 1 >= SW and y_hi - y_lo + 1 >= SH else None
                    if at is None:
                        break
                    lines += ['%d %d %d v%d-%d 1' % (z, x, y, z, k) for x, y in browser_order(screen(*at), *at)]
                    n += 1
            else:   # pans
                east, south = 2 * ((moves + 1) // 2), 2 * (moves // 2)
                def path(x0, y0):
                    at = [(x0, y0)]
                    for m in range(moves):
                        x, y = at[-1]
                        at.append((x + 2, y) if m % 2 == 0 else (x, y + 2))
                    return at
                def fits(rng):
                    if x_hi - x_lo + 1 < SW + east or y_hi - y_lo + 1 < SH + south:
                        return None
                    x0, y0 = rng.randint(x_lo, x_hi - SW + 1 - east), rng.randint(y_lo, y_hi - SH + 1 - south)
                    if not all(inside(x + SW / 2, y + SH / 2, z) for x, y in path(x0, y0)):
                        return None
                    return (x0, y0), [t for p in path(x0, y0) for t in screen(*p)]
                for k in range(n_pans):
                    at = place(rng, fits, used)
                    if at is None:
                        break
                    prev = None
                    for step, p in enumerate(path(*at)):
                        new = [t for t in screen(*p) if prev is None or t not in prev]
                        lines += ['%d %d %d p%d-%d-%d %d' % (z, x, y, z, k, step, step > 0)
                                  for x, y in browser_order(new, *p)]
                        prev = set(screen(*p))
                    n += 1
            counts.setdefault(pattern, {}).setdefault(z, []).append(n)
        with open('%s/plan-%s-r%d.txt' % (work, pattern, r), 'w') as f:
            f.write('\n'.join(lines) + '\n')
unit = {'blocks': '4x4 blocks', 'scattered': 'tiles in distinct metatiles', 'viewports': '5x4 screens',
        'pans': 'sequences of %d 2-tile moves' % moves}
for pattern, by_zoom in counts.items():
    print('plan %-9s per round: %s %s' % (pattern, ', '.join('z%d %s' % (z, '/'.join(map(str, n)))
                                                          for z, n in by_zoom.items()), unit[pattern]))
PY
echo "sides: $SIDES; rounds: $ROUNDS; clients: $CLIENTS; work folder: $WORK"
sed "s|@WORK@|$WORK|" bench/mapserver/mapserver.conf.in > "$WORK/mapserver.conf"

export ONEMAP_ROOT=$PWD WORK N DATA CLIENTS PATTERNS SIDES ROUNDS ZOOMS SAMPLE SETTLE MAPSERVER_CONFIG_FILE=$WORK/mapserver.conf
pg_virtualenv -t -i '--encoding=UTF8 --locale=C.UTF-8' -o 'shared_buffers=512MB' -o 'max_wal_size=4GB' \
  -o 'maintenance_work_mem=512MB' bash -c '
set -euo pipefail
cd "$ONEMAP_ROOT"
createdb rb
import_data() { "$WORK/bin/onemap-import" -q --db dbname=rb "$@" > "$WORK/import.log" 2>&1 || { cat "$WORK/import.log"; exit 1; }; }
import_data --manifest data-samples/manifest.yaml
PORT=18091
URL=http://127.0.0.1:$PORT/tiles/basemap
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true; }
trap cleanup EXIT
start_server() {
  "$WORK/bin/onemap-server" --db dbname=rb --port $PORT --cache-mb "$1" --log-level "${LOG_LEVEL:-warn}" \
    --config tileserver/onemap.yaml --styles styles &
  server=$!
  for i in $(seq 300); do curl -sf http://127.0.0.1:$PORT/health >/dev/null && return; sleep 0.1; done
  echo "onemap-server did not start" >&2; exit 1
}
stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; server=; }
run_load() { "$@" || { local rc=$?; [ $rc = 3 ] || exit $rc; }; }   # 3: done, with failed requests
stats() {   # a few fields of /stats on one line
  curl -s http://127.0.0.1:$PORT/stats | /usr/bin/python3 -c "import json, sys; d = json.load(sys.stdin)
m = d.get(\"tile_memory\", {})
print(\"tile cache hits %d, misses %d; raster %s; tile memory %d MB in %d versions, loading %d, queued %d\" % (
    d[\"cache\"][\"hits\"], d[\"cache\"][\"misses\"], json.dumps(d.get(\"raster\", {})), m.get(\"bytes\", 0) >> 20,
    m.get(\"versions\", 0), m.get(\"loading\", False), m.get(\"queued\", 0)))"
}
# The layer data a running server holds in memory (--tile-memory-mb; loaded in the background on a
# first request) is loaded before timing, as on a server that has been up: vector tiles at
# Zhumadian centre at every zoom of the plans (no PNG is cached) queue the loads, then wait.
# Only the tile cache is cold. SETTLE=0 times a server just started instead.
settle() {
  [ "$SETTLE" = 0 ] && return
  local started=$SECONDS z x y state
  for z in $ZOOMS; do
    read -r x y < <(/usr/bin/python3 -c "import sys; z = int(sys.argv[1]); print(418 * 2 ** (z - 9), 206 * 2 ** (z - 9))" $z)
    curl -s -o /dev/null "$URL/$z/$x/$y.mvt"
  done
  for i in $(seq 1800); do
    state=$(stats)
    case $state in *"loading 0, queued 0"*) break;; esac
    sleep 0.1
  done
  echo "  settled in $((SECONDS - started)) s: $state"
}
server_note() {
  echo "  onemap-server: peak RSS $(awk "/VmHWM/ {print \$2, \$3}" /proc/$server/status); $(stats)"
}

phase() {   # phase NAME: every pattern, side and round on the data now in the database
  local name=$1 rec=$WORK/results-$1.jsonl
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

  local round pattern side plan started
  for round in $(seq "$ROUNDS"); do
    for pattern in $PATTERNS; do
      plan=$WORK/plan-$pattern-r$round.txt
      started=$SECONDS
      echo "-- round $round, $pattern"
      for side in $SIDES; do
        local load=(run_load /usr/bin/python3 bench/render_load.py --plan "$plan" --clients "$CLIENTS" --record "$rec"
                    --pattern "$pattern" --round "$round")
        case $side in
          onemap|onemap0)
            start_server "$([ $side = onemap ] && echo 512 || echo 0)"
            code=$(curl -s -o "$WORK/probe.png" -w "%{http_code} %{content_type}" "$URL/9/418/206.png")
            [ "$code" = "200 image/png" ] || { echo "onemap PNG endpoint: $code" >&2; exit 1; }
            settle
            "${load[@]}" --name "$([ $side = onemap ] && echo onemap || echo "onemap cache 0")" onemap "$URL"
            server_note
            stop_server;;
          warm) "${load[@]}" --name "MapServer warm" mapscript "$WORK/basemap.map";;
          meta) "${load[@]}" --name "MapServer meta" mapscript-metatile "$WORK/basemap.map";;
          cgi) "${load[@]}" --name "MapServer CGI" mapserv "$WORK/basemap.map";;
        esac
      done
      echo "   ($((SECONDS - started)) s)"
    done
  done

  # Rough correctness: the same tiles from both at the largest reservoir, z12 over a point inside
  # it, z15 over a vertex of its shore.
  start_server 512
  local reservoir
  reservoir=$(psql -d rb -Atc "SELECT table_name FROM onemap.version_as_of(\$\$reservoir\$\$, current_date)")
  for z in 12 15; do
    read -r lon lat < <(psql -d rb -Atc "SELECT ST_X(p), ST_Y(p) FROM (SELECT CASE WHEN $z < 15
        THEN ST_PointOnSurface(geom) ELSE ST_PointN(ST_ExteriorRing(ST_GeometryN(geom, 1)), 1) END AS p
        FROM onemap_data.$reservoir ORDER BY ST_Area(geom) DESC LIMIT 1) t" | tr "|" " ")
    read -r x y < <(/usr/bin/python3 -c "import math,sys; lon,lat,z=map(float,sys.argv[1:]); r=math.radians(lat)
print(int((lon+180)/360*2**z), int((1-math.log(math.tan(r)+1/math.cos(r))/math.pi)/2*2**z))" "$lon" "$lat" $z)
    curl -sf -o "/tmp/onemap-render-$name-onemap-z$z.png" $URL/$z/$x/$y.png
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

phases=()
if [ "$N" -eq 0 ] || [ "$SAMPLE" != 0 ]; then phase sample; phases+=("$WORK/results-sample.jsonl"); fi
if [ "$N" -gt 0 ]; then
  import_data --layer dltb --valid-from 2023-12-31 --encoding GBK --id-field BSM "$DATA/natural-resources/dltb_2023.shp"
  phase "parcels$N"
  phases+=("$WORK/results-parcels$N.jsonl")
fi

echo
/usr/bin/python3 - "${phases[@]}" <<PY
import collections, json, os, sys
ORDER = ["onemap", "onemap cache 0", "MapServer warm", "MapServer meta", "MapServer CGI"]
TITLE = {"scattered": "scattered single tiles", "viewports": "viewports (5x4 screens)",
         "pans": "pans (new tiles of screens moved 2 tiles)", "blocks": "contiguous metatile blocks"}
def pct(s, p): return s[min(len(s) - 1, int(p * len(s)))] if s else float("nan")
def merge(recs):   # one side, pattern and zoom over the rounds
    tiles, secs = sum(r["tiles"] for r in recs), sum(r["secs"] for r in recs)
    ms = sorted(m for r in recs for m in r["ms"])
    sc = sorted(m for r in recs for m in r["screens_ms"])
    return {"tps": tiles / secs if secs else 0.0, "p50": pct(ms, 0.5), "p95": pct(ms, 0.95),
            "kb": sum(b for r in recs for b in r["bytes"]) / 1024 / max(tiles, 1), "errors": sum(r["errors"] for r in recs),
            "sp50": pct(sc, 0.5), "smean": sum(sc) / len(sc) if sc else float("nan"), "screens": len(sc),
            "unit": recs[0]["unit"], "tiles": tiles}
def screen_mean(r): return sum(r["screens_ms"]) / len(r["screens_ms"]) if r["screens_ms"] else float("nan")
def ratio(recs, a, b, f, agg):
    """The ratio over the rounds merged, then per round in brackets."""
    if a not in recs or b not in recs:
        return "–"
    whole = agg(merge(recs[a])) / agg(merge(recs[b]))
    rounds = sorted(set(r["round"] for r in recs[a]) & set(r["round"] for r in recs[b]))
    per = [f(next(r for r in recs[a] if r["round"] == k)) / f(next(r for r in recs[b] if r["round"] == k)) for k in rounds]
    return "**%.2f×** (%s)" % (whole, ", ".join("%.2f" % v for v in per))
tps = lambda r: r["tiles"] / r["secs"]
for path in sys.argv[1:]:
    recs = collections.defaultdict(lambda: collections.defaultdict(lambda: collections.defaultdict(list)))
    for line in open(path):
        r = json.loads(line)
        recs[r["pattern"]][r["zoom"]][r["name"]].append(r)
    data = os.path.basename(path)[8:-6]
    for pattern, by_zoom in recs.items():
        sides = [s for s in ORDER if any(s in v for v in by_zoom.values())]
        screens = pattern in ("viewports", "pans")
        if pattern == "scattered":
            ratios = [("onemap ÷ MS warm tiles/s (≥ 1)", "onemap", "MapServer warm", tps, lambda m: m["tps"]),
                      ("onemap ÷ MS meta tiles/s", "onemap", "MapServer meta", tps, lambda m: m["tps"])]
        elif pattern == "viewports":
            ratios = [("screen time onemap ÷ MS warm, mean (≤ 0.7)", "onemap", "MapServer warm", screen_mean, lambda m: m["smean"]),
                      ("screen time onemap ÷ MS warm, p50", "onemap", "MapServer warm",
                       lambda r: pct(sorted(r["screens_ms"]), 0.5), lambda m: m["sp50"]),
                      ("screen time onemap ÷ MS meta, mean", "onemap", "MapServer meta", screen_mean, lambda m: m["smean"])]
        elif pattern == "pans":
            ratios = [("onemap ÷ MS warm tiles/s (≥ 1.5)", "onemap", "MapServer warm", tps, lambda m: m["tps"]),
                      ("new-screen time onemap ÷ MS warm, mean", "onemap", "MapServer warm", screen_mean, lambda m: m["smean"]),
                      ("onemap ÷ MS meta tiles/s", "onemap", "MapServer meta", tps, lambda m: m["tps"])]
        else:
            ratios = [("onemap ÷ MS meta tiles/s", "onemap", "MapServer meta", tps, lambda m: m["tps"]),
                      ("onemap ÷ MS warm tiles/s", "onemap", "MapServer warm", tps, lambda m: m["tps"]),
                      ("cache 0 ÷ MS warm tiles/s", "onemap cache 0", "MapServer warm", tps, lambda m: m["tps"])]
        print("### %s — %s" % (TITLE[pattern], data))
        print()
        print("Cells: tiles/s; p50 / p95 ms per %s%s; mean PNG KB per tile; [tiles]." %
              ("request (MS meta in blocks: per metatile)" if pattern == "blocks" else "tile",
               "; screen p50 / mean ms" if screens else ""))
        print()
        print("| zoom | " + " | ".join(sides) + " | " + " | ".join(r[0] for r in ratios) + " |")
        print("|---" * (1 + len(sides) + len(ratios)) + "|")
        for band, by_side in by_zoom.items():
            cells = []
            for s in sides:
                if s not in by_side:
                    cells.append("–")
                    continue
                m = merge(by_side[s])
                c = "%.1f/s; %.1f / %.1f ms" % (m["tps"], m["p50"], m["p95"])
                if screens:
                    c += "; screen %.0f / %.0f ms" % (m["sp50"], m["smean"])
                c += "; %.1f KB [%d]" % (m["kb"], m["tiles"])
                if m["errors"]:
                    c += " **%d errors**" % m["errors"]
                cells.append(c)
            cells += [ratio(by_side, a, b, f, agg) for _, a, b, f, agg in ratios]
            print("| %s | %s |" % (band, " | ".join(cells)))
        print()
PY
'
