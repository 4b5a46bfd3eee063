#include "onemap/core/mvt.hpp"

#include "onemap/core/error.hpp"
#include "vector_tile.pb.h"
#include "wkb_cursor.hpp"

#include <boost/geometry.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace bg = boost::geometry;

namespace onemap::core::mvt {

namespace {

// Tile space is y-down. A counter-clockwise boost polygon has positive area by the plain
// surveyor's formula, which is exactly the MVT 2.1 definition of an exterior ring.
using point = bg::model::d2::point_xy<double>;
using ring = bg::model::ring<point, false, true>;
using polygon = bg::model::polygon<point, false, true>;
using multi_polygon = bg::model::multi_polygon<polygon>;
using linestring = bg::model::linestring<point>;
using multi_linestring = bg::model::multi_linestring<linestring>;
using tile_box = bg::model::box<point>;

struct ipoint {
    std::int32_t x;
    std::int32_t y;
    bool operator==(const ipoint& o) const noexcept { return x == o.x && y == o.y; }
    bool operator!=(const ipoint& o) const noexcept { return !(*this == o); }
};

// ---- WKB ------------------------------------------------------------------------------

class wkb_reader {
public:
    wkb_reader(std::string_view data, const tile_projection& proj) : m_cursor(data), m_proj(proj) {}

    std::uint32_t read_header(bool& little)
    {
        const auto order = m_cursor.byte();
        if (order > 1) {
            throw input_error("malformed WKB: bad byte order");
        }
        little = order == 1;
        std::uint32_t type = m_cursor.u32(little);
        // EWKB flags (Z, M, SRID) and ISO dimension offsets both reduce to the 2D type.
        if ((type & 0x20000000U) != 0) {
            m_cursor.u32(little);
        }
        m_dims = 2;
        if ((type & 0x80000000U) != 0) {
            ++m_dims;
        }
        if ((type & 0x40000000U) != 0) {
            ++m_dims;
        }
        type &= 0x0FFFFFFFU;
        if (type >= 3000) {
            m_dims = 4;
        } else if (type >= 1000) {
            m_dims = 3;
        }
        return type % 1000;
    }

    // A point's position, projected. NaN is how WKB writes an empty point: clipping drops it.
    point read_point(bool little)
    {
        const auto [lon, lat] = read_lonlat(little);
        return point(m_proj.to_tile_x(lon), m_proj.to_tile_y(lat));
    }

    // The vertices of a line or a ring, projected. A vertex outside EPSG:4490's range (NaN and
    // infinities included) is no position at all: the importer refuses such vertices
    // (importers/src/geometry_preparation.cpp), and clipping would turn one into vertices
    // anywhere in the tile.
    template <typename Range>
    void read_points(bool little, Range& out)
    {
        const std::uint32_t n = read_count(little, 16);
        out.reserve(n);
        for (std::uint32_t i = 0; i < n; ++i) {
            const auto [lon, lat] = read_lonlat(little);
            if (!(lon >= -180 && lon <= 180 && lat >= -90 && lat <= 90)) {
                throw input_error("malformed WKB: vertex (" + std::to_string(lon) + ", " + std::to_string(lat) +
                                  ") lies outside longitude -180..180, latitude -90..90");
            }
            out.push_back(point(m_proj.to_tile_x(lon), m_proj.to_tile_y(lat)));
        }
    }

    void read_polygon_body(bool little, polygon& poly)
    {
        const std::uint32_t rings = read_count(little, 4);
        for (std::uint32_t i = 0; i < rings; ++i) {
            if (i == 0) {
                read_points(little, poly.outer());
            } else {
                poly.inners().emplace_back();
                read_points(little, poly.inners().back());
            }
        }
    }

    std::uint32_t read_count(bool little, std::size_t min_bytes_each) { return m_cursor.count(little, min_bytes_each); }

private:
    std::pair<double, double> read_lonlat(bool little)
    {
        const double lon = m_cursor.f64(little);
        const double lat = m_cursor.f64(little);
        for (int i = 2; i < m_dims; ++i) {
            m_cursor.f64(little); // Z, M
        }
        return {lon, lat};
    }

