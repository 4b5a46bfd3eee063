#include "onemap/importers/dissolve.hpp"

#include "onemap/core/error.hpp"

#include <ogr_geometry.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

namespace onemap::importers {

namespace {

constexpr int GRID_PER_PIXEL = 2;    // grid cells per pixel of the zoom, each way
constexpr std::int64_t CELL = 512;   // a job's square, in grid cells (about a tile of the zoom)
// Arc simplification, grid cells: a quarter pixel. Douglas-Peucker's chords cut into whatever is
// convex, so small blobs and thin strips (ponds, hamlets, roads) shrink and their neighbours grow:
// at half a pixel that took 20-45 % of those classes' area at z7-z8 on 200,000 parcels; at a
// quarter pixel they stay within 1 %, and the staircases it leaves are half a pixel high.
constexpr double TOLERANCE = 0.5;
// Islands and holes of fewer cells are absorbed. One: none is. Absorbing those under a pixel
// (4 cells) took 10-60 % of the area of scattered classes (ponds, hamlets) at z6-z9 on 200,000
// parcels, and gave it to farmland; centre sampling alone keeps every class's area.
constexpr int MIN_ISLAND_CELLS = 1;
constexpr std::int64_t JOB_FID_STRIDE = std::int64_t{1} << 20;

using ipoint = std::array<int, 2>;
using dpoint = std::array<double, 2>;

// One job's polygons, in grid units: [0] the outer ring (counter-clockwise), then its holes
// (clockwise); rings closed.
struct traced_polygon {
    std::vector<std::vector<dpoint>> rings;
};

double grid_units(int zoom)
{
    return core::degrees_per_pixel(zoom) / GRID_PER_PIXEL * COORD_SCALE;
}

// ---- label raster → arcs → rings -----------------------------------------------------------

constexpr int DX[4] = {1, 0, -1, 0}; // E, N, W, S
constexpr int DY[4] = {0, 1, 0, -1};

class raster_view {
public:
    raster_view(const std::vector<std::int32_t>& labels, int width, int height)
        : m_labels(labels), m_w(width), m_h(height)
    {
    }
    std::int32_t at(int i, int j) const noexcept
    {
        if (i < 0 || j < 0 || i >= m_w || j >= m_h) {
            return 0;
        }
        return m_labels[static_cast<std::size_t>(j) * static_cast<std::size_t>(m_w) + static_cast<std::size_t>(i)];
    }
    int width() const noexcept
    {
        return m_w;
    }
    int height() const noexcept
    {
        return m_h;
    }
    // The edge leaving corner (i, j) in direction d: exists when the cells on its sides differ.
    bool exists(int i, int j, int d) const noexcept
    {
        const auto [l, r] = sides(i, j, d);
        return l != r && in_range(i, j, d);
    }
    // Labels left and right of the edge leaving corner (i, j) in direction d.
    std::pair<std::int32_t, std::int32_t> sides(int i, int j, int d) const noexcept
    {
        switch (d) {
        case 0:
            return {at(i, j), at(i, j - 1)};
        case 1:
            return {at(i - 1, j), at(i, j)};
        case 2:
            return {at(i - 1, j - 1), at(i - 1, j)};
        default:
            return {at(i, j - 1), at(i - 1, j - 1)};
        }
    }
    // Index of the edge in the visited bitmaps: horizontal edges first, then vertical.
    std::size_t edge_index(int i, int j, int d) const noexcept
    {
        const auto w = static_cast<std::size_t>(m_w);
        const auto h = static_cast<std::size_t>(m_h);
        switch (d) {
        case 0:
            return static_cast<std::size_t>(j) * w + static_cast<std::size_t>(i);
        case 2:
            return static_cast<std::size_t>(j) * w + static_cast<std::size_t>(i - 1);
        case 1:
            return w * (h + 1) + static_cast<std::size_t>(j) * (w + 1) + static_cast<std::size_t>(i);
        default:
            return w * (h + 1) + static_cast<std::size_t>(j - 1) * (w + 1) + static_cast<std::size_t>(i);
        }
    }
    std::size_t edge_count() const noexcept
    {
        const auto w = static_cast<std::size_t>(m_w);
        const auto h = static_cast<std::size_t>(m_h);
        return w * (h + 1) + (w + 1) * h;
    }
    int degree(int i, int j) const noexcept
    {
        int n = 0;
        for (int d = 0; d < 4; ++d) {
            n += exists(i, j, d) ? 1 : 0;
        }
        return n;
    }

private:
    bool in_range(int i, int j, int d) const noexcept
    {
        switch (d) {
        case 0:
            return i < m_w;
        case 1:
            return j < m_h;
        case 2:
            return i > 0;
        default:
            return j > 0;
        }
    }

