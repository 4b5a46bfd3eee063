#!/usr/bin/env bash
# Runs onemap: installs what is missing, builds (Release), starts a private PostGIS cluster
# in var/pg (as `postgres` when run as root), imports data-samples/ and serves on
# http://localhost:8080. Ctrl-C stops the server and the cluster. Running it again reuses
# the build and the imported data (unchanged files are not imported twice).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target onemap-import onemap-server

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PG_PORT=${ONEMAP_PG_PORT:-5439}
HTTP_PORT=${ONEMAP_PORT:-8080}
PG_DIR=$ROOT/var/pg

as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

mkdir -p "$ROOT/var"
if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$ROOT/var"; then
  # The postgres user cannot reach this checkout (e.g. under /root): keep the cluster
  # beside the system's own data instead, one per checkout.
  PG_DIR=/var/lib/onemap/$(echo -n "$ROOT" | md5sum | cut -c1-12)
  echo "run: postgres cannot enter $ROOT; the cluster lives in $PG_DIR"
fi
mkdir -p "$PG_DIR"
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$PG_DIR"

if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
  echo "run: creating the PostGIS cluster in $PG_DIR/data"
  as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
fi
as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w \
  -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1" start >/dev/null
stop_cluster() { as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true; }
trap stop_cluster EXIT

export PGHOST=127.0.0.1 PGPORT=$PG_PORT PGUSER=postgres
psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'onemap'" | grep -q 1 ||
  psql -d postgres -qc "CREATE DATABASE onemap"
export PGDATABASE=onemap

echo "run: importing data-samples/ (unchanged layers are skipped)"
build/importers/onemap-import --manifest data-samples/manifest.yaml --summary var/import-summary.json >/dev/null

cat <<INFO

onemap is serving on http://localhost:$HTTP_PORT/
  tilesets        http://localhost:$HTTP_PORT/tiles
  basemap         http://localhost:$HTTP_PORT/tiles/basemap.json (TileJSON)
  a vector tile   http://localhost:$HTTP_PORT/tiles/admin_county/8/209/103.mvt
  a PNG tile      http://localhost:$HTTP_PORT/tiles/basemap/10/836/413.png
  MapLibre style  http://localhost:$HTTP_PORT/styles/basemap.json
  WMTS (QGIS)     http://localhost:$HTTP_PORT/wmts/1.0.0/WMTSCapabilities.xml
  OGC API         http://localhost:$HTTP_PORT/ogc
  ready / metrics http://localhost:$HTTP_PORT/ready  http://localhost:$HTTP_PORT/metrics
  access log      var/access.jsonl (one JSON line per request)
  database        postgresql://postgres@127.0.0.1:$PG_PORT/onemap
Ctrl-C stops the server and the database.

INFO
build/tileserver/onemap-server --host 0.0.0.0 --port "$HTTP_PORT" --config tileserver/onemap.yaml \
  --access-log var/access.jsonl --db "host=127.0.0.1 port=$PG_PORT user=postgres dbname=onemap" &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null || true' INT TERM
wait $SERVER || true
wait $SERVER 2>/dev/null || true
