#include "onemap/tileserver/analysis/geometry.hpp"

#include "onemap/core/error.hpp"

#include <boost/geometry.hpp>
#include <boost/iterator/function_output_iterator.hpp>
#include <boost/geometry/index/rtree.hpp>
#include <geodesic.h>
#include <proj.h>

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace onemap::tileserver::analysis {

namespace {

thread_local std::string t_geos_message;

void geos_message(const char* fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    t_geos_message = buf;
}

struct geos_context {
    GEOSContextHandle_t handle = GEOS_init_r();
    geos_context()
    {
        GEOSContext_setErrorHandler_r(handle, geos_message);
        GEOSContext_setNoticeHandler_r(handle, nullptr);
    }
    geos_context(const geos_context&) = delete;
    geos_context& operator=(const geos_context&) = delete;
    ~geos_context() { GEOS_finish_r(handle); }
};

// PROJ objects per thread: a context and one transformation per (from, to) pair.
struct proj_cache {
    PJ_CONTEXT* ctx = proj_context_create();
    std::map<std::pair<int, int>, PJ*> ops;
    proj_cache() = default;
    proj_cache(const proj_cache&) = delete;
    proj_cache& operator=(const proj_cache&) = delete;
    ~proj_cache()
    {
        for (auto& op : ops) {
            proj_destroy(op.second);
        }
        proj_context_destroy(ctx);
    }

    PJ* get(int from, int to)
    {
        auto& op = ops[{from, to}];
        if (op == nullptr) {
            PJ* raw = proj_create_crs_to_crs(ctx, ("EPSG:" + std::to_string(from)).c_str(),
                                             ("EPSG:" + std::to_string(to)).c_str(), nullptr);
            if (raw == nullptr) {
                throw error("PROJ cannot transform EPSG:" + std::to_string(from) + " to EPSG:" + std::to_string(to));
            }
            op = proj_normalize_for_visualization(ctx, raw);
            proj_destroy(raw);
            if (op == nullptr) {
                throw error("PROJ cannot normalise EPSG:" + std::to_string(from) + " → " + std::to_string(to));
            }
        }
        return op;
    }
};

// A GEOS reader or writer of this thread, destroyed with it.
template <typename T, T* (*Create)(GEOSContextHandle_t), void (*Destroy)(GEOSContextHandle_t, T*)>
struct per_thread {
    T* p = Create(geos());
    per_thread() = default;
    per_thread(const per_thread&) = delete;
    per_thread& operator=(const per_thread&) = delete;
    ~per_thread() { Destroy(geos(), p); }
};

proj_cache& projections()
{
    thread_local proj_cache cache;
    return cache;
}

// lon/lat → a GK zone by a fit of PROJ's transformation, cell by cell: PROJ's tmerc costs
// ~330 ns a point (sincos, atan2, asinh, log1p), a fitted polynomial ~30 ns, and a review
// transforms every vertex of every feature crossing the red line. Each 1/8° cell holds the
// Chebyshev interpolant of degree 3 per axis through PROJ at 4×4 Chebyshev nodes; its error
// against PROJ is checked at 25 points of the cell (corners and edges included) when it is
// made: above FIT_TOLERANCE_M (about a hundredth of that in practice) the cell keeps PROJ.
constexpr int FIT_N = 4;
constexpr double FIT_CELL_DEGREES = 0.125;
constexpr double FIT_TOLERANCE_M = 1e-6;
constexpr std::size_t FIT_MAX_CELLS = 1U << 16; // 2 MB a thread at most

struct gk_fit {
    bool usable = false;
    double lon0 = 0, lat0 = 0; // the cell's centre
    // x and y as polynomials of t = (lon - lon0) · 2/cell and s = (lat - lat0) · 2/cell, both
    // in [-1, 1]: px[i][j] multiplies t^i s^j. Fitted in the Chebyshev basis, evaluated by Horner.
    double px[FIT_N][FIT_N] = {};
    double py[FIT_N][FIT_N] = {};

    static double horner(const double (&c)[FIT_N][FIT_N], double t, double s)
    {
        double out = 0;
        for (int i = FIT_N - 1; i >= 0; --i) {
            double row = 0;
            for (int j = FIT_N - 1; j >= 0; --j) {
                row = row * s + c[i][j];
            }
            out = out * t + row;
        }
        return out;
    }

    void eval(double lon, double lat, double& x, double& y) const
    {
        const double t = (lon - lon0) * (2 / FIT_CELL_DEGREES);
        const double s = (lat - lat0) * (2 / FIT_CELL_DEGREES);
        x = horner(px, t, s);
        y = horner(py, t, s);
    }

    gk_fit(PJ* op, long ix, long iy)
    {
        const double pi = std::acos(-1.0);
        lon0 = (static_cast<double>(ix) + 0.5) * FIT_CELL_DEGREES;
        lat0 = (static_cast<double>(iy) + 0.5) * FIT_CELL_DEGREES;
        double node[FIT_N];
        for (int k = 0; k < FIT_N; ++k) {
            node[k] = std::cos(pi * (k + 0.5) / FIT_N);
        }
        double vx[FIT_N][FIT_N];
        double vy[FIT_N][FIT_N];
        for (int i = 0; i < FIT_N; ++i) {
            for (int j = 0; j < FIT_N; ++j) {
                const PJ_COORD c = proj_trans(op, PJ_FWD,
                                              proj_coord(lon0 + node[i] * FIT_CELL_DEGREES / 2,
                                                         lat0 + node[j] * FIT_CELL_DEGREES / 2, 0, 0));
                if (!std::isfinite(c.xy.x) || !std::isfinite(c.xy.y)) {
                    return;
                }
                vx[i][j] = c.xy.x;
                vy[i][j] = c.xy.y;
            }
        }
        // Chebyshev coefficients by the discrete cosine transform over the nodes, then each
        // T_m(t) T_n(s) spread over the powers (the power coefficients of T_m in `power`).
        double power[FIT_N][FIT_N] = {}; // power[m][i]: coefficient of t^i in T_m
        power[0][0] = 1;
        power[1][1] = 1;
        for (int m = 2; m < FIT_N; ++m) {
            for (int i = 0; i < FIT_N; ++i) {
                power[m][i] = (i > 0 ? 2 * power[m - 1][i - 1] : 0.0) - power[m - 2][i];
            }
        }
        for (int m = 0; m < FIT_N; ++m) {
            for (int n = 0; n < FIT_N; ++n) {
                double sx = 0;
                double sy = 0;
                for (int i = 0; i < FIT_N; ++i) {
                    for (int j = 0; j < FIT_N; ++j) {
                        const double w = std::cos(m * pi * (i + 0.5) / FIT_N) * std::cos(n * pi * (j + 0.5) / FIT_N);
                        sx += w * vx[i][j];
                        sy += w * vy[i][j];
                    }
                }
                const double k = (m == 0 ? 1.0 : 2.0) * (n == 0 ? 1.0 : 2.0) / (FIT_N * FIT_N);
                for (int i = 0; i < FIT_N; ++i) {
                    for (int j = 0; j < FIT_N; ++j) {
                        const double f = power[m][i] * power[n][j];
                        px[i][j] += k * sx * f;
                        py[i][j] += k * sy * f;
                    }
                }
            }
        }
        for (int i = 0; i <= 4; ++i) {
            for (int j = 0; j <= 4; ++j) {
                const double lon = lon0 + (i / 4.0 - 0.5) * FIT_CELL_DEGREES;
                const double lat = lat0 + (j / 4.0 - 0.5) * FIT_CELL_DEGREES;
                const PJ_COORD c = proj_trans(op, PJ_FWD, proj_coord(lon, lat, 0, 0));
                double x = 0;
                double y = 0;
                eval(lon, lat, x, y);
                if (!(std::hypot(x - c.xy.x, y - c.xy.y) <= FIT_TOLERANCE_M)) {
                    return;
                }
            }
        }
        usable = true;
    }
};

// This thread's fits, per zone and cell.
class gk_projector {
public:
    // Transforms n lon/lat points to zone `zone` in place.
    void apply(int zone, double* x, double* y, std::size_t n)
    {
        for (std::size_t i = 0; i < n; ++i) {
            // Most points fall in the cell of the point before.
            if (zone != m_zone || !(x[i] >= m_min_lon && x[i] < m_max_lon && y[i] >= m_min_lat && y[i] < m_max_lat)) {
                find(zone, x[i], y[i]);
            }
            if (m_fit != nullptr) {
                m_fit->eval(x[i], y[i], x[i], y[i]);
            } else {
                const PJ_COORD c = proj_trans(m_op, PJ_FWD, proj_coord(x[i], y[i], 0, 0));
                x[i] = c.xy.x;
                y[i] = c.xy.y;
            }
        }
    }

private:
    // Makes the cell of (lon, lat) current: its fit, or none (PROJ) for one that failed its
    // check or a point beyond the globe.
    void find(int zone, double lon, double lat)
    {
        m_op = projections().get(4490, gk_epsg(zone, false));
        m_zone = zone;
        m_fit = nullptr;
        m_min_lon = m_max_lon = m_min_lat = m_max_lat = 0; // nothing cached for a PROJ point
        if (!(std::fabs(lon) <= 180 && std::fabs(lat) <= 90)) {
            return; // NaN or beyond the globe: PROJ answers
        }
        const auto ix = static_cast<long>(std::floor(lon / FIT_CELL_DEGREES));
        const auto iy = static_cast<long>(std::floor(lat / FIT_CELL_DEGREES));
        const std::uint64_t key = (static_cast<std::uint64_t>(zone) << 32) |
                                  (static_cast<std::uint64_t>(ix + 2048) << 16) | static_cast<std::uint64_t>(iy + 2048);
        auto it = m_cells.find(key);
        if (it == m_cells.end()) {
            if (m_cells.size() >= FIT_MAX_CELLS) {
                m_cells.clear();
            }
            it = m_cells.emplace(key, gk_fit(m_op, ix, iy)).first;
        }
        if (it->second.usable) {
            m_fit = &it->second;
            m_min_lon = static_cast<double>(ix) * FIT_CELL_DEGREES;
            m_max_lon = static_cast<double>(ix + 1) * FIT_CELL_DEGREES;
            m_min_lat = static_cast<double>(iy) * FIT_CELL_DEGREES;
            m_max_lat = static_cast<double>(iy + 1) * FIT_CELL_DEGREES;
        }
    }

    std::unordered_map<std::uint64_t, gk_fit> m_cells;
    int m_zone = 0;
    PJ* m_op = nullptr;
    const gk_fit* m_fit = nullptr; // of the current cell; null: PROJ
    double m_min_lon = 0, m_max_lon = 0, m_min_lat = 0, m_max_lat = 0;
};

const geod_geodesic& grs80()
{
    static const geod_geodesic g = [] {
        geod_geodesic x{};
        geod_init(&x, 6378137.0, 1.0 / 298.257222101);
        return x;
    }();
    return g;
}

// Calls f(ring coordinate sequence, is_exterior) for every ring of every polygon of g.
template <typename F>
void for_each_ring(const GEOSGeometry* g, F&& f)
{
    GEOSContextHandle_t h = geos();
    const int type = GEOSGeomTypeId_r(h, g);
    if (type == GEOS_MULTIPOLYGON || type == GEOS_GEOMETRYCOLLECTION) {
        const int n = GEOSGetNumGeometries_r(h, g);
        for (int i = 0; i < n; ++i) {
            for_each_ring(GEOSGetGeometryN_r(h, g, i), f);
        }
        return;
    }
    if (type != GEOS_POLYGON || GEOSisEmpty_r(h, g) != 0) {
        return;
    }
    f(GEOSGeom_getCoordSeq_r(h, GEOSGetExteriorRing_r(h, g)), true);
    const int holes = GEOSGetNumInteriorRings_r(h, g);
    for (int i = 0; i < holes; ++i) {
        f(GEOSGeom_getCoordSeq_r(h, GEOSGetInteriorRingN_r(h, g, i)), false);
    }
}

void read_ring(const GEOSCoordSequence* seq, std::vector<double>& x, std::vector<double>& y)
{
    GEOSContextHandle_t h = geos();
    unsigned int n = 0;
    GEOSCoordSeq_getSize_r(h, seq, &n);
    x.resize(n);
    y.resize(n);
    for (unsigned int i = 0; i < n; ++i) {
        GEOSCoordSeq_getXY_r(h, seq, i, &x[i], &y[i]);
    }
}

double shoelace(const std::vector<double>& x, const std::vector<double>& y)
{
    double twice = 0;
    const std::size_t n = x.size();
    if (n < 4) {
        return 0;
    }
    // Relative to the first vertex: GK coordinates are large and the products cancel.
    const double x0 = x[0];
    const double y0 = y[0];
    for (std::size_t i = 1; i + 1 < n; ++i) {
        twice += (x[i] - x0) * (y[i + 1] - y0) - (x[i + 1] - x0) * (y[i] - y0);
    }
    return std::fabs(twice) / 2;
}

// Reads a 2D Polygon/MultiPolygon WKB ring by ring: f(x, y, exterior) per ring.
class wkb_rings {
public:
    explicit wkb_rings(std::string_view wkb) : m_wkb(wkb) {}

    template <typename F>
    void each(F&& f)
    {
        const bool little = byte();
        const std::uint32_t type = u32(little);
        if (type == 3) {
            polygon(little, f);
        } else if (type == 6) {
            const std::uint32_t n = u32(little);
            for (std::uint32_t i = 0; i < n; ++i) {
                const bool le = byte();
                if (u32(le) != 3) {
                    throw error("WKB: a MultiPolygon holds a non-polygon");
                }
                polygon(le, f);
            }
        } else {
            throw error("WKB: not a 2D Polygon or MultiPolygon (type " + std::to_string(type) + ")");
        }
    }

private:
    template <typename F>
    void polygon(bool little, F& f)
    {
        const std::uint32_t rings = u32(little);
        for (std::uint32_t r = 0; r < rings; ++r) {
            const std::uint32_t n = u32(little);
            if (static_cast<std::size_t>(n) * 16 > m_wkb.size() - m_at) {
                throw error("WKB: truncated ring");
            }
            m_x.resize(n);
            m_y.resize(n);
            const char* at = m_wkb.data() + m_at; // n * 16 bytes, checked above
            for (std::uint32_t i = 0; i < n; ++i, at += 16) {
                std::memcpy(&m_x[i], at, 8);
                std::memcpy(&m_y[i], at + 8, 8);
            }
            m_at += static_cast<std::size_t>(n) * 16;
            if (!little) {
                for (std::uint32_t i = 0; i < n; ++i) {
                    m_x[i] = swapped(m_x[i]);
                    m_y[i] = swapped(m_y[i]);
                }
            }
            f(m_x, m_y, r == 0);
        }
    }
    bool byte()
    {
        need(1);
        return m_wkb[m_at++] == 1;
    }
    void need(std::size_t n) const
    {
        if (m_wkb.size() - m_at < n) {
            throw error("WKB: truncated");
        }
    }
    std::uint32_t u32(bool little)
    {
        need(4);
        unsigned char b[4];
        std::memcpy(b, m_wkb.data() + m_at, 4);
        m_at += 4;
        if (!little) {
            std::swap(b[0], b[3]);
            std::swap(b[1], b[2]);
        }
        std::uint32_t v = 0;
        std::memcpy(&v, b, 4); // the host is little-endian (x86-64, aarch64)
        return v;
    }
    static double swapped(double v)
    {
        unsigned char b[8];
        std::memcpy(b, &v, 8);
        for (int i = 0; i < 4; ++i) {
            std::swap(b[i], b[7 - i]);
        }
        std::memcpy(&v, b, 8);
        return v;
    }

    std::string_view m_wkb;
    std::size_t m_at = 0;
    std::vector<double> m_x;
    std::vector<double> m_y;
};

// The area of one closed ring (x = lon, y = lat); planar transforms x and y in place.
double ring_area(std::vector<double>& x, std::vector<double>& y, area_method m, int zone)
{
    if (x.size() < 4) {
        return 0;
    }
    if (m == area_method::ellipsoidal) {
        double area = 0;
        // The ring without its closing vertex, latitudes first.
        geod_polygonarea(&grs80(), y.data(), x.data(), static_cast<int>(x.size() - 1), &area, nullptr);
        return std::fabs(area);
    }
    to_gk(zone, x.data(), y.data(), x.size());
    return shoelace(x, y);
}

} // namespace

void to_gk(int zone, double* x, double* y, std::size_t n)
{
    thread_local gk_projector projector;
    projector.apply(zone, x, y, n);
}

bounds wkb_bounds(std::string_view wkb)
{
    bounds b{HUGE_VAL, HUGE_VAL, -HUGE_VAL, -HUGE_VAL};
    wkb_rings(wkb).each([&](const std::vector<double>& x, const std::vector<double>& y, bool exterior) {
        if (!exterior) {
            return;
        }
        for (std::size_t i = 0; i < x.size(); ++i) {
            b.min_x = std::min(b.min_x, x[i]);
            b.max_x = std::max(b.max_x, x[i]);
            b.min_y = std::min(b.min_y, y[i]);
            b.max_y = std::max(b.max_y, y[i]);
        }
    });
    return b;
}

std::size_t wkb_vertices(std::string_view wkb)
{
    std::size_t n = 0;
    wkb_rings(wkb).each([&](const std::vector<double>& x, const std::vector<double>&, bool) { n += x.size(); });
    return n;
}

namespace {

std::string to_wkb(const GEOSGeometry* g)
{
    GEOSContextHandle_t h = geos();
    thread_local per_thread<GEOSWKBWriter, GEOSWKBWriter_create_r, GEOSWKBWriter_destroy_r> writer;
    std::size_t n = 0;
    unsigned char* bytes = GEOSWKBWriter_write_r(h, writer.p, g, &n);
    if (bytes == nullptr) {
        throw error("writing WKB: " + t_geos_message);
    }
    std::string out(reinterpret_cast<const char*>(bytes), n);
    GEOSFree_r(h, bytes);
    return out;
}

void subdivide_into(const GEOSGeometry* g, std::size_t max_vertices, int depth, std::vector<std::string>& out)
{
    if (vertex_count(g) <= max_vertices || depth >= 24) {
        out.push_back(to_wkb(g));
        return;
    }
    const bounds b = bounds_of(g);
    const bool wide = b.max_x - b.min_x >= b.max_y - b.min_y;
    const double cut = wide ? (b.min_x + b.max_x) / 2 : (b.min_y + b.max_y) / 2;
    // Halves a little larger than the box, so that no part's edge runs along the box.
    const double pad = std::max(b.max_x - b.min_x, b.max_y - b.min_y) + 1.0;
    const bounds halves[2] = {
        wide ? bounds{b.min_x - pad, b.min_y - pad, cut, b.max_y + pad} : bounds{b.min_x - pad, b.min_y - pad, b.max_x + pad, cut},
        wide ? bounds{cut, b.min_y - pad, b.max_x + pad, b.max_y + pad} : bounds{b.min_x - pad, cut, b.max_x + pad, b.max_y + pad}};
    GEOSContextHandle_t h = geos();
    for (const auto& half : halves) {
        const geom_ptr box = own(GEOSGeom_createRectangle_r(h, half.min_x, half.min_y, half.max_x, half.max_y), "a box");
        geom_ptr part = polygonal_part(own(GEOSIntersection_r(h, g, box.get()), "cutting a geometry"));
        if (part) {
            subdivide_into(part.get(), max_vertices, depth + 1, out);
        }
    }
}

} // namespace

std::string to_geojson(const GEOSGeometry* g)
{
    GEOSContextHandle_t h = geos();
    thread_local per_thread<GEOSGeoJSONWriter, GEOSGeoJSONWriter_create_r, GEOSGeoJSONWriter_destroy_r> writer;
    char* text = GEOSGeoJSONWriter_writeGeometry_r(h, writer.p, g, -1);
    if (text == nullptr) {
        throw error("writing GeoJSON: " + t_geos_message);
    }
    std::string out(text);
    GEOSFree_r(h, text);
    return out;
}

bool plainly_valid(const GEOSGeometry* g)
{
    GEOSContextHandle_t h = geos();
    if (GEOSGeomTypeId_r(h, g) != GEOS_POLYGON || GEOSGetNumInteriorRings_r(h, g) != 0) {
        return false;
    }
    std::vector<double> x;
    std::vector<double> y;
    read_ring(GEOSGeom_getCoordSeq_r(h, GEOSGetExteriorRing_r(h, g)), x, y);
    // Repeated vertices dropped (GEOS allows them); the ring closed, of 3 edges or more.
    std::size_t n = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        if (n == 0 || x[i] != x[n - 1] || y[i] != y[n - 1]) {
            x[n] = x[i];
            y[n] = y[i];
            ++n;
        }
    }
    constexpr std::size_t MAX_EDGES = 256;
    if (n < 4 || n - 1 > MAX_EDGES || x[0] != x[n - 1] || y[0] != y[n - 1]) {
        return false;
    }
    const std::size_t m = n - 1; // edges: i from vertex i to i + 1
    // Relative to the first vertex, and a tolerance for orientations that are nearly zero.
    const double ox = x[0];
    const double oy = y[0];
    double extent = 0;
    for (std::size_t i = 0; i < n; ++i) {
        x[i] -= ox;
        y[i] -= oy;
        extent = std::max({extent, std::fabs(x[i]), std::fabs(y[i])});
    }
    const double tol = 1e-9 * extent * extent;
    auto orient = [&](std::size_t a, std::size_t b, std::size_t c) {
        return (x[b] - x[a]) * (y[c] - y[a]) - (y[b] - y[a]) * (x[c] - x[a]);
    };
    double twice = 0;
    for (std::size_t i = 0; i < m; ++i) {
        twice += x[i] * y[i + 1] - x[i + 1] * y[i];
        // Consecutive edges must turn clearly (a straight run or a spike goes to GEOS).
        const std::size_t next = (i + 1) % m;
        if (std::fabs(orient(i, i + 1, next + 1)) <= tol) {
            return false;
        }
    }
    if (std::fabs(twice) <= tol) {
        return false;
    }
    for (std::size_t i = 0; i < m; ++i) {
        const double ax0 = std::min(x[i], x[i + 1]);
        const double ax1 = std::max(x[i], x[i + 1]);
        const double ay0 = std::min(y[i], y[i + 1]);
        const double ay1 = std::max(y[i], y[i + 1]);
        for (std::size_t j = i + 2; j < m; ++j) {
            if (i == 0 && j == m - 1) {
                continue; // the closing edge meets the first at vertex 0
            }
            if (std::max(x[j], x[j + 1]) < ax0 || std::min(x[j], x[j + 1]) > ax1 ||
                std::max(y[j], y[j + 1]) < ay0 || std::min(y[j], y[j + 1]) > ay1) {
                continue; // apart
            }
            const double d1 = orient(i, i + 1, j);
            const double d2 = orient(i, i + 1, j + 1);
            const double d3 = orient(j, j + 1, i);
            const double d4 = orient(j, j + 1, i + 1);
            if (std::fabs(d1) <= tol || std::fabs(d2) <= tol || std::fabs(d3) <= tol || std::fabs(d4) <= tol) {
                return false; // touching or nearly: GEOS decides
            }
            if ((d1 > 0) != (d2 > 0) && (d3 > 0) != (d4 > 0)) {
                return false; // crossing: GEOS names it
            }
        }
    }
    return true;
}

