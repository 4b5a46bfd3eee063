// The analytics without a database: CRS names, red-line bodies (every refusal naming its parameter),
// areas from WKB against GEOS's reading of the same bytes, and the analysis: section's errors
// with file, line and key.
#include "onemap/core/error.hpp"
#include "onemap/core/event_loop.hpp"
#include "onemap/tileserver/analysis/compliance.hpp"
#include "onemap/tileserver/analysis/analysis_config.hpp"
#include "onemap/tileserver/analysis/feature_store.hpp"
#include "onemap/tileserver/analysis/geometry.hpp"
#include "onemap/tileserver/analysis/land_stats.hpp"
#include "onemap/tileserver/analysis/parallel.hpp"
#include "onemap/tileserver/analysis/project_input.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace onemap::tileserver::analysis;

namespace {

// A 1 km square in EPSG:4547 around 114°E, 33°N, as GeoJSON in lon/lat and in GK.
const char* LONLAT_SQUARE = R"({"type":"Polygon","coordinates":[[[114.0,33.0],[114.0107,33.0],[114.0107,33.009],[114.0,33.009],[114.0,33.0]]]})";
const char* GK_SQUARE = R"({"type":"Polygon","coordinates":[[[500000,3651000],[501000,3651000],[501000,3652000],[500000,3652000],[500000,3651000]]]})";

std::string refusal(const std::string& body, const std::string& crs, input_limits limits = {})
{
    try {
        read_project(body, crs, limits);
    } catch (const onemap::input_error& e) {
        return std::string(e.parameter()) + ": " + e.what();
    }
    return "accepted";
}

} // namespace

TEST(analysis_input, crs_names_are_read_in_every_spelling_and_others_refused)
{
    EXPECT_EQ(accepted_crs("EPSG:4490", "crs"), 4490);
    EXPECT_EQ(accepted_crs("urn:ogc:def:crs:EPSG::4547", "crs"), 4547);
    EXPECT_EQ(accepted_crs("urn:ogc:def:crs:EPSG:9.8.15:4526", "crs"), 4526);
    EXPECT_EQ(accepted_crs("http://www.opengis.net/def/crs/EPSG/0/4513", "crs"), 4513);
    EXPECT_EQ(accepted_crs("OGC:CRS84", "crs"), 4326);
    EXPECT_EQ(accepted_crs("cgcs2000", "crs"), 4490);
    for (const char* bad : {"EPSG:3857", "EPSG:4555", "EPSG:4512", "EPSG:", "EPSG:4547x", "4547", "", "EPSG::45470000"}) {
        EXPECT_THROW(accepted_crs(bad, "crs"), onemap::input_error) << bad;
    }
}

TEST(analysis_input, gauss_krueger_with_and_without_zone_prefix_and_lonlat_agree)
{
    const project gk = read_project(GK_SQUARE, "EPSG:4547", {});
    std::string prefixed = GK_SQUARE;
    for (const auto& [from, to] : {std::pair<std::string, std::string>{"[500000,", "[38500000,"}, {"[501000,", "[38501000,"}}) {
        for (auto at = prefixed.find(from); at != std::string::npos; at = prefixed.find(from, at + to.size())) {
            prefixed.replace(at, from.size(), to);
        }
    }
    const project zoned = read_project(prefixed, "EPSG:4526", {});
    const double a = area_of(gk.lonlat.get(), area_method::planar, 38);
    EXPECT_NEAR(a, 1e6, 1e-3); // the square is 1 km² in its own zone
    EXPECT_NEAR(area_of(zoned.lonlat.get(), area_method::planar, 38), a, 1e-3);
    // GRS 80 area of a 1 km² square near the central meridian: the GK scale is ~1 there.
    EXPECT_NEAR(ellipsoidal_area(gk.lonlat.get()), 1e6, 1e6 * 2e-4);
    const project ll = read_project(LONLAT_SQUARE, "", {});
    EXPECT_EQ(ll.input_epsg, 4490);
    EXPECT_EQ(ll.vertices, 5u);
}