    detail::wkb_cursor m_cursor;
    int m_dims = 2;
    const tile_projection& m_proj;
};

// ---- MVT command encoding ---------------------------------------------------------------

constexpr std::uint32_t command(std::uint32_t id, std::uint32_t count) noexcept
{
    return (id & 0x7U) | (count << 3U);
}
constexpr std::uint32_t zigzag(std::int32_t v) noexcept
{
    return (static_cast<std::uint32_t>(v) << 1U) ^ static_cast<std::uint32_t>(v >> 31);
}
constexpr std::uint32_t MOVE_TO = 1;
constexpr std::uint32_t LINE_TO = 2;
constexpr std::uint32_t CLOSE_PATH = 7;

class command_writer {
public:
    explicit command_writer(std::vector<std::uint32_t>& out) : m_out(out) {}

    void move_to(ipoint p)
    {
        m_out.push_back(command(MOVE_TO, 1));
        delta(p);
    }
    void line_to(const std::vector<ipoint>& pts, std::size_t first, std::size_t last)
    {
        m_out.push_back(command(LINE_TO, static_cast<std::uint32_t>(last - first)));
        for (std::size_t i = first; i < last; ++i) {
            delta(pts[i]);
        }
    }
    void close_path() { m_out.push_back(command(CLOSE_PATH, 1)); }

private:
    void delta(ipoint p)
    {
        m_out.push_back(zigzag(p.x - m_cursor.x));
        m_out.push_back(zigzag(p.y - m_cursor.y));
        m_cursor = p;
    }

