#!/usr/bin/env bash
# "Which grid am I in?" (issue 7), one run on the committed sample (2024 grids, 2,383 polygons):
#  - in-process: Google Benchmark BM_core_locate_point (one core);
#  - PostGIS: the same question (ST_Covers with the GiST index, smallest code) through libpq with
#    pgbench at 2, 8 and 64 clients over 20,000 seeded points, once on both cores (pgbench
#    beside PostgreSQL) and once with PostgreSQL pinned to core 1 and pgbench to core 0;
#  - HTTP: wrk at 64 keep-alive connections on GET /locate over the same points (also with a
#    browser's Accept-Encoding), beside
#      * bench/http_ceiling: a do-nothing handler on onemap's own front end and router (the same
#        Beast/Asio stack) returning 194 bytes ("ceiling-194B"), and replaying for each path the
#        very answer /locate gave ("ceiling-replay": status, type, body; bench/record_answers.py);
#      * nginx serving those same answer bodies as static files (/locate?lon=X&lat=Y →
#        a/X_Y.json, 404 answers from n/X_Y.json with status 404), sendfile and open_file_cache;
#      * the server's own GET /health;
#    three interleaved rounds with servers and wrk sharing both cores ("shared": two I/O threads
#    each, nginx two workers), three with each server pinned to core 1 and wrk to core 0
#    ("pinned": one I/O thread each, nginx one worker);
#  - latency below saturation: bench/fixed_rate at 10k and 20k req/s (open loop);
#  - a summary per placement of the goals: /locate ≥ 0.9× the replaying ceiling, ≥ 0.9× nginx,
#    and ≥ 2.5× PostGIS per core (PostGIS at its best client count in the same placement).
#
#   bench/locate_bench.sh [DURATION_S] [DATA_DIR]   (defaults 10, data-samples/)
#
# DATA_DIR may be a set made by `data-samples/generate.py --out DIR --grids 20000`.
# Environment: ROUNDS (default 3) interleaved rounds per placement.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null && command -v nginx >/dev/null || apt-get install -y -qq wrk nginx-light >/dev/null
export DURATION=${1:-10} ONEMAP_ROOT=$PWD ROUNDS=${ROUNDS:-3}
export DATA=${2:-$PWD/data-samples}
export ONEMAP_LOCATE_GRID_SHP=$DATA/grid/2024-07-01/grid.shp
echo "== in-process"
build/bench/bench_locate --benchmark_min_time=2 2>/dev/null | grep BM_
pg_virtualenv -t -i '--encoding=UTF8 --locale=C.UTF-8' -o 'max_connections=200' bash -c '
set -euo pipefail
createdb lb
"$ONEMAP_ROOT/build/importers/onemap-import" -q --db dbname=lb --manifest "$DATA/manifest.yaml" > /dev/null
echo "grids: $(psql -tAd lb -c "SELECT count(*) FROM onemap_data.grid__v2")"
WORK=$(mktemp -d /tmp/onemap-locate.XXXX); chmod 755 "$WORK"
psql -qd lb -c "SELECT setseed(0.27); CREATE TABLE pts AS SELECT g AS id, 113.1 + random() * 2.12 AS x, 32.28 + random() * 1.25 AS y FROM generate_series(1, 20000) g; ALTER TABLE pts ADD PRIMARY KEY (id)"
psql -qAtd lb -c "SELECT x || '"'"' '"'"' || y FROM pts ORDER BY id" > "$WORK/points.txt"
cat > "$WORK/locate.sql" <<SQL
\set i random(1, 20000)
SELECT (SELECT wgbm FROM onemap_data.grid__v2 WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(p.x, p.y), 4490)) ORDER BY wgbm LIMIT 1) FROM pts p WHERE p.id = :i;
SQL
# PostGIS per placement: "shared" pgbench (2 threads) beside PostgreSQL on both cores; "pinned"
# the postmaster (and so every backend it forks for pgbench) on core 1, pgbench on core 0.
postmaster=$(head -1 "$(psql -tAd lb -c "SHOW data_directory")/postmaster.pid")
for placement in shared pinned; do
  echo "== PostGIS (pgbench, prepared, $placement)"
  if [ $placement = shared ]; then pg_prefix=""; jobs=2; else taskset -a -cp 1 "$postmaster" >/dev/null; pg_prefix="taskset -c 0"; jobs=1; fi
  for c in 2 8 64; do
    tps=$($pg_prefix pgbench -n -M prepared -c $c -j $jobs -T $DURATION -f "$WORK/locate.sql" lb 2>/dev/null | grep -E "^tps" | sed "s/ (without initial connection time)//")
    echo "clients $c: $tps"
    printf "%s\t%s\t%s\n" $placement $c "$(echo "$tps" | sed -n "s/^tps = \([0-9.]*\).*/\1/p")" >> "$WORK/pg.tsv"
  done
