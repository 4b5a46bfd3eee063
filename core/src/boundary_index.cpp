#include "onemap/core/boundary_index.hpp"

#include "onemap/core/error.hpp"
#include "wkb_cursor.hpp"

#include <boost/geometry.hpp>
#include <boost/geometry/index/rtree.hpp>

#include <algorithm>
#include <cstring>
#include <map>

// GCC 12 reports a false "maybe uninitialized" inside Boost.Geometry's envelope when it inlines
// it here; the box is filled by assign_inverse before use.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace bg = boost::geometry;
namespace bgi = boost::geometry::index;

namespace onemap::core {

namespace {

using point = bg::model::d2::point_xy<double>;
using polygon = bg::model::polygon<point, false, true>; // counter-clockwise, closed (as stored)
using multi_polygon = bg::model::multi_polygon<polygon>;
using bbox = bg::model::box<point>;
using entry = std::pair<bbox, std::size_t>;

using detail::wkb_cursor;

void read_polygon(wkb_cursor& c, bool le, polygon& out)
{
    const std::uint32_t rings = c.count(le, 4);
    for (std::uint32_t r = 0; r < rings; ++r) {
        const std::uint32_t n = c.count(le, 16);
        auto& ring = r == 0 ? out.outer() : (out.inners().emplace_back(), out.inners().back());
        for (std::uint32_t i = 0; i < n; ++i) {
            const double x = c.f64(le);
            const double y = c.f64(le);
            ring.push_back(point(x, y));
        }
    }
}

multi_polygon read_areal(std::string_view wkb)
{
    wkb_cursor c(wkb);
    const bool le = c.byte() == 1;
    const std::uint32_t type = c.u32(le) & 0x0FFFFFFFU;
    multi_polygon mp;
    if (type == 3) {
        mp.emplace_back();
        read_polygon(c, le, mp.back());
    } else if (type == 6) {
        const std::uint32_t parts = c.count(le, 9);
        for (std::uint32_t i = 0; i < parts; ++i) {
            const bool ple = c.byte() == 1;
            if ((c.u32(ple) & 0x0FFFFFFFU) != 3) {
                throw input_error("malformed WKB: multipolygon part is not a polygon");
            }
            mp.emplace_back();
            read_polygon(c, ple, mp.back());
        }
    } else {
        throw input_error("boundaries must be polygons, got WKB type " + std::to_string(type));
    }
    bg::correct(mp);
    return mp;
}

// Where a point lies against a ring: -1 outside, 0 on the boundary, 1 inside. Winding number
// with the segment side computed in plain double arithmetic and compared with zero exactly, the
// way PostGIS's point-in-polygon does, so that points on shared edges get PostGIS's answer.
int ring_position(const polygon::ring_type& ring, double px, double py)
{
    constexpr double TOL = 1e-12; // PostGIS FP_TOLERANCE, used for the crossing rule only
    int winding = 0;
    for (std::size_t i = 0; i + 1 < ring.size(); ++i) {
        const double x1 = bg::get<0>(ring[i]);
        const double y1 = bg::get<1>(ring[i]);
        const double x2 = bg::get<0>(ring[i + 1]);
        const double y2 = bg::get<1>(ring[i + 1]);
        if ((x2 - x1) * (x2 - x1) + (y2 - y1) * (y2 - y1) < TOL * TOL) {
            continue; // zero-length segment
        }
        const double side = (x2 - x1) * (py - y1) - (px - x1) * (y2 - y1);
        if (side == 0 && px >= std::min(x1, x2) && px <= std::max(x1, x2) && py >= std::min(y1, y2) &&
            py <= std::max(y1, y2)) {
            return 0;
        }
        if (y1 - TOL <= py && py + TOL < y2 && side > 0) {
            ++winding; // upward crossing with the point on the left
        } else if (y2 - TOL <= py && py + TOL < y1 && side < 0) {
            --winding; // downward crossing with the point on the right
        }
    }
    return winding == 0 ? -1 : 1;
}

// Covers: inside or on the boundary of some part (holes excluded, their boundary included).
bool covers(const multi_polygon& mp, double px, double py)
{
    for (const auto& poly : mp) {
        const int outer = ring_position(poly.outer(), px, py);
        if (outer < 0) {
            continue;
        }
        if (outer == 0) {
            return true;
        }
        bool in_hole = false;
        for (const auto& hole : poly.inners()) {
            const int h = ring_position(hole, px, py);
            if (h == 0) {
                return true;
            }
            if (h > 0) {
                in_hole = true;
                break;
            }
        }
        if (!in_hole) {
            return true;
        }
    }
    return false;
}

} // namespace

struct boundary_index::impl {
    std::vector<boundary> items;
    std::vector<multi_polygon> shapes;
    std::vector<bbox> boxes;
    bgi::rtree<entry, bgi::rstar<16>> tree;
    std::map<std::string, std::size_t, std::less<>> by_code;
};

boundary_index::boundary_index() : m_impl(std::make_unique<impl>()) {}
boundary_index::~boundary_index() = default;
boundary_index::boundary_index(boundary_index&&) noexcept = default;
boundary_index& boundary_index::operator=(boundary_index&&) noexcept = default;

void boundary_index::add(boundary b, std::string_view wkb)
{
    multi_polygon mp = read_areal(wkb);
    bbox env;
    bg::envelope(mp, env);
    m_impl->by_code[b.code] = m_impl->items.size();
    m_impl->items.push_back(std::move(b));
    m_impl->shapes.push_back(std::move(mp));
    m_impl->boxes.push_back(env);
}

void boundary_index::build()
{
    std::vector<entry> entries;
    entries.reserve(m_impl->boxes.size());
    for (std::size_t i = 0; i < m_impl->boxes.size(); ++i) {
        entries.emplace_back(m_impl->boxes[i], i);
    }
    m_impl->tree = bgi::rtree<entry, bgi::rstar<16>>(entries); // packed bulk load
}

std::size_t boundary_index::size() const noexcept
{
    return m_impl->items.size();
}

const boundary* boundary_index::locate(double lon, double lat) const
{
    const point p(lon, lat);
    const boundary* best = nullptr;
    for (auto it = m_impl->tree.qbegin(bgi::covers(p)); it != m_impl->tree.qend(); ++it) {
        const std::size_t i = it->second;
        if (best != nullptr && m_impl->items[i].code >= best->code) {
            continue;
        }
        if (covers(m_impl->shapes[i], lon, lat)) {
            best = &m_impl->items[i];
        }
    }
    return best;
}

const boundary* boundary_index::find(std::string_view code) const
{
    const auto it = m_impl->by_code.find(code);
    return it == m_impl->by_code.end() ? nullptr : &m_impl->items[it->second];
}

std::vector<const boundary*> boundary_index::neighbors(std::string_view code) const
{
    std::vector<const boundary*> out;
    const auto it = m_impl->by_code.find(code);
    if (it == m_impl->by_code.end()) {
        return out;
    }
    const std::size_t self = it->second;
    for (auto q = m_impl->tree.qbegin(bgi::intersects(m_impl->boxes[self])); q != m_impl->tree.qend(); ++q) {
        const std::size_t i = q->second;
        if (i != self && bg::intersects(m_impl->shapes[self], m_impl->shapes[i])) {
            out.push_back(&m_impl->items[i]);
        }
    }
    std::sort(out.begin(), out.end(), [](const boundary* a, const boundary* b) { return a->code < b->code; });
    return out;
}

} // namespace onemap::core
