#include "onemap/importers/geometry_preparation.hpp"

#include "onemap/core/catalog.hpp"
#include "onemap/core/error.hpp"

#include "onemap/importers/datum_shift.hpp"

#include <geos_c.h>
#include <proj.h>

#include <cmath>
#include <cstdio>
#include <cstring>

namespace onemap::importers {

namespace {

using geometry_ptr = std::unique_ptr<OGRGeometry>;

// Removes runs of identical consecutive vertices; true when any were removed.
bool drop_duplicate_points(OGRSimpleCurve& curve)
{
    const int n = curve.getNumPoints();
    if (n < 2) {
        return false;
    }
    std::vector<OGRRawPoint> pts(static_cast<std::size_t>(n));
    curve.getPoints(pts.data());
    std::vector<OGRRawPoint> kept;
    kept.reserve(pts.size());
    for (const auto& p : pts) {
        if (kept.empty() || kept.back().x != p.x || kept.back().y != p.y) {
            kept.push_back(p);
        }
    }
    if (kept.size() == pts.size()) {
        return false;
    }
    curve.setPoints(static_cast<int>(kept.size()), kept.data());
    return true;
}

template <typename Fn>
void for_each_polygon(OGRGeometry& g, Fn&& fn)
{
    const auto type = wkbFlatten(g.getGeometryType());
    if (type == wkbPolygon) {
        fn(*g.toPolygon());
    } else if (type == wkbMultiPolygon || type == wkbGeometryCollection) {
        for (auto* part : *g.toGeometryCollection()) {
            for_each_polygon(*part, fn);
        }
    }
}

template <typename Fn>
void for_each_curve(OGRGeometry& g, Fn&& fn)
{
    const auto type = wkbFlatten(g.getGeometryType());
    if (type == wkbPolygon) {
        for (auto* ring : *g.toPolygon()) {
            fn(*ring);
        }
    } else if (type == wkbLineString) {
        fn(*g.toLineString());
    } else if (OGR_GT_IsSubClassOf(type, wkbGeometryCollection) != 0) {
        for (auto* part : *g.toGeometryCollection()) {
            for_each_curve(*part, fn);
        }
    }
}

// The source's ring order is wrong when an exterior and one of its holes turn the same way,
// or, in a shapefile (whose exteriors are clockwise), when an exterior is counter-clockwise.
bool has_wrong_ring_order(OGRGeometry& g, bool shapefile)
{
    bool wrong = false;
    for_each_polygon(g, [&](OGRPolygon& poly) {
        const OGRLinearRing* outer = poly.getExteriorRing();
        if (outer == nullptr || outer->getNumPoints() < 4) {
            return;
        }
        const bool outer_cw = outer->isClockwise() != 0;
        if (shapefile && !outer_cw) {
            wrong = true;
        }
        for (int i = 0; i < poly.getNumInteriorRings(); ++i) {
            if ((poly.getInteriorRing(i)->isClockwise() != 0) == outer_cw) {
                wrong = true;
            }
        }
    });
    return wrong;
}

// A hole whose extent leaves its shell's: the rings were assigned by orientation and the
// orientation was wrong (a shapefile exterior stored counter-clockwise).
bool hole_outside_shell(OGRGeometry& g)
{
    bool outside = false;
    for_each_polygon(g, [&outside](OGRPolygon& poly) {
        const OGRLinearRing* shell = poly.getExteriorRing();
        if (shell == nullptr) {
            return;
        }
        OGREnvelope shell_env;
        shell->getEnvelope(&shell_env);
        for (int i = 0; i < poly.getNumInteriorRings(); ++i) {
            OGREnvelope hole_env;
            poly.getInteriorRing(i)->getEnvelope(&hole_env);
            if (!shell_env.Contains(hole_env)) {
                outside = true;
            }
        }
    });
    return outside;
}

// Rebuilds polygons from all rings by containment, ignoring their orientation.
std::unique_ptr<OGRGeometry> organise_rings_by_containment(OGRGeometry& g)
{
    std::vector<OGRGeometry*> rings;
    for_each_polygon(g, [&rings](OGRPolygon& poly) {
        for (int i = 0; i <= poly.getNumInteriorRings(); ++i) {
            const OGRLinearRing* r = i == 0 ? poly.getExteriorRing() : poly.getInteriorRing(i - 1);
            auto* single = new OGRPolygon();
            single->addRingDirectly(r->clone());
            rings.push_back(single);
        }
    });
    int valid = 0;
    const char* options[] = {"METHOD=DEFAULT", nullptr};
    return std::unique_ptr<OGRGeometry>(OGRGeometryFactory::organizePolygons(
        rings.data(), static_cast<int>(rings.size()), &valid, options));
}

// Exteriors counter-clockwise, holes clockwise (OGC simple features / RFC 7946).
void normalise_orientation(OGRGeometry& g)
{
    for_each_polygon(g, [](OGRPolygon& poly) {
        for (int i = 0; i <= poly.getNumInteriorRings(); ++i) {
            OGRLinearRing* r = i == 0 ? poly.getExteriorRing() : poly.getInteriorRing(i - 1);
            const bool want_cw = i != 0;
            if ((r->isClockwise() != 0) != want_cw) {
                r->reverseWindingOrder();
            }
        }
    });
}

// Keeps the parts of a collection that belong to the family (make-valid may add lines).
geometry_ptr keep_family(geometry_ptr g, geometry_family family)
{
    const auto type = wkbFlatten(g->getGeometryType());
    if (type != wkbGeometryCollection) {
        return g;
    }
    auto* gc = g->toGeometryCollection();
    geometry_ptr out;
    switch (family) {
    case geometry_family::polygon:
        out = std::make_unique<OGRMultiPolygon>();
        break;
    case geometry_family::line:
        out = std::make_unique<OGRMultiLineString>();
        break;
    case geometry_family::point:
        out = std::make_unique<OGRMultiPoint>();
        break;
    }
    auto* target = out->toGeometryCollection();
    for (auto* part : *gc) {
        const auto pt = wkbFlatten(part->getGeometryType());
        auto f = family_of(pt);
        if (!f || *f != family) {
            continue;
        }
        if (OGR_GT_IsSubClassOf(pt, wkbGeometryCollection) != 0) {
            for (auto* sub : *part->toGeometryCollection()) {
                target->addGeometry(sub);
            }
        } else {
            target->addGeometry(part);
        }
    }
    return out;
}

geometry_ptr to_multi(geometry_ptr g, geometry_family family)
{
    OGRGeometry* raw = g.release();
    switch (family) {
    case geometry_family::polygon:
        return geometry_ptr(OGRGeometryFactory::forceToMultiPolygon(raw));
    case geometry_family::line:
        return geometry_ptr(OGRGeometryFactory::forceToMultiLineString(raw));
    case geometry_family::point:
        return geometry_ptr(OGRGeometryFactory::forceToMultiPoint(raw));
    }
    return geometry_ptr(raw);
}

std::string to_ewkb_hex(const OGRGeometry& g)
{
    const auto size = static_cast<std::size_t>(g.WkbSize());
    std::vector<unsigned char> wkb(size);
    g.exportToWkb(wkbNDR, wkb.data(), wkbVariantIso);
    // EWKB: the same bytes with the SRID flag on the type and the SRID after it.
    std::uint32_t type;
    std::memcpy(&type, wkb.data() + 1, 4);
    type |= 0x20000000U;
    const std::uint32_t srid = core::STORAGE_SRID;
    static constexpr char HEX[] = "0123456789ABCDEF";
    std::string out;
    out.reserve((size + 4) * 2);
    auto put = [&out](const unsigned char* p, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) {
            out.push_back(HEX[p[i] >> 4]);
            out.push_back(HEX[p[i] & 15]);
        }
    };
    put(wkb.data(), 1);
    put(reinterpret_cast<const unsigned char*>(&type), 4);
    put(reinterpret_cast<const unsigned char*>(&srid), 4);
    put(wkb.data() + 5, size - 5);
    return out;
}

// A coordinate operation run by PROJ in a context of its own (one per worker thread), x/y
// in the source CRS's easting/longitude-first order, lon/lat out.
class proj_transformation final : public OGRCoordinateTransformation {
public:
    explicit proj_transformation(const std::string& pipeline) : m_pipeline(pipeline), m_ctx(proj_context_create())
    {
        if (m_ctx == nullptr) {
            throw input_error("srs", "PROJ context cannot be created");
        }
        m_pj = proj_create(m_ctx, pipeline.c_str());
        if (m_pj == nullptr) {
            proj_context_destroy(m_ctx);
            throw input_error("srs", "PROJ cannot instantiate the transformation " + pipeline);
        }
    }
    ~proj_transformation() override
    {
        proj_destroy(m_pj);
        proj_context_destroy(m_ctx);
    }
    proj_transformation(const proj_transformation&) = delete; // owns PROJ handles
    proj_transformation& operator=(const proj_transformation&) = delete;

