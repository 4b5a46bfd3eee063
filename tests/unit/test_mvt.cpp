// MVT encoding checked by decoding with libprotobuf (vector_tile.proto).
#include "mvt_decode.hpp"
#include "onemap/core/error.hpp"
#include "onemap/core/mvt.hpp"

#include <gtest/gtest.h>

#include <random>

#include <cstring>

using namespace onemap::core;

namespace {

// Little-endian ISO WKB writer for test geometries (lon/lat).
struct wkb_writer {
    std::string out;
    void byte(unsigned char b) { out.push_back(static_cast<char>(b)); }
    void u32(std::uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
    void f64(double v) { out.append(reinterpret_cast<const char*>(&v), 8); }
    void header(std::uint32_t type) { byte(1); u32(type); }
    void ring(const std::vector<std::pair<double, double>>& pts)
    {
        u32(static_cast<std::uint32_t>(pts.size()));
        for (auto [x, y] : pts) {
            f64(x);
            f64(y);
        }
    }
};

std::string polygon_wkb(const std::vector<std::vector<std::pair<double, double>>>& rings)
{
    wkb_writer w;
    w.header(3);
    w.u32(static_cast<std::uint32_t>(rings.size()));
    for (const auto& r : rings) {
        w.ring(r);
    }
    return w.out;
}

std::string encode_single(const std::string& wkb, const mvt::tile_projection& proj)
{
    mvt::tile_builder tile;
    auto layer = tile.add_layer("t", proj.extent());
    auto g = mvt::encode_wkb(wkb, proj);
    if (g) {
        layer.add_feature(7, std::move(*g), {{"name", std::string("驿城区")}, {"n", std::int64_t{-3}}, {"a", 1.5}});
    }
    return tile.serialize();
}

// The z10 WebMercatorQuad tile holding 114.0E 33.0N: x = 836, y = 412.
const int Z = 10;
const std::uint64_t X = 836;
const std::uint64_t Y = 412;

} // namespace

TEST(mvt, polygon_inside_tile_keeps_shape_attributes_and_winding)
{
    const mvt::tile_projection proj(web_mercator_quad(), Z, X, Y);
    const box b = web_mercator_quad().tile_bounds_lonlat(Z, X, Y);
    const double cx = (b.min_x + b.max_x) / 2;
    const double cy = (b.min_y + b.max_y) / 2;
    const double d = b.width() / 8;
    // Counter-clockwise in lon/lat (y up) with a clockwise hole.
    const auto wkb = polygon_wkb({{{cx - d, cy - d}, {cx + d, cy - d}, {cx + d, cy + d}, {cx - d, cy + d}, {cx - d, cy - d}},
                                  {{cx - d / 2, cy - d / 2}, {cx - d / 2, cy + d / 2}, {cx + d / 2, cy + d / 2},
                                   {cx + d / 2, cy - d / 2}, {cx - d / 2, cy - d / 2}}});
    const auto layers = onemap::test::decode_tile(encode_single(wkb, proj));
    ASSERT_EQ(layers.size(), 1U);
    EXPECT_EQ(layers[0].version, 2U);
    EXPECT_EQ(layers[0].extent, 4096U);
    ASSERT_EQ(layers[0].features.size(), 1U);
    const auto& f = layers[0].features[0];
    EXPECT_EQ(f.id, 7U);
    EXPECT_EQ(f.type, 3);
    EXPECT_EQ(f.properties.at("name"), "驿城区");
    EXPECT_EQ(f.properties.at("n"), "-3");
    EXPECT_EQ(f.properties.at("a"), "1.5");
    ASSERT_EQ(f.parts.size(), 2U);
    // Spec 2.1: exterior ring positive surveyor's area in y-down tile space, hole negative.
    EXPECT_GT(onemap::test::doubled_area(f.parts[0]), 0);
    EXPECT_LT(onemap::test::doubled_area(f.parts[1]), 0);
    // The square spans a quarter of the tile around its centre (x exactly; y is Mercator).
    long long min_x = 1 << 20, max_x = -(1 << 20);
    for (const auto& p : f.parts[0]) {
        min_x = std::min(min_x, p.x);
        max_x = std::max(max_x, p.x);
    }
    EXPECT_NEAR(static_cast<double>(min_x), 2048 - 512, 1);
    EXPECT_NEAR(static_cast<double>(max_x), 2048 + 512, 1);
}

TEST(mvt, polygon_is_clipped_to_the_buffer)
{
    const mvt::tile_projection proj(web_mercator_quad(), Z, X, Y, 4096, 64);
    const box b = web_mercator_quad().tile_bounds_lonlat(Z, X, Y);
    // Much bigger than the tile on every side.
    const auto wkb = polygon_wkb({{{b.min_x - 1, b.min_y - 1}, {b.max_x + 1, b.min_y - 1}, {b.max_x + 1, b.max_y + 1},
                                   {b.min_x - 1, b.max_y + 1}, {b.min_x - 1, b.min_y - 1}}});
    const auto layers = onemap::test::decode_tile(encode_single(wkb, proj));
    ASSERT_EQ(layers.size(), 1U);
    const auto& ring = layers[0].features.at(0).parts.at(0);
    EXPECT_EQ(ring.size(), 4U);
    for (const auto& p : ring) {
        EXPECT_TRUE(p.x == -64 || p.x == 4096 + 64) << p.x;
        EXPECT_TRUE(p.y == -64 || p.y == 4096 + 64) << p.y;
    }
    EXPECT_GT(onemap::test::doubled_area(ring), 0);
}

TEST(mvt, features_outside_or_collapsing_are_dropped)
{
    const mvt::tile_projection proj(web_mercator_quad(), Z, X, Y);
    const box b = web_mercator_quad().tile_bounds_lonlat(Z, X, Y);
    const double x = b.max_x + b.width();
    const auto outside = polygon_wkb({{{x, b.min_y}, {x + 0.01, b.min_y}, {x + 0.01, b.max_y}, {x, b.min_y}}});
    EXPECT_FALSE(mvt::encode_wkb(outside, proj));
    // Smaller than a tile unit: quantizes to nothing.
    const double e = b.width() / 4096 / 10;
    const auto tiny = polygon_wkb({{{b.min_x + 0.5 * b.width(), b.min_y + 0.5 * b.height()},
                                    {b.min_x + 0.5 * b.width() + e, b.min_y + 0.5 * b.height()},
                                    {b.min_x + 0.5 * b.width() + e, b.min_y + 0.5 * b.height() + e},
                                    {b.min_x + 0.5 * b.width(), b.min_y + 0.5 * b.height()}}});
    EXPECT_FALSE(mvt::encode_wkb(tiny, proj));
    EXPECT_EQ(encode_single(outside, proj), ""); // no feature: no layer, empty tile
}

TEST(mvt, lines_are_clipped_and_points_filtered)
{
    const mvt::tile_projection proj(web_mercator_quad(), Z, X, Y, 4096, 0);
    const box b = web_mercator_quad().tile_bounds_lonlat(Z, X, Y);
    wkb_writer w;
    w.header(2);
    const double cy = (b.min_y + b.max_y) / 2;
    w.ring({{b.min_x - 1, cy}, {b.max_x + 1, cy}});
    auto line = mvt::encode_wkb(w.out, proj);
    ASSERT_TRUE(line);
    mvt::tile_builder tile;
    auto layer = tile.add_layer("l", 4096);
    layer.add_feature(1, std::move(*line), {});
    const auto layers = onemap::test::decode_tile(tile.serialize());
    const auto& pts = layers.at(0).features.at(0).parts.at(0);
    ASSERT_EQ(pts.size(), 2U);
    EXPECT_EQ(pts[0].x, 0);
    EXPECT_EQ(pts[1].x, 4096);

    wkb_writer mp;
    mp.header(4);
    mp.u32(2);
    mp.header(1);
    mp.f64((b.min_x + b.max_x) / 2);
    mp.f64(cy);
    mp.header(1);
    mp.f64(b.max_x + 1);
    mp.f64(cy);
    auto points = mvt::encode_wkb(mp.out, proj);
    ASSERT_TRUE(points);
    EXPECT_EQ(points->type, mvt::geom_type::point);
    EXPECT_EQ(points->commands.size(), 3U); // MoveTo(1) + one point: the outside one is gone
}

TEST(mvt, cgcs2000_tile_maps_degrees_linearly)
{
    const auto& tms = cgcs2000_quad();
    const mvt::tile_projection proj(tms, 10, 836, 162);
    const box b = tms.tile_bounds(10, 836, 162);
    EXPECT_NEAR(proj.to_tile_x(b.min_x), 0.0, 1e-9);
    EXPECT_NEAR(proj.to_tile_x(b.max_x), 4096.0, 1e-9);
    EXPECT_NEAR(proj.to_tile_y(b.max_y), 0.0, 1e-9);
    EXPECT_NEAR(proj.to_tile_y((b.min_y + b.max_y) / 2), 2048.0, 1e-9);
}

TEST(mvt, malformed_wkb_is_an_input_error)
{
    const mvt::tile_projection proj(web_mercator_quad(), 0, 0, 0);
    EXPECT_THROW(mvt::encode_wkb(std::string("\x01\x03\x00", 3), proj), onemap::input_error);
    wkb_writer w;
    w.header(3);
    w.u32(1);
    w.u32(1000000); // claims a million points, has none
    EXPECT_THROW(mvt::encode_wkb(w.out, proj), onemap::input_error);
    wkb_writer bad;
    bad.header(17);
    EXPECT_THROW(mvt::encode_wkb(bad.out, proj), onemap::input_error);
}

TEST(mvt, clip_wkb_projects_a_metatile_canvas_without_quantizing)
{
    // The 2 x 2 block of z10 tiles with (836, 412) at its top left, drawn on 512 x 512 pixels.
    const auto& tms = web_mercator_quad();
    const box first = tms.tile_bounds(Z, X, Y);
    const box last = tms.tile_bounds(Z, X + 1, Y + 1);
    const box bounds{first.min_x, last.min_y, last.max_x, first.max_y};
    const mvt::tile_projection proj(tms, bounds, 512, 512, 8);
    const box q = proj.query_bounds_lonlat();
    // A square spanning the whole block and more: clipped to the canvas plus the 8-px buffer,
    // with an inner ring kept as a second part.
    const double w = mercator_x_to_lon(first.min_x), e = mercator_x_to_lon(last.max_x);
    const double s = mercator_y_to_lat(last.min_y), n = mercator_y_to_lat(first.max_y);
    const double cx = (w + e) / 2, cy = (s + n) / 2, d = (e - w) / 10;
    const auto g = mvt::clip_wkb(polygon_wkb({{{w - 1, s - 1}, {e + 1, s - 1}, {e + 1, n + 1}, {w - 1, n + 1}, {w - 1, s - 1}},
                                              {{cx - d, cy - d}, {cx - d, cy + d}, {cx + d, cy + d}, {cx + d, cy - d}, {cx - d, cy - d}}}),
                                 proj);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->type, mvt::geom_type::polygon);
    ASSERT_EQ(g->parts.size(), 2u);
    double min_x = 1e9, max_x = -1e9, min_y = 1e9, max_y = -1e9;
    for (const auto& p : g->parts[0]) {
        min_x = std::min(min_x, p.x);
        max_x = std::max(max_x, p.x);
        min_y = std::min(min_y, p.y);
        max_y = std::max(max_y, p.y);
    }
    EXPECT_DOUBLE_EQ(min_x, -8);
    EXPECT_DOUBLE_EQ(max_x, 520);
    EXPECT_DOUBLE_EQ(min_y, -8);
    EXPECT_DOUBLE_EQ(max_y, 520);
    // The hole keeps sub-pixel coordinates: its centre is the canvas centre (y down).
    double sx = 0, sy = 0;
    for (std::size_t i = 0; i + 1 < g->parts[1].size(); ++i) {
        sx += g->parts[1][i].x;
        sy += g->parts[1][i].y;
    }
    EXPECT_NEAR(sx / 4, 256, 1e-6 * 512 + 3); // mercator y is not linear in latitude
    EXPECT_NEAR(sy / 4, 256, 3);
    EXPECT_NEAR(proj.to_tile_x(cx), 256, 1e-6);
    EXPECT_GT(proj.to_tile_y(n), -1e-6);
    EXPECT_NEAR(proj.to_tile_y(n), 0, 1e-6);
    // The query box is the block grown by the 8-px buffer.
    EXPECT_LT(q.min_x, w);
    EXPECT_GT(q.max_x, e);
    EXPECT_NEAR((w - q.min_x) / (e - w) * 512, 8, 1e-6);
    // Nothing survives far outside the canvas.
    EXPECT_FALSE(mvt::clip_wkb(polygon_wkb({{{w - 3, s}, {w - 2, s}, {w - 2, n}, {w - 3, n}, {w - 3, s}}}), proj));
}

