#!/usr/bin/env bash
# The whole onemap test suite: installs what is missing, builds (Release, warnings as errors)
# and runs every test — unit, db (real PostGIS) and http (real server on loopback) — against
# a throwaway PostgreSQL/PostGIS cluster that pg_virtualenv starts and removes.
# Exits non-zero on any failure. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
BUILD_DIR=${ONEMAP_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DONEMAP_WERROR=ON >/dev/null
cmake --build "$BUILD_DIR" -j2

# PostgreSQL refuses to run as root: as root, pg_virtualenv runs the cluster as `postgres`
# (-t: in a temporary directory) and exports PGHOST/PGPORT/PGUSER/PGPASSWORD to ctest.
pg_virtualenv -t -i '--encoding=UTF8 --locale=C.UTF-8' \
  ctest --test-dir "$BUILD_DIR" --output-on-failure -j2 "$@"
