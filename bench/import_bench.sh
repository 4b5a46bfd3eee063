#!/usr/bin/env bash
# Import benchmark: the same parcel shapefile (GBK, EPSG:4547) into an empty PostGIS database
# with onemap-import, ogr2ogr (PG_USE_COPY, same target CRS, GiST index) and shp2pgsql | psql,
# in one run on one throwaway cluster. Prints wall seconds, features/s, peak RSS and ratios.
#
#   bench/import_bench.sh [N_PARCELS]          (default 1000000; data made by the generator)
#
# Run from the repository root after a Release build (scripts/test.sh or scripts/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
DATA=${ONEMAP_BENCH_DATA:-/tmp/onemap-bench-$N}
if [ ! -f "$DATA/natural-resources/dltb_2023.shp" ]; then
  echo "bench: generating $N parcels into $DATA"
  /usr/bin/time -f "bench: generator %e s, peak %M KB" /usr/bin/python3 data-samples/generate.py --out "$DATA" --parcels "$N"
fi
export ONEMAP_BENCH_SHP=$DATA/natural-resources/dltb_2023.shp
export ONEMAP_IMPORT=$PWD/build/importers/onemap-import

pg_virtualenv -t -i '--encoding=UTF8 --locale=C.UTF-8' -o 'shared_buffers=512MB' -o 'max_wal_size=4GB' \
  -o 'maintenance_work_mem=512MB' bash -c '
set -euo pipefail
run() { # name, command...
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o /tmp/onemap-bench-time "$@" >/tmp/onemap-bench-$name.log 2>&1 ||
    { echo "bench: $name failed:"; tail -20 /tmp/onemap-bench-$name.log; exit 1; }
  read -r secs rss < /tmp/onemap-bench-time
  echo "$name $secs $rss"
}
createdb b_onemap; createdb b_plain; createdb b_ogr; createdb b_shp
for d in b_onemap b_plain b_ogr b_shp; do psql -qd $d -c "CREATE EXTENSION postgis"; done
count=$(ogrinfo -ro -so -al "$ONEMAP_BENCH_SHP" | sed -n "s/^Feature Count: //p")
{
run onemap "$ONEMAP_IMPORT" -q --db dbname=b_onemap --layer dltb --class-field DLBM --encoding GBK --id-field BSM --valid-from 2023-12-31 "$ONEMAP_BENCH_SHP"
run onemap_no_overviews "$ONEMAP_IMPORT" -q --no-overviews --db dbname=b_plain --layer dltb --encoding GBK --id-field BSM --valid-from 2023-12-31 "$ONEMAP_BENCH_SHP"
run ogr2ogr ogr2ogr -f PostgreSQL PG:dbname=b_ogr "$ONEMAP_BENCH_SHP" -oo ENCODING=GBK -nln dltb -t_srs EPSG:4490 \
    -nlt PROMOTE_TO_MULTI -lco GEOMETRY_NAME=geom -lco SPATIAL_INDEX=GIST --config PG_USE_COPY YES
run shp2pgsql sh -c "shp2pgsql -s 4547:4490 -W GBK -I -D \"$ONEMAP_BENCH_SHP\" dltb | psql -q -d b_shp"
} | tee /tmp/onemap-bench-results
echo
echo "stored rows: onemap $(psql -tAd b_onemap -c "SELECT count(*) FROM onemap_data.dltb__v1")," \
     "ogr2ogr $(psql -tAd b_ogr -c "SELECT count(*) FROM dltb"), shp2pgsql $(psql -tAd b_shp -c "SELECT count(*) FROM dltb")"
awk -v n="$count" '"'"'
  { secs[$1] = $2; rss[$1] = $3 }
  END {
    printf "| tool | seconds | features/s | peak RSS MB | vs onemap | vs onemap --no-overviews |\n|---|---|---|---|---|---|\n";
    split("onemap onemap_no_overviews ogr2ogr shp2pgsql", order, " ");
    for (i = 1; i <= 4; i++) { t = order[i];
      printf "| %s | %.1f | %.0f | %.0f | %.2fx | %.2fx |\n", t, secs[t], n / secs[t], rss[t] / 1024, secs[t] / secs["onemap"], secs[t] / secs["onemap_no_overviews"] }
  }'"'"' /tmp/onemap-bench-results
'