    const std::vector<std::int32_t>& m_labels;
    int m_w;
    int m_h;
};

struct arc {
    std::vector<ipoint> pts;
    std::int32_t left = 0;
    std::int32_t right = 0;
    int first_dir = 0; // direction of the first edge
    int last_dir = 0;  // direction of the last edge
    bool closed = false;
};

arc walk(const raster_view& r, std::vector<std::uint8_t>& visited, int i0, int j0, int d0, bool from_node)
{
    arc a;
    a.first_dir = d0;
    std::tie(a.left, a.right) = r.sides(i0, j0, d0);
    a.pts.push_back({i0, j0});
    int i = i0;
    int j = j0;
    int d = d0;
    for (;;) {
        visited[r.edge_index(i, j, d)] = 1;
        i += DX[d];
        j += DY[d];
        const bool back_home = i == i0 && j == j0;
        if (back_home || (from_node && r.degree(i, j) != 2)) {
            a.pts.push_back({i, j});
            a.last_dir = d;
            a.closed = back_home && !from_node;
            return a;
        }
        // A corner of degree 2: the other edge (not the one we came along).
        int next = -1;
        for (int k = 0; k < 4; ++k) {
            if (k != (d + 2) % 4 && r.exists(i, j, k)) {
                next = k;
                break;
            }
        }
        if (next < 0) { // cannot happen on a label raster; end the arc here
            a.pts.push_back({i, j});
            a.last_dir = d;
            return a;
        }
        if (next != d) {
            a.pts.push_back({i, j});
        }
        d = next;
    }
}

double segment_distance(const dpoint& p, const dpoint& a, const dpoint& b)
{
    const double vx = b[0] - a[0];
    const double vy = b[1] - a[1];
    const double wx = p[0] - a[0];
    const double wy = p[1] - a[1];
    const double len2 = vx * vx + vy * vy;
    double t = len2 > 0 ? (wx * vx + wy * vy) / len2 : 0.0;
    t = std::clamp(t, 0.0, 1.0);
    const double dx = wx - t * vx;
    const double dy = wy - t * vy;
    return std::sqrt(dx * dx + dy * dy);
}

void douglas_peucker(const std::vector<dpoint>& pts, std::size_t first, std::size_t last, double tol,
                     std::vector<std::uint8_t>& keep)
{
    // Iterative, so a long staircase cannot exhaust the stack.
    std::vector<std::pair<std::size_t, std::size_t>> todo{{first, last}};
    while (!todo.empty()) {
        const auto [a, b] = todo.back();
        todo.pop_back();
        if (b <= a + 1) {
            continue;
        }
        double worst = -1;
        std::size_t at = a;
        for (std::size_t k = a + 1; k < b; ++k) {
            const double dist = segment_distance(pts[k], pts[a], pts[b]);
            if (dist > worst) {
                worst = dist;
                at = k;
            }
        }
        if (worst > tol) {
            keep[at] = 1;
            todo.emplace_back(a, at);
            todo.emplace_back(at, b);
        }
    }
}

std::vector<dpoint> simplify(const arc& a, double tol)
{
    std::vector<dpoint> pts;
    pts.reserve(a.pts.size());
    for (const auto& p : a.pts) {
        pts.push_back({static_cast<double>(p[0]), static_cast<double>(p[1])});
    }
    std::vector<std::uint8_t> keep(pts.size(), 0);
    keep.front() = 1;
    keep.back() = 1;
    if (a.closed) {
        // A loop: anchored at its start and at the point farthest from it.
        std::size_t far = 0;
        double best = -1;
        for (std::size_t k = 1; k + 1 < pts.size(); ++k) {
            const double dx = pts[k][0] - pts[0][0];
            const double dy = pts[k][1] - pts[0][1];
            if (dx * dx + dy * dy > best) {
                best = dx * dx + dy * dy;
                far = k;
            }
        }
        keep[far] = 1;
        douglas_peucker(pts, 0, far, tol, keep);
        douglas_peucker(pts, far, pts.size() - 1, tol, keep);
    } else {
        douglas_peucker(pts, 0, pts.size() - 1, tol, keep);
    }
    std::vector<dpoint> out;
    for (std::size_t k = 0; k < pts.size(); ++k) {
        if (keep[k] != 0) {
            out.push_back(pts[k]);
        }
    }
    if (a.closed && out.size() < 4) {
        return pts; // a loop kept (not absorbed) must not collapse: both sides keep its area
    }
    return out;
}

double ring_area(const std::vector<dpoint>& ring)
{
    double s = 0;
    for (std::size_t k = 0; k + 1 < ring.size(); ++k) {
        s += ring[k][0] * ring[k + 1][1] - ring[k + 1][0] * ring[k][1];
    }
    return s / 2;
}

long long loop_cells(const std::vector<ipoint>& ring)
{
    long long s = 0;
    for (std::size_t k = 0; k + 1 < ring.size(); ++k) {
        s += static_cast<long long>(ring[k][0]) * ring[k + 1][1] - static_cast<long long>(ring[k + 1][0]) * ring[k][1];
    }
    return std::llabs(s) / 2;
}

// One side of an arc, oriented so that its label lies on the left.
struct piece {
    std::int32_t label;
    std::size_t arc;
    bool reversed;
    std::int64_t start;
    std::int64_t end;
    int out_dir; // direction of the first edge
    int in_dir;  // direction of the last edge
    bool closed;
    std::int32_t component; // the 4-connected region of `label` on its left
};

// Preference at a node when leaving after arriving along `in`: the leftmost turn first, so a
// region touching itself at a corner gives rings that touch there rather than cross.
int turn_rank(int in, int out)
{
    switch ((out - in + 4) % 4) {
    case 1:
        return 0; // left
    case 0:
        return 1; // straight on
    case 3:
        return 2; // right
    default:
        return 3; // back
    }
}

// The cell left of the edge leaving corner (i, j) in direction d.
std::pair<int, int> left_cell(int i, int j, int d) noexcept
{
    switch (d) {
    case 0:
        return {i, j};
    case 1:
        return {i - 1, j};
    case 2:
        return {i - 1, j - 1};
    default:
        return {i, j - 1};
    }
}

// 4-connected regions of equal labels (the regions the leftmost-turn rings bound).
std::vector<std::int32_t> components(const std::vector<std::int32_t>& labels, int w, int h)
{
    std::vector<std::int32_t> comp(labels.size(), -1);
    std::vector<std::size_t> stack;
    std::int32_t next = 0;
    const auto W = static_cast<std::size_t>(w);
    for (std::size_t start = 0; start < labels.size(); ++start) {
        if (comp[start] >= 0 || labels[start] == 0) {
            continue;
        }
        const std::int32_t label = labels[start];
        comp[start] = next;
        stack.push_back(start);
        while (!stack.empty()) {
            const std::size_t c = stack.back();
            stack.pop_back();
            const std::size_t x = c % W;
            const std::size_t y = c / W;
            auto visit = [&](std::size_t n) {
                if (comp[n] < 0 && labels[n] == label) {
                    comp[n] = next;
                    stack.push_back(n);
                }
            };
            if (x > 0) {
                visit(c - 1);
            }
            if (x + 1 < W) {
                visit(c + 1);
            }
            if (y > 0) {
                visit(c - W);
            }
            if (y + 1 < static_cast<std::size_t>(h)) {
                visit(c + W);
            }
        }
        ++next;
    }
    return comp;
}

// The pieces of one label (sorted by start corner) chained into rings; each region's outer
// ring (counter-clockwise) with the holes (clockwise) that bound the same region.
std::vector<traced_polygon> assemble(const std::vector<piece>& pieces, std::size_t begin, std::size_t end,
                                     const std::vector<std::vector<dpoint>>& shapes)
{
    std::vector<std::uint8_t> used(end - begin, 0);
    auto append = [&shapes](std::vector<dpoint>& ring, const piece& p) {
        const auto& s = shapes[p.arc];
        const std::size_t skip = ring.empty() ? 0 : 1; // the joint is already there
        if (p.reversed) {
            for (auto it = s.rbegin() + static_cast<std::ptrdiff_t>(skip); it != s.rend(); ++it) {
                ring.push_back(*it);
            }
        } else {
            ring.insert(ring.end(), s.begin() + static_cast<std::ptrdiff_t>(skip), s.end());
        }
    };
    struct ring_of {
        std::int32_t component;
        double area;
        std::vector<dpoint> pts;
    };
    std::vector<ring_of> rings;
    const auto first_piece = pieces.begin() + static_cast<std::ptrdiff_t>(begin);
    const auto last_piece = pieces.begin() + static_cast<std::ptrdiff_t>(end);
    for (std::size_t k = begin; k < end; ++k) {
        if (used[k - begin] != 0) {
            continue;
        }
        std::vector<dpoint> ring;
        const piece& first = pieces[k];
        used[k - begin] = 1;
        append(ring, first);
        if (!first.closed) {
            const piece* cur = &first;
            for (std::size_t guard = 0; guard <= end - begin; ++guard) {
                const auto range = std::equal_range(
                    first_piece, last_piece, cur->end,
                    [](const auto& a, const auto& b) {
                        if constexpr (std::is_same_v<std::decay_t<decltype(a)>, piece>) {
                            return a.start < b;
                        } else {
                            return a < b.start;
                        }
                    });
                std::size_t best = end;
                int best_rank = 99;
                for (auto it = range.first; it != range.second; ++it) {
                    if (it->closed) {
                        continue;
                    }
                    const int rank = turn_rank(cur->in_dir, it->out_dir);
                    if (rank < best_rank) {
                        best_rank = rank;
                        best = static_cast<std::size_t>(it - pieces.begin());
                    }
                }
                if (best == end || best == k || used[best - begin] != 0) {
                    break; // closed (or, on inconsistent input, left open and dropped below)
                }
                used[best - begin] = 1;
                append(ring, pieces[best]);
                cur = &pieces[best];
            }
        }
        if (ring.size() >= 4 && ring.front() == ring.back()) {
            const double area = ring_area(ring);
            if (std::abs(area) > 1e-9) {
                rings.push_back(ring_of{first.component, area, std::move(ring)});
            }
        }
    }
    // Group by region: its outer ring first, then its holes.
    std::sort(rings.begin(), rings.end(), [](const ring_of& a, const ring_of& b) {
        return a.component != b.component ? a.component < b.component : a.area > b.area;
    });
    std::vector<traced_polygon> out;
    for (std::size_t r = 0; r < rings.size();) {
        std::size_t e = r;
        while (e < rings.size() && rings[e].component == rings[r].component) {
            ++e;
        }
        if (rings[r].area > 0) { // a region whose outer ring collapsed loses its holes too
            traced_polygon poly;
            for (std::size_t k = r; k < e; ++k) {
                if (k == r || rings[k].area < 0) {
                    poly.rings.push_back(std::move(rings[k].pts));
                } else {
                    traced_polygon extra; // cannot happen on a raster: one outer ring per region
                    extra.rings.push_back(std::move(rings[k].pts));
                    out.push_back(std::move(extra));
                }
            }
            out.push_back(std::move(poly));
        }
        r = e;
    }
    return out;
}

// ---- EWKB -----------------------------------------------------------------------------------

class ewkb_writer {
public:
    explicit ewkb_writer(std::string& out) : m_out(out)
    {
    }
    void u8(std::uint8_t v)
    {
        put(&v, 1);
    }
    void u32(std::uint32_t v)
    {
        put(&v, 4);
    }
    void f64(double v)
    {
        put(&v, 8);
    }

private:
    void put(const void* p, std::size_t n)
    {
        static constexpr char HEX[] = "0123456789ABCDEF";
        const auto* b = static_cast<const unsigned char*>(p);
        for (std::size_t k = 0; k < n; ++k) {
            m_out.push_back(HEX[b[k] >> 4]);
            m_out.push_back(HEX[b[k] & 15]);
        }
    }
    std::string& m_out;
};

// Appends "\t<EWKB hex>\t<extent_deg>\n" for the polygons, mapped from grid to degrees.
template <typename Map>
void append_geometry(std::string& out, const std::vector<const traced_polygon*>& polys, const Map& to_degrees)
{
    out.push_back('\t');
    ewkb_writer w(out);
    w.u8(1);
    w.u32(6U | 0x20000000U);
    w.u32(static_cast<std::uint32_t>(core::STORAGE_SRID));
    w.u32(static_cast<std::uint32_t>(polys.size()));
    double min_x = std::numeric_limits<double>::max();
    double min_y = min_x;
    double max_x = -min_x;
    double max_y = -min_x;
    for (const auto* p : polys) {
        w.u8(1);
        w.u32(3);
        w.u32(static_cast<std::uint32_t>(p->rings.size()));
        for (const auto& ring : p->rings) {
            w.u32(static_cast<std::uint32_t>(ring.size()));
            for (const auto& pt : ring) {
                const dpoint d = to_degrees(pt);
                w.f64(d[0]);
                w.f64(d[1]);
                min_x = std::min(min_x, d[0]);
                min_y = std::min(min_y, d[1]);
                max_x = std::max(max_x, d[0]);
                max_y = std::max(max_y, d[1]);
            }
        }
    }
    char num[40];
    std::snprintf(num, sizeof num, "\t%.17g\n", std::max(max_x - min_x, max_y - min_y));
    out += num;
}

// ---- tracing --------------------------------------------------------------------------------

// A label raster (row 0 south; 0 = nothing) as polygons per label, simplified to `tolerance`
// grid units along arcs shared by both sides; closed islands and holes enclosing fewer than
// `min_island_cells` cells are absorbed by their surroundings.
std::map<std::int32_t, std::vector<traced_polygon>> trace_labels(const std::vector<std::int32_t>& labels, int width,
                                                                 int height, double tolerance, int min_island_cells)
{
    const raster_view r(labels, width, height);
    std::vector<std::uint8_t> visited(r.edge_count(), 0);
    std::vector<arc> arcs;
    for (int j = 0; j <= height; ++j) {
        for (int i = 0; i <= width; ++i) {
            if (r.degree(i, j) <= 2) {
                continue;
            }
            for (int d = 0; d < 4; ++d) {
                if (r.exists(i, j, d) && visited[r.edge_index(i, j, d)] == 0) {
                    arcs.push_back(walk(r, visited, i, j, d, true));
                }
            }
        }
    }
    // What is left are loops through corners of degree 2 only: islands and holes.
    for (int j = 0; j <= height; ++j) {
        for (int i = 0; i < width; ++i) {
            if (r.exists(i, j, 0) && visited[r.edge_index(i, j, 0)] == 0) {
                arc a = walk(r, visited, i, j, 0, false);
                // Under one pixel: absorbed by the surroundings (both sides' rings go). Such a
                // loop is too small to enclose another loop, so nothing is orphaned.
                if (loop_cells(a.pts) >= std::min(min_island_cells, 8)) {
                    arcs.push_back(std::move(a));
                }
            }
        }
    }

    std::vector<std::vector<dpoint>> shapes;
    shapes.reserve(arcs.size());
    std::vector<piece> pieces;
    const auto corner = [width](const ipoint& p) {
        return static_cast<std::int64_t>(p[1]) * (width + 1) + p[0];
    };
    const std::vector<std::int32_t> comp = components(labels, width, height);
    const auto component_left = [&](const ipoint& from, int d) {
        const auto [ci, cj] = left_cell(from[0], from[1], d);
        return comp[static_cast<std::size_t>(cj) * static_cast<std::size_t>(width) + static_cast<std::size_t>(ci)];
    };
    for (std::size_t k = 0; k < arcs.size(); ++k) {
        const arc& a = arcs[k];
        shapes.push_back(simplify(a, tolerance));
        const std::int64_t s = corner(a.pts.front());
        const std::int64_t e = corner(a.pts.back());
        if (a.left != 0) {
            pieces.push_back(piece{a.left, k, false, s, e, a.first_dir, a.last_dir, a.closed,
                                   component_left(a.pts.front(), a.first_dir)});
        }
        if (a.right != 0) {
            const int out = (a.last_dir + 2) % 4;
            pieces.push_back(piece{a.right, k, true, e, s, out, (a.first_dir + 2) % 4, a.closed,
                                   component_left(a.pts.back(), out)});
        }
    }
    std::sort(pieces.begin(), pieces.end(), [](const piece& a, const piece& b) {
        return a.label != b.label ? a.label < b.label : a.start < b.start;
    });

    std::map<std::int32_t, std::vector<traced_polygon>> out;
    for (std::size_t b = 0; b < pieces.size();) {
        std::size_t e = b;
        while (e < pieces.size() && pieces[e].label == pieces[b].label) {
            ++e;
        }
        auto polys = assemble(pieces, b, e, shapes);
        if (!polys.empty()) {
            out.emplace(pieces[b].label, std::move(polys));
        }
        b = e;
    }
    return out;
}

} // namespace

// ---- class levels ---------------------------------------------------------------------------

class_levels class_levels::parse(const std::string& spec)
{
    class_levels l;
    auto fail = [&spec](const std::string& why) {
        throw config_error("class_levels '" + spec + "': " + why +
                           " (expected e.g. \"0-9:2,10-12:all\": zooms, then the characters of the class kept)");
    };
    std::size_t pos = 0;
    while (pos < spec.size()) {
        const std::size_t comma = std::min(spec.find(',', pos), spec.size());
        const std::string part = spec.substr(pos, comma - pos);
        pos = comma + 1;
        const auto colon = part.find(':');
        if (colon == std::string::npos) {
            fail("'" + part + "' has no ':'");
        }
        const std::string zooms = part.substr(0, colon);
        const std::string keep = part.substr(colon + 1);
        int z0 = 0;
        int z1 = 0;
        char tail = 0;
        if (std::sscanf(zooms.c_str(), "%d-%d%c", &z0, &z1, &tail) != 2) {
            if (std::sscanf(zooms.c_str(), "%d%c", &z0, &tail) != 1) {
                fail("'" + zooms + "' is not a zoom or a zoom range");
            }
            z1 = z0;
        }
        if (z0 < 0 || z1 > core::OVERVIEW_MAX_ZOOM || z0 > z1) {
            fail("zooms must lie within 0-" + std::to_string(core::OVERVIEW_MAX_ZOOM));
        }
        int chars = 0;
        if (keep != "all") {
            if (std::sscanf(keep.c_str(), "%d%c", &chars, &tail) != 1 || chars < 0 || chars > 64) {
                fail("'" + keep + "' is not a number of characters or 'all'");
            }
        }
        for (int z = z0; z <= z1; ++z) {
            l.prefix[static_cast<std::size_t>(z)] = chars;
        }
    }
    return l;
}

class_levels class_levels::land_use_default()
{
    class_levels l;
    for (int z = 0; z <= 9; ++z) {
        l.prefix[static_cast<std::size_t>(z)] = 2;
    }
    return l;
}

std::string class_levels::to_string() const
{
    std::string s;
    std::size_t z = 0;
    while (z < prefix.size()) {
        std::size_t e = z;
        while (e + 1 < prefix.size() && prefix[e + 1] == prefix[z]) {
            ++e;
        }
        s += (s.empty() ? "" : ",") + std::to_string(z) + (e > z ? "-" + std::to_string(e) : "") + ":" +
             (prefix[z] == 0 ? std::string("all") : std::to_string(prefix[z]));
        z = e + 1;
    }
    return s;
}

std::string_view class_prefix(std::string_view value, int chars) noexcept
{
    if (chars <= 0) {
        return value;
    }
    std::size_t at = 0;
    for (int c = 0; c < chars && at < value.size(); ++c) {
        ++at;
        while (at < value.size() && (static_cast<unsigned char>(value[at]) & 0xC0U) == 0x80U) {
            ++at; // UTF-8 continuation bytes
        }
    }
    return value.substr(0, at);
}

// ---- polygon_set ----------------------------------------------------------------------------

std::uint32_t polygon_set::intern(std::string_view value)
{
    const auto it = m_class_index.find(value);
    if (it != m_class_index.end()) {
        return it->second;
    }
    const auto id = static_cast<std::uint32_t>(m_classes.size());
    m_classes.emplace_back(value);
    m_class_index.emplace(std::string(value), id);
    return id;
}

std::string_view polygon_set::row_prefix(std::size_t i) const noexcept
{
    const std::size_t begin = i == 0 ? 0 : m_row_end[i - 1];
    return std::string_view(m_rows).substr(begin, m_row_end[i] - begin);
}

void polygon_set::add(std::int64_t fid, std::string_view class_value, std::string_view row_prefix,
                      const OGRGeometry& g)
{
    const auto type = wkbFlatten(g.getGeometryType());
    std::vector<const OGRPolygon*> polys;
    if (type == wkbPolygon) {
        polys.push_back(g.toPolygon());
    } else if (type == wkbMultiPolygon) {
        for (const auto* p : *g.toMultiPolygon()) {
            polys.push_back(p);
        }
    } // other types: a feature without rings, drawn nowhere

    ibox b{std::numeric_limits<std::int32_t>::max(), std::numeric_limits<std::int32_t>::max(),
           std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::min()};
    auto add_ring = [this, &b](const OGRLinearRing& ring) {
        const int n = ring.getNumPoints();
        for (int k = 0; k < n; ++k) {
            const auto x = static_cast<std::int32_t>(std::lround(ring.getX(k) * COORD_SCALE));
            const auto y = static_cast<std::int32_t>(std::lround(ring.getY(k) * COORD_SCALE));
            m_xy.push_back(x);
            m_xy.push_back(y);
            b.min_x = std::min(b.min_x, x);
            b.min_y = std::min(b.min_y, y);
            b.max_x = std::max(b.max_x, x);
            b.max_y = std::max(b.max_y, y);
        }
        m_ring_end.push_back(static_cast<std::uint32_t>(m_xy.size() / 2));
    };
    for (const auto* p : polys) {
        if (p->getExteriorRing() == nullptr) {
            continue;
        }
        add_ring(*p->getExteriorRing());
        for (int r = 0; r < p->getNumInteriorRings(); ++r) {
            add_ring(*p->getInteriorRing(r));
        }
    }
    m_feature_ring_end.push_back(static_cast<std::uint32_t>(m_ring_end.size()));
    m_fid.push_back(fid);
    m_max_fid = std::max(m_max_fid, fid);
    m_class.push_back(intern(class_value));
    m_rows.append(row_prefix);
    m_row_end.push_back(m_rows.size());
    m_box.push_back(b);
}

void polygon_set::append(const polygon_set& from, std::size_t i)
{
    const auto [r0, r1] = from.rings(i);
    const std::uint32_t v0 = r0 == 0 ? 0 : from.m_ring_end[r0 - 1];
    const std::uint32_t v1 = r1 == 0 ? 0 : from.m_ring_end[r1 - 1];
    const auto base = static_cast<std::uint32_t>(m_xy.size() / 2);
    m_xy.insert(m_xy.end(), from.m_xy.begin() + 2 * static_cast<std::ptrdiff_t>(v0),
                from.m_xy.begin() + 2 * static_cast<std::ptrdiff_t>(v1));
    for (std::uint32_t r = r0; r < r1; ++r) {
        m_ring_end.push_back(base + (from.m_ring_end[r] - v0));
    }
    m_feature_ring_end.push_back(static_cast<std::uint32_t>(m_ring_end.size()));
    m_fid.push_back(from.m_fid[i]);
    m_max_fid = std::max(m_max_fid, from.m_fid[i]);
    m_class.push_back(intern(from.class_value(i)));
    m_rows.append(from.row_prefix(i));
    m_row_end.push_back(m_rows.size());
    m_box.push_back(from.m_box[i]);
}

// ---- overview_builder -----------------------------------------------------------------------

overview_builder::overview_builder(const polygon_set& features, const class_levels& levels,
                                   const copy_layout& layout, unsigned threads)
    : m_features(features), m_levels(levels), m_layout(layout)
{
    polygon_set::ibox all{std::numeric_limits<std::int32_t>::max(), std::numeric_limits<std::int32_t>::max(),
                          std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::min()};
    for (std::size_t i = 0; i < features.size(); ++i) {
        const auto& b = features.box(i);
        all.min_x = std::min(all.min_x, b.min_x);
        all.min_y = std::min(all.min_y, b.min_y);
        all.max_x = std::max(all.max_x, b.max_x);
        all.max_y = std::max(all.max_y, b.max_y);
    }
    // A copy pays off where features are too small to see: from the highest zoom at which at
    // least 1 % of them are, down. Above it tiles read the full table.
    for (int z = core::OVERVIEW_MAX_ZOOM; z >= 0 && m_max_zoom < 0; --z) {
        const double visible = core::MIN_FEATURE_PIXELS * core::degrees_per_pixel(z) * COORD_SCALE;
        std::size_t small = 0;
        for (std::size_t i = 0; i < features.size(); ++i) {
            const auto& b = features.box(i);
            small += std::max(static_cast<double>(b.max_x) - b.min_x, static_cast<double>(b.max_y) - b.min_y) < visible
                         ? 1
                         : 0;
        }
        if (small > 0 && small * 100 >= features.size()) {
            m_max_zoom = z;
        }
    }
    for (int z = 0; z <= m_max_zoom; ++z) {
        m_done[static_cast<std::size_t>(z)].zoom = z;
        const double g = grid_units(z) * CELL;
        const auto x0 = static_cast<std::int64_t>(std::floor((all.min_x + 180 * COORD_SCALE) / g));
        const auto x1 = static_cast<std::int64_t>(std::floor((all.max_x + 180 * COORD_SCALE) / g));
        const auto y0 = static_cast<std::int64_t>(std::floor((all.min_y + 90 * COORD_SCALE) / g));
        const auto y1 = static_cast<std::int64_t>(std::floor((all.max_y + 90 * COORD_SCALE) / g));
        for (auto cy = y0; cy <= y1; ++cy) {
            for (auto cx = x0; cx <= x1; ++cx) {
                m_jobs.push_back(job{z, cx, cy});
                ++m_jobs_left[static_cast<std::size_t>(z)];
            }
        }
    }
    threads = std::max(1U, threads);
    for (unsigned t = 0; t < threads; ++t) {
        m_threads.emplace_back([this] { work(); });
    }
}

overview_builder::~overview_builder()
{
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_cancel = true;
    }
    m_changed.notify_all();
    for (auto& t : m_threads) {
        t.join();
    }
}

