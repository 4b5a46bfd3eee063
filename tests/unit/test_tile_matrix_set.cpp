// Tile matrix sets pinned against the OGC registry (OGC 17-083r4 annex) and the Tianditu layout.
#include "onemap/core/tile_matrix_set.hpp"

#include <gtest/gtest.h>

using namespace onemap::core;

TEST(tile_matrix_set, web_mercator_quad_matches_registry)
{
    const auto& tms = web_mercator_quad();
    EXPECT_EQ(tms.id(), "WebMercatorQuad");
    EXPECT_EQ(tms.epsg(), 3857);
    EXPECT_EQ(tms.min_level(), 0);
    const auto* z0 = tms.matrix(0);
    ASSERT_NE(z0, nullptr);
    // Registry values are printed to 15 significant digits.
    EXPECT_NEAR(z0->scale_denominator, 559082264.028717, 1e-6);
    EXPECT_NEAR(z0->cell_size, 156543.033928041, 1e-8);
    EXPECT_NEAR(z0->origin_x, -20037508.3427892, 1e-6);
    EXPECT_NEAR(z0->origin_y, 20037508.3427892, 1e-6);
    EXPECT_EQ(z0->matrix_width, 1U);
    EXPECT_EQ(z0->matrix_height, 1U);
    const auto* z18 = tms.matrix(18);
    ASSERT_NE(z18, nullptr);
    EXPECT_NEAR(z18->scale_denominator, 2132.72958384593, 1e-8);
    EXPECT_NEAR(z18->cell_size, 156543.033928041 / 262144, 1e-12);
    // 2^18 tiles of 256 pixels span the projected world exactly.
    EXPECT_NEAR(z18->cell_size * 256 * 262144, 2 * 20037508.342789244, 1e-6);
    EXPECT_EQ(z18->matrix_width, 262144U);
}

TEST(tile_matrix_set, world_crs84_quad_matches_registry)
{
    const auto& tms = world_crs84_quad();
    const auto* z0 = tms.matrix(0);
    ASSERT_NE(z0, nullptr);
    EXPECT_NEAR(z0->scale_denominator, 279541132.014358, 1e-6);
    EXPECT_NEAR(z0->cell_size, 0.703125, 1e-12);
    EXPECT_EQ(z0->matrix_width, 2U);
    EXPECT_EQ(z0->matrix_height, 1U);
    EXPECT_TRUE(tms.geographic());
    const box b = tms.tile_bounds(0, 1, 0);
    EXPECT_NEAR(b.min_x, 0.0, 1e-9);
    EXPECT_NEAR(b.max_x, 180.0, 1e-9);
    EXPECT_NEAR(b.min_y, -90.0, 1e-9);
    EXPECT_NEAR(b.max_y, 90.0, 1e-9);
}

TEST(tile_matrix_set, cgcs2000_quad_is_tianditu_c_layout_with_ogc_scales)
{
    const auto& tms = cgcs2000_quad();
    EXPECT_EQ(tms.crs_uri(), "urn:ogc:def:crs:EPSG::4490");
    EXPECT_EQ(tms.min_level(), 1);
    EXPECT_EQ(tms.max_level(), 18);
    EXPECT_EQ(tms.matrix(0), nullptr);
    const auto* l1 = tms.matrix(1);
    ASSERT_NE(l1, nullptr);
    EXPECT_NEAR(l1->scale_denominator, 279541132.0143589, 1e-6);
    EXPECT_DOUBLE_EQ(l1->cell_size, 0.703125);
    EXPECT_EQ(l1->matrix_width, 2U);
    EXPECT_EQ(l1->matrix_height, 1U);
    // Level n covers what WorldCRS84Quad level n-1 covers.
    for (int n = 1; n <= 18; ++n) {
        const auto* c = tms.matrix(n);
        const auto* w = world_crs84_quad().matrix(n - 1);
        ASSERT_NE(c, nullptr);
        ASSERT_NE(w, nullptr);
        EXPECT_EQ(c->matrix_width, w->matrix_width) << n;
        EXPECT_NEAR(c->cell_size, w->cell_size, w->cell_size * 1e-12) << n;
    }
    const auto* l18 = tms.matrix(18);
    EXPECT_NEAR(l18->scale_denominator, 2132.72958384593, 1e-6);
    // Tile (level 10, col 836, row 162) holds Zhumadian (114.0E 33.0N).
    const box b = tms.tile_bounds(10, 836, 162);
    EXPECT_LE(b.min_x, 114.0);
    EXPECT_GE(b.max_x, 114.0);
    EXPECT_LE(b.min_y, 33.0);
    EXPECT_GE(b.max_y, 33.0);
}

TEST(tile_matrix_set, tianditu_w_level_n_equals_web_mercator_level_n)
{
    const auto& tms = tianditu_web_mercator();
    EXPECT_EQ(tms.min_level(), 1);
    EXPECT_EQ(tms.max_level(), 18);
    for (int n = 1; n <= 18; ++n) {
        const auto* t = tms.matrix(n);
        const auto* w = web_mercator_quad().matrix(n);
        EXPECT_NEAR(t->scale_denominator, w->scale_denominator, w->scale_denominator * 1e-12) << n;
        EXPECT_EQ(t->matrix_width, w->matrix_width) << n;
        EXPECT_EQ(t->matrix_height, w->matrix_height) << n;
    }
}

TEST(tile_matrix_set, pixel_size_follows_the_028mm_rule)
{
    for (const auto* tms : all_tile_matrix_sets()) {
        const double meters_per_unit = tms->geographic() ? METERS_PER_DEGREE : 1.0;
        for (const auto& m : tms->matrices()) {
            EXPECT_NEAR(m.cell_size * meters_per_unit / 0.00028, m.scale_denominator, m.scale_denominator * 1e-12)
                << tms->id() << " " << m.identifier;
        }
    }
}

TEST(tile_matrix_set, web_mercator_tile_bounds_and_projection)
{
    const auto& tms = web_mercator_quad();
    const box b = tms.tile_bounds(1, 1, 0);
    EXPECT_NEAR(b.min_x, 0.0, 1e-6);
    EXPECT_NEAR(b.max_x, 20037508.3427892, 1e-6);
    EXPECT_NEAR(b.min_y, 0.0, 1e-6);
    EXPECT_NEAR(b.max_y, 20037508.3427892, 1e-6);
    EXPECT_TRUE(tms.contains(1, 1, 1));
    EXPECT_FALSE(tms.contains(1, 2, 0));
    EXPECT_FALSE(tms.contains(25, 0, 0));
    // EPSG:3857 formulas against PROJ: echo "33 114" | cs2cs -f %.4f EPSG:4326 EPSG:3857
    EXPECT_NEAR(lon_to_mercator_x(114.0), 12690421.9504, 1e-3);
    EXPECT_NEAR(lat_to_mercator_y(33.0), 3895303.9634, 1e-3);
    EXPECT_NEAR(lon_to_mercator_x(114.5), 12746081.695830, 1e-5);
    EXPECT_NEAR(lat_to_mercator_y(32.5), 3829123.837028, 1e-5);
    EXPECT_NEAR(mercator_y_to_lat(lat_to_mercator_y(32.5)), 32.5, 1e-12);
    const box ll = tms.tile_bounds_lonlat(0, 0, 0);
    EXPECT_NEAR(ll.max_y, 85.0511287798066, 1e-9);
}