std::vector<std::string> subdivide(const GEOSGeometry* g, std::size_t max_vertices)
{
    std::vector<std::string> out;
    subdivide_into(g, max_vertices, 0, out);
    return out;
}

double wkb_area(std::string_view wkb, area_method m, int zone)
{
    double total = 0;
    wkb_rings(wkb).each([&](std::vector<double>& x, std::vector<double>& y, bool exterior) {
        const double a = ring_area(x, y, m, zone);
        total += exterior ? a : -a;
    });
    return total;
}

GEOSContextHandle_t geos()
{
    thread_local geos_context ctx;
    return ctx.handle;
}

void geom_deleter::operator()(GEOSGeometry* g) const noexcept
{
    GEOSGeom_destroy_r(geos(), g);
}

void prepared_deleter::operator()(const GEOSPreparedGeometry* g) const noexcept
{
    GEOSPreparedGeom_destroy_r(geos(), g);
}

geom_ptr own(GEOSGeometry* g, const char* what)
{
    if (g == nullptr) {
        throw error(std::string(what) + ": " + (t_geos_message.empty() ? "GEOS failed" : t_geos_message));
    }
    return geom_ptr(g);
}

geom_ptr from_wkb(std::string_view wkb)
{
    GEOSContextHandle_t h = geos();
    thread_local per_thread<GEOSWKBReader, GEOSWKBReader_create_r, GEOSWKBReader_destroy_r> reader;
    return own(GEOSWKBReader_read_r(h, reader.p, reinterpret_cast<const unsigned char*>(wkb.data()), wkb.size()),
               "reading WKB");
}