std::optional<zoom_copy> overview_builder::next()
{
    std::unique_lock<std::mutex> lock(m_mutex);
    if (m_next_zoom > m_max_zoom) {
        return std::nullopt;
    }
    const auto z = static_cast<std::size_t>(m_next_zoom);
    m_changed.wait(lock, [this, z] { return m_error || m_jobs_left[z] == 0; });
    if (m_error) {
        std::rethrow_exception(m_error);
    }
    ++m_next_zoom;
    return std::move(m_done[z]);
}

void overview_builder::work()
{
    for (;;) {
        std::size_t index = 0;
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            if (m_cancel || m_error || m_next_job >= m_jobs.size()) {
                return;
            }
            index = m_next_job++;
        }
        const job j = m_jobs[index];
        std::string text;
        long long rows = 0;
        long long merged = 0;
        long long kept = 0;
        try {
            run(j, index, text, rows, merged, kept);
        } catch (...) {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_error = std::current_exception();
            m_changed.notify_all();
            return;
        }
        std::lock_guard<std::mutex> lock(m_mutex);
        auto& done = m_done[static_cast<std::size_t>(j.zoom)];
        done.copy_text += text;
        done.rows += rows;
        done.merged_rows += merged;
        done.kept_features += kept;
        --m_jobs_left[static_cast<std::size_t>(j.zoom)];
        m_changed.notify_all();
    }
}

