#pragma once
// Choosing the coordinate operation from a source CRS to EPSG:4490. PROJ has no direct
// operation from most foreign datums to CGCS2000 and falls back to a "ballpark" no-op that is
// tens to hundreds of metres off; a real datum shift to WGS 84 (which coincides with CGCS2000
// at map scale) is used instead, and where none exists (Beijing 1954, Xian 1980, unknown
// datums) the user must give the 7-parameter set their surveying bureau issued, or accept
// the ballpark explicitly.
#include <array>
#include <optional>
#include <string>

namespace onemap::importers {

/// dx, dy, dz (m), rx, ry, rz (arc-seconds, position vector as PROJ's +towgs84), s (ppm).
using helmert_parameters = std::array<double, 7>;

/// "dx,dy,dz,rx,ry,rz,s" (3 values = translation only). \throws input_error (parameter "towgs84").
helmert_parameters parse_towgs84(const std::string& text);

/// Area of the data in the source CRS's own units (x = easting/longitude).
struct source_extent {
    double min_x, min_y, max_x, max_y;
};

struct transformation_choice {
    /// PROJ pipeline taking x/y in the source CRS (easting/longitude first) to lon/lat in
    /// EPSG:4490; empty when the source is EPSG:4490.
    std::string pipeline;
    std::string name;          ///< PROJ's name of the operation
    double accuracy_m = -1;    ///< PROJ's accuracy in metres; -1 unknown
    bool ballpark = false;     ///< accepted with --accept-ballpark
    std::string how;           ///< why this operation (for the log and the summary)
};

/// \throws input_error (parameter "srs") naming the datum and both ways forward when only a
/// ballpark operation exists and neither `towgs84` nor `accept_ballpark` is given.
transformation_choice choose_transformation(int source_epsg, const std::optional<source_extent>& extent,
                                            const std::optional<helmert_parameters>& towgs84,
                                            bool accept_ballpark, const std::string& label);

} // namespace onemap::importers