prepared_ptr prepare(const GEOSGeometry* g)
{
    const GEOSPreparedGeometry* p = GEOSPrepare_r(geos(), g);
    if (p == nullptr) {
        throw error("preparing a geometry: " + t_geos_message);
    }
    return prepared_ptr(p);
}

geom_ptr polygonal_part(geom_ptr g)
{
    GEOSContextHandle_t h = geos();
    if (!g || GEOSisEmpty_r(h, g.get()) != 0) {
        return nullptr;
    }
    const int type = GEOSGeomTypeId_r(h, g.get());
    if (type == GEOS_POLYGON || type == GEOS_MULTIPOLYGON) {
        return g;
    }
    if (type != GEOS_GEOMETRYCOLLECTION) {
        return nullptr;
    }
    std::vector<GEOSGeometry*> parts;
    const int n = GEOSGetNumGeometries_r(h, g.get());
    for (int i = 0; i < n; ++i) {
        const GEOSGeometry* part = GEOSGetGeometryN_r(h, g.get(), i);
        const int t = GEOSGeomTypeId_r(h, part);
        if ((t == GEOS_POLYGON || t == GEOS_MULTIPOLYGON) && GEOSisEmpty_r(h, part) == 0) {
            parts.push_back(GEOSGeom_clone_r(h, part));
        }
    }
    if (parts.empty()) {
        return nullptr;
    }
    geom_ptr collection = own(
        GEOSGeom_createCollection_r(h, GEOS_GEOMETRYCOLLECTION, parts.data(), static_cast<unsigned>(parts.size())),
        "collecting polygons");
    return own(GEOSUnaryUnion_r(h, collection.get()), "joining polygons");
}

