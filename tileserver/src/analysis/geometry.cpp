#include "onemap/tileserver/analysis/geometry.hpp"

#include "onemap/core/error.hpp"

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
    thread_local GEOSWKBReader* reader = GEOSWKBReader_create_r(h);
    return own(GEOSWKBReader_read_r(h, reader, reinterpret_cast<const unsigned char*>(wkb.data()), wkb.size()),
               "reading WKB");
}

geom_ptr clone(const GEOSGeometry* g)
{
    return own(GEOSGeom_clone_r(geos(), g), "copying a geometry");
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
