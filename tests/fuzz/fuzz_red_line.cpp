// The compliance review's request body (analysis::read_project): GeoJSON of any shape with a
// stated or unstated CRS. The first byte picks the crs parameter, the rest is the body. Only
// input_error (a 400 naming the problem) may escape; an accepted red line is valid, polygonal,
// within the limits and has a finite positive area both ways.
#include "onemap/core/error.hpp"
#include "onemap/tileserver/analysis/geometry.hpp"
#include "onemap/tileserver/analysis/project_input.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

using namespace onemap::tileserver::analysis;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0) {
        return 0;
    }
    static const char* const CRS[] = {"", "EPSG:4547", "EPSG:4526", "wgs84", "urn:ogc:def:crs:EPSG::4490", "EPSG:3857"};
    const char* crs = CRS[data[0] % (sizeof CRS / sizeof CRS[0])];
    const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    const input_limits limits{100, 5000};
    try {
        const project p = read_project(body, crs, limits);
        if (!p.lonlat || GEOSisValid_r(geos(), p.lonlat.get()) != 1 || p.vertices > limits.max_vertices) {
            std::fprintf(stderr, "accepted an invalid red line\n");
            std::abort();
        }
        const double e = ellipsoidal_area(p.lonlat.get());
        const bounds b = bounds_of(p.lonlat.get());
        const int zone = gk_zone((b.min_x + b.max_x) / 2);
        const double planar = zone != 0 ? area_of(p.lonlat.get(), area_method::planar, zone) : 1.0;
        if (!(e > 0) || !std::isfinite(e) || e > 100e6 * 1.0001 || !(planar > 0) || !std::isfinite(planar)) {
            std::fprintf(stderr, "accepted red line has area %g / %g\n", e, planar);
            std::abort();
        }
    } catch (const onemap::input_error&) {
        // refused with a message naming the parameter: what a bad body must get
    }
    return 0;
}
