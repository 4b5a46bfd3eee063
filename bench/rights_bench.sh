#!/usr/bin/env bash
# The cost of rights on cached tiles (issue 15): the same cached basemap tiles from two servers
# on the same database, one with the shipped configuration (no rights) and one with departments,
# layer rights and keys configured, asked by wrk at 256 connections in interleaved rounds:
#   none    — no rights configured, no key (the baseline);
#   public  — rights configured, no key (the view without farmland and grid);
#   keyed   — rights configured, X-Onemap-Key of natural_resources on every request (key checked,
#             department looked up in the in-process directory, its view of the catalog, its cache
#             entries). Its view has every layer, so it is sent the very bytes `none` is (checked):
#             the difference is the cost of the rights, not of a different tile.
# `public` is sent smaller tiles (no farmland, reservoirs or grid): shown, not the measure.
# Each server's tiles are fetched once first (both views), so every request is a cache hit. The
# goal: keyed and public within 5 % of none (req/s). wrk shares the 2 cores with the server.
#
#   bench/rights_bench.sh [DURATION_S] [ROUNDS]   (defaults 15, 3)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
export DURATION=${1:-15} ROUNDS=${2:-3} ONEMAP_ROOT=$PWD
pg_virtualenv -t -i '--encoding=UTF8 --locale=C.UTF-8' bash -c '
set -euo pipefail
createdb rb
"$ONEMAP_ROOT/build/importers/onemap-import" -q --db dbname=rb --manifest "$ONEMAP_ROOT/data-samples/manifest.yaml" > /dev/null
WORK=$(mktemp -d /tmp/onemap-rights.XXXX)
cp "$ONEMAP_ROOT/tileserver/onemap.yaml" "$WORK/rights.yaml"
cat >> "$WORK/rights.yaml" <<YAML
departments:
  - id: natural_resources
  - id: water
access:
  default: public
  layers:
    basic_farmland: {departments: [natural_resources]}
    reservoir: {departments: [water, natural_resources]}
    grid: internal
YAML
KEY=$("$ONEMAP_ROOT/build/tileserver/onemap-server" --db dbname=rb keys create --department natural_resources 2>/dev/null)
common=(--db dbname=rb --cache-mb 256 --log-level warn)
"$ONEMAP_ROOT/build/tileserver/onemap-server" "${common[@]}" --port 18090 --config "$ONEMAP_ROOT/tileserver/onemap.yaml" &
plain=$!
"$ONEMAP_ROOT/build/tileserver/onemap-server" "${common[@]}" --port 18091 --config "$WORK/rights.yaml" &
rights=$!
trap "kill $plain $rights 2>/dev/null || true" EXIT
for port in 18090 18091; do for i in $(seq 50); do curl -sf http://127.0.0.1:$port/health >/dev/null && break; sleep 0.1; done; done
/usr/bin/python3 - "$WORK" "$KEY" <<"PY"
import http.client, math, sys
work, key = sys.argv[1], sys.argv[2]
W, E, S, N = 113.8, 114.3, 32.8, 33.1
def tx(lon, z): return int((lon + 180) / 360 * 2**z)
def ty(lat, z):
    r = math.radians(lat); return int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * 2**z)
paths = ["/tiles/basemap/%d/%d/%d.mvt" % (z, x, y) for z in range(8, 15)
         for x in range(tx(W, z), tx(E, z) + 1) for y in range(ty(N, z), ty(S, z) + 1)]
kept, differ = [], 0
for port, headers in ((18090, {}), (18091, {}), (18091, {"X-Onemap-Key": key})):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    for p in paths:
        conn.request("GET", p, headers=dict(headers, **{"Accept-Encoding": "gzip"}))
        res = conn.getresponse(); body = res.read()
        if port == 18090 and res.status == 200 and body:
            kept.append(p)
open(work + "/paths.txt", "w").write("\n".join(kept) + "\n")
# The views differ where farmland or the grid is drawn: the keyed and public tiles must differ somewhere.
a, b = http.client.HTTPConnection("127.0.0.1", 18091), http.client.HTTPConnection("127.0.0.1", 18091)
for p in kept:
    a.request("GET", p); ra = a.getresponse().read()
    b.request("GET", p, headers={"X-Onemap-Key": key}); rb = b.getresponse().read()
    differ += ra != rb
same = 0
c, k = http.client.HTTPConnection("127.0.0.1", 18090), http.client.HTTPConnection("127.0.0.1", 18091)
for p in kept:
    c.request("GET", p, headers={"Accept-Encoding": "gzip"}); rc = c.getresponse().read()
    k.request("GET", p, headers={"Accept-Encoding": "gzip", "X-Onemap-Key": key}); rk = k.getresponse().read()
    same += rc == rk
print("basemap z8-14 over central Zhumadian: %d non-empty tiles; %d differ between the public and keyed views; "
      "%d keyed tiles are the bytes of the server without rights" % (len(kept), differ, same))
if differ == 0:
    sys.exit("rights_bench: the views do not differ; rights are not in effect")
if same != len(kept):
    sys.exit("rights_bench: the keyed view must be sent the bytes of the server without rights")
PY
cat > "$WORK/paths.lua" <<LUA
local paths = {}
for line in io.lines("$WORK/paths.txt") do paths[#paths + 1] = line end
math.randomseed(42)
request = function() return wrk.format("GET", paths[math.random(#paths)]) end
LUA
runs=(none:18090: public:18091: keyed:18091:$KEY)
for round in $(seq $ROUNDS); do
  # The order turns each round (none first, then public first, then keyed first, …): a machine
  # that speeds up or slows down within a round favours no one.
  for i in 0 1 2; do
    run=${runs[$(( (i + round - 1) % 3 ))]}
    IFS=: read -r name port key <<< "$run"
    hdr=(-H "Accept-Encoding: gzip"); [ -n "$key" ] && hdr+=(-H "X-Onemap-Key: $key")
    out=$(wrk -t2 -c256 -d${DURATION}s --latency "${hdr[@]}" -s "$WORK/paths.lua" http://127.0.0.1:$port)
    rps=$(echo "$out" | sed -n "s/^Requests\/sec: *//p"); p99=$(echo "$out" | sed -n "s/^ *99% *//p")
    errs=$(echo "$out" | grep -E "Non-2xx|Socket errors" | tr -s " " | tr "\n" " " || true)
    echo "round $round $name req/s=$rps p99=$p99 $errs"
    printf "%s\t%s\t%s\t%s\n" "$round" "$name" "$rps" "$p99" >> "$WORK/results.tsv"
  done
done
/usr/bin/python3 - "$WORK/results.tsv" <<"PY"
import collections, statistics, sys
rps = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    rnd, name, r, _ = line.rstrip("\n").split("\t"); rps[name][rnd] = float(r)
rounds = sorted(rps["none"])
print("== %d rounds at 256 connections: median req/s, and the median of the ratios view / none of each round" % len(rounds))
for name in ("none", "public", "keyed"):
    m = statistics.median(rps[name].values())
    ratio = statistics.median(rps[name][r] / rps["none"][r] for r in rounds)
    print("%-7s %10.0f req/s  %5.3f" % (name, m, ratio))
PY
'
