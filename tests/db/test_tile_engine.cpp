// The tile engine on the whole committed sample (imported with its manifest): every layer
// against PostGIS's ST_AsMVT, the sub-pixel rule at low zoom, and the CGCS2000 grid against
// the Web Mercator grid over the same place — each with the features read by a query and read
// from the versions held in memory (tile_store.hpp), which must answer alike.
#include "mvt_decode.hpp"
#include "onemap/core/catalog.hpp"
#include "onemap/core/db.hpp"
#include "onemap/core/tile_matrix_set.hpp"
#include "onemap/tileserver/tile_service.hpp"
#include "tempdb.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

using namespace onemap;

namespace {

class tile_engine : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        std::string out;
        ASSERT_EQ(test::run_import("--manifest " + test::data_samples() + "/manifest.yaml", &out), 0) << out;
        auto conn = test::db().connect();
        s_layers = new std::vector<core::layer>(core::load_catalog(*conn));
        s_pool = new core::connection_pool(test::db().conninfo(), 2);
        s_store = new tileserver::tile_store(*s_pool, 256U << 20);
    }
    static void TearDownTestSuite()
    {
        delete s_store;
        delete s_layers;
        delete s_pool;
    }
    // From PostGIS, or (s_from_memory) from the table held in memory, loaded first.
    static std::string render(const core::layer& l, const core::tile_matrix_set& tms, int z, std::uint64_t x,
                              std::uint64_t y)
    {
        const auto& v = l.versions.back();
        if (!s_from_memory) {
            tileserver::tile_service service(*s_pool);
            return service.render({&l, &v, &tms, z, x, y});
        }
        const std::string table = v.table_for_resolution(tms.tile_bounds_lonlat(z, x, y).width() / 256.0);
        EXPECT_NE(s_store->hold(v, table), nullptr) << table;
        EXPECT_NE(s_store->find(v, table), nullptr) << table;
        tileserver::tile_service service(*s_pool, s_store);
        return service.render({&l, &v, &tms, z, x, y});
    }
    static void every_layer_matches_st_asmvt_ids_attributes_and_areas();
    static void low_zoom_tiles_keep_only_features_of_three_pixels_or_more();
    static void cgcs2000_and_web_mercator_tiles_put_the_same_features_in_the_same_place();
    static std::vector<core::layer>* s_layers;
    static core::connection_pool* s_pool;
    static tileserver::tile_store* s_store;
    static bool s_from_memory;
};

std::vector<core::layer>* tile_engine::s_layers = nullptr;
core::connection_pool* tile_engine::s_pool = nullptr;
tileserver::tile_store* tile_engine::s_store = nullptr;
bool tile_engine::s_from_memory = false;



std::uint64_t tile_x(double lon, int z) { return static_cast<std::uint64_t>((lon + 180.0) / 360.0 * std::ldexp(1.0, z)); }
std::uint64_t tile_y(double lat, int z)
{
    const double r = lat * M_PI / 180.0;
    return static_cast<std::uint64_t>((1.0 - std::log(std::tan(r) + 1.0 / std::cos(r)) / M_PI) / 2.0 * std::ldexp(1.0, z));
}

} // namespace

