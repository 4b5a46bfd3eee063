#pragma once
// Turning what a department's .prj says into an EPSG code, and catching the classic
// Gauss-Krüger zone-prefix mix-up (eastings 38 xxx xxx declared as EPSG:4547, or the reverse).
#include <ogr_core.h>
#include <ogr_spatialref.h>

#include <optional>
#include <string>

namespace onemap::importers {

struct resolved_crs {
    int epsg = 0;
    std::string name;
    std::string how; ///< "EPSG code in the .prj", "matched …%", "--srs"
};

/// \throws input_error (parameter "srs") when the CRS is missing, unreadable (`prj_file`
/// present but not a coordinate system) or matches no EPSG code and no override is given.
resolved_crs resolve_crs(const OGRSpatialReference* layer_srs, std::optional<int> override_epsg,
                         const std::string& source, const std::string& prj_file = {});

/// \throws input_error (parameter "srs") when the extent's eastings disagree with the zone
/// form of a CGCS2000 3° Gauss-Krüger CRS; the message names the code that fits.
void check_gauss_kruger_zone(int epsg, const OGREnvelope& extent, const std::string& source);

/// The zone-prefixed CGCS2000 3° GK code for a central-meridian code and back (4547 ↔ 4526);
/// 0 when `epsg` is neither.
int gauss_kruger_counterpart(int epsg) noexcept;

} // namespace onemap::importers