done
taskset -a -cp 0,1 "$postmaster" >/dev/null
# Two placements of the same processes: "shared" (servers and load generator share both
# cores, as a one-box deployment) and "pinned" (each server on core 1, wrk on core 0, so the
# figures are the server alone, not the load generator).
start_servers() { # $1: taskset prefix or empty, $2: I/O threads (0 = one per core), $3: nginx config
  $1 "$ONEMAP_ROOT/build/tileserver/onemap-server" --db dbname=lb --port 18070 --config "$ONEMAP_ROOT/tileserver/onemap.yaml" \
    --log-level warn --io-threads $2 &
  server=$!
  IO_THREADS=$2 $1 "$ONEMAP_ROOT/build/bench/http_ceiling" 18071 &
  ceiling=$!
  IO_THREADS=$2 $1 "$ONEMAP_ROOT/build/bench/http_ceiling" 18072 "$WORK/answers.tsv" &
  ceiling_same=$!
  $1 nginx -c "$3"
  for i in $(seq 50); do curl -sf http://127.0.0.1:18070/health >/dev/null && break; sleep 0.1; done
  for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:18071/ && curl -s -o /dev/null http://127.0.0.1:18072/ && break; sleep 0.1; done
}
stop_servers() {
  kill "$server" "$ceiling" "$ceiling_same" 2>/dev/null || true
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  for i in $(seq 50); do [ -f "$WORK/nginx.pid" ] || break; sleep 0.1; done
}
# The 20,000 answer files take ~90 MB: removed at the end, the rest of $WORK stays for inspection.
trap "stop_servers; taskset -a -cp 0,1 $postmaster >/dev/null 2>&1 || true; rm -rf $WORK/static" EXIT
awk "{print \"/locate?lon=\" \$1 \"&lat=\" \$2}" "$WORK/points.txt" > "$WORK/paths.txt"
# onemap-server answers every path once; the replaying ceiling and nginx send back exactly those bytes.
"$ONEMAP_ROOT/build/tileserver/onemap-server" --db dbname=lb --port 18070 --config "$ONEMAP_ROOT/tileserver/onemap.yaml" --log-level warn &
server=$!
for i in $(seq 50); do curl -sf http://127.0.0.1:18070/health >/dev/null && break; sleep 0.1; done
echo "sample answer: $(curl -s "http://127.0.0.1:18070$(head -1 "$WORK/paths.txt")" | head -c 160)"
/usr/bin/python3 "$ONEMAP_ROOT/bench/record_answers.py" 127.0.0.1:18070 "$WORK/paths.txt" "$WORK/answers.tsv"
echo "recorded answers: $(wc -l < "$WORK/answers.tsv"), mean body $(awk -F "\t" "{s += length(\$4)} END {printf \"%d\", s / NR}" "$WORK/answers.tsv") characters"
kill $server; wait $server 2>/dev/null || true
# The answers as nginx files: 200 bodies in a/, the others (404: no grid covers the point) in n/,
# named after the raw query values; one content type per status, as recorded.
/usr/bin/python3 - "$WORK" <<"PY"
import collections, os, sys
work = sys.argv[1]
types, count = {}, collections.Counter()
for d in ("a", "n"):
    os.makedirs(f"{work}/static/{d}", exist_ok=True)
