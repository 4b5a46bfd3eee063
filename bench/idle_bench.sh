#!/usr/bin/env bash
# Idle keep-alive connections (the Beast front end): what 10,000 open, idle connections cost
# onemap-server in memory, and whether a normal client beside them gets slower; nginx the same
# way for comparison. bench/idle_client.py opens the connections (each sends one GET /health,
# reads the answer, then stays idle) and measures:
#  - RSS (VmRSS) of onemap-server, and the sum over nginx's worker processes, before, with the
#    idle connections open and after closing them;
#  - p50/p99/max of a normal client's 2,000 sequential keep-alive GETs of /health and /locate
#    (one point, 200), alone and beside the idle connections.
# nginx serves the same bodies as static files (/health, and /locate's answer for that point
# whatever the query), with sendfile; both keep idle connections 300 s.
#
#   bench/idle_bench.sh [IDLE_CONNECTIONS] [REQUESTS]   (defaults 10000, 2000)
#
# Needs RLIMIT_NOFILE above IDLE_CONNECTIONS + 100 (the client raises its soft limit to the hard one).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nginx >/dev/null || apt-get install -y -qq nginx-light >/dev/null
export IDLE=${1:-10000} REQUESTS=${2:-2000} ONEMAP_ROOT=$PWD
pg_virtualenv -t -i '--encoding=UTF8 --locale=C.UTF-8' bash -c '
set -euo pipefail
createdb ib
"$ONEMAP_ROOT/build/importers/onemap-import" -q --db dbname=ib --manifest "$ONEMAP_ROOT/data-samples/manifest.yaml" > /dev/null
WORK=$(mktemp -d /tmp/onemap-idle.XXXX); chmod 755 "$WORK"
# --max-connections above IDLE: the normal client comes on top of the idle ones.
"$ONEMAP_ROOT/build/tileserver/onemap-server" --db dbname=ib --port 18090 --log-level warn \
  --config "$ONEMAP_ROOT/tileserver/onemap.yaml" --idle-timeout-ms 300000 --max-connections $((IDLE + 100)) &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true; }
trap cleanup EXIT
for i in $(seq 50); do curl -sf http://127.0.0.1:18090/health >/dev/null && break; sleep 0.1; done
point=$(psql -tAd ib -c "SELECT ST_X(p) || chr(38) || chr(108) || chr(97) || chr(116) || chr(61) || ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM onemap_data.grid__v2 ORDER BY wgbm LIMIT 1) s")
locate="/locate?lon=$point"
mkdir -p "$WORK/root"
curl -sf -o "$WORK/root/health" http://127.0.0.1:18090/health
curl -sf -o "$WORK/root/locate.json" "http://127.0.0.1:18090$locate"
echo "paths: /health ($(wc -c < "$WORK/root/health") bytes), $locate ($(wc -c < "$WORK/root/locate.json") bytes)"
cat > "$WORK/nginx.conf" <<NGX
worker_processes 2; worker_rlimit_nofile 20000; pid $WORK/nginx.pid; error_log $WORK/error.log;
events { worker_connections 16384; }
http { access_log off; sendfile on; tcp_nodelay on; keepalive_requests 1000000; keepalive_timeout 300s;
  default_type "application/json; charset=utf-8";
  server { listen 127.0.0.1:18091; root $WORK/root;
    location = /health { }
    location = /locate { try_files /locate.json =404; } } }
NGX
echo "== onemap-server (--idle-timeout-ms 300000)"
/usr/bin/python3 "$ONEMAP_ROOT/bench/idle_client.py" 127.0.0.1:18090 --pids $server --idle $IDLE --requests $REQUESTS \
  --path /health --path "$locate" --stats /stats
kill $server; wait $server 2>/dev/null || true
nginx -c "$WORK/nginx.conf"
for i in $(seq 50); do curl -sf http://127.0.0.1:18091/health >/dev/null && break; sleep 0.1; done
master=$(cat "$WORK/nginx.pid")
workers=$(ps -o pid= --ppid "$master" | tr -s " \n" "," | sed "s/^,//; s/,$//")
echo "== nginx (2 workers: $workers; master $master, $(grep VmRSS /proc/$master/status | tr -s " \t" " "))"
/usr/bin/python3 "$ONEMAP_ROOT/bench/idle_client.py" 127.0.0.1:18091 --pids "$workers" --idle $IDLE --requests $REQUESTS \
  --path /health --path "$locate"
'
