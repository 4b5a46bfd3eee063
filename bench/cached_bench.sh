#!/usr/bin/env bash
# Cached tile serving (issue 5): the sample's basemap tiles served from onemap-server's cache,
# beside nginx serving the very same bytes from disk, driven by wrk with keep-alive over the
# same random tile paths at 32 and 256 connections; plus the server's peak RSS against its
# cache budget.
#
#   bench/cached_bench.sh [DURATION_S]        (default 15)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null && command -v nginx >/dev/null || apt-get install -y -qq wrk nginx-light >/dev/null
export DURATION=${1:-15} ONEMAP_ROOT=$PWD
pg_virtualenv -t -i '--encoding=UTF8 --locale=C.UTF-8' bash -c '
set -euo pipefail
createdb cb
"$ONEMAP_ROOT/build/importers/onemap-import" -q --db dbname=cb --manifest "$ONEMAP_ROOT/data-samples/manifest.yaml" > /dev/null
WORK=$(mktemp -d /tmp/onemap-cached.XXXX); chmod 755 "$WORK"
"$ONEMAP_ROOT/build/tileserver/onemap-server" --db dbname=cb --port 18080 --cache-mb 64 --log-level warn \
  --config "$ONEMAP_ROOT/tileserver/onemap.yaml" &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true; }
trap cleanup EXIT
for i in $(seq 50); do curl -sf http://127.0.0.1:18080/health >/dev/null && break; sleep 0.1; done
# Every basemap tile z8-z14 over central Zhumadian; keep the non-empty ones, save their bytes.
/usr/bin/python3 - "$WORK" <<PY
import math, os, sys, urllib.request
work = sys.argv[1]
W, E, S, N = 113.8, 114.3, 32.8, 33.1
def tx(lon, z): return int((lon + 180) / 360 * 2**z)
def ty(lat, z):
    r = math.radians(lat); return int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * 2**z)
paths = []
for z in range(8, 15):
    for x in range(tx(W, z), tx(E, z) + 1):
        for y in range(ty(N, z), ty(S, z) + 1):
            p = f"/tiles/basemap/{z}/{x}/{y}.mvt"
            r = urllib.request.urlopen("http://127.0.0.1:18080" + p)
            body = r.read()
            if r.status == 200 and body:
                os.makedirs(os.path.dirname(work + "/root" + p), exist_ok=True)
                open(work + "/root" + p, "wb").write(body)
                paths.append(p)
open(work + "/paths.txt", "w").write("\n".join(paths) + "\n")
sizes = [os.path.getsize(work + "/root" + p) for p in paths]
print(f"tiles: {len(paths)}, {sum(sizes)/1024:.0f} KB in all, mean {sum(sizes)/len(sizes)/1024:.1f} KB")
PY
cat > "$WORK/nginx.conf" <<NGX
worker_processes 2; pid $WORK/nginx.pid; error_log $WORK/error.log; events { worker_connections 4096; }
http { access_log off; sendfile on; tcp_nodelay on; keepalive_requests 1000000;
  types { application/vnd.mapbox-vector-tile mvt; }
  server { listen 127.0.0.1:18081; root $WORK/root; } }
NGX
nginx -c "$WORK/nginx.conf"
cat > "$WORK/paths.lua" <<LUA
local paths = {}
for line in io.lines("$WORK/paths.txt") do paths[#paths + 1] = line end
math.randomseed(42)
request = function() return wrk.format("GET", paths[math.random(#paths)]) end
LUA
curl -s http://127.0.0.1:18080/stats; echo
for c in 32 256; do
  for target in onemap:18080 nginx:18081; do
    name=${target%%:*}; port=${target##*:}
    out=$(wrk -t2 -c$c -d${DURATION}s --latency -s "$WORK/paths.lua" http://127.0.0.1:$port)
    rps=$(echo "$out" | sed -n "s/^Requests\/sec: *//p")
    p99=$(echo "$out" | sed -n "s/^ *99% *//p")
    errs=$(echo "$out" | grep -E "Non-2xx|Socket errors" | tr "\n" " " || true)
    echo "$name c=$c req/s=$rps p99=$p99 $errs"
  done
done
echo "onemap: $(grep VmHWM /proc/$server/status) with --cache-mb 64; $(curl -s http://127.0.0.1:18080/stats)"
'
