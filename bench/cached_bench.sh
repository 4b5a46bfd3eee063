#!/usr/bin/env bash
# Cached tile serving (issue 5): tiles served from onemap-server's cache, beside nginx serving the
# very same bytes from disk, both asked with `Accept-Encoding: gzip` as browsers ask:
#  - onemap answers from its cache with the tile's gzipped body (or the plain one when gzip does
#    not make it smaller);
#  - nginx has each tile as it came from onemap: the plain body at PATH and, when onemap sent it
#    gzipped, the gzipped bytes at PATH.gz, served by gzip_static (Content-Encoding: gzip), with
#    sendfile and open_file_cache (its best setup for many small files);
#  - wrk -t2 with keep-alive over the same random tile paths at 32, 256 and 1000 connections,
#    ROUNDS interleaved rounds (onemap, nginx, onemap, nginx …) per level;
#  - a summary table of medians and the ratios onemap ÷ nginx (req/s and p99) per level, and the
#    server's peak RSS against its cache budget (--cache-mb CACHE_MB: 64, or 1024 with
#    PARCELS_TILES=1, whose ~7,400 tiles take ~470 MB plain and gzipped; the cache must hold the
#    whole set or the comparison is of tile building, not serving).
# wrk shares the 2 cores with whichever server it drives (the same share for both).
#
#   bench/cached_bench.sh [DURATION_S] [DATA_DIR]   (defaults 15, data-samples/)
#
# Environment: ROUNDS (default 2); PARCELS_TILES=1 serves the dltb (land survey parcels) layer
# at z12–16 (the tiles its parcels touch, at most 2,000 a level) instead of the basemap at
# z8–14 over central Zhumadian. The committed sample has 2,000 parcels over the whole city, so
# its parcel tiles are small; DATA_DIR may be a set made by
# `data-samples/generate.py --out DIR --parcels N` for denser, bigger ones.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null && command -v nginx >/dev/null || apt-get install -y -qq wrk nginx-light >/dev/null
export DURATION=${1:-15} ONEMAP_ROOT=$PWD ROUNDS=${ROUNDS:-2} PARCELS_TILES=${PARCELS_TILES:-0}
if [ "$PARCELS_TILES" = 1 ]; then export CACHE_MB=${CACHE_MB:-1024}; else export CACHE_MB=${CACHE_MB:-64}; fi
export DATA=${2:-$PWD/data-samples}
pg_virtualenv -t -i '--encoding=UTF8 --locale=C.UTF-8' bash -c '
set -euo pipefail
createdb cb
"$ONEMAP_ROOT/build/importers/onemap-import" -q --db dbname=cb --manifest "$DATA/manifest.yaml" > /dev/null
WORK=$(mktemp -d /tmp/onemap-cached.XXXX); chmod 755 "$WORK"
"$ONEMAP_ROOT/build/tileserver/onemap-server" --db dbname=cb --port 18080 --cache-mb "$CACHE_MB" --log-level warn \
  --config "$ONEMAP_ROOT/tileserver/onemap.yaml" &
server=$!
cleanup() { # the tile files (up to ~60 MB) go; the rest of $WORK stays for inspection
  kill "$server" 2>/dev/null || true; [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK/root"; }
trap cleanup EXIT
for i in $(seq 50); do curl -sf http://127.0.0.1:18080/health >/dev/null && break; sleep 0.1; done
# Every tile of the set; keep the non-empty ones, save their bytes as onemap sent them, plain and
# (asked with Accept-Encoding: gzip) gzipped. This also fills the server tile cache.
/usr/bin/python3 - "$WORK" "$PARCELS_TILES" <<"PY"
import http.client, math, os, random, subprocess, sys
work, parcels = sys.argv[1], sys.argv[2] == "1"
conn = http.client.HTTPConnection("127.0.0.1", 18080)
def get(path, gzip):
    conn.request("GET", path, headers={"Accept-Encoding": "gzip" if gzip else "identity"})
    res = conn.getresponse()
    return res.status, res.getheader("Content-Encoding"), res.read()
if parcels:
    # The tiles the parcels touch (from the bbox of each parcel), at most 2,000 a zoom level.
    sql = ("SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM (SELECT ST_Transform(geom, 4326)::box2d AS b"
           " FROM onemap_data.%s) s")
    table = subprocess.run(["psql", "-tAd", "cb", "-c", "SELECT table_name FROM onemap.version_as_of(\x27dltb\x27, current_date)"],
                           check=True, capture_output=True, text=True).stdout.strip()
    boxes = [tuple(map(float, l.split("|"))) for l in subprocess.run(
        ["psql", "-tAd", "cb", "-c", sql % table], check=True, capture_output=True, text=True).stdout.split()]
    tileset, zooms = "dltb", range(12, 17)
else:
    W, E, S, N = 113.8, 114.3, 32.8, 33.1
    boxes = [(W, S, E, N)]
    tileset, zooms = "basemap", range(8, 15)
def tx(lon, z): return int((lon + 180) / 360 * 2**z)
def ty(lat, z):
    r = math.radians(lat); return int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * 2**z)
paths, plain_bytes, gz_bytes, gz_tiles = [], 0, 0, 0
for z in zooms:
    tiles = sorted({(x, y) for w, s, e, n in boxes
                    for x in range(tx(w, z), tx(e, z) + 1) for y in range(ty(n, z), ty(s, z) + 1)})
    if len(tiles) > 2000:
        tiles = sorted(random.Random(z).sample(tiles, 2000))
    for x, y in tiles:
        p = "/tiles/%s/%d/%d/%d.mvt" % (tileset, z, x, y)
        status, _, body = get(p, False)
        if status != 200 or not body:
            continue
        status, coding, gz = get(p, True)
        if status != 200:
            sys.exit("cached_bench: %s answered %d with Accept-Encoding: gzip" % (p, status))
        os.makedirs(os.path.dirname(work + "/root" + p), exist_ok=True)
        open(work + "/root" + p, "wb").write(body)
        if coding == "gzip":
            open(work + "/root" + p + ".gz", "wb").write(gz)
            gz_tiles += 1
        paths.append(p)
        plain_bytes += len(body)
        gz_bytes += len(gz)
if not paths:
    sys.exit("cached_bench: no non-empty tile")
open(work + "/paths.txt", "w").write("\n".join(paths) + "\n")
print("%s tiles z%d-%d: %d, %d gzipped by onemap; plain %.0f KB (mean %.1f KB), as sent with gzip %.0f KB (mean %.1f KB)"
      % (tileset, zooms[0], zooms[-1], len(paths), gz_tiles, plain_bytes / 1024, plain_bytes / len(paths) / 1024,
         gz_bytes / 1024, gz_bytes / len(paths) / 1024))
PY
cat > "$WORK/nginx.conf" <<NGX
worker_processes 2; worker_rlimit_nofile 20000; pid $WORK/nginx.pid; error_log $WORK/error.log;
events { worker_connections 8192; }
http { access_log off; sendfile on; tcp_nopush off; tcp_nodelay on; keepalive_requests 1000000; keepalive_timeout 75s;
  open_file_cache max=20000 inactive=600s; open_file_cache_valid 600s; open_file_cache_errors on;
  gzip_static on; gzip_vary on;
  types { application/vnd.mapbox-vector-tile mvt; }
  server { listen 127.0.0.1:18081; root $WORK/root; } }
NGX
nginx -c "$WORK/nginx.conf"
# Both sides answer with the same coding and bytes: headers of the first tile, then the bodies of
# up to 200 tiles compared byte for byte.
first=$(head -1 "$WORK/paths.txt")
for target in onemap:18080 nginx:18081; do
  echo "curl -I $first ($target, Accept-Encoding: gzip): $(curl -sI -H "Accept-Encoding: gzip" "http://127.0.0.1:${target##*:}$first" \
    | grep -iE "^(HTTP|Content-Encoding|Content-Length|Content-Type)" | tr -d "\r" | tr "\n" " ")"
