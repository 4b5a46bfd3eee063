#include "onemap/core/boundary_index.hpp"

#include "onemap/core/error.hpp"
#include "wkb_cursor.hpp"

#include <boost/geometry.hpp>
#include <boost/geometry/index/rtree.hpp>
#include <boost/iterator/function_output_iterator.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

// GCC 12 reports a false "maybe uninitialized" inside Boost.Geometry's envelope when it inlines
// it here; the box is filled by assign_inverse before use. (Clang has no such warning group.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

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

constexpr double TOL = 1e-12; // PostGIS FP_TOLERANCE, used for the crossing rule only

// Horizontal bands over a long ring: band b lists the segments whose y-range, grown by TOL
// downwards, meets it. The point-in-ring test below only ever counts segments whose y-range
// holds the point's y (within TOL), so testing the point's band alone gives the same answer
// as testing every segment, in time independent of the ring's length.
struct ring_bands {
    double y0 = 0;
    double y1 = 0;
    double inv_height = 0;
    std::uint32_t count = 0;
    std::vector<std::uint32_t> first; ///< count + 1 offsets into segments
    std::vector<std::uint32_t> segments;

    std::uint32_t band(double y) const noexcept
    {
        const double b = std::floor((y - y0) * inv_height);
        return b <= 0 ? 0U : b >= count - 1 ? count - 1 : static_cast<std::uint32_t>(b);
    }
};

constexpr std::size_t BANDED_RING_POINTS = 64;

ring_bands make_bands(const polygon::ring_type& ring)
{
    ring_bands r;
    double lo = bg::get<1>(ring[0]);
    double hi = lo;
    for (const auto& p : ring) {
        lo = std::min(lo, bg::get<1>(p));
        hi = std::max(hi, bg::get<1>(p));
    }
    r.y0 = lo - TOL;
    r.y1 = hi;
    r.count = static_cast<std::uint32_t>(std::clamp<std::size_t>(ring.size() / 4, 1, 4096));
    r.inv_height = r.count / std::max(r.y1 - r.y0, 1e-300);
    std::vector<std::vector<std::uint32_t>> lists(r.count);
    for (std::size_t i = 0; i + 1 < ring.size(); ++i) {
        const double ya = bg::get<1>(ring[i]);
        const double yb = bg::get<1>(ring[i + 1]);
        for (std::uint32_t b = r.band(std::min(ya, yb) - TOL), last = r.band(std::max(ya, yb)); b <= last; ++b) {
            lists[b].push_back(static_cast<std::uint32_t>(i));
        }
    }
    r.first.reserve(r.count + 1);
    for (const auto& l : lists) {
        r.first.push_back(static_cast<std::uint32_t>(r.segments.size()));
        r.segments.insert(r.segments.end(), l.begin(), l.end());
    }
    r.first.push_back(static_cast<std::uint32_t>(r.segments.size()));
    return r;
}

// What one segment says of a point: 0 on it, +1/-1 an upward/downward crossing, 2 nothing.
// Side computed in plain double arithmetic and compared with zero exactly, the way PostGIS's
// point-in-polygon does, so that points on shared edges get PostGIS's answer.
int segment_vote(double x1, double y1, double x2, double y2, double px, double py)
{
    if ((x2 - x1) * (x2 - x1) + (y2 - y1) * (y2 - y1) < TOL * TOL) {
        return 2; // zero-length segment
    }
    const double side = (x2 - x1) * (py - y1) - (px - x1) * (y2 - y1);
    if (side == 0 && px >= std::min(x1, x2) && px <= std::max(x1, x2) && py >= std::min(y1, y2) &&
        py <= std::max(y1, y2)) {
        return 0;
    }
    if (y1 - TOL <= py && py + TOL < y2 && side > 0) {
        return 1; // upward crossing with the point on the left
    }
    if (y2 - TOL <= py && py + TOL < y1 && side < 0) {
        return -1; // downward crossing with the point on the right
    }
    return 2;
}

// Where a point lies against a ring: -1 outside, 0 on the boundary, 1 inside (winding number).
int ring_position(const polygon::ring_type& ring, const ring_bands* bands, double px, double py)
{
    int winding = 0;
    auto visit = [&](std::size_t i) {
        const int v = segment_vote(bg::get<0>(ring[i]), bg::get<1>(ring[i]), bg::get<0>(ring[i + 1]),
                                   bg::get<1>(ring[i + 1]), px, py);
        if (v == 0) {
            return true;
        }
        if (v != 2) {
            winding += v;
        }
        return false;
    };
    if (bands == nullptr) {
        for (std::size_t i = 0; i + 1 < ring.size(); ++i) {
            if (visit(i)) {
                return 0;
            }
        }
    } else {
        if (py < bands->y0 || py > bands->y1) {
            return -1; // no segment reaches this latitude
        }
        const std::uint32_t b = bands->band(py);
        for (std::uint32_t k = bands->first[b]; k < bands->first[b + 1]; ++k) {
            if (visit(bands->segments[k])) {
                return 0;
            }
        }
    }
    return winding == 0 ? -1 : 1;
}

