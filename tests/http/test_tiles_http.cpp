// The walking skeleton's http half: the real onemap-server on loopback serves a tile of an
// imported data-samples shapefile; libprotobuf and GDAL's MVT driver both read it.
#include "mvt_decode.hpp"
#include "onemap/core/tile_matrix_set.hpp"
#include "server_process.hpp"
#include "tempdb.hpp"

#include <gdal_priv.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <ogrsf_frmts.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

using namespace onemap;

namespace {

class tiles_http : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        GDALAllRegister();
        std::string out;
        const int rc = test::run_command(test::import_exe() + " -q --db '" + test::db().conninfo() +
                                             "' --layer county --theme grid --valid-from 2023-01-01 --id-field XZQDM " +
                                             test::data_samples() + "/grid/2023-01-01/county.shp",
                                         &out);
        ASSERT_EQ(rc, 0) << out;
        s_server = new test::server_process(test::db().conninfo());
    }
    static void TearDownTestSuite()
    {
        delete s_server;
        s_server = nullptr;
    }
    static test::server_process* s_server;
};

test::server_process* tiles_http::s_server = nullptr;

nlohmann::json problem(const httplib::Result& res)
{
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/problem+json");
    return nlohmann::json::parse(res->body);
}

} // namespace

TEST_F(tiles_http, serves_a_decodable_tile_where_the_data_is)
{
    auto c = s_server->client();
    auto res = c.Get("/tiles/county/8/209/103.mvt");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/vnd.mapbox-vector-tile");
    const auto layers = test::decode_tile(res->body);
    ASSERT_EQ(layers.size(), 1U);
    EXPECT_EQ(layers[0].name, "county");
    // Independent count: counties whose geometry meets the tile (+64/4096 buffer) in PostGIS.
    auto conn = test::db().connect();
    pqxx::work txn(*conn);
    const auto n = txn.exec("SELECT count(*) FROM onemap_data.county__v1 WHERE ST_Intersects(geom, "
                            "ST_Transform(ST_TileEnvelope(8, 209, 103, margin => 64.0/4096), 4490))")[0][0]
                       .as<std::size_t>();
    EXPECT_EQ(layers[0].features.size(), n);
    std::set<std::string> names;
    for (const auto& f : layers[0].features) {
        names.insert(f.properties.at("xzqmc"));
        EXPECT_EQ(f.properties.at("xzqdm").substr(0, 4), "4117");
    }
    EXPECT_EQ(names.count("驿城区"), 1U);
}

TEST_F(tiles_http, gdal_mvt_driver_places_the_tile_features_inside_the_tile)
{
    auto c = s_server->client();
    auto res = c.Get("/tiles/county/8/209/103.mvt");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
    const auto dir = std::filesystem::path(::testing::TempDir()) / "mvt_gdal" / "8" / "209";
    std::filesystem::create_directories(dir);
    const auto file = dir / "103.pbf";
    std::ofstream(file, std::ios::binary) << res->body;

    // GDAL reads z/x/y from the path and georeferences the tile in EPSG:3857.
    std::unique_ptr<GDALDataset> ds(static_cast<GDALDataset*>(
        GDALOpenEx(("MVT:" + file.string()).c_str(), GDAL_OF_VECTOR, nullptr, nullptr, nullptr)));
    ASSERT_TRUE(ds) << CPLGetLastErrorMsg();
    OGRLayer* layer = ds->GetLayerByName("county");
    ASSERT_NE(layer, nullptr);
    const auto bounds = core::web_mercator_quad().tile_bounds(8, 209, 103);
    const double buffer = bounds.width() * 64 / 4096 + 1;
    int count = 0;
    for (auto& f : *layer) {
        ++count;
        OGREnvelope env;
        f->GetGeometryRef()->getEnvelope(&env);
        EXPECT_GE(env.MinX, bounds.min_x - buffer);
        EXPECT_LE(env.MaxX, bounds.max_x + buffer);
        EXPECT_GE(env.MinY, bounds.min_y - buffer);
        EXPECT_LE(env.MaxY, bounds.max_y + buffer);
        EXPECT_EQ(std::string(f->GetFieldAsString("xzqdm")).size(), 6U);
    }
    EXPECT_GT(count, 0);
}

