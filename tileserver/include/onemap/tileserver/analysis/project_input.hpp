#pragma once
// A compliance review's project (红线) as the request states it: a GeoJSON Polygon or
// MultiPolygon, a Feature or a FeatureCollection of them, in CGCS2000 or WGS 84 lon/lat, or in
// a CGCS2000 3° Gauss-Krüger zone with or without the zone number in the easting. Read into
// one valid lon/lat (EPSG:4490) polygonal geometry, or refused with an input_error naming the
// problem: a red line is a legal boundary, so an invalid one (a self-intersecting ring, say) is
// refused with the place of the fault, never silently repaired.
#include "onemap/tileserver/analysis/geometry.hpp"

#include <string>
#include <string_view>

namespace onemap::tileserver::analysis {

struct input_limits {
    double max_area_km2 = 100;
    std::size_t max_vertices = 100000;
};

struct project {
    geom_ptr lonlat;       ///< EPSG:4490, valid, polygonal
    int input_epsg = 4490; ///< the CRS the coordinates came in
    std::size_t vertices = 0;
    std::size_t parts = 0; ///< polygons after the union of the features
};

/// The EPSG code of an accepted CRS name: EPSG:n, urn:ogc:def:crs:EPSG::n,
/// http://www.opengis.net/def/crs/EPSG/0/n, OGC:CRS84 (and its URN), cgcs2000, wgs84.
/// Accepted: 4490, 4326, 4513–4533 (GK zones 25–45, easting prefixed by the zone), 4534–4554
/// (GK CM 75°E–135°E). \throws input_error naming `parameter` otherwise.
int accepted_crs(const std::string& name, const char* parameter);

/// `body` is the request body; `crs_param` the crs query parameter ("" when absent), which
/// wins over a `crs` member of the body; neither means lon/lat (RFC 7946).
/// \throws input_error naming body, geometry or crs.
project read_project(std::string_view body, const std::string& crs_param, const input_limits& limits);

} // namespace onemap::tileserver::analysis
