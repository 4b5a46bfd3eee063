#!/usr/bin/env bash
# Installs, with apt-get, whatever onemap needs to build, test and run on Debian 12.
# Idempotent: does nothing when every package is already present.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libgdal-dev gdal-bin libproj-dev proj-bin libgeos-dev libboost-dev
  libpqxx-dev libpq-dev libcpp-httplib-dev
  libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev libbenchmark-dev
  libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
  zlib1g-dev libssl-dev libsodium-dev prometheus-cpp-dev python3-prometheus-client
  libxlsxwriter-dev python3-openpyxl
  clang-14 libfuzzer-14-dev clang-tidy-14
  libcairo2-dev libpango1.0-dev libpng-dev libimagequant-dev libfreetype-dev libfontconfig-dev fonts-noto-cjk
  libxml2-utils python3-mapproxy python3-owslib python3-qgis
  postgresql postgresql-contrib postgresql-15-postgis-3 postgis
  zip curl iproute2 python3 python3-gdal python3-shapely python3-pyproj python3-numpy python3-yaml
  locales
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