std::size_t vertex_count(const GEOSGeometry* g)
{
    const int n = GEOSGetNumCoordinates_r(geos(), g);
    return n < 0 ? 0 : static_cast<std::size_t>(n);
}

bounds bounds_of(const GEOSGeometry* g)
{
    GEOSContextHandle_t h = geos();
    bounds b;
    GEOSGeom_getXMin_r(h, g, &b.min_x);
    GEOSGeom_getYMin_r(h, g, &b.min_y);
    GEOSGeom_getXMax_r(h, g, &b.max_x);
    GEOSGeom_getYMax_r(h, g, &b.max_y);
    return b;
}

geom_ptr intersection(const GEOSGeometry* a, const GEOSGeometry* b)
{
    GEOSContextHandle_t h = geos();
    constexpr std::size_t CLIP_FROM = 256;
    geom_ptr clipped_a;
    geom_ptr clipped_b;
    // The clip box is a little larger than the other geometry's, so that no edge of the
    // answer lies on it.
    auto clip = [&](const GEOSGeometry* big, const GEOSGeometry* by, geom_ptr& keep) -> const GEOSGeometry* {
        if (vertex_count(big) < CLIP_FROM) {
            return big;
        }
        const bounds r = bounds_of(by);
        const double mx = (r.max_x - r.min_x) * 0.01 + 1e-9;
        const double my = (r.max_y - r.min_y) * 0.01 + 1e-9;
        GEOSGeometry* c = GEOSClipByRect_r(h, big, r.min_x - mx, r.min_y - my, r.max_x + mx, r.max_y + my);
        if (c == nullptr) {
            return big; // GEOS could not clip (an invalid input): overlay the whole
        }
        keep.reset(c);
        return keep.get();
    };
    const GEOSGeometry* ca = clip(a, b, clipped_a);
    const GEOSGeometry* cb = clip(b, a, clipped_b);
    if (GEOSisEmpty_r(h, ca) != 0 || GEOSisEmpty_r(h, cb) != 0) {
        return nullptr;
    }
    GEOSGeometry* r = GEOSIntersection_r(h, ca, cb);
    if (r == nullptr && (ca != a || cb != b)) {
        r = GEOSIntersection_r(h, a, b); // a clipped part GEOS cannot overlay: try the whole
    }
    return polygonal_part(own(r, "intersecting geometries"));
}