    OGRSpatialReference* GetSourceCS() override { return nullptr; }
    OGRSpatialReference* GetTargetCS() override { return nullptr; }
    OGRCoordinateTransformation* Clone() const override { return new proj_transformation(m_pipeline); }
    OGRCoordinateTransformation* GetInverse() const override { return nullptr; }

    int Transform(int count, double* x, double* y, double* z, double* /*t*/, int* success) override
    {
        // Coordinates beyond the source CRS's domain (a northing of 1e16 m) may come out of an
        // inverse projection as some lon/lat; they do not survive the way back, so that is checked.
        const auto n = static_cast<std::size_t>(count);
        m_x.assign(x, x + n);
        m_y.assign(y, y + n);
        proj_errno_reset(m_pj);
        proj_trans_generic(m_pj, PJ_FWD, x, sizeof(double), n, y, sizeof(double), n, z, z != nullptr ? sizeof(double) : 0,
                           z != nullptr ? n : 0, nullptr, 0, 0);
        m_bx.assign(x, x + n);
        m_by.assign(y, y + n);
        proj_trans_generic(m_pj, PJ_INV, m_bx.data(), sizeof(double), n, m_by.data(), sizeof(double), n, nullptr, 0, 0,
                           nullptr, 0, 0);
        bool all = true;
        for (std::size_t i = 0; i < n; ++i) {
            const auto near = [](double a, double b) { return std::fabs(a - b) <= 0.01 + 1e-9 * std::fabs(a); };
            const bool ok = std::isfinite(x[i]) && std::isfinite(y[i]) && x[i] != HUGE_VAL && y[i] != HUGE_VAL &&
                            near(m_x[i], m_bx[i]) && near(m_y[i], m_by[i]);
            all = all && ok;
            if (success != nullptr) {
                success[i] = ok ? TRUE : FALSE;
            }
        }
        return all ? TRUE : FALSE;
    }

private:
    std::string m_pipeline;
    PJ_CONTEXT* m_ctx;
    PJ* m_pj = nullptr;
    std::vector<double> m_x, m_y, m_bx, m_by; // scratch for the round trip
};

// Calls fn(x, y) for every vertex until it returns false.
template <typename Fn>
bool each_vertex(const OGRGeometry& g, Fn&& fn)
{
    const auto type = wkbFlatten(g.getGeometryType());
    if (type == wkbPoint) {
        return fn(g.toPoint()->getX(), g.toPoint()->getY());
    }
    if (type == wkbPolygon) {
        for (const auto* ring : *g.toPolygon()) {
            if (!each_vertex(*ring, fn)) {
                return false;
            }
        }
        return true;
    }
    if (OGR_GT_IsSubClassOf(type, wkbGeometryCollection) != 0) {
        for (const auto* part : *g.toGeometryCollection()) {
            if (!each_vertex(*part, fn)) {
                return false;
            }
        }
        return true;
    }
    if (OGR_GT_IsCurve(type) != 0 && dynamic_cast<const OGRSimpleCurve*>(&g) != nullptr) {
        const auto* c = dynamic_cast<const OGRSimpleCurve*>(&g);
        for (int i = 0; i < c->getNumPoints(); ++i) {
            if (!fn(c->getX(i), c->getY(i))) {
                return false;
            }
        }
    }
    return true;
}

// The first vertex that is not finite (or, with `lon_lat`, outside longitude -180..180,
// latitude -90..90, the range of EPSG:4490), described for the report.
std::optional<std::string> first_bad_vertex(const OGRGeometry& g, bool lon_lat)
{
    std::optional<std::string> bad;
    long long index = 0;
    each_vertex(g, [&](double x, double y) {
        const bool finite = std::isfinite(x) && std::isfinite(y);
        if (finite && (!lon_lat || (x >= -180 && x <= 180 && y >= -90 && y <= 90))) {
            ++index;
            return true;
        }
        char where[200];
        std::snprintf(where, sizeof where, "vertex %lld (%.9g, %.9g) %s", index, x, y,
                      !finite ? "is not a finite number"
                              : "lies outside EPSG:4490's range (longitude -180..180, latitude -90..90)");
        bad = where;
        return false;
    });
    return bad;
}

} // namespace

