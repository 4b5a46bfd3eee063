#include "onemap/importers/datum_shift.hpp"

#include "onemap/core/catalog.hpp"
#include "onemap/core/error.hpp"
#include "onemap/core/log.hpp"

#include <proj.h>

#include <cmath>
#include <cstdio>
#include <memory>

namespace onemap::importers {

namespace {

struct context_deleter {
    void operator()(PJ_CONTEXT* c) const noexcept { proj_context_destroy(c); }
};
struct pj_deleter {
    void operator()(PJ* p) const noexcept { proj_destroy(p); }
};
struct list_deleter {
    void operator()(PJ_OBJ_LIST* l) const noexcept { proj_list_destroy(l); }
};
struct factory_deleter {
    void operator()(PJ_OPERATION_FACTORY_CONTEXT* f) const noexcept { proj_operation_factory_context_destroy(f); }
};
using context_ptr = std::unique_ptr<PJ_CONTEXT, context_deleter>;
using pj_ptr = std::unique_ptr<PJ, pj_deleter>;

pj_ptr make_crs(PJ_CONTEXT* ctx, const std::string& definition)
{
    pj_ptr crs(proj_create(ctx, definition.c_str()));
    if (!crs) {
        throw input_error("srs", definition + " is not a coordinate system PROJ knows");
    }
    return crs;
}

struct area {
    double west, south, east, north;
};

// The data's extent as lon/lat on the source's own datum; the source CRS's area of use when
// the extent is unusable (absurd coordinates are rejected per feature later, not here).
std::optional<area> area_of_interest(PJ_CONTEXT* ctx, PJ* src, const std::optional<source_extent>& extent)
{
    if (extent && std::isfinite(extent->min_x) && std::isfinite(extent->max_x) && std::isfinite(extent->min_y) &&
        std::isfinite(extent->max_y)) {
        const auto type = proj_get_type(src);
        if (type == PJ_TYPE_GEOGRAPHIC_2D_CRS || type == PJ_TYPE_GEOGRAPHIC_3D_CRS) {
            if (extent->min_x >= -180 && extent->max_x <= 180 && extent->min_y >= -90 && extent->max_y <= 90) {
                return area{extent->min_x, extent->min_y, extent->max_x, extent->max_y};
            }
        } else if (pj_ptr geodetic{proj_crs_get_geodetic_crs(ctx, src)}) {
            pj_ptr op(proj_create_crs_to_crs_from_pj(ctx, src, geodetic.get(), nullptr, nullptr));
            pj_ptr norm(op ? proj_normalize_for_visualization(ctx, op.get()) : nullptr);
            area a{};
            if (norm && proj_trans_bounds(ctx, norm.get(), PJ_FWD, extent->min_x, extent->min_y, extent->max_x,
                                          extent->max_y, &a.west, &a.south, &a.east, &a.north, 21) != 0 &&
                a.west >= -180 && a.east <= 180 && a.south >= -90 && a.north <= 90 && a.west <= a.east) {
                return a;
            }
            proj_errno_reset(src);
        }
    }
    area a{};
    if (proj_get_area_of_use(ctx, src, &a.west, &a.south, &a.east, &a.north, nullptr) != 0 && a.west > -1000) {
        return a;
    }
    return std::nullopt;
}

struct operation {
    pj_ptr op;
    bool ballpark = false;
};

// PROJ's best instantiable operation from src to dst for the area, lon/lat (x/y) in and out.
std::optional<operation> best_operation(PJ_CONTEXT* ctx, PJ* src, PJ* dst, const std::optional<area>& aoi)
{
    std::unique_ptr<PJ_OPERATION_FACTORY_CONTEXT, factory_deleter> factory(
        proj_create_operation_factory_context(ctx, nullptr));
    if (!factory) {
        return std::nullopt;
    }
    if (aoi) {
        proj_operation_factory_context_set_area_of_interest(ctx, factory.get(), aoi->west, aoi->south, aoi->east,
                                                            aoi->north);
    }
    proj_operation_factory_context_set_spatial_criterion(ctx, factory.get(),
                                                         PROJ_SPATIAL_CRITERION_STRICT_CONTAINMENT);
    proj_operation_factory_context_set_grid_availability_use(
        ctx, factory.get(), PROJ_GRID_AVAILABILITY_DISCARD_OPERATION_IF_MISSING_GRID);
    std::unique_ptr<PJ_OBJ_LIST, list_deleter> ops(proj_create_operations(ctx, src, dst, factory.get()));
    if (!ops) {
        return std::nullopt;
    }
    // Sorted best first; a real shift, when there is one, comes before the ballpark.
    std::optional<operation> fallback;
    for (int i = 0; i < proj_list_get_count(ops.get()); ++i) {
        pj_ptr op(proj_list_get(ctx, ops.get(), i));
        if (!op || proj_coordoperation_is_instantiable(ctx, op.get()) == 0) {
            continue;
        }
        const bool ballpark = proj_coordoperation_has_ballpark_transformation(ctx, op.get()) != 0;
        pj_ptr norm(proj_normalize_for_visualization(ctx, op.get()));
        if (!norm) {
            continue;
        }
        if (!ballpark) {
            return operation{std::move(norm), false};
        }
        if (!fallback) {
            fallback = operation{std::move(norm), true};
        }
    }
    return fallback;
}

std::string name_of(const PJ* obj)
{
    const char* n = proj_get_name(obj);
    return n != nullptr ? n : "unnamed";
}

std::string pipeline_of(PJ_CONTEXT* ctx, PJ* op)
{
    const char* s = proj_as_proj_string(ctx, op, PJ_PROJ_5, nullptr);
    if (s == nullptr) {
        throw input_error("srs", "PROJ cannot express the operation '" + name_of(op) + "' as a pipeline");
    }
    return s;
}

transformation_choice describe(PJ_CONTEXT* ctx, operation& op, std::string how)
{
    transformation_choice c;
    c.pipeline = pipeline_of(ctx, op.op.get());
    c.name = name_of(op.op.get());
    c.accuracy_m = proj_coordoperation_get_accuracy(ctx, op.op.get());
    c.ballpark = op.ballpark;
    c.how = std::move(how);
    return c;
}

std::string format_parameters(const helmert_parameters& p)
{
    std::string s;
    for (std::size_t i = 0; i < p.size(); ++i) {
        char v[32];
        std::snprintf(v, sizeof v, "%.10g", p[i]);
        s += (i == 0 ? "" : ",") + std::string(v);
    }
    return s;
}

} // namespace

helmert_parameters parse_towgs84(const std::string& text)
{
    helmert_parameters p{};
    std::size_t count = 0;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        const auto comma = text.find(',', pos);
        const std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        char* end = nullptr;
        const double v = std::strtod(item.c_str(), &end);
        if (item.empty() || end == item.c_str() || *end != '\0' || !std::isfinite(v) || count >= p.size()) {
            throw input_error("towgs84", "--towgs84 '" + text +
                                             "' is not 3 or 7 numbers dx,dy,dz[,rx,ry,rz,s] (metres, "
                                             "arc-seconds, ppm)");
        }
        p[count++] = v;
        if (comma == std::string::npos) {
            break;
        }
        pos = comma + 1;
    }
    if (count != 3 && count != 7) {
        throw input_error("towgs84", "--towgs84 '" + text + "' has " + std::to_string(count) +
                                         " numbers; give dx,dy,dz or dx,dy,dz,rx,ry,rz,s");
    }
    return p;
}

