#include "onemap/tileserver/analysis/compliance.hpp"

#include "onemap/core/error.hpp"
#include "onemap/core/event_loop.hpp"

#include "onemap/tileserver/analysis/parallel.hpp"

#include <algorithm>
#include <map>

namespace onemap::tileserver::analysis {

namespace {

bool in_classes(std::string_view code, const std::vector<std::string>& listed)
{
    return std::any_of(listed.begin(), listed.end(),
                       [&](const std::string& p) { return code.substr(0, p.size()) == p; });
}

// A check's candidates: the parts of its layer's features near the project, measured below.
struct candidates {
    std::vector<layer_data::part_ref> parts;
    std::vector<double> areas; ///< m² of each part inside the project
};

candidates find_candidates(const check_input& in, const GEOSGeometry* project)
{
    candidates out;
    if (in.data) {
        out.parts = in.data->parts(bounds_of(project));
        out.areas.assign(out.parts.size(), 0.0);
    }
    return out;
}

check_result run_check(const check_input& in, const candidates& found, double project_area)
{
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
    std::map<std::string_view, class_area> by_class;
    // Overlap per feature, summed over its parts near the project (features of many vertices
    // are held cut into parts: each meets only the parts near it).
    std::vector<std::pair<std::size_t, double>> overlaps;
    for (std::size_t k = 0; k < found.parts.size(); ++k) {
        if (found.areas[k] > 0) {
            overlaps.emplace_back(found.parts[k].feature, found.areas[k]);
        }
    }
    // One entry per feature, its parts summed.
    std::sort(overlaps.begin(), overlaps.end());
    std::size_t kept = 0;
    for (std::size_t k = 0; k < overlaps.size(); ++k) {
        if (kept > 0 && overlaps[kept - 1].first == overlaps[k].first) {
            overlaps[kept - 1].second += overlaps[k].second;
        } else {
            overlaps[kept++] = overlaps[k];
        }
    }
    overlaps.resize(kept);
    for (const auto& [i, area] : overlaps) {
        if (area < AREA_TOLERANCE_M2) {
            continue; // touching only
        }
        out.overlap += area;
        overlap_feature f;
        f.fid = d.fid(i);
        f.area = area;
        f.attributes.reserve(c.attributes.size());
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
            out.classes.push_back(entry.second);
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

int project_zone(const GEOSGeometry* project_lonlat)
{
    const bounds b = bounds_of(project_lonlat);
    const int zone = gk_zone((b.min_x + b.max_x) / 2);
    if (zone == 0) {
        throw input_error("geometry", "the project lies outside the CGCS2000 3-degree zones (75°E–135°E)");
    }
    return zone;
}

compliance_result review(const GEOSGeometry* project_lonlat, const std::vector<check_input>& checks,
                         const overlap_meter& meter)
{
    compliance_result out;
    out.method = meter.method();
    out.zone = meter.zone();
    out.project_area = meter.own_area();
    // Every check's candidate parts measured in one loop, shared with the idle cores.
    std::vector<candidates> found;
    std::vector<std::pair<std::size_t, std::size_t>> items; // (check, part)
    for (std::size_t c = 0; c < checks.size(); ++c) {
        found.push_back(find_candidates(checks[c], project_lonlat));
        for (std::size_t k = 0; k < found[c].parts.size(); ++k) {
            items.emplace_back(c, k);
        }
    }
    if (items.size() > IO_THREAD_PARTS) {
        core::may_block(); // a long review: on a worker, not an event loop
    }
    shared_for(items.size(), [&](std::size_t i) {
        const auto [c, k] = items[i];
        const layer_data& d = *checks[c].data;
        const auto& part = found[c].parts[k];
        // A whole feature in the project's zone may bring its kept area (read once).
        const bool same_zone = part.whole && gk_zone((part.box.min_x + part.box.max_x) / 2) == out.zone;
        found[c].areas[k] = meter.area(part.wkb, part.box, same_zone ? d.area(part.feature, out.method) : -1.0);
    });
    for (std::size_t c = 0; c < checks.size(); ++c) {
        out.checks.push_back(run_check(checks[c], found[c], out.project_area));
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