void overview_builder::run(const job& j, std::size_t index, std::string& out, long long& rows, long long& merged,
                           long long& kept)
{
    const int z = j.zoom;
    const double unit = grid_units(z);
    const double origin_x = -180 * COORD_SCALE;
    const double origin_y = -90 * COORD_SCALE;
    // The job's raster: its square of the grid, cut to the features it meets.
    const std::int64_t cx0 = j.cell_x * CELL;
    const std::int64_t cy0 = j.cell_y * CELL;
    const double qx0 = origin_x + static_cast<double>(cx0) * unit;
    const double qy0 = origin_y + static_cast<double>(cy0) * unit;
    const double qx1 = qx0 + static_cast<double>(CELL) * unit;
    const double qy1 = qy0 + static_cast<double>(CELL) * unit;
    std::vector<std::size_t> members;
    double bx0 = qx1;
    double by0 = qy1;
    double bx1 = qx0;
    double by1 = qy0;
    for (std::size_t i = 0; i < m_features.size(); ++i) {
        const auto& b = m_features.box(i);
        if (b.max_x < qx0 || b.min_x > qx1 || b.max_y < qy0 || b.min_y > qy1) {
            continue;
        }
        members.push_back(i);
        bx0 = std::min(bx0, static_cast<double>(b.min_x));
        by0 = std::min(by0, static_cast<double>(b.min_y));
        bx1 = std::max(bx1, static_cast<double>(b.max_x));
        by1 = std::max(by1, static_cast<double>(b.max_y));
    }
    if (members.empty()) {
        return;
    }
    const std::int64_t gx0 = std::max(cx0, static_cast<std::int64_t>(std::floor((bx0 - origin_x) / unit)));
    const std::int64_t gy0 = std::max(cy0, static_cast<std::int64_t>(std::floor((by0 - origin_y) / unit)));
    const std::int64_t gx1 = std::min(cx0 + CELL, static_cast<std::int64_t>(std::floor((bx1 - origin_x) / unit)) + 1);
    const std::int64_t gy1 = std::min(cy0 + CELL, static_cast<std::int64_t>(std::floor((by1 - origin_y) / unit)) + 1);
    if (gx1 <= gx0 || gy1 <= gy0) {
        return;
    }
    const int w = static_cast<int>(gx1 - gx0);
    const int h = static_cast<int>(gy1 - gy0);
    std::vector<std::int32_t> labels(static_cast<std::size_t>(w) * static_cast<std::size_t>(h), 0);

    // Labels: 1..K the classes (at this zoom's level), then one per feature large enough to see.
    const int chars = m_levels.prefix[static_cast<std::size_t>(z)];
    const double visible = core::MIN_FEATURE_PIXELS * core::degrees_per_pixel(z) * COORD_SCALE;
    std::map<std::string_view, std::int32_t> class_label;
    std::vector<std::string_view> class_of_label{std::string_view()};
    std::vector<std::size_t> feature_of_label;
    std::vector<std::int32_t> label_of(members.size());
    for (std::size_t m = 0; m < members.size(); ++m) {
        const auto& b = m_features.box(members[m]);
        const double extent = std::max(static_cast<double>(b.max_x) - b.min_x, static_cast<double>(b.max_y) - b.min_y);
        if (extent >= visible) {
            label_of[m] = -1 - static_cast<std::int32_t>(feature_of_label.size()); // fixed below
            feature_of_label.push_back(members[m]);
            continue;
        }
        // The value is COPY text: cut where no escape sequence is split.
        const std::string_view value = m_features.class_value(members[m]);
        std::string_view key = class_prefix(value, chars);
        if (key.find('\\') != std::string_view::npos) {
            key = value;
        }
        auto [it, fresh] = class_label.emplace(key, static_cast<std::int32_t>(class_of_label.size()));
        if (fresh) {
            class_of_label.push_back(key);
        }
        label_of[m] = it->second;
    }
    const auto first_feature_label = static_cast<std::int32_t>(class_of_label.size());
    for (auto& l : label_of) {
        if (l < 0) {
            l = first_feature_label + (-1 - l);
        }
    }

    // Burn each polygon (even-odd over its rings) into the cells whose centres it holds.
    std::vector<std::pair<std::int64_t, double>> crossings;
    const std::int32_t* xy = m_features.xy();
    for (std::size_t m = 0; m < members.size(); ++m) {
        const std::size_t f = members[m];
        crossings.clear();
        const auto [r0, r1] = m_features.rings(f);
        for (std::uint32_t r = r0; r < r1; ++r) {
            const std::uint32_t v0 = r == 0 ? 0 : m_features.ring_end(r - 1);
            const std::uint32_t v1 = m_features.ring_end(r);
            for (std::size_t v = v0; v + 1 < v1; ++v) {
                const double ax = xy[2 * v];
                const double ay = xy[2 * v + 1];
                const double bx = xy[2 * v + 2];
                const double by = xy[2 * v + 3];
                if (ay == by) {
                    continue;
                }
                const double lo = std::min(ay, by);
                const double hi = std::max(ay, by);
                // Rows whose centre c = origin + (row + 0.5)·unit lies in [lo, hi).
                auto row_a = static_cast<std::int64_t>(std::ceil((lo - origin_y) / unit - 0.5));
                auto row_b = static_cast<std::int64_t>(std::ceil((hi - origin_y) / unit - 0.5));
                row_a = std::max(row_a, gy0);
                row_b = std::min(row_b, gy1);
                for (auto row = row_a; row < row_b; ++row) {
                    const double c = origin_y + (static_cast<double>(row) + 0.5) * unit;
                    crossings.emplace_back(row, ax + (c - ay) * (bx - ax) / (by - ay));
                }
            }
        }
        std::sort(crossings.begin(), crossings.end());
        const std::int32_t label = label_of[m];
        for (std::size_t k = 0; k + 1 < crossings.size(); k += 2) {
            const std::int64_t row = crossings[k].first;
            if (crossings[k + 1].first != row) { // an odd count on a row: skip it (degenerate ring)
                --k;
                continue;
            }
            auto col_a = static_cast<std::int64_t>(std::ceil((crossings[k].second - origin_x) / unit - 0.5));
            auto col_b = static_cast<std::int64_t>(std::ceil((crossings[k + 1].second - origin_x) / unit - 0.5));
            col_a = std::max(col_a, gx0);
            col_b = std::min(col_b, gx1);
            auto* line = labels.data() + static_cast<std::size_t>(row - gy0) * static_cast<std::size_t>(w);
            for (auto col = col_a; col < col_b; ++col) {
                line[col - gx0] = label;
            }
        }
    }

    const auto traced = trace_labels(labels, w, h, TOLERANCE, MIN_ISLAND_CELLS);
    const auto to_degrees = [&](const dpoint& p) {
        return dpoint{(origin_x + (static_cast<double>(gx0) + p[0]) * unit) / COORD_SCALE,
                      (origin_y + (static_cast<double>(gy0) + p[1]) * unit) / COORD_SCALE};
    };
    // Merged rows get ids above the layer's, unique per job and stable between runs.
    const auto job_ordinal = static_cast<std::int64_t>(
        std::count_if(m_jobs.begin(), m_jobs.begin() + static_cast<std::ptrdiff_t>(index),
                      [z](const job& other) { return other.zoom == z; }));
    std::int64_t next_fid = m_features.max_fid() + 1 + job_ordinal * JOB_FID_STRIDE;
    std::vector<const traced_polygon*> polys;
    for (const auto& [label, shapes] : traced) {
        if (label >= first_feature_label) {
            const std::size_t f = feature_of_label[static_cast<std::size_t>(label - first_feature_label)];
            polys.clear();
            for (const auto& p : shapes) {
                polys.push_back(&p);
            }
            out += m_features.row_prefix(f);
            append_geometry(out, polys, to_degrees);
            ++rows;
            ++kept;
            continue;
        }
        // One row per class and job square: its many small areas (ponds, hamlets) would each
        // cost a tile an id and tags.
        const std::string_view cls = class_of_label[static_cast<std::size_t>(label)];
        out += std::to_string(next_fid++);
        for (std::size_t a = 0; a < m_layout.attribute_count; ++a) {
            out.push_back('\t');
            if (a == m_layout.class_attribute && !cls.empty()) { // no class: NULL
                out += cls;
            } else {
                out += "\\N";
            }
        }
        polys.clear();
        for (const auto& p : shapes) {
            polys.push_back(&p);
        }
        append_geometry(out, polys, to_degrees);
        ++rows;
        ++merged;
    }
}

} // namespace onemap::importers
