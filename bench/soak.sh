#!/usr/bin/env bash
# Soak (issue 14): does the server's memory stay bounded while its tile cache churns?
#  - a private PostgreSQL/PostGIS (pg_virtualenv), the committed sample plus N_PARCELS generated
#    parcels as a newer dltb version (as bench/render_bench.sh imports them);
#  - onemap-server with --cache-mb CACHE_MB (64) and the basemap tileset and style;
#  - REQUESTS (500,000) loopback requests from wrk (-t2 -c2, keep-alive, Accept-Encoding: gzip),
#    each thread stopping after its share, over a seeded list of mixed requests:
#      MVT /tiles (basemap and dltb), PNG /tiles (basemap, some @2x), WMTS KVP GetTile
#      (CGCS2000Quad, PNG and MVT), WMTS RESTful GetTile (WebMercatorQuad, PNG and MVT), OGC API
#      items (a small bbox), /locate;
#    tiles come as a map client asks for them: a 4 × 3 viewport at z10–z16 panned a tile at a
#    time five times; half of these sessions start at one of 100 fixed places (hits, partly),
#    half anywhere over the city (misses, so the cache fills and then evicts all along);
#  - the server's VmRSS and /stats every SAMPLE_S seconds into $WORK/rss.csv;
#  - at the end: RSS at start / at half / at the end, the slope over the last half (Theil-Sen,
#    MB per 100k requests), the cache's own bytes (/stats), and the verdict: the median RSS of
#    the last tenth of the run within CACHE_MB + OVERHEAD_MB (the stated fixed overhead), and the
#    slope at most SLOPE_MAX.
#
#   bench/soak.sh                                   (~40 min with the defaults on 2 busy cores)
#   REQUESTS=50000 N_PARCELS=0 bench/soak.sh        (a short run on the committed sample)
#
# Environment: REQUESTS (500000), CACHE_MB (64), N_PARCELS (200000; 0 = the committed sample
# only; generated once into /tmp/onemap-bench-N as the other benches do), SAMPLE_S (5),
# OVERHEAD_MB (128, see bench/RESULTS.md), SLOPE_MAX (2), MAX_SECONDS (wrk's time bound, 3600),
# PORT (18093), SEED, ONEMAP_BUILD (build folder, default build). SERVER_PREFIX runs the server
# under a tool (e.g. "heaptrack -o /tmp/soak"); MALLOC_STATS=1 adds glibc's malloc_stats() and
# the RSS a malloc_trim(0) gives back at the end (through gdb). Variables such as
# MALLOC_ARENA_MAX set here reach the server. Exit status 1 when the verdict is not met.
set -euo pipefail
{ # read whole before it runs, so that editing this file cannot change a run under way
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
export REQUESTS=${REQUESTS:-500000} CACHE_MB=${CACHE_MB:-64} N=${N_PARCELS:-200000} SAMPLE_S=${SAMPLE_S:-5}
export OVERHEAD_MB=${OVERHEAD_MB:-128} SLOPE_MAX=${SLOPE_MAX:-2} SEED=${SEED:-14} SERVER_PREFIX=${SERVER_PREFIX:-}
export MAX_SECONDS=${MAX_SECONDS:-3600} PORT=${PORT:-18093}
export ONEMAP_ROOT=$PWD BUILD=$(cd "${ONEMAP_BUILD:-build}" && pwd)
for tool in "$BUILD/tileserver/onemap-server" "$BUILD/importers/onemap-import"; do
  [ -x "$tool" ] || { echo "soak: build $tool first" >&2; exit 1; }
done
export DATA=${ONEMAP_BENCH_DATA:-/tmp/onemap-bench-$N}
if [ "$N" -gt 0 ] && [ ! -f "$DATA/natural-resources/dltb_2023.shp" ]; then
  /usr/bin/python3 data-samples/generate.py --out "$DATA" --parcels "$N" > /dev/null
fi
export WORK=$(mktemp -d /tmp/onemap-soak.XXXX)
chmod 755 "$WORK"

# The request list: one path a line, the kinds interleaved in fixed shares (each kind keeps to
# its share of the requests made so far), tiles a panning session at a time.
/usr/bin/python3 - "$REQUESTS" "$SEED" "$WORK" <<'PY'
import collections, math, random, sys
total, seed, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rnd = random.Random(seed)
W, E, S, N = 113.10, 115.22, 32.28, 33.53   # Zhumadian
SHARES = {"mvt": 0.25, "mvt-dltb": 0.05, "png": 0.20, "png@2x": 0.02, "wmts-kvp": 0.10, "wmts-rest": 0.08,
          "ogc-items": 0.15, "locate": 0.15}
HOT = 0.5   # share of sessions (and single requests) around the fixed places
PAN_STEPS = 5
PLACES = [(rnd.uniform(W, E), rnd.uniform(S, N)) for _ in range(100)]
def mercator(lon, lat, z):
    r = math.radians(lat)
    return (int((lon + 180) / 360 * 2**z), int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * 2**z))