// Mercator's y by the series about each tile's middle (tile_projection) against the exact
// formula, for vertices in and around the tile and far from it, z0–z20, from the equator to
// 80°: within 1e-5 of a tile unit (at z20 the exact formula's own rounding is ~1e-6), so
// quantization hardly ever differs.
TEST(mvt, the_mercator_series_agrees_with_the_exact_projection)
{
    const auto& tms = web_mercator_quad();
    std::mt19937 rng(20261202);
    double worst = 0;
    for (int z = 0; z <= 20; ++z) {
        for (int k = 0; k < 50; ++k) {
            const double n = std::ldexp(1.0, z);
            const double lat = std::uniform_real_distribution<double>(-80, 80)(rng);
            const double lon = std::uniform_real_distribution<double>(-179, 179)(rng);
            const auto col = static_cast<std::uint64_t>((lon + 180) / 360 * n);
            const double r = lat * M_PI / 180;
            const auto row = static_cast<std::uint64_t>((1 - std::log(std::tan(r) + 1 / std::cos(r)) / M_PI) / 2 * n);
            const mvt::tile_projection proj(tms, z, col, row);
            const box b = tms.tile_bounds(z, col, row);
            const box q = proj.query_bounds_lonlat();
            const double h = q.max_y - q.min_y;
            for (int i = 0; i < 40; ++i) {
                // Mostly near the tile; some a degree and more away (the exact formula there).
                const double v = i < 30 ? std::uniform_real_distribution<double>(q.min_y - h, q.max_y + h)(rng)
                                        : std::uniform_real_distribution<double>(-85, 85)(rng);
                const double exact = (b.max_y - lat_to_mercator_y(v)) * 4096 / (b.max_y - b.min_y);
                const double err = std::abs(proj.to_tile_y(v) - exact) / std::max(1.0, std::abs(exact) / 1e6);
                worst = std::max(worst, err);
            }
        }
    }
    EXPECT_LT(worst, 1e-5);
}