std::optional<geometry_family> family_of(OGRwkbGeometryType type) noexcept
{
    switch (wkbFlatten(type)) {
    case wkbPolygon:
    case wkbMultiPolygon:
    case wkbCurvePolygon:
    case wkbMultiSurface:
        return geometry_family::polygon;
    case wkbLineString:
    case wkbMultiLineString:
    case wkbCircularString:
    case wkbCompoundCurve:
    case wkbMultiCurve:
        return geometry_family::line;
    case wkbPoint:
    case wkbMultiPoint:
        return geometry_family::point;
    default:
        return std::nullopt;
    }
}

const char* family_name(geometry_family f) noexcept
{
    switch (f) {
    case geometry_family::polygon:
        return "MULTIPOLYGON";
    case geometry_family::line:
        return "MULTILINESTRING";
    case geometry_family::point:
        return "MULTIPOINT";
    }
    return "";
}

geometry_preparer::geometry_preparer(geometry_family family, const std::string& pipeline, bool shapefile_rings)
    : m_family(family), m_shapefile_rings(shapefile_rings), m_geos(GEOS_init_r())
{
    try {
        if (!pipeline.empty()) {
            m_transform.reset(new proj_transformation(pipeline));
        }
    } catch (...) {
        GEOS_finish_r(static_cast<GEOSContextHandle_t>(m_geos));
        throw;
    }
    OGRSpatialReference storage;
    storage.importFromEPSG(core::STORAGE_SRID);
    double west = 0, south = 0, east = 0, north = 0;
    const char* name = nullptr;
    if (storage.GetAreaOfUse(&west, &south, &east, &north, &name)) {
        m_area_of_use.MinX = west;
        m_area_of_use.MinY = south;
        m_area_of_use.MaxX = east;
        m_area_of_use.MaxY = north;
    } else {
        m_area_of_use.MinX = -180;
        m_area_of_use.MinY = -90;
        m_area_of_use.MaxX = 180;
        m_area_of_use.MaxY = 90;
    }
}