void tile_engine::every_layer_matches_st_asmvt_ids_attributes_and_areas()
{
    ASSERT_GE(s_layers->size(), 12U);
    for (const auto& l : *s_layers) {
        const auto& v = l.versions.back();
        ASSERT_TRUE(v.bbox) << l.name;
        // A 3x3 block of z13 tiles around a feature of the layer.
        const double lon = test::query_value<double>("SELECT ST_X(ST_PointOnSurface(geom)) FROM onemap_data." + v.table + " ORDER BY fid LIMIT 1");
        const double lat = test::query_value<double>("SELECT ST_Y(ST_PointOnSurface(geom)) FROM onemap_data." + v.table + " ORDER BY fid LIMIT 1");
        const int z = 13;
        int compared = 0;
        for (int dx = -1; dx <= 1; ++dx) {
            for (int dy = -1; dy <= 1; ++dy) {
                const auto x = tile_x(lon, z) + dx;
                const auto y = tile_y(lat, z) + dy;
                std::string cols;
                for (const auto& a : v.attributes) {
                    cols += ", " + core::quote_ident(a.name);
                }
                auto conn = test::db().connect();
                pqxx::work txn(*conn);
                const auto r = txn.exec_params(
                    "SELECT ST_AsMVT(t, 'l', 4096, 'geom', 'fid') FROM (SELECT fid" + cols +
                        ", ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope($1, $2, $3), 4096, 64, true) AS geom "
                        "FROM onemap_data." + txn.quote_name(v.table) +
                        " WHERE geom && ST_Transform(ST_TileEnvelope($1, $2, $3, margin => 64.0/4096), 4490)) t WHERE geom IS NOT NULL",
                    z, x, y);
                const auto theirs = test::decode_tile(pqxx::binarystring(r[0][0]).str());
                const auto ours_bytes = render(l, core::web_mercator_quad(), z, x, y);
                if (theirs.empty()) {
                    EXPECT_TRUE(ours_bytes.empty()) << l.name;
                    continue;
                }
                ASSERT_FALSE(ours_bytes.empty()) << l.name << " " << z << "/" << x << "/" << y;
                const auto ours = test::decode_tile(ours_bytes);
                std::map<std::uint64_t, const test::decoded_feature*> expected;
                for (const auto& f : theirs[0].features) {
                    expected[f.id] = &f;
                }
                for (const auto& f : ours[0].features) {
                    ASSERT_EQ(expected.count(f.id), 1U) << l.name << ": feature " << f.id << " not in ST_AsMVT's tile";
                    const auto& g = *expected[f.id];
                    for (const auto& [k, val] : g.properties) {
                        EXPECT_EQ(f.properties.at(k), val) << l.name << " " << f.id << " " << k;
                    }
                    if (f.type == 3) {
                        // 1 %, or half a tile unit along the outline for pieces so small that
                        // quantization to the 4096 grid alone moves them more.
                        EXPECT_NEAR(test::polygon_area(f), test::polygon_area(g), std::max(test::polygon_area(g) * 0.01, test::perimeter(g) / 2)) << l.name << " feature " << f.id;
                    }
                    ++compared;
                }
                // ST_AsMVT keeps slivers of the buffer we may quantize away; everything with
                // a visible area must be there.
                std::set<std::uint64_t> ours_ids;
                for (const auto& f : ours[0].features) {
                    ours_ids.insert(f.id);
                }
                for (const auto& [id, g] : expected) {
                    if (g->type != 3 || test::polygon_area(*g) > 64) {
                        EXPECT_EQ(ours_ids.count(id), 1U) << l.name << ": feature " << id << " missing in "
                                                          << z << "/" << x << "/" << y;
                    }
                }
            }
        }
        EXPECT_GT(compared, 0) << l.name;
    }
}

