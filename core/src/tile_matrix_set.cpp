#include "onemap/core/tile_matrix_set.hpp"

#include <cassert>
#include <algorithm>
#include <cmath>
#include <utility>

namespace onemap::core {

tile_matrix_set::tile_matrix_set(std::string id, std::string title, int epsg, std::string crs_uri,
                                 bool geographic, std::vector<tile_matrix> matrices)
    : m_id(std::move(id)), m_title(std::move(title)), m_epsg(epsg), m_crs_uri(std::move(crs_uri)),
      m_geographic(geographic), m_matrices(std::move(matrices))
{
    assert(!m_matrices.empty());
}

const tile_matrix* tile_matrix_set::matrix(int level) const noexcept
{
    const int index = level - min_level();
    if (index < 0 || index >= static_cast<int>(m_matrices.size())) {
        return nullptr;
    }
    return &m_matrices[static_cast<std::size_t>(index)];
}

bool tile_matrix_set::contains(int level, std::uint64_t col, std::uint64_t row) const noexcept
{
    const tile_matrix* m = matrix(level);
    return m != nullptr && col < m->matrix_width && row < m->matrix_height;
}

box tile_matrix_set::tile_bounds(int level, std::uint64_t col, std::uint64_t row) const
{
    const tile_matrix* m = matrix(level);
    assert(m != nullptr);
    const double span_x = m->cell_size * m->tile_width;
    const double span_y = m->cell_size * m->tile_height;
    box b;
    b.min_x = m->origin_x + static_cast<double>(col) * span_x;
    b.max_x = m->origin_x + static_cast<double>(col + 1) * span_x;
    b.max_y = m->origin_y - static_cast<double>(row) * span_y;
    b.min_y = m->origin_y - static_cast<double>(row + 1) * span_y;
    return b;
}

tile_matrix_set::range tile_matrix_set::tile_range(int level, const box& lonlat) const
{
    const tile_matrix* m = matrix(level);
    assert(m != nullptr);
    const double span_x = m->cell_size * m->tile_width;
    const double span_y = m->cell_size * m->tile_height;
    const double x0 = m_geographic ? lonlat.min_x : lon_to_mercator_x(lonlat.min_x);
    const double x1 = m_geographic ? lonlat.max_x : lon_to_mercator_x(lonlat.max_x);
    const double y0 = m_geographic ? lonlat.min_y : lat_to_mercator_y(lonlat.min_y);
    const double y1 = m_geographic ? lonlat.max_y : lat_to_mercator_y(lonlat.max_y);
    auto clamp = [](double v, std::uint64_t n) {
        return static_cast<std::uint64_t>(std::min(std::max(v, 0.0), static_cast<double>(n - 1)));
    };
    return range{clamp(std::floor((x0 - m->origin_x) / span_x), m->matrix_width),
                 clamp(std::floor((m->origin_y - y1) / span_y), m->matrix_height),
                 clamp(std::floor((x1 - m->origin_x) / span_x), m->matrix_width),
                 clamp(std::floor((m->origin_y - y0) / span_y), m->matrix_height)};
}

int tile_matrix_set::web_mercator_zoom(int level) const
{
    const box b = tile_bounds_lonlat(level, 0, 0);
    return static_cast<int>(std::lround(std::log2(360.0 / b.width())));
}

box tile_matrix_set::tile_bounds_lonlat(int level, std::uint64_t col, std::uint64_t row) const
{
    box b = tile_bounds(level, col, row);
    if (m_geographic) {
        return b;
    }
    return box{mercator_x_to_lon(b.min_x), mercator_y_to_lat(b.min_y), mercator_x_to_lon(b.max_x),
               mercator_y_to_lat(b.max_y)};
}

namespace {

// Cell sizes are exact (the extent divided by the pixels), scale denominators follow from them
// by the 0.28 mm rule. The registry prints them rounded: WebMercatorQuad level 0
// 559082264.028717, WorldCRS84Quad level 0 and Tianditu level 1 279541132.014358.
constexpr double WEB_MERCATOR_CELL0 = 2 * WEB_MERCATOR_HALF / 256;
constexpr double CRS84_CELL0 = 180.0 / 256;

std::vector<tile_matrix> make_levels(int first, int last, double cell_first, double meters_per_unit,
                                     double origin_x, double origin_y, std::uint64_t width_first,
                                     std::uint64_t height_first)
{
    std::vector<tile_matrix> levels;
    for (int level = first; level <= last; ++level) {
        const int step = level - first;
        tile_matrix m;
        m.level = level;
        m.identifier = std::to_string(level);
        m.cell_size = cell_first / std::ldexp(1.0, step);
        m.scale_denominator = m.cell_size * meters_per_unit / STANDARD_PIXEL_SIZE;
        m.origin_x = origin_x;
        m.origin_y = origin_y;
        m.matrix_width = width_first << step;
        m.matrix_height = height_first << step;
        levels.push_back(m);
    }
    return levels;
}

} // namespace

const tile_matrix_set& web_mercator_quad()
{
    static const tile_matrix_set tms("WebMercatorQuad", "Google Maps Compatible for the World", 3857,
                                     "http://www.opengis.net/def/crs/EPSG/0/3857", false,
                                     make_levels(0, 24, WEB_MERCATOR_CELL0, 1.0,
                                                 -WEB_MERCATOR_HALF, WEB_MERCATOR_HALF, 1, 1));
    return tms;
}

const tile_matrix_set& world_crs84_quad()
{
    static const tile_matrix_set tms("WorldCRS84Quad", "CRS84 for the World", 4326,
                                     "http://www.opengis.net/def/crs/OGC/1.3/CRS84", true,
                                     make_levels(0, 21, CRS84_CELL0, METERS_PER_DEGREE,
                                                 -180.0, 90.0, 2, 1));
    return tms;
}

const tile_matrix_set& cgcs2000_quad()
{
    static const tile_matrix_set tms("CGCS2000Quad", "CGCS2000 geographic, Tianditu \"c\" layout",
                                     4490, "urn:ogc:def:crs:EPSG::4490", true,
                                     make_levels(1, 18, CRS84_CELL0, METERS_PER_DEGREE, -180.0,
                                                 90.0, 2, 1));
    return tms;
}

const tile_matrix_set& tianditu_web_mercator()
{
    static const tile_matrix_set tms("TiandituWebMercatorQuad",
                                     "Web Mercator, Tianditu \"w\" layout", 3857,
                                     "urn:ogc:def:crs:EPSG::3857", false,
                                     make_levels(1, 18, WEB_MERCATOR_CELL0 / 2, 1.0, -WEB_MERCATOR_HALF,
                                                 WEB_MERCATOR_HALF, 2, 2));
    return tms;
}

const std::vector<const tile_matrix_set*>& all_tile_matrix_sets()
{
    static const std::vector<const tile_matrix_set*> sets{
        &web_mercator_quad(), &world_crs84_quad(), &cgcs2000_quad(), &tianditu_web_mercator()};
    return sets;
}

const tile_matrix_set* find_tile_matrix_set(const std::string& id)
{
    for (const auto* tms : all_tile_matrix_sets()) {
        if (tms->id() == id) {
            return tms;
        }
    }
    return nullptr;
}

namespace {
constexpr double EARTH_RADIUS = 6378137.0;
constexpr double PI = 3.14159265358979323846;
constexpr double MAX_MERCATOR_LAT = 85.05112877980659;
} // namespace

double lon_to_mercator_x(double lon) noexcept
{
    return lon * PI / 180.0 * EARTH_RADIUS;
}

double lat_to_mercator_y(double lat) noexcept
{
    if (lat > MAX_MERCATOR_LAT) {
        lat = MAX_MERCATOR_LAT;
    } else if (lat < -MAX_MERCATOR_LAT) {
        lat = -MAX_MERCATOR_LAT;
    }
    return std::log(std::tan(PI / 4.0 + lat * PI / 360.0)) * EARTH_RADIUS;
}

double mercator_x_to_lon(double x) noexcept
{
    return x / EARTH_RADIUS * 180.0 / PI;
}

double mercator_y_to_lat(double y) noexcept
{
    return (2.0 * std::atan(std::exp(y / EARTH_RADIUS)) - PI / 2.0) * 180.0 / PI;
}

} // namespace onemap::core