TEST(analysis_input, bad_bodies_are_refused_naming_the_part)
{
    EXPECT_EQ(refusal("", "").rfind("body: ", 0), 0u);
    EXPECT_EQ(refusal("[1,2]", "").rfind("body: ", 0), 0u);
    // A number beyond double is nlohmann's out_of_range, not a parse_error (found by fuzz_red_line).
    EXPECT_EQ(refusal(R"({"type":"Polygon","coordinates":[[[1E400,33]]]})", "").rfind("body: ", 0), 0u);
    EXPECT_EQ(refusal(R"({"type":"Point","coordinates":[114,33]})", "").rfind("geometry: ", 0), 0u);
    EXPECT_NE(refusal(R"({"type":"Polygon","coordinates":[[[114,33],[114.01,33.01],[114.01,33],[114,33.01],[114,33]]]})", "")
                  .find("Self-intersection"),
              std::string::npos);
    EXPECT_NE(refusal(R"({"type":"Polygon","coordinates":[[[114,33],[114.01,33],[114,33]]]})", "").find("4 positions"),
              std::string::npos);
    EXPECT_NE(refusal(R"({"type":"Polygon","coordinates":[[[114,33],["x",33],[114.01,33.01],[114,33]]]})", "").find("[x, y]"),
              std::string::npos);
    EXPECT_EQ(refusal(GK_SQUARE, "").rfind("crs: ", 0), 0u);                     // GK without a CRS
    EXPECT_NE(refusal(GK_SQUARE, "EPSG:4526").find("EPSG:4547"), std::string::npos); // no prefix under the prefixed CRS
    EXPECT_NE(refusal(LONLAT_SQUARE, "", input_limits{0.5, 100}).find("max_area_km2"), std::string::npos);
    EXPECT_NE(refusal(LONLAT_SQUARE, "", input_limits{100, 4}).find("max_vertices"), std::string::npos);
    EXPECT_EQ(refusal(R"({"type":"FeatureCollection","features":[{"type":"Feature","geometry":null}]})", "").rfind("geometry: ", 0),
              0u);
}