void tile_engine::low_zoom_tiles_keep_only_features_of_three_pixels_or_more()
{
    for (const auto& l : *s_layers) {
        if (l.name != "dltb" && l.name != "grid" && l.name != "reservoir") {
            continue;
        }
        const auto& v = l.versions.back();
        for (int z : {6, 8, 10}) {
            const auto x = tile_x(114.0, z);
            const auto y = tile_y(33.0, z);
            const std::string bytes = render(l, core::web_mercator_quad(), z, x, y);
            EXPECT_LT(bytes.size(), 500U * 1024) << l.name << " z" << z;
            std::set<std::uint64_t> served;
            if (!bytes.empty()) {
                const auto layers = test::decode_tile(bytes); // alive while iterating
                for (const auto& f : layers.at(0).features) {
                    served.insert(f.id);
                }
            }
            const double px = core::MIN_FEATURE_PIXELS * core::degrees_per_pixel(z);
            auto conn = test::db().connect();
            pqxx::work txn(*conn);
            std::set<std::uint64_t> big;
            std::set<std::uint64_t> small;
            for (const auto& r : txn.exec_params(
                     "SELECT fid, GREATEST(ST_XMax(geom) - ST_XMin(geom), ST_YMax(geom) - ST_YMin(geom)) >= $4 "
                     "FROM onemap_data." + txn.quote_name(v.table) +
                         " WHERE ST_Intersects(geom, ST_Transform(ST_TileEnvelope($1, $2, $3), 4490))",
                     z, x, y, px)) {
                (r[1].as<bool>() ? big : small).insert(r[0].as<std::uint64_t>());
            }
            for (auto id : small) {
                EXPECT_EQ(served.count(id), 0U) << l.name << " z" << z << ": sub-pixel feature " << id << " drawn";
            }
            for (auto id : big) {
                EXPECT_EQ(served.count(id), 1U) << l.name << " z" << z << ": feature " << id << " of three pixels or more missing";
            }
        }
    }
}

void tile_engine::cgcs2000_and_web_mercator_tiles_put_the_same_features_in_the_same_place()
{
    const core::layer* grid = nullptr;
    for (const auto& l : *s_layers) {
        if (l.name == "admin_village") {
            grid = &l;
        }
    }
    ASSERT_NE(grid, nullptr);
    const auto& v = grid->versions.back();
    const double lon = 114.02;
    const double lat = 32.98;
    const int z = 12;
    const auto& wm = core::web_mercator_quad();
    const auto& cg = core::cgcs2000_quad();
    const std::uint64_t cx = static_cast<std::uint64_t>((lon + 180.0) / (cg.matrix(z)->cell_size * 256));
    const std::uint64_t cy = static_cast<std::uint64_t>((90.0 - lat) / (cg.matrix(z)->cell_size * 256));
    struct grid_tile {
        const core::tile_matrix_set* tms;
        std::uint64_t x, y;
    };
    std::map<std::string, std::set<std::uint64_t>> ids;
    for (const auto& t : {grid_tile{&wm, tile_x(lon, z), tile_y(lat, z)}, grid_tile{&cg, cx, cy}}) {
        const auto b = t.tms->tile_bounds_lonlat(z, t.x, t.y);
        ASSERT_LE(b.min_x, lon);
        ASSERT_GE(b.max_x, lon);
        ASSERT_LE(b.min_y, lat);
        ASSERT_GE(b.max_y, lat);
        const auto layers = test::decode_tile(render(*grid, *t.tms, z, t.x, t.y));
        ASSERT_EQ(layers.size(), 1U) << t.tms->id();
        const auto tb = t.tms->tile_bounds(z, t.x, t.y);
        const double unit_deg = (b.max_x - b.min_x) / 4096;
        int checked = 0;
        for (const auto& f : layers[0].features) {
            ids[t.tms->id()].insert(f.id);
            // Every vertex inside the tile, mapped back to lon/lat, lies on the village's
            // boundary within two tile units.
            for (const auto& ring : f.parts) {
                for (const auto& p : ring) {
                    if (p.x <= 0 || p.x >= 4096 || p.y <= 0 || p.y >= 4096) {
                        continue;
                    }
                    const double mx = tb.min_x + (tb.max_x - tb.min_x) * static_cast<double>(p.x) / 4096;
                    const double my = tb.max_y - (tb.max_y - tb.min_y) * static_cast<double>(p.y) / 4096;
                    const double plon = t.tms->geographic() ? mx : core::mercator_x_to_lon(mx);
                    const double plat = t.tms->geographic() ? my : core::mercator_y_to_lat(my);
                    auto conn = test::db().connect();
                    pqxx::work txn(*conn);
                    const double d = txn.exec_params("SELECT ST_Distance(ST_Boundary(geom), ST_SetSRID(ST_MakePoint($1, $2), 4490)) "
                                                     "FROM onemap_data." + txn.quote_name(v.table) + " WHERE fid = $3",
                                                     plon, plat, static_cast<long long>(f.id))[0][0]
                                         .as<double>();
                    EXPECT_LT(d, 2 * unit_deg) << t.tms->id() << " feature " << f.id;
                    if (++checked > 200) {
                        break;
                    }
                }
            }
        }
        EXPECT_GT(checked, 20) << t.tms->id();
    }
    // The village under the point is in both.
    const auto here = test::query_value<long long>("SELECT fid FROM onemap_data." + v.table +
                                        " WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(114.02, 32.98), 4490))");
    EXPECT_EQ(ids["WebMercatorQuad"].count(static_cast<std::uint64_t>(here)), 1U);
    EXPECT_EQ(ids["CGCS2000Quad"].count(static_cast<std::uint64_t>(here)), 1U);
}

