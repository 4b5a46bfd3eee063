#include "onemap/tileserver/analysis/geometry.hpp"

#include "onemap/core/error.hpp"

#include <boost/geometry.hpp>
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
            for (std::uint32_t i = 0; i < n; ++i) {
                m_x[i] = f64(little);
                m_y[i] = f64(little);
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
    double f64(bool little)
    {
        need(8);
        unsigned char b[8];
        std::memcpy(b, m_wkb.data() + m_at, 8);
        m_at += 8;
        if (!little) {
            for (int i = 0; i < 4; ++i) {
                std::swap(b[i], b[7 - i]);
            }
        }
        double v = 0;
        std::memcpy(&v, b, 8);
        return v;
    }

    std::string_view m_wkb;
    std::size_t m_at = 0;
    std::vector<double> m_x;
    std::vector<double> m_y;
};

// The area of one closed ring (x = lon, y = lat); planar transforms x and y in place.
double ring_area(std::vector<double>& x, std::vector<double>& y, area_method m, PJ* op)
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
    proj_trans_generic(op, PJ_FWD, x.data(), sizeof(double), x.size(), y.data(), sizeof(double), y.size(), nullptr, 0,
                       0, nullptr, 0, 0);
    return shoelace(x, y);
}

} // namespace

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

std::vector<std::string> subdivide(const GEOSGeometry* g, std::size_t max_vertices)
{
    std::vector<std::string> out;
    subdivide_into(g, max_vertices, 0, out);
    return out;
}