int gk_zone(double lon) noexcept
{
    const int zone = static_cast<int>(std::floor((lon + 1.5) / 3.0));
    return zone >= 25 && zone <= 45 ? zone : 0;
}

int gk_epsg(int zone, bool prefixed) noexcept
{
    return (prefixed ? 4513 : 4534) + (zone - 25);
}

geom_ptr transform(const GEOSGeometry* g, int from_epsg, int to_epsg)
{
    PJ* op = projections().get(from_epsg, to_epsg);
    struct ctx_t {
        PJ* op;
        bool failed = false;
    } ctx{op};
    GEOSGeometry* out = GEOSGeom_transformXY_r(
        geos(), g,
        [](double* x, double* y, void* user) -> int {
            auto* c = static_cast<ctx_t*>(user);
            const PJ_COORD r = proj_trans(c->op, PJ_FWD, proj_coord(*x, *y, 0, 0));
            if (!std::isfinite(r.xy.x) || !std::isfinite(r.xy.y)) {
                c->failed = true;
                return 0;
            }
            *x = r.xy.x;
            *y = r.xy.y;
            return 1;
        },
        &ctx);
    if (ctx.failed) {
        if (out != nullptr) {
            GEOSGeom_destroy_r(geos(), out);
        }
        throw input_error("crs", "coordinates cannot be transformed from EPSG:" + std::to_string(from_epsg) +
                                     " to EPSG:" + std::to_string(to_epsg));
    }
    return own(out, "transforming a geometry");
}

area_method parse_area_method(const std::string& text)
{
    if (text == "planar") {
        return area_method::planar;
    }
    if (text == "ellipsoidal") {
        return area_method::ellipsoidal;
    }
    throw input_error("method", "method must be planar or ellipsoidal, got '" + text + "'");
}

const char* name_of(area_method m) noexcept
{
    return m == area_method::planar ? "planar" : "ellipsoidal";
}

double ellipsoidal_area(const GEOSGeometry* lonlat)
{
    return area_of(lonlat, area_method::ellipsoidal, 0);
}

double area_of(const GEOSGeometry* lonlat, area_method m, int zone)
{
    double total = 0;
    std::vector<double> x;
    std::vector<double> y;
    for_each_ring(lonlat, [&](const GEOSCoordSequence* seq, bool exterior) {
        read_ring(seq, x, y);
        const double a = ring_area(x, y, m, zone);
        total += exterior ? a : -a;
    });
    return total;
}

} // namespace onemap::tileserver::analysis

namespace onemap::tileserver::analysis {

namespace {

namespace bg = boost::geometry;
using bpoint = bg::model::d2::point_xy<double>;
using bpolygon = bg::model::polygon<bpoint>;
using bmulti = bg::model::multi_polygon<bpolygon>;

/// Edges of the red line are widened by this (about 0.1 m) when features are told inside or
/// outside in lon/lat: a lon/lat-straight edge and its GK-straight image part by less.
constexpr double PAD_DEGREES = 1e-6;

/// Features with more vertices than this go through GEOS (clipped to the box first).
constexpr std::size_t BOOST_MAX_VERTICES = 512;

// The polygons of a polygonal geometry, transformed to GK zone `zone` unless it is 0.
void read_multi(const GEOSGeometry* g, int zone, bmulti& out)
{
    out.clear();
    std::vector<double> x;
    std::vector<double> y;
    for_each_ring(g, [&](const GEOSCoordSequence* seq, bool exterior) {
        read_ring(seq, x, y);
        if (zone != 0) {
            to_gk(zone, x.data(), y.data(), x.size());
        }
        if (exterior) {
            out.emplace_back();
        } else if (out.empty()) {
            return;
        }
        auto& ring = exterior ? out.back().outer() : (out.back().inners().emplace_back(), out.back().inners().back());
        ring.reserve(x.size());
        for (std::size_t i = 0; i < x.size(); ++i) {
            ring.emplace_back(x[i], y[i]);
        }
    });
    bg::correct(out);
}

// The planar area of a ∩ b without building it (Green's theorem): the boundary of the
// intersection is the part of a's boundary inside b and the part of b's boundary inside a, each
// edge split where it crosses the other's edges. Both are bg::correct()ed (clockwise outer
// rings), so every piece of boundary runs with the interior on the same side. Exact for
// geometries in general position; `false` when an edge touches a vertex or runs along an edge
// of the other (shared boundaries): the caller then cuts the geometry instead.
struct edge {
    double x0, y0, x1, y1;
};

struct edge_set {
    std::vector<edge> edges;
    std::vector<std::size_t> ring_ends; // each ring's edges end here; its next starts here
    double min_x = HUGE_VAL, min_y = HUGE_VAL, max_x = -HUGE_VAL, max_y = -HUGE_VAL;
    double area = 0;                // planar, holes subtracted
    double first_x = 0, first_y = 0; // a vertex of the first ring

