#pragma once
// Per-feature geometry work of the importer: type check, Z/M dropped, duplicate points and
// ring order repaired, reprojected to EPSG:4490, validated and made valid (keeping the
// polygonal part), promoted to a multi-type, written as hex EWKB for COPY.
#include <ogr_geometry.h>
#include <ogr_spatialref.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace onemap::importers {

enum class geometry_family { polygon, line, point };

/// The family of an OGR type (curves count as their linear form); nothing for collections,
/// TINs, wkbNone and the like.
std::optional<geometry_family> family_of(OGRwkbGeometryType type) noexcept;
const char* family_name(geometry_family f) noexcept; ///< MULTIPOLYGON, MULTILINESTRING, MULTIPOINT

struct prepared_geometry {
    std::optional<std::string> ewkb_hex; ///< none = rejected
    OGREnvelope envelope;                ///< in EPSG:4490
    std::vector<std::pair<std::string, std::string>> repairs; ///< kind, detail
    std::string reject_kind;
    std::string reject_detail;
    bool dimensions_dropped = false;
    bool outside_area_of_use = false; ///< stored, but outside EPSG:4490's area of use (China)
    std::unique_ptr<OGRGeometry> geometry; ///< the stored geometry, when keep_geometry(true)
};

class geometry_preparer {
public:
    /// Transforms with `pipeline` (a PROJ pipeline from x/y in the source CRS to lon/lat in
    /// EPSG:4490, see choose_transformation; empty = the source is EPSG:4490).
    /// \throws input_error when PROJ cannot instantiate the pipeline.
    geometry_preparer(geometry_family family, const std::string& pipeline, bool shapefile_rings);
    /// PROJ's operation from `source_epsg` without datum-shift checks (benchmarks, GK codes).
    /// \throws input_error when no transformation from `source_epsg` to EPSG:4490 exists.
    geometry_preparer(geometry_family family, int source_epsg, bool shapefile_rings);
    ~geometry_preparer();
    geometry_preparer(const geometry_preparer&) = delete;
    geometry_preparer& operator=(const geometry_preparer&) = delete;

    prepared_geometry prepare(const OGRGeometry* source);
    /// Whether prepare() hands back the geometry it stores (for the low-zoom copies).
    void keep_geometry(bool keep) noexcept
    {
        m_keep_geometry = keep;
    }

private:
    struct ct_deleter {
        void operator()(OGRCoordinateTransformation* ct) const noexcept
        {
            OGRCoordinateTransformation::DestroyCT(ct);
        }
    };

    geometry_family m_family;
    bool m_shapefile_rings;
    bool m_keep_geometry = false;
    std::unique_ptr<OGRCoordinateTransformation, ct_deleter> m_transform;
    OGREnvelope m_area_of_use; ///< EPSG:4490's, lon/lat
    void* m_geos; // GEOSContextHandle_t, kept out of this header
};

} // namespace onemap::importers