TEST_F(tiles_http, unknown_layer_is_404_with_a_message)
{
    auto c = s_server->client();
    auto res = c.Get("/tiles/no_such_layer/8/209/103.mvt");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 404);
    EXPECT_NE(problem(res)["detail"].get<std::string>().find("no_such_layer"), std::string::npos);
}

TEST_F(tiles_http, out_of_range_or_malformed_tile_indexes_are_400_naming_the_parameter)
{
    auto c = s_server->client();
    struct probe {
        const char* path;
        const char* parameter;
    };
    for (const auto& p : {probe{"/tiles/county/25/0/0.mvt", "z"}, probe{"/tiles/county/8/256/103.mvt", "x"},
                          probe{"/tiles/county/8/209/256.mvt", "y"}, probe{"/tiles/county/8/abc/103.mvt", "x"},
                          probe{"/tiles/county/-1/0/0.mvt", "z"},
                          probe{"/tiles/county/8/209/103.mvt?datetime=2024-13-01", "datetime"}}) {
        auto res = c.Get(p.path);
        ASSERT_TRUE(res) << p.path;
        EXPECT_EQ(res->status, 400) << p.path;
        EXPECT_EQ(problem(res)["parameter"], p.parameter) << p.path;
    }
}

TEST_F(tiles_http, empty_tile_is_204_and_before_the_first_version_too)
{
    auto c = s_server->client();
    auto far = c.Get("/tiles/county/8/0/0.mvt");
    ASSERT_TRUE(far);
    EXPECT_EQ(far->status, 204);
    auto before = c.Get("/tiles/county/8/209/103.mvt?datetime=2020-01-01");
    ASSERT_TRUE(before);
    EXPECT_EQ(before->status, 204);
}

TEST_F(tiles_http, tile_list_names_the_layer_and_its_version)
{
    auto c = s_server->client();
    auto res = c.Get("/tiles");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
    const auto doc = nlohmann::json::parse(res->body);
    bool found = false;
    for (const auto& t : doc["tilesets"]) {
        if (t["name"] == "county") {
            found = true;
            EXPECT_EQ(t["versions"][0]["valid_from"], "2023-01-01");
        }
    }
    EXPECT_TRUE(found);
}

// A burst of phones connecting at once must not overflow the accept queue (Debian's
// cpp-httplib listens with a backlog of 5; dropped SYNs are retried only after a second):
// the server widens it. `ss` reports a listening socket's backlog as Send-Q.
TEST_F(tiles_http, listen_backlog_takes_a_burst_of_connections)
{
    std::string out;
    ASSERT_EQ(test::run_command("ss -Hltn 'sport = :" + std::to_string(s_server->port()) + "'", &out), 0) << out;
    unsigned recv_q = 0;
    unsigned backlog = 0;
    char state[16];
    ASSERT_EQ(std::sscanf(out.c_str(), "%15s %u %u", state, &recv_q, &backlog), 3) << out;
    EXPECT_GE(backlog, 128u) << out;
    // And 300 connections opened at once are all answered.
    std::vector<std::thread> clients;
    clients.reserve(300);
    std::atomic<int> answered{0};
    for (int i = 0; i < 300; ++i) {
        clients.emplace_back([&] {
            auto c = s_server->client();
            if (auto res = c.Get("/health"); res && res->status == 200) {
                ++answered;
            }
        });
    }
    for (auto& t : clients) {
        t.join();
    }
    EXPECT_EQ(answered.load(), 300);
}