    void clear()
    {
        edges.clear();
        ring_ends.clear();
        min_x = min_y = HUGE_VAL;
        max_x = max_y = -HUGE_VAL;
        area = 0;
    }

    void add_edge(double x0, double y0, double x1, double y1)
    {
        min_x = std::min({min_x, x0, x1});
        max_x = std::max({max_x, x0, x1});
        min_y = std::min({min_y, y0, y1});
        max_y = std::max({max_y, y0, y1});
        edges.push_back({x0, y0, x1, y1});
    }

    // The edges of g (corrected: clockwise outer rings) relative to (ox, oy): GK coordinates
    // are large and products cancel.
    void assign(const bmulti& g, double ox, double oy)
    {
        clear();
        auto ring = [&](const auto& r) {
            for (std::size_t i = 0; i + 1 < r.size(); ++i) {
                add_edge(r[i].x() - ox, r[i].y() - oy, r[i + 1].x() - ox, r[i + 1].y() - oy);
            }
            ring_ends.push_back(edges.size());
        };
        for (const auto& poly : g) {
            ring(poly.outer());
            for (const auto& inner : poly.inners()) {
                ring(inner);
            }
        }
        if (!edges.empty()) {
            first_x = edges.front().x0;
            first_y = edges.front().y0;
        }
    }

    // The same read straight from WKB (transformed to GK zone `zone` unless it is 0), each ring
    // turned as bg::correct would (outer clockwise, holes anticlockwise); false when it has more
    // than `max_vertices`.
    bool assign(std::string_view wkb, int zone, double ox, double oy, std::size_t max_vertices)
    {
        clear();
        std::size_t vertices = 0;
        bool fits = true;
        wkb_rings(wkb).each([&](std::vector<double>& x, std::vector<double>& y, bool exterior) {
            vertices += x.size();
            if (!fits || vertices > max_vertices) {
                fits = false;
                return;
            }
            if (x.size() < 4) {
                return;
            }
            if (zone != 0) {
                to_gk(zone, x.data(), y.data(), x.size());
            }
            double twice = 0; // anticlockwise positive
            for (std::size_t i = 0; i + 1 < x.size(); ++i) {
                twice += (x[i] - ox) * (y[i + 1] - oy) - (x[i + 1] - ox) * (y[i] - oy);
            }
            area += (exterior ? 0.5 : -0.5) * std::fabs(twice);
            if (edges.empty()) {
                first_x = x[0] - ox;
                first_y = y[0] - oy;
            }
            const std::size_t n = x.size();
            if ((twice > 0) == exterior) { // the wrong way round: walk it backwards
                for (std::size_t i = n - 1; i > 0; --i) {
                    add_edge(x[i] - ox, y[i] - oy, x[i - 1] - ox, y[i - 1] - oy);
                }
            } else {
                for (std::size_t i = 0; i + 1 < n; ++i) {
                    add_edge(x[i] - ox, y[i] - oy, x[i + 1] - ox, y[i + 1] - oy);
                }
            }
            ring_ends.push_back(edges.size());
        });
        return fits;
    }

    // Whether the box of an edge, widened by pad, meets the box (x0, y0)–(x1, y1).
    bool any_edge_meets(double x0, double y0, double x1, double y1, double pad) const
    {
        return std::any_of(edges.begin(), edges.end(), [&](const edge& e) {
            return std::max(e.x0, e.x1) + pad >= x0 && std::min(e.x0, e.x1) - pad <= x1 &&
                   std::max(e.y0, e.y1) + pad >= y0 && std::min(e.y0, e.y1) - pad <= y1;
        });
    }

    bool box_meets(const edge& e) const
    {
        return std::max(e.x0, e.x1) >= min_x && std::min(e.x0, e.x1) <= max_x && std::max(e.y0, e.y1) >= min_y &&
               std::min(e.y0, e.y1) <= max_y;
    }

    // Even-odd point in polygon over every ring.
    bool inside(double x, double y) const
    {
        bool in = false;
        for (const edge& e : edges) {
            if ((e.y0 > y) != (e.y1 > y) && x < (e.x1 - e.x0) * (y - e.y0) / (e.y1 - e.y0) + e.x0) {
                in = !in;
            }
        }
        return in;
    }
};

// Adds twice the signed area swept by the parts of `from`'s edges inside `other`; false on a
// degenerate meeting. Whether an edge starts inside is carried along its ring from the edge
// before (an edge whose box misses the other's ends outside); only a ring's first edge asks
// other.inside(). A ring must end as it began, or the crossings were miscounted: false too.
// The edges of `of` whose boxes meet the box (x0, y0)–(x1, y1), and the box around them.
struct near_edges {
    std::vector<edge> edges;
    double min_x = HUGE_VAL, min_y = HUGE_VAL, max_x = -HUGE_VAL, max_y = -HUGE_VAL;

