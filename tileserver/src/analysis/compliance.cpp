#include "onemap/tileserver/analysis/compliance.hpp"

#include "onemap/core/error.hpp"

#include <algorithm>
#include <map>

namespace onemap::tileserver::analysis {

namespace {

bool in_classes(const std::string& code, const std::vector<std::string>& listed)
{
    return std::any_of(listed.begin(), listed.end(),
                       [&](const std::string& p) { return code.compare(0, p.size(), p) == 0; });
}

check_result run_check(const check_input& in, const GEOSGeometry* project, const GEOSPreparedGeometry* prepared,
                       double project_area, area_method m, int zone)
{
    GEOSContextHandle_t h = geos();
    check_result out;
    out.config = in.config;
    out.valid_from = in.valid_from;
    if (!in.data) {
        return out; // no version on the date: no_data
    }
    const check_config& c = *in.config;
    const layer_data& d = *in.data;
    out.version = d.version();
    const int class_col = c.rule == check_rule::classes ? d.column(c.class_field) : -1;
    const int name_col = c.name_field.empty() ? -1 : d.column(c.name_field);
    std::map<std::string, class_area> by_class;
    for (const std::size_t i : d.query(bounds_of(project))) {
        const geom_ptr g = d.geometry(i);
        if (GEOSPreparedIntersects_r(h, prepared, g.get()) != 1) {
            continue;
        }
        double area = 0;
        if (GEOSPreparedContains_r(h, prepared, g.get()) == 1) {
            area = area_of(g.get(), m, zone);
        } else {
            const geom_ptr piece = intersection(project, g.get());
            area = piece ? area_of(piece.get(), m, zone) : 0.0;
        }
        if (area < AREA_TOLERANCE_M2) {
            continue; // touching only
        }
        out.overlap += area;
        overlap_feature f;
        f.fid = d.fid(i);
        f.area = area;
        for (const auto& a : c.attributes) {
            const int col = d.column(a);
            if (col >= 0) {
                f.attributes.emplace_back(a, d.value(i, col));
            }
        }
        if (class_col >= 0) {
            f.class_code = d.value(i, class_col);
            auto& ca = by_class[f.class_code];
            ca.code = f.class_code;
            if (name_col >= 0 && ca.name.empty()) {
                ca.name = d.value(i, name_col);
            }
            ca.area += area;
            ca.conflict = in_classes(f.class_code, c.conflict_classes);
            if (!ca.conflict) {
                continue; // listed by class, not as a conflicting feature
            }
        }
        out.features.push_back(std::move(f));
    }
    std::sort(out.features.begin(), out.features.end(),
              [](const overlap_feature& a, const overlap_feature& b) { return a.area > b.area; });
    switch (c.rule) {
    case check_rule::avoid:
        out.conflict = out.overlap;
        break;
    case check_rule::within:
        out.conflict = std::max(0.0, project_area - out.overlap);
        break;
    case check_rule::classes:
        for (auto& entry : by_class) {
            if (entry.second.conflict) {
                out.conflict += entry.second.area;
            }
            out.classes.push_back(std::move(entry.second));
        }
        std::sort(out.classes.begin(), out.classes.end(),
                  [](const class_area& a, const class_area& b) { return a.area > b.area; });
        break;
    }
    out.verdict = out.conflict >= AREA_TOLERANCE_M2 ? conclusion::conflict : conclusion::pass;
    return out;
}

} // namespace

const char* name_of(conclusion c) noexcept
{
    switch (c) {
    case conclusion::pass:
        return "pass";
    case conclusion::conflict:
        return "conflict";
    case conclusion::no_data:
        break;
    }
    return "no_data";
}

compliance_result review(const GEOSGeometry* project_lonlat, const std::vector<check_input>& checks, area_method m)
{
    compliance_result out;
    out.method = m;
    const bounds b = bounds_of(project_lonlat);
    out.zone = gk_zone((b.min_x + b.max_x) / 2);
    if (out.zone == 0) {
        throw input_error("geometry", "the project lies outside the CGCS2000 3-degree zones (75°E–135°E)");
    }
    out.project_area = area_of(project_lonlat, m, out.zone);
    const prepared_ptr prepared = prepare(project_lonlat);
    for (const auto& c : checks) {
        out.checks.push_back(run_check(c, project_lonlat, prepared.get(), out.project_area, m, out.zone));
    }
    bool any_conflict = false;
    bool any_missing = false;
    for (const auto& r : out.checks) {
        any_conflict = any_conflict || r.verdict == conclusion::conflict;
        any_missing = any_missing || r.verdict == conclusion::no_data;
    }
    out.overall = any_conflict ? conclusion::conflict : any_missing ? conclusion::no_data : conclusion::pass;
    return out;
}

} // namespace onemap::tileserver::analysis
