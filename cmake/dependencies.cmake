# Every dependency is a Debian 12 package; scripts/install-deps.sh installs them.
find_package(GDAL 3.6 CONFIG REQUIRED)
find_package(PROJ CONFIG REQUIRED)
find_package(GEOS 3.11 CONFIG REQUIRED)
find_package(Boost 1.74 REQUIRED)
find_package(Protobuf REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(spdlog REQUIRED)
find_package(ZLIB REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
pkg_check_modules(PQ REQUIRED IMPORTED_TARGET libpq)
# API keys of departments: random keys and their BLAKE2b hashes (tileserver/api_keys.hpp).
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
# Analytics tables as XLSX workbooks (tileserver/analysis/tabular.hpp).
pkg_check_modules(XLSXWRITER REQUIRED IMPORTED_TARGET xlsxwriter)
# /metrics: prometheus-cpp's registry and text serializer (tileserver/metrics.hpp).
find_package(prometheus-cpp CONFIG REQUIRED)
# Raster rendering (tileserver/src/render) and glyph PBFs for MapLibre (tileserver/src/glyphs).
pkg_check_modules(PANGOCAIRO REQUIRED IMPORTED_TARGET pangocairo cairo)
# Palette PNG tiles (libimagequant, pngquant's library; GPL-3.0+).
pkg_check_modules(IMAGEQUANT REQUIRED IMPORTED_TARGET imagequant)
find_package(OpenMP REQUIRED) # only to keep libimagequant's OpenMP teams to one thread
find_package(Freetype REQUIRED)
find_package(PNG REQUIRED)

# Debian builds cpp-httplib as a shared library (with OpenSSL, zlib and brotli); pkg-config has it.
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
add_library(onemap_httplib INTERFACE)
target_link_libraries(onemap_httplib INTERFACE PkgConfig::HTTPLIB Threads::Threads)

if(ONEMAP_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(ONEMAP_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