with open(f"{work}/answers.tsv", encoding="utf-8") as f:
    for line in f:
        status, ctype, path, body = line.rstrip("\n").split("\t", 3)
        q = dict(kv.split("=", 1) for kv in path.split("?", 1)[1].split("&"))
        if status not in ("200", "404"):
            sys.exit(f"locate_bench: answer {status} to {path}: nginx serves only 200 and 404")
        if types.setdefault(status, ctype) != ctype:
            sys.exit(f"locate_bench: two content types for status {status}: {types[status]}, {ctype}")
        d = "a" if status == "200" else "n"
        with open("%s/static/%s/%s_%s.json" % (work, d, q["lon"], q["lat"]), "wb") as out:
            out.write(body.encode("utf-8"))
        count[status] += 1
with open(work + "/types", "w") as out:
    out.write(types.get("200", "application/json") + "\n" + types.get("404", "application/problem+json") + "\n")
print("nginx files: " + ", ".join(f"{n} answers {s}" for s, n in sorted(count.items())))
PY
type200=$(sed -n 1p "$WORK/types"); type404=$(sed -n 2p "$WORK/types")
nginx_conf() { # $1: worker processes, $2: extra main-context directives
  cat > "$WORK/nginx-$1.conf" <<NGX
worker_processes $1; $2
pid $WORK/nginx.pid; error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http { access_log off; sendfile on; tcp_nodelay on; keepalive_requests 1000000;
  open_file_cache max=40000 inactive=600s; open_file_cache_valid 600s; open_file_cache_errors on;
  server { listen 127.0.0.1:18073; root $WORK/static;
    location /locate { default_type "$type200";
      try_files /a/\${arg_lon}_\${arg_lat}.json =404;
      error_page 404 /n/\${arg_lon}_\${arg_lat}.json; }
    location /n/ { internal; default_type "$type404"; } } }
NGX
}
nginx_conf 2 ""
nginx_conf 1 "worker_cpu_affinity 10;"
# Same bytes from each side: the recorded body and status, from the replaying ceiling and nginx.
start_servers "" 0 "$WORK/nginx-2.conf"
/usr/bin/python3 - "$WORK/answers.tsv" <<"PY"
import http.client, sys
rows = [l.rstrip("\n").split("\t", 3) for l in open(sys.argv[1], encoding="utf-8")]
picked = rows[:200] + [r for r in rows if r[0] != "200"][:50]
for port, name in ((18072, "ceiling-replay"), (18073, "nginx")):
    conn, bad, seen = http.client.HTTPConnection("127.0.0.1", port), 0, set()
    for status, ctype, path, body in picked:
        conn.request("GET", path)
        res = conn.getresponse()
        got = res.read()
        seen.add((res.status, res.getheader("Content-Type")))
        bad += res.status != int(status) or got != body.encode("utf-8") or res.getheader("Content-Type") != ctype
    print(f"check {name}: {len(picked) - bad} of {len(picked)} answers as recorded; {sorted(seen)}")
    if bad:
        sys.exit("locate_bench: " + name + " does not send the recorded answers")