geometry_preparer::geometry_preparer(geometry_family family, int source_epsg, bool shapefile_rings)
    : geometry_preparer(family,
                        choose_transformation(source_epsg, std::nullopt, std::nullopt, true,
                                              "EPSG:" + std::to_string(source_epsg))
                            .pipeline,
                        shapefile_rings)
{
}

geometry_preparer::~geometry_preparer()
{
    GEOS_finish_r(static_cast<GEOSContextHandle_t>(m_geos));
}

prepared_geometry geometry_preparer::prepare(const OGRGeometry* source)
{
    prepared_geometry out;
    if (source == nullptr || source->IsEmpty()) {
        out.reject_kind = "empty";
        out.reject_detail = "the feature has no geometry";
        return out;
    }
    const auto type = source->getGeometryType();
    const auto family = family_of(type);
    if (!family || *family != m_family) {
        out.reject_kind = "wrong_type";
        out.reject_detail = std::string(OGRGeometryTypeToName(type)) + " in a " +
                            family_name(m_family) + " layer";
        return out;
    }

    geometry_ptr g(source->hasCurveGeometry() ? source->getLinearGeometry() : source->clone());
    if (g->Is3D() || g->IsMeasured()) {
        g->flattenTo2D();
        out.dimensions_dropped = true;
    }
    if (auto bad = first_bad_vertex(*g, false)) {
        out.reject_kind = "non_finite";
        out.reject_detail = *bad;
        return out;
    }

    bool duplicates = false;
    for_each_curve(*g, [&duplicates](OGRSimpleCurve& c) { duplicates |= drop_duplicate_points(c); });
    if (duplicates) {
        out.repairs.emplace_back("duplicate_points", "consecutive duplicate vertices removed");
    }
    if (m_family == geometry_family::polygon && hole_outside_shell(*g)) {
        g = organise_rings_by_containment(*g);
        out.repairs.emplace_back("ring_order", "shell and holes reassigned by containment (ring orientation was wrong)");
    } else if (m_family == geometry_family::polygon && has_wrong_ring_order(*g, m_shapefile_rings)) {
        out.repairs.emplace_back("ring_order", "rings re-oriented (exterior/hole winding was wrong)");
    }

    if (m_transform && g->transform(m_transform.get()) != OGRERR_NONE) {
        out.reject_kind = "reprojection";
        out.reject_detail = "coordinates cannot be transformed to EPSG:4490 (outside the source CRS's domain)";
        return out;
    }
    if (auto bad = first_bad_vertex(*g, true)) {
        out.reject_kind = "out_of_range";
        out.reject_detail = *bad;
        return out;
    }

    auto* ctx = static_cast<GEOSContextHandle_t>(m_geos);
    GEOSGeometry* gg = g->exportToGEOS(ctx);
    if (gg == nullptr) {
        out.reject_kind = "unreadable";
        out.reject_detail = "GEOS cannot read the geometry";
        return out;
    }
    const char valid = GEOSisValid_r(ctx, gg);
    std::string reason;
    if (valid == 0) {
        char* r = GEOSisValidReason_r(ctx, gg);
        reason = r != nullptr ? r : "invalid";
        GEOSFree_r(ctx, r);
    }
    GEOSGeom_destroy_r(ctx, gg);

    if (valid == 0) {
        const char* options[] = {"METHOD=STRUCTURE", "KEEP_COLLAPSED=NO", nullptr};
        geometry_ptr fixed(g->MakeValid(options));
        if (fixed) {
            fixed = keep_family(std::move(fixed), m_family);
        }
        if (!fixed || fixed->IsEmpty()) {
            out.reject_kind = "invalid";
            out.reject_detail = reason + "; nothing of the feature's " + family_name(m_family) +
                                " part survives repair";
            return out;
        }
        g = std::move(fixed);
        out.repairs.emplace_back("make_valid", reason);
    }

    g = to_multi(std::move(g), m_family);
    if (m_family == geometry_family::polygon) {
        normalise_orientation(*g);
    }
    if (m_family == geometry_family::line) {
        bool degenerate = true;
        for_each_curve(*g, [&degenerate](OGRSimpleCurve& c) { degenerate &= c.getNumPoints() < 2; });
        if (degenerate) {
            out.reject_kind = "degenerate";
            out.reject_detail = "a line with fewer than two distinct points";
            return out;
        }
    }
    g->getEnvelope(&out.envelope);
    out.outside_area_of_use = !m_area_of_use.Intersects(out.envelope);
    out.ewkb_hex = to_ewkb_hex(*g);
    if (m_keep_geometry) {
        out.geometry = std::move(g);
    }
    return out;
}

} // namespace onemap::importers