TEST_F(tile_engine, every_layer_matches_st_asmvt_ids_attributes_and_areas)
{
    s_from_memory = false;
    every_layer_matches_st_asmvt_ids_attributes_and_areas();
}

TEST_F(tile_engine, every_layer_matches_st_asmvt_ids_attributes_and_areas_from_memory)
{
    s_from_memory = true;
    every_layer_matches_st_asmvt_ids_attributes_and_areas();
}

TEST_F(tile_engine, low_zoom_tiles_keep_only_features_of_three_pixels_or_more)
{
    s_from_memory = false;
    low_zoom_tiles_keep_only_features_of_three_pixels_or_more();
}

TEST_F(tile_engine, low_zoom_tiles_keep_only_features_of_three_pixels_or_more_from_memory)
{
    s_from_memory = true;
    low_zoom_tiles_keep_only_features_of_three_pixels_or_more();
}

TEST_F(tile_engine, cgcs2000_and_web_mercator_tiles_put_the_same_features_in_the_same_place)
{
    s_from_memory = false;
    cgcs2000_and_web_mercator_tiles_put_the_same_features_in_the_same_place();
}

TEST_F(tile_engine, cgcs2000_and_web_mercator_tiles_put_the_same_features_in_the_same_place_from_memory)
{
    s_from_memory = true;
    cgcs2000_and_web_mercator_tiles_put_the_same_features_in_the_same_place();
}

// Read by a query or from memory, a tile holds the same features with the same attributes and
// the same geometry, unit for unit (both encode the same WKB the same way): every layer, z12–16,
// a 3 × 3 block around one of its features, in both matrix sets.
TEST_F(tile_engine, tiles_from_memory_equal_tiles_from_queries)
{
    // id → attributes and every vertex, as text.
    auto features_of = [](const std::string& bytes) {
        std::map<std::uint64_t, std::pair<std::map<std::string, std::string>, std::string>> out;
        if (!bytes.empty()) {
            const auto layers = test::decode_tile(bytes); // alive while iterating
            for (const auto& f : layers.at(0).features) {
                std::string shape;
                for (const auto& part : f.parts) {
                    for (const auto& p : part) {
                        shape += std::to_string(p.x) + " " + std::to_string(p.y) + ",";
                    }
                    shape += ";";
                }
                out[f.id] = {f.properties, shape};
            }
        }
        return out;
    };
    int tiles = 0;
    std::size_t features = 0;
    for (const auto& l : *s_layers) {
        const auto& v = l.versions.back();
        const double lon = test::query_value<double>("SELECT ST_X(ST_PointOnSurface(geom)) FROM onemap_data." + v.table + " ORDER BY fid LIMIT 1");
        const double lat = test::query_value<double>("SELECT ST_Y(ST_PointOnSurface(geom)) FROM onemap_data." + v.table + " ORDER BY fid LIMIT 1");
        for (int z = 12; z <= 16; ++z) {
            for (const auto* tms : {&core::web_mercator_quad(), &core::cgcs2000_quad()}) {
                const double cell = tms->tile_bounds_lonlat(z, 0, 0).width();
                const auto cx = tms->geographic() ? static_cast<std::uint64_t>((lon + 180.0) / cell) : tile_x(lon, z);
                const auto cy = tms->geographic() ? static_cast<std::uint64_t>((90.0 - lat) / cell) : tile_y(lat, z);
                for (std::uint64_t x = cx - 1; x <= cx + 1; ++x) {
                    for (std::uint64_t y = cy - 1; y <= cy + 1; ++y) {
                        s_from_memory = false;
                        const auto queried = features_of(render(l, *tms, z, x, y));
                        s_from_memory = true;
                        const auto held = features_of(render(l, *tms, z, x, y));
                        EXPECT_TRUE(held == queried) << l.name << " " << tms->id() << " " << z << "/" << x << "/" << y << ": "
                                                     << held.size() << " features from memory, " << queried.size()
                                                     << " from the query";
                        ++tiles;
                        features += queried.size();
                    }
                }
            }
        }
    }
    EXPECT_GT(tiles, 12 * 5 * 2 * 9 - 1);
    EXPECT_GT(features, 1000U);
}