// A shape with the bands of its long rings, in ring order (each polygon's exterior, then its
// holes); nullptr entries for short rings.
struct indexed_shape {
    multi_polygon shape;
    std::vector<std::unique_ptr<ring_bands>> bands;
};

indexed_shape index_shape(multi_polygon mp)
{
    indexed_shape s;
    auto add = [&s](const polygon::ring_type& ring) {
        s.bands.push_back(ring.size() >= BANDED_RING_POINTS ? std::make_unique<ring_bands>(make_bands(ring)) : nullptr);
    };
    for (const auto& poly : mp) {
        add(poly.outer());
        for (const auto& hole : poly.inners()) {
            add(hole);
        }
    }
    s.shape = std::move(mp);
    return s;
}

// Covers: inside or on the boundary of some part (holes excluded, their boundary included).
bool covers(const indexed_shape& s, double px, double py)
{
    std::size_t ring = 0;
    for (const auto& poly : s.shape) {
        const int outer = ring_position(poly.outer(), s.bands[ring].get(), px, py);
        const std::size_t holes = ring + 1;
        ring += 1 + poly.inners().size();
        if (outer < 0) {
            continue;
        }
        if (outer == 0) {
            return true;
        }
        bool in_hole = false;
        for (std::size_t h = 0; h < poly.inners().size(); ++h) {
            const int where = ring_position(poly.inners()[h], s.bands[holes + h].get(), px, py);
            if (where == 0) {
                return true;
            }
            if (where > 0) {
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

// A uniform raster over the layer's extent. A cell that no ring segment comes near holds the
// answer for every point in it: the covers test of every polygon is constant on a connected
// region that no segment crosses, and the cell, grown by a margin far above rounding error, is
// such a region. Other cells say MIXED and the point goes to the R-tree and the exact test.
// Most points of a city fall in clean cells, so locate() is one array read for them.
struct cell_table {
    static constexpr std::uint32_t NONE = 0xFFFFFFFFU;  // no polygon covers the cell
    static constexpr std::uint32_t MIXED = 0xFFFFFFFEU; // a segment comes near: test exactly
    double x0 = 0;
    double y0 = 0;
    double cell_w = 0;
    double cell_h = 0;
    double inv_w = 0;
    double inv_h = 0;
    std::uint32_t nx = 0;
    std::uint32_t ny = 0;
    std::vector<std::uint32_t> cells; ///< row-major, row 0 at y0

    /// The cell value at (x, y), or MIXED outside the table.
    std::uint32_t at(double x, double y) const noexcept
    {
        const double fx = (x - x0) * inv_w;
        const double fy = (y - y0) * inv_h;
        if (!(fx >= 0 && fy >= 0 && fx < nx && fy < ny)) {
            return MIXED;
        }
        return cells[static_cast<std::size_t>(fy) * nx + static_cast<std::size_t>(fx)];
    }

    // Marks MIXED every cell whose box, grown by `margin`, meets the segment.
    void mark_segment(double xa, double ya, double xb, double yb, double margin)
    {
        const auto clamp_index = [](double v, std::uint32_t n) {
            return static_cast<std::uint32_t>(std::clamp(std::floor(v), 0.0, static_cast<double>(n - 1)));
        };
        const std::uint32_t r0 = clamp_index((std::min(ya, yb) - margin - y0) * inv_h, ny);
        const std::uint32_t r1 = clamp_index((std::max(ya, yb) + margin - y0) * inv_h, ny);
        for (std::uint32_t r = r0; r <= r1; ++r) {
            // The part of the segment inside the row's band, grown by the margin.
            const double band_lo = y0 + r * cell_h - margin;
            const double band_hi = y0 + (r + 1) * cell_h + margin;
            double lo_x = std::min(xa, xb);
            double hi_x = std::max(xa, xb);
            if (yb != ya) {
                const double ta = std::clamp((band_lo - ya) / (yb - ya), 0.0, 1.0);
                const double tb = std::clamp((band_hi - ya) / (yb - ya), 0.0, 1.0);
                const double xta = xa + ta * (xb - xa);
                const double xtb = xa + tb * (xb - xa);
                lo_x = std::min(xta, xtb);
                hi_x = std::max(xta, xtb);
            }
            const std::uint32_t c0 = clamp_index((lo_x - margin - x0) * inv_w, nx);
            const std::uint32_t c1 = clamp_index((hi_x + margin - x0) * inv_w, nx);
            std::fill(cells.begin() + static_cast<std::ptrdiff_t>(std::size_t{r} * nx + c0),
                      cells.begin() + static_cast<std::ptrdiff_t>(std::size_t{r} * nx + c1 + 1), MIXED);
        }
    }
};

// About 256 cells per polygon, between 2^16 and 2^20 cells (4 MB), square-ish in degrees.
constexpr double CELLS_PER_POLYGON = 256;
constexpr double MIN_CELLS = 1 << 16;
constexpr double MAX_CELLS = 1 << 20;

} // namespace

struct boundary_index::impl {
    std::vector<boundary> items;
    std::vector<indexed_shape> shapes;
    std::vector<bbox> boxes;
    bgi::rtree<entry, bgi::rstar<16>> tree;
    std::map<std::string, std::size_t, std::less<>> by_code;
    cell_table table;

    const boundary* locate_exact(double lon, double lat) const;
    void build_table();
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
    m_impl->shapes.push_back(index_shape(std::move(mp)));
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
    m_impl->build_table();
}

void boundary_index::impl::build_table()
{
    table = cell_table{};
    if (boxes.empty()) {
        return;
    }
    bbox extent = boxes.front();
    for (const auto& b : boxes) {
        bg::expand(extent, b);
    }
    const double w = bg::get<bg::max_corner, 0>(extent) - bg::get<bg::min_corner, 0>(extent);
    const double h = bg::get<bg::max_corner, 1>(extent) - bg::get<bg::min_corner, 1>(extent);
    if (!(w > 0 && h > 0)) {
        return;
    }
    const double target = std::clamp(CELLS_PER_POLYGON * static_cast<double>(items.size()), MIN_CELLS, MAX_CELLS);
    table.nx = static_cast<std::uint32_t>(std::clamp(std::round(std::sqrt(target * w / h)), 1.0, target));
    table.ny = static_cast<std::uint32_t>(std::clamp(std::round(target / table.nx), 1.0, target));
    table.x0 = bg::get<bg::min_corner, 0>(extent);
    table.y0 = bg::get<bg::min_corner, 1>(extent);
    table.cell_w = w / table.nx;
    table.cell_h = h / table.ny;
    table.inv_w = 1 / table.cell_w;
    table.inv_h = 1 / table.cell_h;
    table.cells.assign(std::size_t{table.nx} * table.ny, 0);
    // A thousandth of a cell: many orders of magnitude above the rounding of these coordinates
    // (~1e-14 degrees), so a point is always inside the grown box of the cell it maps to.
    const double margin = 1e-3 * std::min(table.cell_w, table.cell_h);
    for (const auto& s : shapes) {
        auto mark = [&](const polygon::ring_type& ring) {
            for (std::size_t i = 0; i + 1 < ring.size(); ++i) {
                table.mark_segment(bg::get<0>(ring[i]), bg::get<1>(ring[i]), bg::get<0>(ring[i + 1]),
                                   bg::get<1>(ring[i + 1]), margin);
            }
        };
        for (const auto& poly : s.shape) {
            mark(poly.outer());
            for (const auto& hole : poly.inners()) {
                mark(hole);
            }
        }
    }
    // Within a row, a run of clean cells is one segment-free rectangle: one exact answer each.
    for (std::uint32_t r = 0; r < table.ny; ++r) {
        std::uint32_t* row = table.cells.data() + std::size_t{r} * table.nx;
        std::uint32_t run_value = cell_table::MIXED;
        for (std::uint32_t c = 0; c < table.nx; ++c) {
            if (row[c] == cell_table::MIXED) {
                run_value = cell_table::MIXED;
                continue;
            }
            if (run_value == cell_table::MIXED) {
                const boundary* b = locate_exact(table.x0 + (c + 0.5) * table.cell_w, table.y0 + (r + 0.5) * table.cell_h);
                run_value = b == nullptr ? cell_table::NONE : static_cast<std::uint32_t>(b - items.data());
            }
            row[c] = run_value;
        }
    }
}

std::size_t boundary_index::size() const noexcept
{
    return m_impl->items.size();
}

const boundary* boundary_index::locate(double lon, double lat) const
{
    const std::uint32_t cell = m_impl->table.at(lon, lat);
    if (cell == cell_table::NONE) {
        return nullptr;
    }
    if (cell != cell_table::MIXED) {
        return &m_impl->items[cell];
    }
    return m_impl->locate_exact(lon, lat);
}

const boundary* boundary_index::locate_exact(double lon, double lat) const
{
    return m_impl->locate_exact(lon, lat);
}

double boundary_index::direct_share() const noexcept
{
    const auto& cells = m_impl->table.cells;
    if (cells.empty()) {
        return 0;
    }
    return static_cast<double>(std::count_if(cells.begin(), cells.end(),
                                             [](std::uint32_t v) { return v != cell_table::MIXED; })) /
           static_cast<double>(cells.size());
}

const boundary* boundary_index::impl::locate_exact(double lon, double lat) const
{
    const point p(lon, lat);
    const boundary* best = nullptr;
    // query() with an output iterator, not qbegin(): the latter is type-erased and allocates
    // its iterator on the heap on every call.
    tree.query(bgi::covers(p), boost::make_function_output_iterator([&](const auto& value) {
                           const std::size_t i = value.second;
                           if (best != nullptr && items[i].code >= best->code) {
                               return;
                           }
                           if (covers(shapes[i], lon, lat)) {
                               best = &items[i];
                           }
                       }));
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
        if (i != self && bg::intersects(m_impl->shapes[self].shape, m_impl->shapes[i].shape)) {
            out.push_back(&m_impl->items[i]);
        }
    }
    std::sort(out.begin(), out.end(), [](const boundary* a, const boundary* b) { return a->code < b->code; });
    return out;
}

} // namespace onemap::core
