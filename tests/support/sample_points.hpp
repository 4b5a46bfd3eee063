#pragma once
// Known places in the imported data-samples (manifest import), asked of PostGIS: where the
// tests expect water, a red-line outline or dry land on a rendered map.
#include <string>

namespace onemap::test {

struct lonlat {
    double lon = 0;
    double lat = 0;
};

/// The WebMercatorQuad tile (column, row) holding a lon/lat point at zoom z.
struct tile_xy {
    long long x = 0;
    long long y = 0;
};
tile_xy tile_of(int z, double lon, double lat);
/// "z/x/y" of that tile, as XYZ URLs spell it.
std::string xyz(int z, double lon, double lat);

/// The point of a one-row, one-geometry-column query (EPSG:4490 lon/lat).
lonlat point_of(const std::string& sql);

/// Inside the largest reservoir, more than 1 km from its centroid (away from its label).
lonlat reservoir_point();
/// The name (skmc) of the largest reservoir.
std::string reservoir_name();
/// A vertex of the outline of the largest ecological red-line area.
lonlat redline_point();
/// Inside a cultivated parcel (2023 survey) 2 km or more from water, red lines and the urban
/// development boundary.
lonlat dry_point();

} // namespace onemap::test