def cgcs2000(lon, lat, level):   # CGCS2000Quad: 2^L × 2^(L-1) tiles of 180/2^(L-1) degrees
    span = 180 / 2**(level - 1)
    return int((lon + 180) / span), int((90 - lat) / span)
def where():
    return rnd.choice(PLACES) if rnd.random() < HOT else (rnd.uniform(W, E), rnd.uniform(S, N))
def session(kind):   # a map user: a 4 x 3 viewport, panned a tile at a time PAN_STEPS times
    lon, lat = where()
    z = rnd.choices(range(10, 17), weights=(1, 1, 2, 2, 3, 3, 3))[0]   # towards the streets
    if kind == "mvt-dltb":
        z = max(z, 12)
    if kind == "wmts-kvp":   # CGCS2000Quad level L draws what Web Mercator z = L draws here
        x0, y0 = cgcs2000(lon, lat, z)
    else:
        x0, y0 = mercator(lon, lat, z)
    fmt = rnd.choice(("png", "mvt"))
    sx, sy = rnd.choice([(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1) if a or b])
    for step in range(PAN_STEPS + 1):
        for dy in (-1, 0, 1):
            for dx in (-2, -1, 0, 1):
                x, y = x0 + sx * step + dx, y0 + sy * step + dy
                if kind == "mvt":
                    yield "/tiles/basemap/%d/%d/%d.mvt" % (z, x, y)
                elif kind == "mvt-dltb":
                    yield "/tiles/dltb/%d/%d/%d.mvt" % (z, x, y)
                elif kind == "png":
                    yield "/tiles/basemap/%d/%d/%d.png" % (z, x, y)
                elif kind == "png@2x":
                    yield "/tiles/basemap/%d/%d/%d@2x.png" % (z, x, y)
                elif kind == "wmts-kvp":
                    yield ("/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=basemap&STYLE=default"
                           "&TILEMATRIXSET=CGCS2000Quad&TILEMATRIX=%d&TILEROW=%d&TILECOL=%d&FORMAT=%s"
                           % (z, y, x, "image/png" if fmt == "png" else "application/vnd.mapbox-vector-tile"))
                else:
                    yield "/wmts/1.0.0/basemap/default/WebMercatorQuad/%d/%d/%d.%s" % (z, y, x, fmt)
def single(kind):
    lon, lat = where()
    if kind == "locate":
        yield "/locate?lon=%.6f&lat=%.6f" % (lon, lat)
    else:
        layer = rnd.choices(("dltb", "grid", "admin_village", "reservoir"), weights=(6, 2, 1, 1))[0]
        d = rnd.uniform(0.002, 0.02)
        yield "/ogc/collections/%s/items?bbox=%.5f,%.5f,%.5f,%.5f&limit=%d" % (
            layer, lon - d, lat - d, lon + d, lat + d, rnd.choice((10, 50, 100)))
