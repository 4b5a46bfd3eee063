#include "onemap/importers/geometry_preparation.hpp"

#include "onemap/core/catalog.hpp"
#include "onemap/core/error.hpp"

#include <geos_c.h>

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

geometry_preparer::geometry_preparer(geometry_family family, int source_epsg, bool shapefile_rings)
    : m_family(family), m_shapefile_rings(shapefile_rings), m_geos(GEOS_init_r())
{
    if (source_epsg != core::STORAGE_SRID) {
        OGRSpatialReference from;
        OGRSpatialReference to;
        from.importFromEPSG(source_epsg);
        to.importFromEPSG(core::STORAGE_SRID);
        from.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
        to.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
        m_transform.reset(OGRCreateCoordinateTransformation(&from, &to));
        if (!m_transform) {
            throw input_error("srs", "no transformation from EPSG:" + std::to_string(source_epsg) +
                                         " to EPSG:4490");
        }
    }
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
        out.reject_detail = "coordinates cannot be transformed to EPSG:4490";
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
    out.ewkb_hex = to_ewkb_hex(*g);
    return out;
}

} // namespace onemap::importers
