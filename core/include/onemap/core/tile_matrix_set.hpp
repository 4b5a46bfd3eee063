#pragma once
// OGC Two Dimensional Tile Matrix Sets (OGC 17-083r4) that onemap serves: the registry's
// WebMercatorQuad and WorldCRS84Quad, and the Tianditu-shaped CGCS2000 grids ("c": EPSG:4490,
// levels 1..18; "w": EPSG:3857, levels 1..18) with OGC-correct (0.28 mm pixel) scale denominators.
#include <cstdint>
#include <string>
#include <vector>

namespace onemap::core {

/// An axis-aligned box in a CRS's x/y (easting/northing or lon/lat, traditional GIS order).
struct box {
    double min_x = 0;
    double min_y = 0;
    double max_x = 0;
    double max_y = 0;

    double width() const noexcept { return max_x - min_x; }
    double height() const noexcept { return max_y - min_y; }
    bool intersects(const box& o) const noexcept
    {
        return min_x <= o.max_x && o.min_x <= max_x && min_y <= o.max_y && o.min_y <= max_y;
    }
};

struct tile_matrix {
    std::string identifier;        ///< as written in WMTS/TMS ("0", "1", …)
    int level = 0;                 ///< numeric identifier
    double scale_denominator = 0;  ///< OGC: pixel 0.28 mm
    double cell_size = 0;          ///< CRS units per pixel
    double origin_x = 0;           ///< top-left corner, x (easting or longitude)
    double origin_y = 0;           ///< top-left corner, y (northing or latitude)
    std::uint32_t tile_width = 256;
    std::uint32_t tile_height = 256;
    std::uint64_t matrix_width = 0;
    std::uint64_t matrix_height = 0;
};

class tile_matrix_set {
public:
    tile_matrix_set(std::string id, std::string title, int epsg, std::string crs_uri,
                    bool geographic, std::vector<tile_matrix> matrices);

    const std::string& id() const noexcept { return m_id; }
    const std::string& title() const noexcept { return m_title; }
    /// EPSG code of the CRS (3857, 4326 for CRS84, 4490).
    int epsg() const noexcept { return m_epsg; }
    /// URI as written in capabilities (urn:ogc:def:crs:EPSG::4490, …).
    const std::string& crs_uri() const noexcept { return m_crs_uri; }
    /// True when x is longitude and y latitude (degrees).
    bool geographic() const noexcept { return m_geographic; }
    const std::vector<tile_matrix>& matrices() const noexcept { return m_matrices; }
    int min_level() const noexcept { return m_matrices.front().level; }
    int max_level() const noexcept { return m_matrices.back().level; }

    /// The matrix with numeric identifier `level`; nullptr when the set has none.
    const tile_matrix* matrix(int level) const noexcept;

    /// True when level/col/row names a tile of this set.
    bool contains(int level, std::uint64_t col, std::uint64_t row) const noexcept;

    /// Bounds of a tile in the set's CRS. \pre contains(level, col, row)
    box tile_bounds(int level, std::uint64_t col, std::uint64_t row) const;

    struct range {
        std::uint64_t min_col, min_row, max_col, max_row;
    };
    /// The tiles of `level` that cover a lon/lat box (clamped to the matrix).
    range tile_range(int level, const box& lonlat) const;

    /// The Web Mercator zoom whose tiles span as many degrees of longitude as this level's.
    int web_mercator_zoom(int level) const;

    /// The same bounds as CGCS2000/WGS84 longitude/latitude degrees.
    box tile_bounds_lonlat(int level, std::uint64_t col, std::uint64_t row) const;

private:
    std::string m_id;
    std::string m_title;
    int m_epsg;
    std::string m_crs_uri;
    bool m_geographic;
    std::vector<tile_matrix> m_matrices;
};

/// Metres per degree at the equator used by OGC for geographic CRSs: 2π·6378137/360.
constexpr double METERS_PER_DEGREE = 111319.49079327357;
/// The standardized rendering pixel size of OGC WMTS/SLD: 0.28 mm.
constexpr double STANDARD_PIXEL_SIZE = 0.00028;
/// Half the extent of EPSG:3857.
constexpr double WEB_MERCATOR_HALF = 20037508.342789244;

const tile_matrix_set& web_mercator_quad();
const tile_matrix_set& world_crs84_quad();
const tile_matrix_set& cgcs2000_quad();       ///< Tianditu "c" shape, EPSG:4490, levels 1..18
const tile_matrix_set& tianditu_web_mercator(); ///< Tianditu "w" shape, EPSG:3857, levels 1..18

/// All matrix sets served, in the order capabilities list them.
const std::vector<const tile_matrix_set*>& all_tile_matrix_sets();

/// The set with this identifier (case-sensitive); nullptr when unknown.
const tile_matrix_set* find_tile_matrix_set(const std::string& id);

/// Spherical Mercator, exact formulas of EPSG:3857.
double lon_to_mercator_x(double lon) noexcept;
double lat_to_mercator_y(double lat) noexcept;
double mercator_x_to_lon(double x) noexcept;
double mercator_y_to_lat(double y) noexcept;

} // namespace onemap::core