    std::vector<std::uint32_t>& m_out;
    ipoint m_cursor{0, 0};
};

template <typename Range>
std::vector<ipoint> quantize(const Range& pts)
{
    std::vector<ipoint> out;
    out.reserve(pts.size());
    for (const auto& p : pts) {
        const ipoint q{static_cast<std::int32_t>(std::lround(bg::get<0>(p))),
                       static_cast<std::int32_t>(std::lround(bg::get<1>(p)))};
        if (out.empty() || out.back() != q) {
            out.push_back(q);
        }
    }
    return out;
}

// Drops vertices lying on the straight line through their neighbours (after quantization many
// do): the shape on the integer grid is unchanged and the tile gets smaller.
void drop_collinear(std::vector<ipoint>& pts, bool closed)
{
    if (pts.size() < 3) {
        return;
    }
    std::vector<ipoint> out;
    out.reserve(pts.size());
    const std::size_t n = pts.size();
    for (std::size_t i = 0; i < n; ++i) {
        const bool endpoint = !closed && (i == 0 || i + 1 == n);
        if (!endpoint) {
            const ipoint& a = out.empty() ? pts[n - 1] : out.back();
            const ipoint& b = pts[i];
            const ipoint& c = pts[(i + 1) % n];
            const long long cross = static_cast<long long>(b.x - a.x) * (c.y - b.y) -
                                    static_cast<long long>(b.y - a.y) * (c.x - b.x);
            const long long dot = static_cast<long long>(b.x - a.x) * (c.x - b.x) +
                                  static_cast<long long>(b.y - a.y) * (c.y - b.y);
            if (cross == 0 && dot > 0) {
                continue; // b continues the segment a→c
            }
        }
        out.push_back(pts[i]);
    }
    pts.swap(out);
}

// Twice the signed area by the surveyor's formula (positive = MVT exterior).
long long doubled_area(const std::vector<ipoint>& r)
{
    long long sum = 0;
    for (std::size_t i = 0, n = r.size(); i < n; ++i) {
        const ipoint& a = r[i];
        const ipoint& b = r[(i + 1) % n];
        sum += static_cast<long long>(a.x) * b.y - static_cast<long long>(b.x) * a.y;
    }
    return sum;
}

// Quantizes a closed ring; false when it collapses or its orientation flipped.
bool write_ring(const ring& r, bool exterior, command_writer& w)
{
    std::vector<ipoint> pts = quantize(r);
    if (pts.size() > 1 && pts.front() == pts.back()) {
        pts.pop_back(); // ClosePath closes; the closing point is implicit
    }
    drop_collinear(pts, true);
    if (pts.size() < 3) {
        return false;
    }
    const long long area = doubled_area(pts);
    if (area == 0 || (area > 0) != exterior) {
        return false;
    }
    w.move_to(pts[0]);
    w.line_to(pts, 1, pts.size());
    w.close_path();
    return true;
}

void write_polygons(const multi_polygon& mp, encoded_geometry& out)
{
    command_writer w(out.commands);
    for (const auto& poly : mp) {
        if (!write_ring(poly.outer(), true, w)) {
            continue; // the holes of a dropped exterior go with it
        }
        for (const auto& hole : poly.inners()) {
            write_ring(hole, false, w);
        }
    }
}

void write_lines(const multi_linestring& ml, encoded_geometry& out)
{
    command_writer w(out.commands);
    for (const auto& line : ml) {
        std::vector<ipoint> pts = quantize(line);
        drop_collinear(pts, false);
        if (pts.size() < 2) {
            continue;
        }
        w.move_to(pts[0]);
        w.line_to(pts, 1, pts.size());
    }
}

tile_box clip_box(const tile_projection& proj)
{
    const double b = proj.buffer_units();
    return tile_box(point(-b, -b), point(proj.width() + b, proj.height() + b));
}

// The clip box holds every vertex of an intersection with it, but Boost.Geometry's
// intersection of a polygon that is not valid (self-intersecting; the importer stores only
// valid ones, the encoder must not rely on it) can put vertices far outside: the tile's
// promise — nothing beyond its buffer, coordinates that fit its integers — is kept here.
template <typename Range>
void clamp_into(Range& points, const tile_box& clip)
{
    for (auto& p : points) {
        bg::set<0>(p, std::clamp(bg::get<0>(p), bg::get<0>(clip.min_corner()), bg::get<0>(clip.max_corner())));
        bg::set<1>(p, std::clamp(bg::get<1>(p), bg::get<1>(clip.min_corner()), bg::get<1>(clip.max_corner())));
    }
}

void add_clipped_polygon(polygon& poly, const tile_box& clip, multi_polygon& out)
{
    bg::correct(poly);
    tile_box env;
    bg::envelope(poly, env);
    if (bg::covered_by(env, clip)) {
        out.push_back(std::move(poly));
        return;
    }
    if (!bg::intersects(env, clip)) {
        return;
    }
    multi_polygon clipped;
    bg::intersection(poly, clip, clipped);
    for (auto& p : clipped) {
        clamp_into(p.outer(), clip);
        for (auto& hole : p.inners()) {
            clamp_into(hole, clip);
        }
        out.push_back(std::move(p));
    }
}

void add_clipped_line(const linestring& line, const tile_box& clip, multi_linestring& out)
{
    multi_linestring clipped;
    bg::intersection(line, clip, clipped);
    for (auto& l : clipped) {
        clamp_into(l, clip);
        out.push_back(std::move(l));
    }
}

} // namespace

tile_projection::tile_projection(const tile_matrix_set& tms, int level, std::uint64_t col,
                                 std::uint64_t row, std::uint32_t extent, std::uint32_t buffer)
    : tile_projection(tms, tms.tile_bounds(level, col, row), extent, extent, buffer)
{
}

tile_projection::tile_projection(const tile_matrix_set& tms, const box& bounds, double width, double height,
                                 double buffer)
    : m_bounds(bounds), m_mercator(!tms.geographic()), m_extent(static_cast<std::uint32_t>(width)),
      m_buffer(static_cast<std::uint32_t>(buffer)), m_width(width), m_height(height), m_buffer_units(buffer),
      m_scale_x(width / bounds.width()), m_scale_y(height / bounds.height())
{
    const double fx = buffer / m_scale_x;
    const double fy = buffer / m_scale_y;
    const box grown{m_bounds.min_x - fx, m_bounds.min_y - fy, m_bounds.max_x + fx, m_bounds.max_y + fy};
    if (m_mercator) {
        m_query_lonlat = box{mercator_x_to_lon(grown.min_x), mercator_y_to_lat(grown.min_y),
                             mercator_x_to_lon(grown.max_x), mercator_y_to_lat(grown.max_y)};
        make_fast_mercator();
    } else {
        m_query_lonlat = grown;
    }
}

// Mercator's y = R ln tan(π/4 + φ/2) by its Taylor series about the tile's middle latitude,
// to the fifth power: a tile's vertices cost a few multiplications instead of a tan and a log
// (7 % of a tile's CPU). Used within one tile height of the tile (plus buffer), where the
// series' next term, y⁽⁶⁾Δ⁶/720, bounds its error, when that is under 1e-7 tile units (tiles of
// z8 and up, save near the poles); elsewhere the exact formula.
void tile_projection::make_fast_mercator()
{
    const double span = m_query_lonlat.max_y - m_query_lonlat.min_y;
    const double lo = m_query_lonlat.min_y - span;
    const double hi = m_query_lonlat.max_y + span;
    if (!(span < 1.0) || hi > 85 || lo < -85) {
        return;
    }
    const double d = std::acos(-1.0) / 180.0;    // radians per degree
    const double r = lon_to_mercator_x(1.0) / d; // the sphere's radius
    const double lat0 = (m_query_lonlat.min_y + m_query_lonlat.max_y) / 2;
    // The bound, at the range's latitude furthest from the equator (where y⁽⁶⁾ is largest).
    {
        const double phi = std::max(std::abs(lo), std::abs(hi)) * d;
        const double t = std::tan(phi);
        const double y6 = r / std::cos(phi) * (120 * std::pow(t, 5) + 180 * t * t * t + 61 * t);
        const double bound = y6 * std::pow((hi - lat0) * d, 6) / 720;
        if (!(bound * m_scale_y < 1e-7)) {
            return;
        }
    }
    const double phi = lat0 * d;
    const double sec = 1.0 / std::cos(phi);
    const double t = std::tan(phi);
    const double t2 = t * t;
    m_fast_lat0 = lat0;
    m_fast_min = lo;
    m_fast_max = hi;
    m_fast_y0 = lat_to_mercator_y(lat0);
    m_fast_c[0] = r * sec * d;
    m_fast_c[1] = r * sec * t * d * d / 2;
    m_fast_c[2] = r * sec * (2 * t2 + 1) * d * d * d / 6;
    m_fast_c[3] = r * sec * t * (6 * t2 + 5) * d * d * d * d / 24;
    m_fast_c[4] = r * sec * (24 * t2 * t2 + 28 * t2 + 5) * d * d * d * d * d / 120;
    m_fast = true;
}

double tile_projection::to_tile_x(double lon) const noexcept
{
    const double x = m_mercator ? lon_to_mercator_x(lon) : lon;
    return (x - m_bounds.min_x) * m_scale_x;
}

double tile_projection::to_tile_y(double lat) const noexcept
{
    double y = lat;
    if (m_fast && lat >= m_fast_min && lat <= m_fast_max) {
        const double e = lat - m_fast_lat0;
        y = m_fast_y0 + e * (m_fast_c[0] + e * (m_fast_c[1] + e * (m_fast_c[2] + e * (m_fast_c[3] + e * m_fast_c[4]))));
    } else if (m_mercator) {
        y = lat_to_mercator_y(lat);
    }
    return (m_bounds.max_y - y) * m_scale_y;
}

namespace {

// One WKB geometry projected into the tile and clipped to it plus the buffer.
struct clipped {
    geom_type type = geom_type::unknown;
    std::vector<point> points;
    multi_linestring lines;
    multi_polygon polygons;
};

clipped read_clipped(std::string_view wkb, const tile_projection& proj)
{
    wkb_reader reader(wkb, proj);
    bool little = true;
    const std::uint32_t type = reader.read_header(little);
    const tile_box clip = clip_box(proj);
    clipped out;
    switch (type) {
    case 1: // Point
    case 4: { // MultiPoint
        out.type = geom_type::point;
        std::vector<point> pts;
        if (type == 1) {
            pts.push_back(reader.read_point(little));
        } else {
            const std::uint32_t n = reader.read_count(little, 21);
            for (std::uint32_t i = 0; i < n; ++i) {
                bool l = true;
                reader.read_header(l);
                pts.push_back(reader.read_point(l));
            }
        }
        for (const auto& p : pts) {
            if (bg::covered_by(p, clip)) {
                out.points.push_back(p);
            }
        }
        break;
    }
    case 2:   // LineString
    case 5: { // MultiLineString
        out.type = geom_type::linestring;
        const std::uint32_t parts = type == 2 ? 1 : reader.read_count(little, 9);
        for (std::uint32_t i = 0; i < parts; ++i) {
            bool l = little;
            if (type == 5) {
                reader.read_header(l);
            }
            linestring line;
            reader.read_points(l, line);
            add_clipped_line(line, clip, out.lines);
        }
        break;
    }
    case 3:   // Polygon
    case 6: { // MultiPolygon
        out.type = geom_type::polygon;
        const std::uint32_t parts = type == 3 ? 1 : reader.read_count(little, 9);
        for (std::uint32_t i = 0; i < parts; ++i) {
            bool l = little;
            if (type == 6) {
                reader.read_header(l);
            }
            polygon poly;
            reader.read_polygon_body(l, poly);
            add_clipped_polygon(poly, clip, out.polygons);
        }
        break;
    }
    default:
        throw input_error("unsupported WKB geometry type " + std::to_string(type));
    }
    return out;
}

template <typename Range>
std::vector<fpoint> to_fpoints(const Range& pts)
{
    std::vector<fpoint> out;
    out.reserve(pts.size());
    for (const auto& p : pts) {
        out.push_back(fpoint{bg::get<0>(p), bg::get<1>(p)});
    }
    return out;
}

} // namespace

std::optional<encoded_geometry> encode_wkb(std::string_view wkb, const tile_projection& proj)
{
    const clipped c = read_clipped(wkb, proj);
    encoded_geometry out;
    out.type = c.type;
    switch (c.type) {
    case geom_type::point: {
        if (c.points.empty()) {
            return std::nullopt;
        }
        out.commands.push_back(command(MOVE_TO, static_cast<std::uint32_t>(c.points.size())));
        ipoint cursor{0, 0};
        for (const auto& fp : c.points) {
            const ipoint p{static_cast<std::int32_t>(std::lround(bg::get<0>(fp))),
                           static_cast<std::int32_t>(std::lround(bg::get<1>(fp)))};
            out.commands.push_back(zigzag(p.x - cursor.x));
            out.commands.push_back(zigzag(p.y - cursor.y));
            cursor = p;
        }
        return out;
    }
    case geom_type::linestring:
        write_lines(c.lines, out);
        break;
    case geom_type::polygon:
        write_polygons(c.polygons, out);
        break;
    default:
        break;
    }
    if (out.commands.empty()) {
        return std::nullopt;
    }
    return out;
}

std::optional<clipped_geometry> clip_wkb(std::string_view wkb, const tile_projection& proj)
{
    const clipped c = read_clipped(wkb, proj);
    clipped_geometry out;
    out.type = c.type;
    switch (c.type) {
    case geom_type::point:
        for (const auto& p : c.points) {
            out.parts.push_back({fpoint{bg::get<0>(p), bg::get<1>(p)}});
        }
        break;
    case geom_type::linestring:
        for (const auto& l : c.lines) {
            if (l.size() >= 2) {
                out.parts.push_back(to_fpoints(l));
            }
        }
        break;
    case geom_type::polygon:
        for (const auto& poly : c.polygons) {
            if (poly.outer().size() < 4) {
                continue;
            }
            out.parts.push_back(to_fpoints(poly.outer()));
            for (const auto& hole : poly.inners()) {
                out.parts.push_back(to_fpoints(hole));
            }
        }
        break;
    default:
        break;
    }
    if (out.parts.empty()) {
        return std::nullopt;
    }
    return out;
}

// ---- layers and tiles ------------------------------------------------------------------

layer_builder::layer_builder(vector_tile::Tile& tile, const std::string& name, std::uint32_t extent)
    : m_layer(tile.add_layers())
{
    m_layer->set_version(2);
    m_layer->set_name(name);
    m_layer->set_extent(extent);
}

std::size_t layer_builder::feature_count() const noexcept
{
    return static_cast<std::size_t>(m_layer->features_size());
}

std::uint32_t layer_builder::key_index(const std::string& key)
{
    auto [it, inserted] = m_keys.try_emplace(key, static_cast<std::uint32_t>(m_keys.size()));
    if (inserted) {
        m_layer->add_keys(key);
    }
    return it->second;
}

std::uint32_t layer_builder::value_index(const value& v)
{
    // The key in a kept buffer: most values repeat (a class code in every parcel), and a new
    // string for each look-up was the allocator's busiest caller in a tile.
    std::string& tag = m_scratch;
    tag.assign(1, static_cast<char>('0' + v.index()));
    std::visit(
        [&tag](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::string>) {
                tag += x;
            } else {
                tag.append(reinterpret_cast<const char*>(&x), sizeof x);
            }
        },
        v);
    if (const auto found = m_values.find(tag); found != m_values.end()) {
        return found->second;
    }
    m_values.emplace(tag, m_value_count);
    return new_value(v);
}