// A boolean field (GeoJSON true/false, read by GDAL as a boolean) imported: from memory its
// values are PostgreSQL's boolean text ("true"/"false"), and the tile says the same as a query's.
TEST_F(tile_engine, boolean_attributes_read_alike_from_memory_and_from_queries)
{
    const auto dir = std::filesystem::temp_directory_path() / ("onemap_flags_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "flags.geojson").string();
    {
        std::ofstream f(path);
        f << R"({"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::4490"}},"features":[)";
        for (int i = 0; i < 4; ++i) {
            const double x = 114.0 + i * 0.002;
            f << (i > 0 ? "," : "") << R"({"type":"Feature","properties":{"ID":)" << i + 1
              << R"(,"FLAG":)" << (i % 2 == 1 ? "true" : "false") << R"(},"geometry":{"type":"Polygon","coordinates":[[[)"
              << x << ",33],[" << x + 0.001 << ",33],[" << x + 0.001 << ",33.001],[" << x << ",33.001],[" << x
              << ",33]]]}}";
        }
        f << "]}";
    }
    std::string out;
    ASSERT_EQ(test::run_import("-q --layer flags --id-field ID --valid-from 2023-01-01 " + path, &out), 0) << out;
    std::filesystem::remove_all(dir);
    auto conn = test::db().connect();
    const auto catalog = core::load_catalog(*conn);
    const core::layer* flags = core::find_public_layer(catalog, "flags");
    ASSERT_NE(flags, nullptr);
    const auto& attrs = flags->versions.back().attributes;
    const auto flag = std::find_if(attrs.begin(), attrs.end(), [](const core::attribute& a) { return a.name == "flag"; });
    ASSERT_NE(flag, attrs.end());
    EXPECT_EQ(flag->type, core::attribute_type::boolean);
    const int z = 14;
    std::map<std::uint64_t, std::string> seen[2];
    for (const bool memory : {false, true}) {
        s_from_memory = memory;
        const std::string bytes = render(*flags, core::web_mercator_quad(), z, tile_x(114.003, z), tile_y(33.0005, z));
        ASSERT_FALSE(bytes.empty());
        const auto layers = test::decode_tile(bytes);
        for (const auto& f : layers.at(0).features) {
            seen[memory ? 1 : 0][f.id] = f.properties.at("flag");
        }
    }
    EXPECT_EQ(seen[1], seen[0]);
    ASSERT_EQ(seen[0].size(), 4U);
    EXPECT_EQ(seen[0][1], "false");
    EXPECT_EQ(seen[0][2], "true");
}