PY
stop_servers
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
# the query), so wrk spends the same on each. "browser" is /locate asked with a browser
# Accept-Encoding (the answers are below the gzip threshold: the same bytes go back).
run_wrk() { # $1: wrk prefix, $2: threads, $3: placement, $4: round
  for target in "locate:18070:locate.lua:" "locate-browser:18070:locate.lua:gzip, deflate, br" \
                "ceiling-194B:18071:locate.lua:" "ceiling-replay:18072:locate.lua:" "nginx:18073:locate.lua:" \
                "health:18070:health.lua:"; do
    IFS=: read -r name port script accept <<< "$target"
    out=$($1 wrk -t$2 -c64 -d${DURATION}s --latency ${accept:+-H "Accept-Encoding: $accept"} -s "$WORK/$script" http://127.0.0.1:$port)
    rps=$(echo "$out" | sed -n "s/^Requests\/sec: *//p")
    p50=$(echo "$out" | sed -n "s/^ *50% *//p"); p99=$(echo "$out" | sed -n "s/^ *99% *//p")
    printf "  %-16s req/s=%-9s p50=%-8s p99=%-8s %s\n" "$name" "$rps" "$p50" "$p99" \
      "$(echo "$out" | grep -E "Non-2xx|Socket errors" | tr -s " " | tr "\n" " " || true)"
    printf "%s\t%s\t%s\t%s\t%s\t%s\n" $3 $4 $name "$rps" "$p50" "$p99" >> "$WORK/http.tsv"
  done
}
for placement in shared pinned; do
  if [ $placement = shared ]; then
    start_servers "" 0 "$WORK/nginx-2.conf"; wrk_prefix=""; threads=2
  else
    start_servers "taskset -c 1" 1 "$WORK/nginx-1.conf"; wrk_prefix="taskset -c 0"; threads=1
  fi
  for round in $(seq $ROUNDS); do
    echo "== HTTP, $placement, round $round (wrk -t$threads -c64 -d${DURATION}s)"
    run_wrk "$wrk_prefix" $threads $placement $round
  done
  stop_servers
done
# Latency below saturation: the same paths at fixed rates, open loop (bench/fixed_rate), 64
# connections, on /locate and on the replaying ceiling (shared placement).
start_servers "" 0 "$WORK/nginx-2.conf"
echo "== fixed rate (open loop, 64 connections, ${DURATION}s, shared)"
for rate in 10000 20000; do
  for name in 18070/locate 18072/ceiling-replay 18073/nginx; do
    echo "$name $("$ONEMAP_ROOT/build/bench/fixed_rate" http://127.0.0.1:${name%%/*} "$WORK/paths.txt" $rate 64 $DURATION)"
  done
done
stop_servers
/usr/bin/python3 - "$WORK" <<"PY"
import collections, statistics, sys
work = sys.argv[1]
rps = collections.defaultdict(list)
for line in open(f"{work}/http.tsv"):
    placement, _, name, r, _, _ = line.rstrip("\n").split("\t")
    if r:
        rps[placement, name].append(float(r))
pg = collections.defaultdict(dict)
for line in open(f"{work}/pg.tsv"):
    placement, clients, tps = line.rstrip("\n").split("\t")
    if tps:
        pg[placement][int(clients)] = float(tps)
cores = {"shared": 2, "pinned": 1}
def verdict(r, goal):
    return "%.2f (goal >= %s: %s)" % (r, goal, "met" if r >= goal else "NOT met")
print("== summary (medians over rounds; goals: locate >= 0.9x ceiling-replay, >= 0.9x nginx, >= 2.5x PostGIS per core)")
for placement in ("shared", "pinned"):
    med = {name: statistics.median(v) for (p, name), v in rps.items() if p == placement}
    if "locate" not in med:
        continue
    shown = "  ".join("%s %.0f" % (n, med[n]) for n in ("locate", "ceiling-replay", "nginx", "ceiling-194B", "health") if n in med)
    print("%s (server on %d core%s): req/s %s" % (placement, cores[placement], "s" if cores[placement] > 1 else "", shown))
    for peer in ("ceiling-replay", "nginx"):
        if med.get(peer):
            print("  locate / %-15s %s" % (peer + ":", verdict(med["locate"] / med[peer], 0.9)))
    if pg[placement]:
        clients, tps = max(pg[placement].items(), key=lambda kv: kv[1])
        pg_cores = 2 if placement == "shared" else 1
        per_core = med["locate"] / cores[placement]
        print("  locate per core %.0f / PostGIS per core %.0f (its best: %d clients, %.0f tps on %d core%s): %s"
              % (per_core, tps / pg_cores, clients, tps, pg_cores, "s" if pg_cores > 1 else "",
                 verdict(per_core / (tps / pg_cores), 2.5)))
PY
'