    void take(const edge_set& of, double x0, double y0, double x1, double y1)
    {
        edges.clear();
        min_x = min_y = HUGE_VAL;
        max_x = max_y = -HUGE_VAL;
        for (const edge& o : of.edges) {
            if (std::max(o.x0, o.x1) >= x0 && std::min(o.x0, o.x1) <= x1 && std::max(o.y0, o.y1) >= y0 &&
                std::min(o.y0, o.y1) <= y1) {
                edges.push_back(o);
                min_x = std::min({min_x, o.x0, o.x1});
                max_x = std::max({max_x, o.x0, o.x1});
                min_y = std::min({min_y, o.y0, o.y1});
                max_y = std::max({max_y, o.y0, o.y1});
            }
        }
    }
};

// `near`: the edges of `other` that can cut edges of `from` (all that meet from's box, or fewer
// that provably are all).
bool sweep_inside(const edge_set& from, const edge_set& other, const near_edges& near, double& twice,
                  std::vector<double>& cuts)
{
    constexpr double EPS = 1e-9;
    std::size_t begin = 0;
    for (const std::size_t end : from.ring_ends) {
        bool known = false;  // whether `in` is known yet on this ring
        bool in = false;     // inside at the current point of the ring
        bool began_in = false;
        for (std::size_t k = begin; k < end; ++k) {
            const edge& e = from.edges[k];
            if (!other.box_meets(e)) {
                if (!known) {
                    began_in = false;
                    known = true;
                }
                in = false; // wholly outside the other
                continue;
            }
            const double dx = e.x1 - e.x0;
            const double dy = e.y1 - e.y0;
            const double len2 = dx * dx + dy * dy;
            if (len2 == 0) {
                continue;
            }
            cuts.clear();
            const double exmin = std::min(e.x0, e.x1);
            const double exmax = std::max(e.x0, e.x1);
            const double eymin = std::min(e.y0, e.y1);
            const double eymax = std::max(e.y0, e.y1);
            const bool may_cut = exmax >= near.min_x && exmin <= near.max_x && eymax >= near.min_y && eymin <= near.max_y;
            const std::size_t candidates = may_cut ? near.edges.size() : 0;
            for (std::size_t c = 0; c < candidates; ++c) {
                const edge& o = near.edges[c];
                if (std::max(o.x0, o.x1) < exmin || std::min(o.x0, o.x1) > exmax || std::max(o.y0, o.y1) < eymin ||
                    std::min(o.y0, o.y1) > eymax) {
                    continue;
                }
                const double ox = o.x1 - o.x0;
                const double oy = o.y1 - o.y0;
                const double d = dx * oy - dy * ox;
                const double rx = o.x0 - e.x0;
                const double ry = o.y0 - e.y0;
                if (d * d <= EPS * EPS * len2 * (ox * ox + oy * oy)) {
                    // Parallel: apart, or along each other (a shared boundary).
                    const double len = std::sqrt(len2);
                    if (std::fabs(rx * dy - ry * dx) <= EPS * len * (len + std::hypot(rx, ry))) {
                        return false;
                    }
                    continue;
                }
                const double t = (rx * oy - ry * ox) / d;
                const double u = (rx * dy - ry * dx) / d;
                if (t < -EPS || t > 1 + EPS || u < -EPS || u > 1 + EPS) {
                    continue;
                }
                if (t < EPS || t > 1 - EPS || u < EPS || u > 1 - EPS) {
                    return false; // through a vertex
                }
                cuts.push_back(t);
            }
            std::sort(cuts.begin(), cuts.end());
            if (!known) {
                const double mid = cuts.empty() ? 0.5 : cuts.front() / 2;
                in = other.inside(e.x0 + dx * mid, e.y0 + dy * mid);
                began_in = in;
                known = true;
            }
            double t0 = 0;
            auto add = [&](double ta, double tb) {
                const double ax = e.x0 + dx * ta;
                const double ay = e.y0 + dy * ta;
                const double bx = e.x0 + dx * tb;
                const double by = e.y0 + dy * tb;
                twice += ax * by - bx * ay;
            };
            for (const double t : cuts) {
                if (in) {
                    add(t0, t);
                }
                in = !in;
                t0 = t;
            }
            if (in) {
                add(t0, 1);
            }
        }
        if (known && in != began_in) {
            return false;
        }
        begin = end;
    }
    return true;
}

bg::model::box<bpoint> box_of(const bmulti& g)
{
    double x0 = HUGE_VAL;
    double y0 = HUGE_VAL;
    double x1 = -HUGE_VAL;
    double y1 = -HUGE_VAL;
    for (const auto& poly : g) {
        for (const auto& p : poly.outer()) {
            x0 = std::min(x0, p.x());
            y0 = std::min(y0, p.y());
            x1 = std::max(x1, p.x());
            y1 = std::max(y1, p.y());
        }
    }
    return {bpoint(x0, y0), bpoint(x1, y1)};
}

double geodesic_area(const bmulti& lonlat)
{
    double total = 0;
    std::vector<double> x;
    std::vector<double> y;
    auto ring_of = [&](const auto& ring) {
        x.clear();
        y.clear();
        for (const auto& p : ring) {
            x.push_back(p.x());
            y.push_back(p.y());
        }
        return ring_area(x, y, area_method::ellipsoidal, 0);
    };
    for (const auto& poly : lonlat) {
        total += ring_of(poly.outer());
        for (const auto& inner : poly.inners()) {
            total -= ring_of(inner);
        }
    }
    return total;
}

} // namespace

bool wkb_contains(std::string_view wkb, double x, double y)
{
    thread_local edge_set e;
    e.assign(wkb, 0, x, y, static_cast<std::size_t>(-1)); // relative to the point itself
    return e.inside(0, 0);
}

struct overlap_meter::impl {
    using segment_box = std::pair<bg::model::box<bpoint>, std::size_t>;
    area_method method = area_method::planar;
    int zone = 0;
    int gk = 0; // the zone features are transformed to: planar; 0 for ellipsoidal
    const GEOSGeometry* lonlat = nullptr;
    bmulti shape; // in the measuring space: GK metres, or lon/lat
    bg::model::box<bpoint> box;
    double area = 0;
    // The boxes of the shape's edges: a feature whose box meets none lies wholly inside or
    // wholly outside, which one point of it tells (R-trees for long red lines only: see
    // boundary_meets()).
    bg::index::rtree<segment_box, bg::index::rstar<16>> edges;
    // The same in lon/lat, padded by PAD_DEGREES: most features are told inside or outside
    // before they are read or transformed.
    bmulti shape_ll;
    edge_set shape_ll_edges; // relative to box_ll's corner, for one-point tests
    bg::model::box<bpoint> box_ll;
    bg::index::rtree<segment_box, bg::index::rstar<16>> edges_ll;
    // The shape's edges relative to its box's corner, for crossing_area.
    edge_set shape_edges;

    static bg::index::rtree<segment_box, bg::index::rstar<16>> index_edges(const bmulti& g, double pad)
    {
        std::vector<segment_box> boxes;
        auto add_ring = [&](const auto& ring) {
            for (std::size_t i = 0; i + 1 < ring.size(); ++i) {
                bg::model::box<bpoint> b;
                bg::envelope(bg::model::segment<bpoint>(ring[i], ring[i + 1]), b);
                b.min_corner().x(b.min_corner().x() - pad);
                b.min_corner().y(b.min_corner().y() - pad);
                b.max_corner().x(b.max_corner().x() + pad);
                b.max_corner().y(b.max_corner().y() + pad);
                boxes.emplace_back(b, boxes.size());
            }
        };
        for (const auto& poly : g) {
            add_ring(poly.outer());
            for (const auto& inner : poly.inners()) {
                add_ring(inner);
            }
        }
        return bg::index::rtree<segment_box, bg::index::rstar<16>>(boxes);
    }

    // The planar area of the feature inside the shape; false when they meet degenerately.
    bool crossing_area(const edge_set& f, double& out) const
    {
        thread_local std::vector<double> cuts;
        thread_local near_edges near_shape;
        thread_local near_edges near_feature;
        // The red line's edges that meet the feature's box; the feature's edges that meet theirs.
        near_shape.take(shape_edges, f.min_x, f.min_y, f.max_x, f.max_y);
        near_feature.take(f, near_shape.min_x, near_shape.min_y, near_shape.max_x, near_shape.max_y);
        double twice = 0;
        if (!sweep_inside(f, shape_edges, near_shape, twice, cuts) ||
            !sweep_inside(shape_edges, f, near_feature, twice, cuts)) {
            return false;
        }
        out = std::max(0.0, -twice / 2); // clockwise: the sum of cross products is negative
        return true;
    }