namespace {

nlohmann::json tile_memory(httplib::Client& c)
{
    const auto res = c.Get("/stats");
    EXPECT_TRUE(res && res->status == 200);
    return nlohmann::json::parse(res->body)["tile_memory"];
}

// id → attributes and vertices, as text.
std::map<std::uint64_t, std::string> features_of(const std::string& mvt)
{
    std::map<std::uint64_t, std::string> out;
    const auto layers = test::decode_tile(mvt);
    for (const auto& f : layers.at(0).features) {
        std::string text;
        for (const auto& [k, v] : f.properties) {
            text += k + "=" + v + ";";
        }
        for (const auto& part : f.parts) {
            for (const auto& p : part) {
                text += std::to_string(p.x) + " " + std::to_string(p.y) + ",";
            }
        }
        out[f.id] = text;
    }
    return out;
}

} // namespace

// The first tile of a version is drawn by a query and asks for the version to be held; once
// it is, tiles are drawn from memory with the same features, attributes and geometry, and the
// memory held stays under --tile-memory-mb. A budget smaller than the version: never held,
// tiles still drawn by queries.
TEST_F(tiles_http, tiles_are_drawn_from_memory_once_the_version_is_held_within_its_budget)
{
    const std::string tile = "/tiles/county/8/209/103.mvt";
    test::server_process s(test::db().conninfo(), {"--cache-mb", "0"});
    auto c = s.client();
    const auto first = c.Get(tile);
    ASSERT_TRUE(first);
    ASSERT_EQ(first->status, 200);
    nlohmann::json m = tile_memory(c);
    EXPECT_EQ(m["layers_from_queries"], 1);
    EXPECT_EQ(m["layers_from_memory"], 0);
    for (int i = 0; i < 300 && (m["versions"] != 1 || m["loading"] == true); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        m = tile_memory(c);
    }
    ASSERT_EQ(m["versions"], 1) << m.dump();
    const auto held_bytes = m["bytes"].get<std::size_t>();
    EXPECT_GT(held_bytes, 0U);
    EXPECT_LE(held_bytes, m["max_bytes"].get<std::size_t>());
    const auto again = c.Get(tile);
    ASSERT_TRUE(again);
    ASSERT_EQ(again->status, 200);
    m = tile_memory(c);
    EXPECT_EQ(m["layers_from_memory"], 1);
    EXPECT_EQ(m["layers_from_queries"], 1);
    EXPECT_EQ(features_of(again->body), features_of(first->body));

    // 2,000 parcels, more than 1 MB: refused under --tile-memory-mb 1, their tiles keep coming
    // from queries.
    std::string out;
    ASSERT_EQ(test::run_command(test::import_exe() + " -q --db '" + test::db().conninfo() +
                                    "' --layer parcels --encoding GBK --id-field BSM --valid-from 2023-01-01 " +
                                    test::data_samples() + "/natural-resources/dltb_2023.shp",
                                &out),
              0)
        << out;
    const std::string parcels = "/tiles/parcels/12/3345/1648.mvt";
    auto parcels_first = c.Get(parcels);
    for (int i = 0; i < 100 && parcels_first && parcels_first->status == 404; ++i) { // until the publish is heard
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        parcels_first = c.Get(parcels);
    }
    ASSERT_TRUE(parcels_first);
    ASSERT_EQ(parcels_first->status, 200);
    for (int i = 0; i < 300 && (m["versions"] != 2 || m["loading"] == true); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        m = tile_memory(c);
    }
    ASSERT_EQ(m["versions"], 2) << m.dump();
    ASSERT_GT(m["bytes"].get<std::size_t>() - held_bytes, 1U << 20);
    test::server_process small(test::db().conninfo(), {"--cache-mb", "0", "--tile-memory-mb", "1"});
    auto sc = small.client();
    ASSERT_EQ(sc.Get(parcels)->status, 200);
    m = tile_memory(sc);
    for (int i = 0; i < 300 && m["refused"] != 1; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        m = tile_memory(sc);
    }
    EXPECT_EQ(m["refused"], 1) << m.dump();
    EXPECT_EQ(m["versions"], 0);
    EXPECT_EQ(m["bytes"], 0);
    const auto refused = sc.Get(parcels);
    ASSERT_EQ(refused->status, 200);
    EXPECT_EQ(features_of(refused->body), features_of(parcels_first->body));
    EXPECT_EQ(tile_memory(sc)["layers_from_queries"], 2);
}