transformation_choice choose_transformation(int source_epsg, const std::optional<source_extent>& extent,
                                            const std::optional<helmert_parameters>& towgs84,
                                            bool accept_ballpark, const std::string& label)
{
    if (source_epsg == core::STORAGE_SRID && !towgs84) {
        return {};
    }
    context_ptr ctx(proj_context_create());
    const std::string source = "EPSG:" + std::to_string(source_epsg);
    pj_ptr src = make_crs(ctx.get(), source);
    pj_ptr cgcs2000 = make_crs(ctx.get(), "EPSG:" + std::to_string(core::STORAGE_SRID));
    pj_ptr wgs84 = make_crs(ctx.get(), "EPSG:4326");
    const auto aoi = area_of_interest(ctx.get(), src.get(), extent);
    pj_ptr datum(proj_crs_get_datum_forced(ctx.get(), src.get()));
    const std::string datum_name = datum ? name_of(datum.get()) : "unknown datum";

    if (towgs84) {
        // The same CRS bound to WGS 84 by the user's 7 parameters, as cs2cs reads +towgs84.
        const char* proj_def = proj_as_proj_string(ctx.get(), src.get(), PJ_PROJ_4, nullptr);
        if (proj_def == nullptr) {
            throw input_error("towgs84", label + ": " + source + " cannot take a +towgs84 set");
        }
        std::string def = proj_def;
        const auto type_pos = def.find(" +type=crs");
        def = def.substr(0, type_pos) + " +towgs84=" + format_parameters(*towgs84) + " +type=crs";
        pj_ptr bound = make_crs(ctx.get(), def);
        auto op = best_operation(ctx.get(), bound.get(), wgs84.get(), std::nullopt);
        if (!op || op->ballpark) {
            throw input_error("towgs84", label + ": PROJ cannot build a Helmert shift from " + def);
        }
        log().info("{}: {} shifted to WGS 84 by --towgs84 {}; CGCS2000 and WGS 84 coincide at map scale "
                   "(PROJ's own WGS 84 → CGCS2000 operation is a null shift)",
                   label, source, format_parameters(*towgs84));
        auto c = describe(ctx.get(), *op, "--towgs84 " + format_parameters(*towgs84) + " (" + datum_name +
                                              " → WGS 84, position vector), then CGCS2000 taken as WGS 84");
        c.name = datum_name + " to WGS 84 by --towgs84 " + format_parameters(*towgs84) + " (PROJ: " + c.name + ")";
        return c;
    }

    auto direct = best_operation(ctx.get(), src.get(), cgcs2000.get(), aoi);
    if (direct && !direct->ballpark) {
        return describe(ctx.get(), *direct, "PROJ's operation from " + source + " to EPSG:4490");
    }
    auto via = best_operation(ctx.get(), src.get(), wgs84.get(), aoi);
    if (via && !via->ballpark) {
        auto c = describe(ctx.get(), *via, "PROJ has only a ballpark operation from " + source +
                                               " to EPSG:4490; used its datum shift to WGS 84, which "
                                               "coincides with CGCS2000 at map scale");
        log().info("{}: no direct datum shift {} → CGCS2000 in PROJ; using '{}' to WGS 84 (accuracy {} m). "
                   "CGCS2000 and WGS 84 coincide at map scale (they differ by centimetres)",
                   label, source, c.name, c.accuracy_m);
        return c;
    }
    if (accept_ballpark && direct) {
        log().warn("{}: --accept-ballpark: {} ({}) published with PROJ's ballpark operation '{}': no datum "
                   "shift, tens to hundreds of metres off",
                   label, source, datum_name, name_of(direct->op.get()));
        return describe(ctx.get(), *direct, "--accept-ballpark: no datum shift applied");
    }
    throw input_error("srs", label + ": " + source + " (" + name_of(src.get()) + ") is on the datum '" +
                                 datum_name + "', and PROJ knows no datum shift from it to CGCS2000 or WGS 84 " +
                                 "for this area, only a ballpark (no-op) offset that is tens to hundreds of " +
                                 "metres off. Pass --towgs84 dx,dy,dz,rx,ry,rz,s (the 7-parameter set your " +
                                 "surveying bureau issues for " + datum_name + " → WGS 84/CGCS2000) or " +
                                 "--accept-ballpark to publish with that error");
}

} // namespace onemap::importers