std::uint32_t layer_builder::new_value(const value& v)
{
    write_value(*m_layer->add_values(), v);
    return m_value_count++;
}

std::uint32_t layer_builder::new_string_value(std::string_view s)
{
    m_layer->add_values()->set_string_value(s.data(), s.size());
    return m_value_count++;
}

std::uint32_t layer_builder::string_value_index(std::string_view s)
{
    std::string& tag = m_scratch;
    tag.assign(1, '0'); // the index of std::string in `value`, as value_index writes it
    tag.append(s);
    if (const auto found = m_values.find(tag); found != m_values.end()) {
        return found->second;
    }
    m_values.emplace(tag, m_value_count);
    return new_string_value(s);
}

void layer_builder::write_value(vector_tile::Tile_Value& out, const value& v)
{
    auto* pv = &out;
    std::visit(
        [pv](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::string>) {
                pv->set_string_value(x);
            } else if constexpr (std::is_same_v<T, double>) {
                pv->set_double_value(x);
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
                if (x < 0) {
                    pv->set_sint_value(x);
                } else {
                    pv->set_uint_value(static_cast<std::uint64_t>(x));
                }
            } else {
                pv->set_bool_value(x);
            }
        },
        v);
}

void layer_builder::add_tagged_feature(std::uint64_t id, encoded_geometry&& geometry, const std::vector<std::uint32_t>& tags)
{
    auto* f = m_layer->add_features();
    f->set_id(id);
    f->set_type(static_cast<vector_tile::Tile_GeomType>(geometry.type));
    f->mutable_tags()->Reserve(static_cast<int>(tags.size()));
    for (std::uint32_t t : tags) {
        f->add_tags(t);
    }
    f->mutable_geometry()->Reserve(static_cast<int>(geometry.commands.size()));
    for (std::uint32_t c : geometry.commands) {
        f->add_geometry(c);
    }
}

void layer_builder::add_feature(std::uint64_t id, encoded_geometry&& geometry,
                                const std::vector<std::pair<std::string, value>>& properties)
{
    m_tags.clear();
    for (const auto& [k, v] : properties) {
        m_tags.push_back(key_index(k));
        m_tags.push_back(value_index(v));
    }
    add_tagged_feature(id, std::move(geometry), m_tags);
}

tile_builder::tile_builder() : m_tile(std::make_unique<vector_tile::Tile>()) {}
tile_builder::~tile_builder() = default;

layer_builder tile_builder::add_layer(const std::string& name, std::uint32_t extent)
{
    return layer_builder(*m_tile, name, extent);
}

std::string tile_builder::serialize()
{
    auto* layers = m_tile->mutable_layers();
    for (int i = layers->size() - 1; i >= 0; --i) {
        if (layers->Get(i).features_size() == 0) {
            layers->DeleteSubrange(i, 1);
        }
    }
    return m_tile->SerializeAsString();
}

} // namespace onemap::core::mvt
