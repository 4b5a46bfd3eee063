#pragma once
// Test-side decoding of MVT bytes with libprotobuf (vector_tile.proto): features with their
// attributes and geometry as tile-coordinate rings/lines/points.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace onemap::test {

struct decoded_point {
    long long x;
    long long y;
};

struct decoded_feature {
    std::uint64_t id = 0;
    int type = 0; ///< 1 point, 2 line, 3 polygon
    std::map<std::string, std::string> properties; ///< values rendered as text
    std::vector<std::vector<decoded_point>> parts; ///< rings (polygons), lines, or one point each
};

struct decoded_layer {
    std::string name;
    std::uint32_t extent = 0;
    std::uint32_t version = 0;
    std::vector<decoded_feature> features;
};

/// \throws std::runtime_error when the bytes are not a valid tile or a command is malformed.
std::vector<decoded_layer> decode_tile(const std::string& bytes);

/// Twice the signed area by the surveyor's formula in tile coordinates (y down).
long long doubled_area(const std::vector<decoded_point>& ring);

/// Signed area of a polygon feature (exteriors positive, holes negative), in tile units².
double polygon_area(const decoded_feature& f);

/// Length of all rings of a polygon feature, in tile units.
double perimeter(const decoded_feature& f);

} // namespace onemap::test
