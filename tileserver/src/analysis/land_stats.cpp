#include "onemap/tileserver/analysis/land_stats.hpp"

#include "onemap/tileserver/analysis/compliance.hpp"

#include "onemap/tileserver/analysis/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>

namespace onemap::tileserver::analysis {

namespace {

geom_ptr rectangle(const bounds& b)
{
    return own(GEOSGeom_createRectangle_r(geos(), b.min_x, b.min_y, b.max_x, b.max_y), "making a rectangle");
}

int zone_of(const bounds& b)
{
    return gk_zone((b.min_x + b.max_x) / 2);
}

// The part of feature i of `d` inside `clip` (prepared as `prepared`) and its area; the whole
// feature (and its stored area) when it lies inside. Area 0 when they only touch.
struct clipped {
    geom_ptr geometry; // null when the whole feature is meant
    double area = 0;
    bool whole = false;
};

clipped clip_feature(const layer_data& d, std::size_t i, const GEOSGeometry* clip, const GEOSPreparedGeometry* prepared,
                     area_method m)
{
    GEOSContextHandle_t h = geos();
    clipped out;
    if (clip == nullptr) {
        out.whole = true;
        out.area = d.area(i, m);
        return out;
    }
    // Most parcels lie far inside a region: their bounding box proves it without reading them.
    const geom_ptr box = rectangle(d.box(i));
    if (GEOSPreparedContainsProperly_r(h, prepared, box.get()) == 1) {
        out.whole = true;
        out.area = d.area(i, m);
        return out;
    }
    const geom_ptr g = d.geometry(i);
    if (GEOSPreparedIntersects_r(h, prepared, g.get()) != 1) {
        return out;
    }
    if (GEOSPreparedContains_r(h, prepared, g.get()) == 1) {
        out.whole = true;
        out.area = d.area(i, m);
        return out;
    }
    out.geometry = intersection(clip, g.get());
    out.area = out.geometry ? area_of(out.geometry.get(), m, zone_of(d.box(i))) : 0.0;
    return out;
}

void collect_names(const layer_data& d, class_columns cols, std::map<std::string, std::string>& names)
{
    if (cols.code < 0 || cols.name < 0) {
        return;
    }
    for (std::size_t i = 0; i < d.size(); ++i) {
        auto& n = names[d.value(i, cols.code)];
        if (n.empty()) {
            n = d.value(i, cols.name);
        }
    }
}

} // namespace

land_stats compute_land_stats(const layer_data& parcels, class_columns parcel_cols, const layer_data& regions,
                              class_columns region_cols, area_method m)
{
    land_stats out;
    out.regions.resize(regions.size());
    parcels.compute_areas(m); // every parcel's own area, once, in parallel
    parallel_for(regions.size(), [&](std::size_t r) {
        region_areas& ra = out.regions[r];
        ra.code = region_cols.code >= 0 ? regions.value(r, region_cols.code) : std::to_string(regions.fid(r));
        ra.name = region_cols.name >= 0 ? regions.value(r, region_cols.name) : "";
        const geom_ptr g = regions.geometry(r);
        const int zone = zone_of(regions.box(r));
        // The region measures each parcel as a review's red line does (overlap_meter): most lie
        // wholly inside and add their own area unread.
        const overlap_meter meter(g.get(), m, zone);
        for (const auto& part : parcels.parts(regions.box(r))) {
            const bool same_zone = part.whole && zone_of(part.box) == zone;
            const double a = meter.area(part.wkb, part.box, same_zone ? parcels.area(part.feature, m) : -1.0);
            if (a >= AREA_TOLERANCE_M2) {
                ra.by_class[parcels.value(part.feature, parcel_cols.code)] += a;
            }
        }
    });
    std::sort(out.regions.begin(), out.regions.end(),
              [](const region_areas& a, const region_areas& b) { return a.code < b.code; });
    collect_names(parcels, parcel_cols, out.class_names);
    return out;
}

change_result detect_changes(const layer_data& from, class_columns from_cols, const layer_data& to,
                             class_columns to_cols, const GEOSGeometry* filter, area_method m)
{
    GEOSContextHandle_t h = geos();
    change_result out;
    const prepared_ptr prepared = filter != nullptr ? prepare(filter) : nullptr;
    const bounds everywhere{-1e9, -1e9, 1e9, 1e9};
    const bounds window = filter != nullptr ? bounds_of(filter) : everywhere;
    // A feature is unchanged when the other version has the same id with identical geometry.
    auto twin_in = [](const layer_data& other, const layer_data& self, std::size_t i) -> long {
        const long t = other.find(self.fid(i));
        return t >= 0 && other.wkb(static_cast<std::size_t>(t)) == self.wkb(i) ? t : -1;
    };
    auto piece_geometry = [&](const layer_data& d, std::size_t i, const clipped& c) {
        return c.whole ? to_geojson(d.geometry(i).get()) : to_geojson(c.geometry.get());
    };
    // Overlay of feature i of `self` with the features of `other` it meets, clipped to the
    // filter; pieces are recorded for the features `pairs` accepts (the others are answered
    // from their side). Returns the area of i (inside the filter) that no feature meets.
    auto overlay = [&](const layer_data& self, std::size_t i, const layer_data& other, bool self_is_to, auto&& pairs) {
        const geom_ptr g = self.geometry(i);
        geom_ptr inside;
        const GEOSGeometry* part = g.get();
        if (prepared) {
            if (GEOSPreparedIntersects_r(h, prepared.get(), g.get()) != 1) {
                return 0.0;
            }
            if (GEOSPreparedContains_r(h, prepared.get(), g.get()) != 1) {
                inside = intersection(filter, g.get());
                if (!inside) {
                    return 0.0;
                }
                part = inside.get();
            }
        }
        const int zone = zone_of(self.box(i));
        double remaining = area_of(part, m, zone);
        const std::string& self_class = self.value(i, (self_is_to ? to_cols : from_cols).code);
        for (const std::size_t j : other.query(self.box(i))) {
            const geom_ptr og = other.geometry(j);
            const geom_ptr p = intersection(part, og.get());
            const double a = p ? area_of(p.get(), m, zone) : 0.0;
            if (a < AREA_TOLERANCE_M2) {
                continue;
            }
            remaining -= a;
            if (!pairs(j)) {
                continue; // met, but answered from the other side
            }
            const std::string& other_class = other.value(j, (self_is_to ? from_cols : to_cols).code);
            change_piece piece;
            piece.from_fid = self_is_to ? other.fid(j) : self.fid(i);
            piece.to_fid = self_is_to ? self.fid(i) : other.fid(j);
            piece.from_class = self_is_to ? other_class : self_class;
            piece.to_class = self_is_to ? self_class : other_class;
            piece.area = a;
            out.matrix[{piece.from_class, piece.to_class}] += a;
            if (piece.from_class != piece.to_class) {
                piece.geojson = to_geojson(p.get());
                out.pieces.push_back(std::move(piece));
            }
        }
        return remaining;
    };

    std::vector<char> from_unchanged(from.size(), 0);
    for (const std::size_t i : to.query(window)) {
        const long t = twin_in(from, to, i);
        if (t < 0) {
            continue;
        }
        from_unchanged[static_cast<std::size_t>(t)] = 1;
        const clipped c = clip_feature(to, i, filter, prepared.get(), m);
        if (c.area < AREA_TOLERANCE_M2) {
            continue;
        }
        const std::string& old_class = from.value(static_cast<std::size_t>(t), from_cols.code);
        const std::string& new_class = to.value(i, to_cols.code);
        out.matrix[{old_class, new_class}] += c.area;
        if (old_class != new_class) {
            out.pieces.push_back(change_piece{from.fid(static_cast<std::size_t>(t)), to.fid(i), old_class, new_class,
                                              c.area, piece_geometry(to, i, c)});
        }
    }
    // Changed or new features of the later version, against every earlier feature they meet.
    for (const std::size_t i : to.query(window)) {
        if (twin_in(from, to, i) >= 0) {
            continue;
        }
        const double rest = overlay(to, i, from, true, [](std::size_t) { return true; });
        if (rest >= AREA_TOLERANCE_M2) {
            out.matrix[{"", to.value(i, to_cols.code)}] += rest;
        }
    }
    // Changed or removed earlier features, against the unchanged later ones (the changed ones
    // were paired above).
    for (const std::size_t i : from.query(window)) {
        if (from_unchanged[i] != 0) {
            continue;
        }
        const double rest = overlay(from, i, to, false, [&](std::size_t j) { return twin_in(from, to, j) >= 0; });
        if (rest >= AREA_TOLERANCE_M2) {
            out.matrix[{from.value(i, from_cols.code), ""}] += rest; // no later feature covers it
        }
    }
    std::sort(out.pieces.begin(), out.pieces.end(), [](const change_piece& a, const change_piece& b) {
        return std::tie(a.from_fid, a.to_fid) < std::tie(b.from_fid, b.to_fid);
    });
    collect_names(from, from_cols, out.class_names);
    collect_names(to, to_cols, out.class_names);
    return out;
}

} // namespace onemap::tileserver::analysis
