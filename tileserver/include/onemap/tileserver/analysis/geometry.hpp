#pragma once
// Geometry for the analytics (compliance review, statistics, change detection): GEOS through
// its reentrant C API with one context per thread, PROJ transformations between CGCS2000
// lon/lat and its 3° Gauss-Krüger zones (cached per thread), and the two areas the answers
// give — planar in a GK zone, or ellipsoidal on GRS 80 (PROJ's geodesic polygon area, the
// same algorithm as PostGIS's geography).
#include <geos_c.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace onemap::tileserver::analysis {

/// This thread's GEOS context (made on first use, errors turned into exceptions by callers).
GEOSContextHandle_t geos();

struct geom_deleter {
    void operator()(GEOSGeometry* g) const noexcept;
};
using geom_ptr = std::unique_ptr<GEOSGeometry, geom_deleter>;
struct prepared_deleter {
    void operator()(const GEOSPreparedGeometry* g) const noexcept;
};
using prepared_ptr = std::unique_ptr<const GEOSPreparedGeometry, prepared_deleter>;

/// Takes ownership of a GEOS result. \throws error naming `what` when GEOS failed (nullptr).
geom_ptr own(GEOSGeometry* g, const char* what);
/// Reads WKB. \throws error on bytes GEOS cannot read.
geom_ptr from_wkb(std::string_view wkb);
prepared_ptr prepare(const GEOSGeometry* g);

/// True only when `g` is a Polygon without holes whose ring (of at most 256 edges) is clearly
/// simple: no two edges meet but consecutive ones, each turn and the area clearly non-zero.
/// Such a polygon is valid, so GEOS's validity check (which costs ten times as much) is spared;
/// false says nothing — ask GEOS, which also names the fault.
bool plainly_valid(const GEOSGeometry* g);
/// Polygonal part of an overlay result: lines and points (touching edges) dropped; nullptr
/// when nothing polygonal is left.
geom_ptr polygonal_part(geom_ptr g);
/// a ∩ b, polygonal part only; nullptr when empty. Geometries of many vertices are first
/// clipped to the other's bounding box (GEOSClipByRect) so that a 20,000-vertex red line
/// costs what its part near the project costs.
geom_ptr intersection(const GEOSGeometry* a, const GEOSGeometry* b);
std::size_t vertex_count(const GEOSGeometry* g);
struct bounds {
    double min_x = 0, min_y = 0, max_x = 0, max_y = 0;
};
bounds bounds_of(const GEOSGeometry* g);

/// The CGCS2000 3° Gauss-Krüger zone (25…45) whose strip holds `lon`; 0 outside China's.
int gk_zone(double lon) noexcept;
/// EPSG code of a CGCS2000 3° GK zone: without the zone number in the easting (4534…4554) or
/// with it (4513…4533).
int gk_epsg(int zone, bool prefixed) noexcept;

/// CGCS2000 lon/lat (EPSG:4490) → x/y of the 3° GK zone `zone` (EPSG:4534…4554), n points in
/// place: PROJ's transformation, or where it was checked to agree within 1 µm, a polynomial
/// fitted to it per 1/8° cell (a tenth of PROJ's cost).
void to_gk(int zone, double* x, double* y, std::size_t n);

/// A copy of `g` transformed by PROJ from `from_epsg` to `to_epsg` (axis order: easting or
/// longitude first, as GeoJSON and PostGIS have it). \throws error when PROJ cannot.
geom_ptr transform(const GEOSGeometry* g, int from_epsg, int to_epsg);

enum class area_method { planar, ellipsoidal };
/// "planar" or "ellipsoidal". \throws input_error naming `method` otherwise.
area_method parse_area_method(const std::string& text);
const char* name_of(area_method m) noexcept;

/// Area in m² of a lon/lat (EPSG:4490) polygonal geometry: on GRS 80 (edges as geodesics,
/// PostGIS `ST_Area(geography)`), or planar after transformation to GK zone `zone`
/// (PostGIS `ST_Area(ST_Transform(g, gk_epsg(zone)))`).
double area_of(const GEOSGeometry* lonlat, area_method m, int zone);
/// Ellipsoidal area on GRS 80 of a lon/lat polygonal geometry, m².
double ellipsoidal_area(const GEOSGeometry* lonlat);

/// The bounding box of a 2D Polygon or MultiPolygon WKB, read without building a geometry.
/// \throws error on anything else or truncated bytes.
bounds wkb_bounds(std::string_view wkb);
/// GeoJSON text of a geometry (coordinates as they are).
std::string to_geojson(const GEOSGeometry* g);
/// Whether (x, y) lies inside a 2D Polygon or MultiPolygon WKB (even-odd over its rings; a
/// point on an edge may go either way).
bool wkb_contains(std::string_view wkb, double x, double y);
/// Vertices of a 2D Polygon or MultiPolygon WKB.
std::size_t wkb_vertices(std::string_view wkb);
/// The geometry cut into parts of at most `max_vertices` each (ST_Subdivide's idea: halve the
/// box along its longer side until each part is small), as WKB. The parts tile the geometry:
/// their areas add up to its area, and a small geometry is cut by the few parts near it only.
std::vector<std::string> subdivide(const GEOSGeometry* g, std::size_t max_vertices);
/// area_of() of a 2D Polygon or MultiPolygon WKB (lon/lat), read without building a geometry.
double wkb_area(std::string_view wkb, area_method m, int zone);

/// Measures the overlap of features with one polygonal geometry (a project's red line) the
/// way PostGIS does — ST_Area(ST_Intersection(ST_Transform(f, zone), ST_Transform(g, zone)))
/// planar, or ST_Area(ST_Intersection(f, g)::geography) — mostly without a GEOS geometry per
/// feature: a feature no edge of the geometry comes near is wholly inside or outside (one
/// point tells), and a planar crossing in general position is measured by Green's theorem
/// over the two boundaries. Shared edges or vertices, ellipsoidal crossings and features of
/// many vertices are cut by GEOS.
class overlap_meter {
public:
    overlap_meter(const GEOSGeometry* lonlat, area_method m, int zone);
    ~overlap_meter();
    overlap_meter(const overlap_meter&) = delete;
    overlap_meter& operator=(const overlap_meter&) = delete;

    /// m² of the feature inside the geometry; 0 when they only touch or are apart.
    double area(std::string_view feature_wkb) const;
    /// The same for a feature whose lon/lat box is known, and its own area (m², by this
    /// meter's method and zone; negative when unknown): a feature far from the geometry's
    /// boundary is answered from these without being read.
    double area(std::string_view feature_wkb, const bounds& box, double own_area) const;
    /// m² of the geometry itself.
    double own_area() const noexcept;
    area_method method() const noexcept;
    int zone() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> m_impl;
};

/// m² → 公顷 and 亩 (1 亩 = 10000/15 m²).
constexpr double HECTARE_M2 = 10000.0;
constexpr double MU_M2 = 10000.0 / 15.0;

} // namespace onemap::tileserver::analysis