TEST(analysis_input, overlapping_features_are_joined)
{
    const char* two = R"({"type":"FeatureCollection","features":[
        {"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[114.0,33.0],[114.02,33.0],[114.02,33.02],[114.0,33.02],[114.0,33.0]]]}},
        {"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[114.01,33.0],[114.03,33.0],[114.03,33.02],[114.01,33.02],[114.01,33.0]]]}}]})";
    const project p = read_project(two, "", {});
    const char* one = R"({"type":"Polygon","coordinates":[[[114.0,33.0],[114.03,33.0],[114.03,33.02],[114.0,33.02],[114.0,33.0]]]})";
    const project q = read_project(one, "", {});
    // Equal but for the vertices the union adds on the shared edges (geodesics between them).
    EXPECT_NEAR(ellipsoidal_area(p.lonlat.get()), ellipsoidal_area(q.lonlat.get()), 0.05);
    EXPECT_EQ(p.parts, 1u);
}

TEST(analysis_input, areas_read_from_wkb_equal_areas_of_the_geometry)
{
    const project p = read_project(
        R"({"type":"MultiPolygon","coordinates":[[[[114.0,33.0],[114.02,33.0],[114.02,33.02],[114.0,33.02],[114.0,33.0]],[[114.005,33.005],[114.01,33.005],[114.01,33.01],[114.005,33.005]]],[[[114.05,33.0],[114.06,33.0],[114.06,33.01],[114.05,33.0]]]]})",
        "", {});
    GEOSContextHandle_t h = geos();
    GEOSWKBWriter* w = GEOSWKBWriter_create_r(h);
    for (const int order : {GEOS_WKB_NDR, GEOS_WKB_XDR}) {
        GEOSWKBWriter_setByteOrder_r(h, w, order);
        std::size_t n = 0;
        unsigned char* bytes = GEOSWKBWriter_write_r(h, w, p.lonlat.get(), &n);
        const std::string wkb(reinterpret_cast<char*>(bytes), n);
        GEOSFree_r(h, bytes);
        for (const auto m : {area_method::planar, area_method::ellipsoidal}) {
            EXPECT_NEAR(wkb_area(wkb, m, 38), area_of(p.lonlat.get(), m, 38), 1e-6);
        }
        const bounds a = wkb_bounds(wkb);
        const bounds b = bounds_of(p.lonlat.get());
        EXPECT_EQ(a.min_x, b.min_x);
        EXPECT_EQ(a.max_y, b.max_y);
        EXPECT_THROW(wkb_area(wkb.substr(0, wkb.size() - 3), area_method::planar, 38), onemap::error);
    }
    GEOSWKBWriter_destroy_r(h, w);
}

TEST(analysis_input, configuration_errors_name_file_line_and_key)
{
    auto error_of = [](const std::string& text) {
        try {
            read_analysis_config(YAML::Load(text), "onemap.yaml");
        } catch (const onemap::config_error& e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    EXPECT_EQ(error_of("analysis:\n  checks:\n    - id: a\n      layer: x\n      rule: forbid\n"),
              "onemap.yaml:5: analysis.checks[0].rule: must be avoid, within or classes, not 'forbid'");
    EXPECT_NE(error_of("analysis:\n  checks:\n    - {id: a, layer: x}\n    - {id: a, layer: y}\n").find("listed twice"),
              std::string::npos);
    EXPECT_NE(error_of("analysis:\n  checks:\n    - {id: a, layer: x, rule: classes}\n").find("needs a class_field"),
              std::string::npos);
    EXPECT_NE(error_of("analysis:\n  limits: {max_area_km2: -1}\n").find("analysis.limits.max_area_km2"), std::string::npos);
    EXPECT_NE(error_of("analysis:\n  colour: red\n").find("onemap.yaml:2: analysis.colour: unknown key"), std::string::npos);
    const auto ok = read_analysis_config(YAML::Load("analysis:\n  land_use: {layer: dltb, class_field: dlbm}\n  checks:\n"
                                                    "    - {id: farm, layer: dltb, rule: classes, class_field: dlbm, "
                                                    "conflict_classes: ['01']}\n"),
                                         "onemap.yaml");
    ASSERT_EQ(ok.checks.size(), 1u);
    EXPECT_EQ(ok.checks[0].rule, check_rule::classes);
    EXPECT_EQ(ok.land_use_layer, "dltb");
    EXPECT_STREQ(land_class_level1_name("01"), "耕地");
}

namespace {

// A star-shaped polygon of n vertices around (lon, lat), radii in degrees between r and 2r.
std::string star(double lon, double lat, double r, int n, unsigned seed)
{
    std::string out = R"({"type":"Polygon","coordinates":[[)";
    std::string first;
    for (int i = 0; i < n; ++i) {
        seed = seed * 1103515245U + 12345U;
        const double rr = r * (1 + (seed >> 16) % 1000 / 1000.0);
        const double a = 2 * M_PI * i / n;
        char buf[64];
        std::snprintf(buf, sizeof buf, "[%.9f,%.9f]", lon + rr * std::cos(a), lat + rr * std::sin(a));
        out += buf;
        out += ",";
        if (i == 0) {
            first = buf;
        }
    }
    return out + first + "]]}";
}

std::string wkb_of(const GEOSGeometry* g)
{
    GEOSContextHandle_t h = geos();
    GEOSWKBWriter* w = GEOSWKBWriter_create_r(h);
    std::size_t n = 0;
    unsigned char* bytes = GEOSWKBWriter_write_r(h, w, g, &n);
    GEOSWKBWriter_destroy_r(h, w);
    std::string out(reinterpret_cast<char*>(bytes), n);
    GEOSFree_r(h, bytes);
    return out;
}

} // namespace

TEST(analysis_input, the_fitted_gauss_krueger_projection_agrees_with_proj_across_china)
{
    // Points all over China's 3° zones (a third on the corners of the fitted cells), each
    // projected to its own zone or a neighbour, against PROJ through transform().
    std::mt19937 rng(20261202);
    std::uniform_real_distribution<double> lon(73.6, 134.9);
    std::uniform_real_distribution<double> lat(18.0, 53.5);
    double worst = 0;
    for (int i = 0; i < 3000; ++i) {
        double x = lon(rng);
        double y = lat(rng);
        if (i % 3 == 0) {
            x = std::round(x * 8) / 8;
            y = std::round(y * 8) / 8;
        }
        const int zone = std::clamp(gk_zone(x) + (i % 5 == 0 ? 1 : 0) - (i % 7 == 0 ? 1 : 0), 25, 45);
        const geom_ptr p = own(GEOSGeom_createPointFromXY_r(geos(), x, y), "a point");
        const geom_ptr q = transform(p.get(), 4490, gk_epsg(zone, false));
        double ex = 0;
        double ey = 0;
        GEOSGeomGetX_r(geos(), q.get(), &ex);
        GEOSGeomGetY_r(geos(), q.get(), &ey);
        to_gk(zone, &x, &y, 1);
        worst = std::max(worst, std::hypot(x - ex, y - ey));
    }
    EXPECT_LE(worst, 1e-6);
}

namespace {

// The overlap PostGIS's way: planar cuts after the transformation to the zone (38),
// ellipsoidal cuts in lon/lat.
double postgis_overlap(const GEOSGeometry* red, const GEOSGeometry* feature, area_method m)
{
    if (m == area_method::planar) {
        const geom_ptr a = transform(red, 4490, 4547);
        const geom_ptr b = transform(feature, 4490, 4547);
        const geom_ptr piece = intersection(a.get(), b.get());
        double area = 0;
        if (piece) {
            GEOSArea_r(geos(), piece.get(), &area);
        }
        return area;
    }
    const geom_ptr piece = intersection(red, feature);
    return piece ? area_of(piece.get(), m, 38) : 0.0;
}

} // namespace

TEST(analysis_input, the_overlap_meter_agrees_with_geos_in_general_and_degenerate_positions)
{
    const project red = read_project(star(114.0, 33.0, 0.004, 33, 1), "", {});
    for (const auto m : {area_method::planar, area_method::ellipsoidal}) {
        const overlap_meter meter(red.lonlat.get(), m, 38);
        EXPECT_NEAR(meter.own_area(), area_of(red.lonlat.get(), m, 38), 1e-6);
        for (unsigned k = 0; k < 200; ++k) {
            // Features of ~20 vertices all over and around the red line.
            const double lon = 114.0 + (static_cast<int>(k * 37 % 100) - 50) * 0.00015;
            const double lat = 33.0 + (static_cast<int>(k * 61 % 100) - 50) * 0.00015;
            const project f = read_project(star(lon, lat, 0.0006, 20, k + 7), "", {});
            const std::string wkb = wkb_of(f.lonlat.get());
            const double expected = postgis_overlap(red.lonlat.get(), f.lonlat.get(), m);
            EXPECT_NEAR(meter.area(wkb), expected, std::max(1e-4, expected * 1e-7)) << k;
            const bounds b = bounds_of(f.lonlat.get());
            EXPECT_NEAR(meter.area(wkb, b, -1), expected, std::max(1e-4, expected * 1e-7)) << k;
            // Rings turned either way round are read alike.
            const geom_ptr reversed = own(GEOSReverse_r(geos(), f.lonlat.get()), "reversing");
            EXPECT_NEAR(meter.area(wkb_of(reversed.get())), expected, std::max(1e-4, expected * 1e-7)) << k;
            if (k % 10 == 0) {
                // With a hole (the red line's own, or one of its own): both ways round too.
                const project hole = read_project(star(lon, lat, 0.0002, 12, k + 3), "", {});
                const geom_ptr holed = own(GEOSDifference_r(geos(), f.lonlat.get(), hole.lonlat.get()), "a hole");
                const geom_ptr holed_rev = own(GEOSReverse_r(geos(), holed.get()), "reversing");
                const double holed_expected = postgis_overlap(red.lonlat.get(), holed.get(), m);
                EXPECT_LT(holed_expected, expected + 1e-6) << k;
                EXPECT_NEAR(meter.area(wkb_of(holed.get())), holed_expected, std::max(1e-4, holed_expected * 1e-7)) << k;
                EXPECT_NEAR(meter.area(wkb_of(holed_rev.get())), holed_expected, std::max(1e-4, holed_expected * 1e-7))
                    << k;
            }
        }
        // Shared boundaries (the red line itself; a half of it cut along a diagonal through
        // two vertices): the degenerate meetings are measured by cutting.
        EXPECT_NEAR(meter.area(wkb_of(red.lonlat.get())), meter.own_area(), meter.own_area() * 1e-9);
        const geom_ptr half_box = own(GEOSGeom_createRectangle_r(geos(), 113.9, 32.9, 114.0, 33.1), "box");
        const geom_ptr half = intersection(red.lonlat.get(), half_box.get());
        ASSERT_TRUE(half);
        EXPECT_NEAR(meter.area(wkb_of(half.get())), area_of(half.get(), m, 38), area_of(half.get(), m, 38) * 1e-7);
    }
}

namespace {

std::string square_wkb(double x0, double y0, double x1, double y1)
{
    const geom_ptr g = own(GEOSGeom_createRectangle_r(geos(), x0, y0, x1, y1), "a rectangle");
    return wkb_of(g.get());
}

} // namespace

TEST(analysis_input, changes_follow_split_and_merged_parcels_by_geometry)
{
    // 2022: three parcels in a row (0.01° each); 2023: the first split in two along its middle
    // with new ids (one half changes class), the other two merged into one new parcel of a new
    // class, and a fourth parcel unchanged by id and geometry.
    onemap::core::layer_version v1;
    v1.version = 1;
    v1.table = "t__v1";
    onemap::core::layer_version v2;
    v2.version = 2;
    v2.table = "t__v2";
    layer_data a("t", v1, {"dlbm"});
    a.add(1, {"0103"}, square_wkb(114.00, 33.0, 114.01, 33.01));
    a.add(2, {"0101"}, square_wkb(114.01, 33.0, 114.02, 33.01));
    a.add(3, {"0101"}, square_wkb(114.02, 33.0, 114.03, 33.01));
    a.add(4, {"0301"}, square_wkb(114.03, 33.0, 114.04, 33.01));
    a.build();
    layer_data b("t", v2, {"dlbm"});
    b.add(11, {"0103"}, square_wkb(114.00, 33.0, 114.005, 33.01));
    b.add(12, {"0601"}, square_wkb(114.005, 33.0, 114.01, 33.01));
    b.add(13, {"0702"}, square_wkb(114.01, 33.0, 114.03, 33.01));
    b.add(4, {"0301"}, square_wkb(114.03, 33.0, 114.04, 33.01));
    b.build();
    const change_result r = detect_changes(a, {0, -1}, b, {0, -1}, nullptr, area_method::planar);
    const double cell = wkb_area(square_wkb(114.00, 33.0, 114.01, 33.01), area_method::planar, 38);
    auto at = [&](const char* from, const char* to) {
        const auto it = r.matrix.find({from, to});
        return it == r.matrix.end() ? 0.0 : it->second;
    };
    EXPECT_NEAR(at("0103", "0103"), cell / 2, 1.0);  // the half that kept its class
    EXPECT_NEAR(at("0103", "0601"), cell / 2, 1.0);  // the half that changed
    EXPECT_NEAR(at("0101", "0702"), 2 * cell, 2.0);  // both merged parcels
    EXPECT_NEAR(at("0301", "0301"), cell, 1.0);      // unchanged by id and geometry
    EXPECT_EQ(r.matrix.size(), 4u) << "no area appears or vanishes";
    ASSERT_EQ(r.pieces.size(), 3u);                  // 1→12, 2→13, 3→13
    EXPECT_EQ(r.pieces[0].from_fid, 1);
    EXPECT_EQ(r.pieces[0].to_fid, 12);
    EXPECT_EQ(r.pieces[1].from_fid, 2);
    EXPECT_EQ(r.pieces[1].to_fid, 13);
    EXPECT_EQ(r.pieces[2].from_fid, 3);
    EXPECT_EQ(r.pieces[2].to_fid, 13);
    // A window over the middle parcel only: cut at its edges.
    const geom_ptr window = own(GEOSGeom_createRectangle_r(geos(), 114.012, 33.002, 114.018, 33.008), "window");
    const change_result w = detect_changes(a, {0, -1}, b, {0, -1}, window.get(), area_method::planar);
    ASSERT_EQ(w.pieces.size(), 1u);
    EXPECT_NEAR(w.pieces[0].area, area_of(window.get(), area_method::planar, 38), 0.01);
}

TEST(analysis_input, points_inside_wkb_polygons_count_holes_and_parts)
{
    const geom_ptr outer = own(GEOSGeom_createRectangle_r(geos(), 114.0, 33.0, 114.1, 33.1), "a rectangle");
    const geom_ptr hole = own(GEOSGeom_createRectangle_r(geos(), 114.04, 33.04, 114.06, 33.06), "a rectangle");
    const geom_ptr holed = own(GEOSDifference_r(geos(), outer.get(), hole.get()), "a hole");
    const geom_ptr far = own(GEOSGeom_createRectangle_r(geos(), 115.0, 33.0, 115.1, 33.1), "a rectangle");
    const geom_ptr both = own(GEOSUnion_r(geos(), holed.get(), far.get()), "two parts");
    const std::string wkb = wkb_of(both.get());
    EXPECT_TRUE(wkb_contains(wkb, 114.01, 33.01));
    EXPECT_FALSE(wkb_contains(wkb, 114.05, 33.05)); // in the hole
    EXPECT_TRUE(wkb_contains(wkb, 115.05, 33.05));  // the second polygon
    EXPECT_FALSE(wkb_contains(wkb, 114.5, 33.05));  // between them
    EXPECT_FALSE(wkb_contains(wkb, 114.05, 33.2));  // above
}

TEST(analysis_input, the_quick_validity_check_never_passes_what_geos_refuses)
{
    // Random rings: stars (simple), the same with two vertices swapped (mostly crossing), with a
    // vertex moved onto another edge (touching), with a spike, or a straight run; every one
    // plainly_valid() passes must be valid for GEOS, and most simple ones must pass.
    std::mt19937 rng(7);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    GEOSContextHandle_t h = geos();
    int stars = 0;
    int passed_stars = 0;
    int refused_by_geos = 0;
    for (int k = 0; k < 2000; ++k) {
        const int n = 4 + static_cast<int>(unit(rng) * 40);
        std::vector<std::pair<double, double>> ring;
        for (int i = 0; i < n; ++i) {
            const double r = 0.001 * (0.3 + unit(rng));
            const double a = 2 * M_PI * (i + 0.4 * unit(rng)) / n;
            ring.emplace_back(114.0 + r * std::cos(a), 33.0 + r * std::sin(a));
        }
        const int kind = k % 5;
        const std::size_t i = static_cast<std::size_t>(unit(rng) * n);
        const std::size_t j = (i + 1 + static_cast<std::size_t>(unit(rng) * (n - 1))) % n;
        if (kind == 1) {
            std::swap(ring[i], ring[j]);
        } else if (kind == 2) { // a vertex onto the middle of another edge
            const std::size_t b = (j + 1) % n;
            ring[i] = {(ring[j].first + ring[b].first) / 2, (ring[j].second + ring[b].second) / 2};
        } else if (kind == 3) { // a spike: back along the edge before
            const std::size_t p = (i + n - 1) % n;
            ring.insert(ring.begin() + static_cast<long>(i) + 1,
                        {(ring[p].first + ring[i].first) / 2, (ring[p].second + ring[i].second) / 2});
        } else if (kind == 4) { // a straight run: a vertex in the middle of an edge
            const std::size_t b = (i + 1) % n;
            ring.insert(ring.begin() + static_cast<long>(i) + 1,
                        {(ring[i].first + ring[b].first) / 2, (ring[i].second + ring[b].second) / 2});
        }
        ring.push_back(ring.front());
        GEOSCoordSequence* seq = GEOSCoordSeq_create_r(h, static_cast<unsigned>(ring.size()), 2);
        for (std::size_t v = 0; v < ring.size(); ++v) {
            GEOSCoordSeq_setXY_r(h, seq, static_cast<unsigned>(v), ring[v].first, ring[v].second);
        }
        const geom_ptr polygon = own(GEOSGeom_createPolygon_r(h, GEOSGeom_createLinearRing_r(h, seq), nullptr, 0), "a polygon");
        const bool quick = plainly_valid(polygon.get());
        const bool valid = GEOSisValid_r(h, polygon.get()) == 1;
        refused_by_geos += valid ? 0 : 1;
        if (quick) {
            EXPECT_TRUE(valid) << "ring " << k << " (kind " << kind << ")";
        }
        if (kind == 0) {
            ++stars;
            passed_stars += quick ? 1 : 0;
        }
    }
    EXPECT_GT(refused_by_geos, 300); // the test does meet invalid rings
    EXPECT_GT(passed_stars, stars * 9 / 10);
    // With a hole, or of many vertices: always GEOS's.
    const project holed = read_project(
        R"({"type":"Polygon","coordinates":[[[114.0,33.0],[114.02,33.0],[114.02,33.02],[114.0,33.02],[114.0,33.0]],[[114.005,33.005],[114.01,33.005],[114.01,33.01],[114.005,33.005]]]})",
        "", {});
    EXPECT_FALSE(plainly_valid(holed.lonlat.get()));
    const project many = read_project(star(114.0, 33.0, 0.004, 400, 3), "", {});
    EXPECT_FALSE(plainly_valid(many.lonlat.get()));
}

// shared_for (a review's candidates measured on the calling thread and the idle helpers):
// every item runs exactly once, whatever threads take them, with four requests sharing the
// helpers at once; a failure is rethrown to its own caller after every item taken has ended.
TEST(analysis_input, shared_loops_run_every_item_once_and_rethrow_their_failure)
{
    constexpr std::size_t N = 5000;
    std::vector<std::thread> callers;
    std::vector<std::vector<std::atomic<int>>> runs(4);
    for (auto& r : runs) {
        r = std::vector<std::atomic<int>>(N);
    }
    for (std::size_t c = 0; c < runs.size(); ++c) {
        callers.emplace_back([&, c] {
            for (int round = 0; round < 20; ++round) {
                shared_for(N / 20, [&](std::size_t i) { runs[c][round * (N / 20) + i]++; });
            }
        });
    }
    for (auto& t : callers) {
        t.join();
    }
    for (const auto& r : runs) {
        EXPECT_EQ(std::count_if(r.begin(), r.end(), [](const std::atomic<int>& k) { return k.load() == 1; }),
                  static_cast<long>(N));
    }
    // Short loops run alone, in order.
    std::vector<std::size_t> order;
    shared_for(5, [&](std::size_t i) { order.push_back(i); });
    EXPECT_EQ(order, (std::vector<std::size_t>{0, 1, 2, 3, 4}));
    // A failure: rethrown once every item taken has returned; the others are not started after it.
    std::atomic<int> running{0};
    std::atomic<int> started{0};
    bool thrown = false;
    try {
        shared_for(1000, [&](std::size_t i) {
            ++started;
            ++running;
            std::this_thread::sleep_for(std::chrono::microseconds(50));
            --running;
            if (i == 10) {
                throw std::runtime_error("part 10 is broken");
            }
        });
    } catch (const std::runtime_error& e) {
        thrown = true;
        EXPECT_STREQ(e.what(), "part 10 is broken");
        EXPECT_EQ(running.load(), 0);
    }
    EXPECT_TRUE(thrown);
    EXPECT_LT(started.load(), 1000);
    // The helpers are free again: a loop after the failure runs whole.
    std::atomic<std::size_t> sum{0};
    shared_for(1000, [&](std::size_t i) { sum += i; });
    EXPECT_EQ(sum.load(), 999U * 1000U / 2);
}

namespace {

// A square of `side` degrees from (x, y), as little-endian WKB.
std::string square_wkb(double x, double y, double side)
{
    std::string out;
    auto put = [&out](const auto& v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); };
    out += '\x01';
    put(std::uint32_t{3}); // Polygon
    put(std::uint32_t{1});
    put(std::uint32_t{5});
    for (const auto& [px, py] : {std::pair{x, y}, {x + side, y}, {x + side, y + side}, {x, y + side}, {x, y}}) {
        put(px);
        put(py);
    }
    return out;
}

} // namespace

// A review runs on the HTTP front end's event loop only while it is short: one meeting more
// feature parts than IO_THREAD_PARTS throws would_block there (the front end runs it again on a
// worker), and answers on any other thread. Both answers are whole.
TEST(analysis_input, a_review_of_many_parts_moves_off_an_event_loop)
{
    onemap::core::layer_version v;
    v.version = 1;
    v.table = "squares__v1";
    auto data = std::make_shared<layer_data>("squares", v, std::vector<std::string>{});
    for (int i = 0; i < 30; ++i) { // 900 squares of 0.001° (~100 m) from 114°E, 33°N
        for (int j = 0; j < 30; ++j) {
            data->add(i * 100 + j, {}, square_wkb(114.0 + i * 0.001, 33.0 + j * 0.001, 0.001));
        }
    }
    data->build();
    check_config cfg;
    cfg.id = "squares";
    cfg.layer = "squares";
    const std::vector<check_input> checks{check_input{&cfg, data, "2024-01-01"}};
    auto review_of = [&](double side) {
        const std::string body = "{\"type\":\"Polygon\",\"coordinates\":[[[114,33],[" + std::to_string(114 + side) +
                                 ",33],[" + std::to_string(114 + side) + "," + std::to_string(33 + side) + "],[114," +
                                 std::to_string(33 + side) + "],[114,33]]]}";
        const project p = read_project(body, "", {});
        const overlap_meter meter(p.lonlat.get(), area_method::planar, project_zone(p.lonlat.get()));
        return review(p.lonlat.get(), checks, meter);
    };
    ASSERT_GT(900U, IO_THREAD_PARTS);
    ASSERT_LT(100U, IO_THREAD_PARTS);
    onemap::core::set_event_loop_thread(true);
    const compliance_result small = review_of(0.0095); // meets 10 × 10 squares
    EXPECT_THROW(review_of(0.0295), onemap::core::would_block); // meets 30 × 30
    onemap::core::set_event_loop_thread(false);
    const compliance_result large = review_of(0.0295);
    for (const auto* r : {&small, &large}) {
        ASSERT_EQ(r->checks.size(), 1U);
        EXPECT_NEAR(r->checks[0].overlap, r->project_area, r->project_area * 1e-9);
        EXPECT_EQ(r->checks[0].verdict, conclusion::conflict);
    }
    EXPECT_EQ(small.checks[0].features.size(), 100U);
    EXPECT_EQ(large.checks[0].features.size(), 900U);
}