done
/usr/bin/python3 - "$WORK" <<"PY"
import http.client, sys
work = sys.argv[1]
paths = open(work + "/paths.txt").read().split()[:200]
seen, bodies = {}, {}
for name, port in (("onemap", 18080), ("nginx", 18081)):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for p in paths:
        conn.request("GET", p, headers={"Accept-Encoding": "gzip"})
        res = conn.getresponse()
        bodies[name, p] = (res.status, res.getheader("Content-Encoding"), res.read())
same = sum(bodies["onemap", p] == bodies["nginx", p] for p in paths)
gz = sum(bodies["nginx", p][1] == "gzip" for p in paths)
print("check: %d of %d tiles answered alike (status, Content-Encoding, bytes); %d gzipped" % (same, len(paths), gz))
if same != len(paths) or gz == 0:
    sys.exit("cached_bench: onemap and nginx do not send the same bytes")
PY
cat > "$WORK/paths.lua" <<LUA
local paths = {}
for line in io.lines("$WORK/paths.txt") do paths[#paths + 1] = line end
math.randomseed(42)
request = function() return wrk.format("GET", paths[math.random(#paths)]) end
LUA
curl -s http://127.0.0.1:18080/stats; echo
for c in 32 256 1000; do
  for round in $(seq $ROUNDS); do
    for target in onemap:18080 nginx:18081; do
      name=${target%%:*}; port=${target##*:}
      out=$(wrk -t2 -c$c -d${DURATION}s --latency -H "Accept-Encoding: gzip" -s "$WORK/paths.lua" http://127.0.0.1:$port)
      rps=$(echo "$out" | sed -n "s/^Requests\/sec: *//p")
      p99=$(echo "$out" | sed -n "s/^ *99% *//p")
      errs=$(echo "$out" | grep -E "Non-2xx|Socket errors" | tr -s " " | tr "\n" " " || true)
      echo "round $round $name c=$c req/s=$rps p99=$p99 $errs"
      printf "%s\t%s\t%s\t%s\t%s\n" $c $round $name "$rps" "$p99" >> "$WORK/results.tsv"
    done
  done
done
echo "onemap: $(grep VmHWM /proc/$server/status) with --cache-mb $CACHE_MB; $(curl -s http://127.0.0.1:18080/stats)"
/usr/bin/python3 - "$WORK/results.tsv" <<"PY"
import collections, re, statistics, sys
def ms(t):  # wrk latency: 812.00us, 1.23ms, 1.02s, 2.00m
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", t.strip())
    return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[m.group(2)] if m else float("nan")
rps, p99 = collections.defaultdict(list), collections.defaultdict(list)
for line in open(sys.argv[1]):
    c, _, name, r, p = line.rstrip("\n").split("\t")
    rps[int(c), name].append(float(r) if r else float("nan"))
    p99[int(c), name].append(ms(p))
print("== summary (medians of the rounds; ratio = onemap / nginx)")
print("%6s | %10s %10s %6s | %9s %9s %6s" % ("conns", "onemap r/s", "nginx r/s", "ratio", "onemap p99", "nginx p99", "ratio"))
for c in sorted({c for c, _ in rps}):
    o, n = statistics.median(rps[c, "onemap"]), statistics.median(rps[c, "nginx"])
    op, np_ = statistics.median(p99[c, "onemap"]), statistics.median(p99[c, "nginx"])
    print("%6d | %10.0f %10.0f %6.2f | %8.2fms %8.2fms %6.2f" % (c, o, n, o / n, op, np_, op / np_))
PY
'