    // Whether an edge's box meets b (query(): the query iterators allocate).
    static bool any_edge_meets(const bg::index::rtree<segment_box, bg::index::rstar<16>>& tree,
                               const bg::model::box<bpoint>& b)
    {
        bool met = false;
        tree.query(bg::index::intersects(b), boost::make_function_output_iterator([&](const auto&) { met = true; }));
        return met;
    }

    // Red lines of up to this many edges are scanned edge by edge; longer ones through R-trees.
    static constexpr std::size_t SCAN_EDGES = 256;
    bool indexed = false;

    bool boundary_meets(const bg::model::box<bpoint>& b) const
    {
        if (indexed) {
            return any_edge_meets(edges, b);
        }
        const double ox = box.min_corner().x();
        const double oy = box.min_corner().y();
        return shape_edges.any_edge_meets(b.min_corner().x() - ox, b.min_corner().y() - oy, b.max_corner().x() - ox,
                                          b.max_corner().y() - oy, 0);
    }

    bool boundary_ll_meets(const bg::model::box<bpoint>& b) const
    {
        if (indexed) {
            return any_edge_meets(edges_ll, b);
        }
        const double ox = box_ll.min_corner().x();
        const double oy = box_ll.min_corner().y();
        return shape_ll_edges.any_edge_meets(b.min_corner().x() - ox, b.min_corner().y() - oy,
                                             b.max_corner().x() - ox, b.max_corner().y() - oy, PAD_DEGREES);
    }

    double measure(const bmulti& g) const { return method == area_method::planar ? bg::area(g) : geodesic_area(g); }

    // Planar: the shape transformed by PROJ, for GEOS; made when a feature first needs it.
    mutable geom_ptr shape_gk;
    mutable std::once_flag shape_gk_made;

    // PostGIS's way with GEOS: planar cuts after the transformation to the zone, ellipsoidal
    // cuts in lon/lat measured on GRS 80.
    double by_geos(std::string_view wkb) const
    {
        geom_ptr g = from_wkb(wkb);
        if (method == area_method::planar) {
            g = transform(g.get(), 4490, gk_epsg(zone, false));
            std::call_once(shape_gk_made, [&] { shape_gk = transform(lonlat, 4490, gk_epsg(zone, false)); });
            const geom_ptr piece = intersection(shape_gk.get(), g.get());
            double a = 0;
            if (piece) {
                GEOSArea_r(geos(), piece.get(), &a);
            }
            return a;
        }
        const geom_ptr piece = intersection(lonlat, g.get());
        return piece ? ellipsoidal_area(piece.get()) : 0.0;
    }
};

overlap_meter::overlap_meter(const GEOSGeometry* lonlat, area_method m, int zone) : m_impl(std::make_unique<impl>())
{
    m_impl->method = m;
    m_impl->zone = zone;
    m_impl->lonlat = lonlat;
    m_impl->gk = m == area_method::planar ? zone : 0;
    read_multi(lonlat, m_impl->gk, m_impl->shape);
    m_impl->box = box_of(m_impl->shape);
    m_impl->area = m_impl->measure(m_impl->shape);
    m_impl->shape_edges.assign(m_impl->shape, m_impl->box.min_corner().x(), m_impl->box.min_corner().y());
    m_impl->indexed = m_impl->shape_edges.edges.size() > impl::SCAN_EDGES;
    if (m_impl->indexed) {
        m_impl->edges = impl::index_edges(m_impl->shape, 0);
    }
    read_multi(lonlat, 0, m_impl->shape_ll);
    m_impl->box_ll = box_of(m_impl->shape_ll);
    if (m_impl->indexed) {
        m_impl->edges_ll = impl::index_edges(m_impl->shape_ll, PAD_DEGREES);
    }
    m_impl->shape_ll_edges.assign(m_impl->shape_ll, m_impl->box_ll.min_corner().x(), m_impl->box_ll.min_corner().y());
}

overlap_meter::~overlap_meter() = default;

double overlap_meter::own_area() const noexcept
{
    return m_impl->area;
}

area_method overlap_meter::method() const noexcept
{
    return m_impl->method;
}

int overlap_meter::zone() const noexcept
{
    return m_impl->zone;
}

double overlap_meter::area(std::string_view feature_wkb, const bounds& box, double own_area) const
{
    const impl& m = *m_impl;
    const bg::model::box<bpoint> b(bpoint(box.min_x, box.min_y), bpoint(box.max_x, box.max_y));
    if (!bg::intersects(b, m.box_ll)) {
        return 0;
    }
    if (m.boundary_ll_meets(b)) {
        return area(feature_wkb); // the boundary passes near: measure it
    }
    // No edge comes near the box: all of it lies inside, or all outside.
    const double cx = (box.min_x + box.max_x) / 2 - m.box_ll.min_corner().x();
    const double cy = (box.min_y + box.max_y) / 2 - m.box_ll.min_corner().y();
    if (!m.shape_ll_edges.inside(cx, cy)) {
        return 0;
    }
    return own_area >= 0 ? own_area : wkb_area(feature_wkb, m.method, m.zone);
}

double overlap_meter::area(std::string_view feature_wkb) const
{
    thread_local edge_set f;
    const impl& m = *m_impl;
    const double ox = m.box.min_corner().x();
    const double oy = m.box.min_corner().y();
    if (!f.assign(feature_wkb, m.gk, ox, oy, BOOST_MAX_VERTICES)) {
        return m.by_geos(feature_wkb);
    }
    const edge_set& s = m.shape_edges;
    if (f.edges.empty() || f.max_x < s.min_x || f.min_x > s.max_x || f.max_y < s.min_y || f.min_y > s.max_y) {
        return 0;
    }
    if (!m.boundary_meets({bpoint(f.min_x + ox, f.min_y + oy), bpoint(f.max_x + ox, f.max_y + oy)})) {
        // No edge of the shape comes near: the feature lies wholly inside, or wholly outside.
        if (!s.inside(f.first_x, f.first_y)) {
            return 0;
        }
        return m.method == area_method::planar ? f.area : wkb_area(feature_wkb, m.method, m.zone);
    }
    double a = 0;
    if (m.method == area_method::planar && m.crossing_area(f, a)) {
        return a;
    }
    return m.by_geos(feature_wkb); // shared edges or vertices, or ellipsoidal: GEOS cuts it
}

} // namespace onemap::tileserver::analysis