counts, paths = collections.Counter(), []
while len(paths) < total:
    kind = max(SHARES, key=lambda k: SHARES[k] * (len(paths) + 1) - counts[k])
    for p in (single(kind) if kind in ("locate", "ogc-items") else session(kind)):
        if len(paths) < total:
            paths.append(p)
            counts[kind] += 1
open(work + "/paths.txt", "w").write("\n".join(paths) + "\n")
with open(work + "/kinds.txt", "w") as f:
    f.write("requests by kind: " + ", ".join("%s %d" % (k, counts[k]) for k in SHARES) +
            "; %d distinct paths of %d\n" % (len(set(paths)), len(paths)))
PY
cat "$WORK/kinds.txt"

# wrk: each thread takes every other line and stops after its share, so exactly REQUESTS
# requests are sent; status classes are counted per thread and summed at the end.
cat > "$WORK/soak.lua" <<LUA
local paths = {}
for line in io.lines("$WORK/paths.txt") do paths[#paths + 1] = line end
local threads, made = {}, 0
function setup(thread)
  thread:set("id", made)
  made = made + 1
  threads[#threads + 1] = thread
end
function init(args)
  nthreads = 2
  next_i, answered = id + 1, 0
  quota = math.floor(#paths / nthreads) + ((id < #paths % nthreads) and 1 or 0)
  s2, s3, s4, s5 = 0, 0, 0, 0
end
local kinds = {"png", "mvt", "wmts", "ogc", "locate"}
local function kind_of(p)
  if p:sub(1, 7) == "/locate" then return "locate" elseif p:sub(1, 4) == "/ogc" then return "ogc"
  elseif p:sub(1, 5) == "/wmts" then return "wmts" elseif p:sub(-4) == ".png" then return "png" else return "mvt" end
end
function request()  -- one connection a thread, no pipelining: answers come in this order
  local p = paths[next_i]
  next_i = next_i + nthreads
  if p == nil then next_i = id + 1; p = paths[next_i] end
  last = p
  return wrk.format("GET", p)
end
function response(status, headers, body)
  answered = answered + 1
  if status < 300 then s2 = s2 + 1 elseif status < 400 then s3 = s3 + 1
  elseif status < 500 then s4 = s4 + 1 else s5 = s5 + 1 end
  if status >= 400 then
    local k = "e_" .. kind_of(last)
    _G[k] = (_G[k] or 0) + 1
  end
  if answered >= quota and not finished then
    finished = true  -- wrk itself runs to -d: the shell interrupts it once every thread is done
    io.open("$WORK/done." .. id, "w"):close()
    wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  local t = {0, 0, 0, 0}
  for _, th in ipairs(threads) do
    t[1] = t[1] + th:get("s2"); t[2] = t[2] + th:get("s3"); t[3] = t[3] + th:get("s4"); t[4] = t[4] + th:get("s5")
  end
  local e = {}
  for _, k in ipairs(kinds) do
    local n = 0
    for _, th in ipairs(threads) do n = n + (th:get("e_" .. k) or 0) end
    e[#e + 1] = k .. " " .. n
  end
  io.write(string.format("statuses: 2xx %d, 3xx %d, 4xx %d, 5xx %d (4xx/5xx by kind: %s); %d requests in %.1f s = %.0f req/s\n",
    t[1], t[2], t[3], t[4], table.concat(e, ", "), summary.requests, summary.duration / 1e6,
    summary.requests / (summary.duration / 1e6)))
end
LUA

status=0
pg_virtualenv -t -i '--encoding=UTF8 --locale=C.UTF-8' -o 'shared_buffers=512MB' -o 'max_wal_size=4GB' \
  -o 'maintenance_work_mem=512MB' bash -c '
set -euo pipefail
cd "$ONEMAP_ROOT"
createdb soak
import_data() { "$BUILD/importers/onemap-import" -q --db dbname=soak "$@" > "$WORK/import.log" 2>&1 || { cat "$WORK/import.log"; exit 1; }; }
import_data --manifest data-samples/manifest.yaml
if [ "$N" -gt 0 ]; then
  import_data --layer dltb --valid-from 2023-12-31 --encoding GBK --id-field BSM "$DATA/natural-resources/dltb_2023.shp"
fi
echo "data: $(psql -d soak -Atc "SELECT format(\$\$%s layers, %s versions\$\$, count(DISTINCT layer), count(*)) FROM onemap.layer_version") "\
"(dltb today: $(psql -d soak -Atc "SELECT table_name FROM onemap.version_as_of(\$\$dltb\$\$, current_date)"))"
$SERVER_PREFIX "$BUILD/tileserver/onemap-server" --db dbname=soak --port $PORT --cache-mb "$CACHE_MB" --log-level warn \
  --config tileserver/onemap.yaml --styles styles > "$WORK/server.log" 2>&1 &
launched=$!
sampler=
server=
cleanup() { # the server itself first: a wrapper (SERVER_PREFIX) waits for it and then writes its report
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
  kill "${server:-$launched}" 2>/dev/null || true; wait "$launched" 2>/dev/null || true; }
trap cleanup EXIT
for i in $(seq 300); do curl -sf http://127.0.0.1:$PORT/health >/dev/null && break; sleep 0.1; done
curl -sf http://127.0.0.1:$PORT/health >/dev/null || { echo "onemap-server did not start" >&2; cat "$WORK/server.log"; exit 1; }
# The server itself (SERVER_PREFIX may have started it as a child of a wrapper).
server=$(pgrep -n -f "onemap-server --db dbname=soak --port $PORT" || echo "$launched")
echo "server pid $server ($(readlink /proc/$server/exe)); cache $CACHE_MB MB; ${MALLOC_ARENA_MAX:+MALLOC_ARENA_MAX=$MALLOC_ARENA_MAX }requests $REQUESTS"

# Sampler: seconds, requests answered (the front end'"'"'s counter), VmRSS, cache bytes and entries.
/usr/bin/python3 - "$server" "$PORT" "$SAMPLE_S" "$WORK/rss.csv" <<"PY" &
import http.client, json, os, sys, time
pid, port, every, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
start = time.monotonic()
with open(out, "w") as f:
    f.write("seconds,requests,rss_mb,cache_mb,cache_entries,hits,misses,evictions\n")
    while os.path.exists("/proc/" + pid):
        try:
            rss = [l for l in open("/proc/%s/status" % pid) if l.startswith("VmRSS:")][0].split()[1]
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/stats")
            s = json.loads(c.getresponse().read())
            c.close()
        except (OSError, IndexError, ValueError):
            break
        k = s["cache"]
        f.write("%.1f,%d,%.1f,%.2f,%d,%d,%d,%d\n" % (time.monotonic() - start, s["http"]["requests"], int(rss) / 1024,
                k["bytes"] / 2**20, k["entries"], k["hits"], k["misses"], k["evictions"]))
        f.flush()
        time.sleep(every)
PY
sampler=$!
sleep 1
wrk -t2 -c2 -d${MAX_SECONDS}s --timeout 60s -H "Accept-Encoding: gzip" -s "$WORK/soak.lua" http://127.0.0.1:$PORT \
  > "$WORK/wrk.txt" 2>&1 &
loader=$!
while kill -0 $loader 2>/dev/null && [ "$(ls "$WORK" | grep -c "^done\.")" -lt 2 ]; do sleep 0.2; done
kill -INT $loader 2>/dev/null || true   # SIGINT: wrk stops, prints its summary and runs done()
wait $loader || true
sleep "$SAMPLE_S"; sleep 1
kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; sampler=
grep -E "statuses|Latency|Socket errors|Non-2xx" "$WORK/wrk.txt" | sed "s/^ *//"
echo "server: $(grep -E "VmHWM" /proc/$server/status | tr -s " \t" " "); /stats $(curl -s http://127.0.0.1:$PORT/stats)"
echo "server log: $(wc -l < "$WORK/server.log") lines ($WORK/server.log)"
if [ "${MALLOC_STATS:-0}" = 1 ]; then # glibc per-arena figures, written by the server to its stderr
  gdb -q -batch -p "$server" -ex "call (void) malloc_stats()" > /dev/null 2>&1 || true
  sleep 1
  echo "glibc malloc_stats(): $(grep -c "^Arena" "$WORK/server.log") arenas;" \
    "$(grep -A2 "^Total" "$WORK/server.log" | tail -2 | tr -s " " | tr "\n" ";")"
  # What of the RSS is free memory glibc holds: malloc_trim(0) gives back every free page.
  before=$(grep VmRSS /proc/$server/status | tr -s " \t" " ")
  gdb -q -batch -p "$server" -ex "call (int) malloc_trim(0)" > /dev/null 2>&1 || true
  echo "malloc_trim(0): $before -> $(grep VmRSS /proc/$server/status | tr -s " \t" " ")"
fi
/usr/bin/python3 - "$WORK/rss.csv" "$REQUESTS" "$CACHE_MB" "$OVERHEAD_MB" "$SLOPE_MAX" <<"PY"
import csv, sys
rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(open(sys.argv[1]))]
total, cache_mb, overhead, slope_max = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
if len(rows) < 4:
    sys.exit("soak: too few samples")
end = rows[-1]
half = min(rows, key=lambda r: abs(r["requests"] - end["requests"] / 2))
full = next((r for r in rows if r["evictions"] > 0), None)
tail = [r for r in rows if r["requests"] >= half["requests"]]
n = len(tail)
# Theil-Sen: the median of the slopes between every two samples of the last half, so that a
# sample taken while a 16 MB canvas is drawn does not tilt it.
pairs = sorted((b["rss_mb"] - a["rss_mb"]) / (b["requests"] - a["requests"])
               for i, a in enumerate(tail) for b in tail[i + 1:] if b["requests"] > a["requests"])
slope = pairs[len(pairs) // 2] * 1e5 if pairs else 0.0
last = sorted(r["rss_mb"] for r in rows[-max(1, len(rows) // 10):])
fmt = lambda r: "%.0f MB at %d requests (%.0f s)" % (r["rss_mb"], r["requests"], r["seconds"])
print("RSS start %s" % fmt(rows[0]))
if full:
    print("RSS when the cache first evicted %s" % fmt(full))
print("RSS at half %s" % fmt(half))
print("RSS end %s; median of the last tenth %.0f MB; max %.0f MB" % (fmt(end), last[len(last) // 2],
                                                                     max(r["rss_mb"] for r in rows)))
print("slope over the last half: %+.2f MB per 100k requests (Theil-Sen, %d samples)" % (slope, n))
print("cache at the end: %.1f MB in %d entries (budget %d MB); hits %d, misses %d, evictions %d"
      % (end["cache_mb"], end["cache_entries"], cache_mb, end["hits"], end["misses"], end["evictions"]))
end_mb = last[len(last) // 2] # the end as the last tenth of the run saw it, not one sample
ok_budget = end_mb <= cache_mb + overhead
ok_flat = slope <= slope_max
print("verdict: end RSS %.0f MB %s %d MB (cache %d + fixed overhead %d); slope %+.2f %s %.1f MB/100k -> %s"
      % (end_mb, "<=" if ok_budget else ">", cache_mb + overhead, cache_mb, overhead, slope,
         "<=" if ok_flat else ">", slope_max, "PASS" if ok_budget and ok_flat else "FAIL"))
sys.exit(0 if ok_budget and ok_flat else 1)
PY
' || status=$?
echo "samples: $WORK/rss.csv"
exit $status
}