double wkb_area(std::string_view wkb, area_method m, int zone)
{
    PJ* op = m == area_method::planar ? projections().get(4490, gk_epsg(zone, false)) : nullptr;
    double total = 0;
    wkb_rings(wkb).each([&](std::vector<double>& x, std::vector<double>& y, bool exterior) {
        const double a = ring_area(x, y, m, op);
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
    PJ* op = m == area_method::planar ? projections().get(4490, gk_epsg(zone, false)) : nullptr;
    double total = 0;
    std::vector<double> x;
    std::vector<double> y;
    for_each_ring(lonlat, [&](const GEOSCoordSequence* seq, bool exterior) {
        read_ring(seq, x, y);
        const double a = ring_area(x, y, m, op);
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

// The polygons of a 2D Polygon/MultiPolygon WKB, transformed by `op` when given; false when it
// has more than `max_vertices`.
bool read_multi(std::string_view wkb, PJ* op, std::size_t max_vertices, bmulti& out)
{
    out.clear();
    std::size_t vertices = 0;
    bool fits = true;
    wkb_rings(wkb).each([&](std::vector<double>& x, std::vector<double>& y, bool exterior) {
        vertices += x.size();
        if (!fits || vertices > max_vertices) {
            fits = false;
            return;
        }
        if (op != nullptr) {
            proj_trans_generic(op, PJ_FWD, x.data(), sizeof(double), x.size(), y.data(), sizeof(double), y.size(),
                               nullptr, 0, 0, nullptr, 0, 0);
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
    if (fits) {
        bg::correct(out);
    }
    return fits;
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
    double min_x = HUGE_VAL, min_y = HUGE_VAL, max_x = -HUGE_VAL, max_y = -HUGE_VAL;

    // The edges of g relative to (ox, oy): GK coordinates are large and products cancel.
    void assign(const bmulti& g, double ox, double oy)
    {
        edges.clear();
        min_x = min_y = HUGE_VAL;
        max_x = max_y = -HUGE_VAL;
        auto ring = [&](const auto& r) {
            for (std::size_t i = 0; i + 1 < r.size(); ++i) {
                const edge e{r[i].x() - ox, r[i].y() - oy, r[i + 1].x() - ox, r[i + 1].y() - oy};
                min_x = std::min({min_x, e.x0, e.x1});
                max_x = std::max({max_x, e.x0, e.x1});
                min_y = std::min({min_y, e.y0, e.y1});
                max_y = std::max({max_y, e.y0, e.y1});
                edges.push_back(e);
            }
        };
        for (const auto& poly : g) {
            ring(poly.outer());
            for (const auto& inner : poly.inners()) {
                ring(inner);
            }
        }
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
// degenerate meeting.
bool sweep_inside(const edge_set& from, const edge_set& other, double& twice, std::vector<double>& cuts)
{
    constexpr double EPS = 1e-9;
    for (const edge& e : from.edges) {
        if (!other.box_meets(e)) {
            continue; // wholly outside the other
        }
        const double dx = e.x1 - e.x0;
        const double dy = e.y1 - e.y0;
        const double len = std::hypot(dx, dy);
        if (len == 0) {
            continue;
        }
        cuts.clear();
        const double exmin = std::min(e.x0, e.x1);
        const double exmax = std::max(e.x0, e.x1);
        const double eymin = std::min(e.y0, e.y1);
        const double eymax = std::max(e.y0, e.y1);
        for (const edge& o : other.edges) {
            if (std::max(o.x0, o.x1) < exmin || std::min(o.x0, o.x1) > exmax || std::max(o.y0, o.y1) < eymin ||
                std::min(o.y0, o.y1) > eymax) {
                continue;
            }
            const double ox = o.x1 - o.x0;
            const double oy = o.y1 - o.y0;
            const double d = dx * oy - dy * ox;
            const double rx = o.x0 - e.x0;
            const double ry = o.y0 - e.y0;
            if (std::fabs(d) <= EPS * len * std::hypot(ox, oy)) {
                // Parallel: apart, or along each other (a shared boundary).
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
        const double mid = cuts.empty() ? 0.5 : cuts.front() / 2;
        bool in = other.inside(e.x0 + dx * mid, e.y0 + dy * mid);
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
        return ring_area(x, y, area_method::ellipsoidal, nullptr);
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

struct overlap_meter::impl {
    using segment_box = std::pair<bg::model::box<bpoint>, std::size_t>;
    area_method method = area_method::planar;
    int zone = 0;
    PJ* op = nullptr; // lon/lat → GK for planar; null for ellipsoidal
    const GEOSGeometry* lonlat = nullptr;
    bmulti shape; // in the measuring space: GK metres, or lon/lat
    bg::model::box<bpoint> box;
    double area = 0;
    // The boxes of the shape's edges: a feature whose box meets none lies wholly inside or
    // wholly outside, which one point of it tells.
    bg::index::rtree<segment_box, bg::index::rstar<16>> edges;
    // The same in lon/lat, padded by PAD_DEGREES: most features are told inside or outside
    // before they are read or transformed.
    bmulti shape_ll;
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
    bool crossing_area(const bmulti& feature, double& out) const
    {
        thread_local edge_set f;
        thread_local std::vector<double> cuts;
        const double ox = box.min_corner().x();
        const double oy = box.min_corner().y();
        f.assign(feature, ox, oy);
        double twice = 0;
        if (!sweep_inside(f, shape_edges, twice, cuts) || !sweep_inside(shape_edges, f, twice, cuts)) {
            return false;
        }
        out = std::max(0.0, -twice / 2); // clockwise: the sum of cross products is negative
        return true;
    }

    bool boundary_meets(const bg::model::box<bpoint>& b) const
    {
        return edges.qbegin(bg::index::intersects(b)) != edges.qend();
    }

    double measure(const bmulti& g) const { return method == area_method::planar ? bg::area(g) : geodesic_area(g); }

    geom_ptr shape_gk; // planar: the shape transformed, for GEOS

    // PostGIS's way with GEOS: planar cuts after the transformation to the zone, ellipsoidal
    // cuts in lon/lat measured on GRS 80.
    double by_geos(std::string_view wkb) const
    {
        geom_ptr g = from_wkb(wkb);
        if (method == area_method::planar) {
            g = transform(g.get(), 4490, gk_epsg(zone, false));
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
    m_impl->op = m == area_method::planar ? projections().get(4490, gk_epsg(zone, false)) : nullptr;
    GEOSContextHandle_t h = geos();
    GEOSWKBWriter* writer = GEOSWKBWriter_create_r(h);
    std::size_t n = 0;
    unsigned char* bytes = GEOSWKBWriter_write_r(h, writer, lonlat, &n);
    GEOSWKBWriter_destroy_r(h, writer);
    if (bytes == nullptr) {
        throw error("writing the red line as WKB");
    }
    const std::string wkb(reinterpret_cast<const char*>(bytes), n);
    GEOSFree_r(h, bytes);
    read_multi(wkb, m_impl->op, static_cast<std::size_t>(-1), m_impl->shape);
    m_impl->box = box_of(m_impl->shape);
    m_impl->area = m_impl->measure(m_impl->shape);
    m_impl->edges = impl::index_edges(m_impl->shape, 0);
    m_impl->shape_edges.assign(m_impl->shape, m_impl->box.min_corner().x(), m_impl->box.min_corner().y());
    read_multi(wkb, nullptr, static_cast<std::size_t>(-1), m_impl->shape_ll);
    m_impl->box_ll = box_of(m_impl->shape_ll);
    m_impl->edges_ll = impl::index_edges(m_impl->shape_ll, PAD_DEGREES);
    if (m == area_method::planar) {
        m_impl->shape_gk = transform(lonlat, 4490, gk_epsg(zone, false));
    }
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
    if (m.edges_ll.qbegin(bg::index::intersects(b)) != m.edges_ll.qend()) {
        return area(feature_wkb); // the boundary passes near: measure it
    }
    // No edge comes near the box: all of it lies inside, or all outside.
    if (!bg::within(bpoint((box.min_x + box.max_x) / 2, (box.min_y + box.max_y) / 2), m.shape_ll)) {
        return 0;
    }
    return own_area >= 0 ? own_area : wkb_area(feature_wkb, m.method, m.zone);
}

double overlap_meter::area(std::string_view feature_wkb) const
{
    thread_local bmulti feature;
    const impl& m = *m_impl;
    if (!read_multi(feature_wkb, m.op, BOOST_MAX_VERTICES, feature)) {
        return m.by_geos(feature_wkb);
    }
    const bg::model::box<bpoint> fbox = box_of(feature);
    if (!bg::intersects(fbox, m.box)) {
        return 0;
    }
    if (!m.boundary_meets(fbox)) {
        // No edge of the shape comes near: the feature lies wholly inside, or wholly outside.
        const bool inside = !feature.empty() && !feature.front().outer().empty() &&
                            bg::within(feature.front().outer().front(), m.shape);
        return inside ? m.measure(feature) : 0.0;
    }
    double a = 0;
    if (m.method == area_method::planar && m.crossing_area(feature, a)) {
        return a;
    }
    return m.by_geos(feature_wkb); // shared edges or vertices, or ellipsoidal: GEOS cuts it
}

} // namespace onemap::tileserver::analysis
