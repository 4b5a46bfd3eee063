// The tile cache seen from outside: gzip, ETag/304, TileJSON, and invalidation by the
// importer's NOTIFY — only tiles over the change are recomputed, the rest stay cached.
#include "mvt_decode.hpp"
#include "onemap/core/catalog.hpp"
#include "onemap/core/tile_matrix_set.hpp"
#include "server_process.hpp"
#include "tempdb.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <thread>
#include <unistd.h>

using namespace onemap;

namespace {

const std::string ADMIN_TOKEN = "cache-test-admin-token-0123456789";

// The JSON document `onemap-server seed` prints last.
nlohmann::json seed_result(const std::string& out)
{
    const auto line = out.rfind("\n{");
    return nlohmann::json::parse(line == std::string::npos ? out.substr(out.find('{')) : out.substr(line + 1));
}

class cache_http : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        import_grid("2023-01-01");
        s_token_file = "/tmp/onemap-cache-admin-token-" + std::to_string(::getpid());
        std::ofstream(s_token_file) << ADMIN_TOKEN << "\n";
        s_server = new test::server_process(test::db().conninfo(), {"--admin-token-file", s_token_file});
    }
    static void TearDownTestSuite()
    {
        delete s_server;
        s_server = nullptr;
        std::remove(s_token_file.c_str());
    }
    static void import_grid(const std::string& version)
    {
        std::string out;
        const int rc = test::run_command(test::import_exe() + " -q --db '" + test::db().conninfo() +
                                             "' --layer cgrid --theme grid --id-field WGBM --valid-from " + version + " " +
                                             test::data_samples() + "/grid/" + version + "/grid.shp",
                                         &out);
        ASSERT_EQ(rc, 0) << out;
    }
    static nlohmann::json stats()
    {
        auto res = s_server->client().Get("/stats");
        return nlohmann::json::parse(res->body);
    }
    static test::server_process* s_server;
    static inline std::string s_token_file;
};

test::server_process* cache_http::s_server = nullptr;

// `b` grown on every side by `share` of its width and height.
core::box grown(const core::box& b, double share)
{
    const double dx = b.width() * share;
    const double dy = (b.max_y - b.min_y) * share;
    return core::box{b.min_x - dx, b.min_y - dy, b.max_x + dx, b.max_y + dy};
}

} // namespace

TEST_F(cache_http, gzip_etag_and_304)
{
    auto c = s_server->client();
    httplib::Headers gz{{"Accept-Encoding", "gzip"}};
    auto plain = c.Get("/tiles/cgrid/10/836/412.mvt");
    ASSERT_TRUE(plain);
    ASSERT_EQ(plain->status, 200);
    EXPECT_EQ(plain->get_header_value("Content-Encoding"), "");
    EXPECT_FALSE(plain->get_header_value("Cache-Control").empty());
    const auto etag = plain->get_header_value("ETag");
    ASSERT_FALSE(etag.empty());

    c.set_decompress(false);
    auto zipped = c.Get("/tiles/cgrid/10/836/412.mvt", gz);
    ASSERT_TRUE(zipped);
    EXPECT_EQ(zipped->get_header_value("Content-Encoding"), "gzip");
    EXPECT_LT(zipped->body.size(), plain->body.size());
    EXPECT_EQ(zipped->get_header_value("ETag"), etag);

    auto not_modified = c.Get("/tiles/cgrid/10/836/412.mvt", httplib::Headers{{"If-None-Match", etag}});
    ASSERT_TRUE(not_modified);
    EXPECT_EQ(not_modified->status, 304);
    EXPECT_TRUE(not_modified->body.empty());
}

TEST_F(cache_http, tilejson_describes_the_layer)
{
    auto res = s_server->client().Get("/tiles/cgrid.json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
    const auto doc = nlohmann::json::parse(res->body);
    EXPECT_EQ(doc["tilejson"], "3.0.0");
    const std::string url = doc["tiles"][0];
    EXPECT_NE(url.find("/tiles/cgrid/{z}/{x}/{y}.mvt"), std::string::npos) << url;
    EXPECT_EQ(url.rfind("http://127.0.0.1:" + std::to_string(s_server->port()), 0), 0U) << url;
    const auto& vl = doc["vector_layers"][0];
    EXPECT_EQ(vl["id"], "cgrid");
    EXPECT_EQ(vl["fields"]["wgbm"], "String");
    EXPECT_EQ(vl["fields"]["wgmc"], "String");
    const auto& b = doc["bounds"];
    EXPECT_GT(b[0].get<double>(), 113.0);
    EXPECT_LT(b[2].get<double>(), 115.3);
    EXPECT_GT(b[1].get<double>(), 32.2);
    EXPECT_LT(b[3].get<double>(), 33.6);
    EXPECT_EQ(s_server->client().Get("/tiles/nothing.json")->status, 404);
}

// Issue 14: the key held the date asked for, so every distinct ?datetime= was a new tile to
// build and the whole cache went cold at midnight. It holds the versions drawn now.
TEST_F(cache_http, another_date_drawing_the_same_versions_is_a_cache_hit)
{
    auto c = s_server->client();
    for (const char* format : {"mvt", "png"}) {
        const std::string path = std::string("/tiles/cgrid/10/835/412.") + format + "?datetime=";
        const auto s0 = stats()["cache"];
        auto first = c.Get(path + "2023-03-01");
        ASSERT_TRUE(first);
        ASSERT_EQ(first->status, 200) << format << ": " << first->body;
        const auto s1 = stats()["cache"];
        EXPECT_GE(s1["misses"].get<int>() - s0["misses"].get<int>(), 1) << format;
        // Other dates and instants on which version 1 is the one drawn: all hits, same bytes.
        for (const char* when : {"2023-09-15T08:00:00Z", "2024-01-01T00:00:00%2B08:00", "2023-01-01"}) {
            auto again = c.Get(path + when);
            ASSERT_TRUE(again);
            EXPECT_EQ(again->status, 200) << format << " " << when;
            EXPECT_EQ(again->body, first->body) << format << " " << when;
        }
        const auto s2 = stats()["cache"];
        EXPECT_EQ(s2["misses"], s1["misses"]) << format << ": the same versions must not be drawn again";
        EXPECT_EQ(s2["hits"].get<int>() - s1["hits"].get<int>(), 3) << format;
        // A bad date is still refused before anything is looked up.
        auto bad = c.Get(path + "2023-02-30");
        ASSERT_TRUE(bad);
        EXPECT_EQ(bad->status, 400);
        EXPECT_NE(bad->body.find("datetime"), std::string::npos) << bad->body;
    }
    // Before the layer's first version nothing is drawn: 204, and no entry is made for it.
    auto before = c.Get("/tiles/cgrid/10/835/412.mvt?datetime=2020-01-01");
    ASSERT_TRUE(before);
    EXPECT_EQ(before->status, 204);
}

TEST_F(cache_http, publish_invalidates_only_tiles_over_the_change)
{
    auto c = s_server->client();
    // Every z9 tile over the city, current version (2023 grids).
    const auto& wm = core::web_mercator_quad();
    std::vector<std::pair<int, int>> tiles;
    for (int x = 416; x <= 420; ++x) {
        for (int y = 204; y <= 207; ++y) {
            tiles.emplace_back(x, y);
        }
    }
    std::map<std::pair<int, int>, std::string> before;
    std::map<std::pair<int, int>, std::string> png_before;
    for (auto [x, y] : tiles) {
        auto res = c.Get("/tiles/cgrid/9/" + std::to_string(x) + "/" + std::to_string(y) + ".mvt");
        ASSERT_TRUE(res);
        before[{x, y}] = res->body;
    }

    for (auto [x, y] : tiles) {
        auto res = c.Get("/tiles/cgrid/9/" + std::to_string(x) + "/" + std::to_string(y) + ".png");
        ASSERT_TRUE(res);
        ASSERT_EQ(res->status, 200) << res->body;
        png_before[{x, y}] = res->body;
    }

    // Listen like the server does, to learn the changed bbox, then publish the 2024 grids.
    auto listener = test::db().connect();
    struct receiver : pqxx::notification_receiver {
        using pqxx::notification_receiver::notification_receiver;
        void operator()(const std::string& p, int) override { payload = p; }
        std::string payload;
    } rx(*listener, "onemap_publish");
    const auto stats_before = stats();
    import_grid("2024-07-01");
    for (int i = 0; i < 50 && rx.payload.empty(); ++i) {
        listener->await_notification(0, 100000);
    }
    ASSERT_FALSE(rx.payload.empty());
    const auto bbox = nlohmann::json::parse(rx.payload)["bbox"];
    const core::box changed{bbox[0], bbox[1], bbox[2], bbox[3]};
    // Wait for the server to apply it: the reload counts once the new catalog is in service.
    // No grace period after it: the changed tiles must be gone in the same step that swapped
    // the catalog (issue 14: the catalog used to be swapped first, and a bare sleep here hid
    // the window in which the new catalog served the old tiles).
    for (int i = 0; i < 400 && stats()["catalog_reloads"] == stats_before["catalog_reloads"]; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }

    const auto s0 = stats()["cache"];
    int over = 0;
    int elsewhere = 0;
    int changed_tiles = 0;
    for (auto [x, y] : tiles) {
        auto res = c.Get("/tiles/cgrid/9/" + std::to_string(x) + "/" + std::to_string(y) + ".mvt");
        ASSERT_TRUE(res);
        // What a tile shows reaches into its 64/4096 buffer: a change there is a change of the tile.
        const bool inside = grown(wm.tile_bounds_lonlat(9, static_cast<std::uint64_t>(x), static_cast<std::uint64_t>(y)),
                                  64.0 / 4096)
                                .intersects(changed);
        (inside ? over : elsewhere) += 1;
        if (res->body != before[{x, y}]) {
            ++changed_tiles;
            EXPECT_TRUE(inside) << "tile 9/" << x << "/" << y << " changed outside the published bbox";
        }
    }
    const auto s1 = stats()["cache"];
    EXPECT_GT(over, 0);
    EXPECT_GT(elsewhere, 0) << "the test needs tiles outside the change";
    EXPECT_GT(changed_tiles, 0) << "the new version must show in some tile";
    EXPECT_EQ(s1["misses"].get<int>() - s0["misses"].get<int>(), over);
    EXPECT_EQ(s1["hits"].get<int>() - s0["hits"].get<int>(), elsewhere);

    // Rendered PNG tiles are dropped by their whole 4 x 4 metatile (labels may move anywhere in
    // it): what changed lies in a metatile over the change, and the new version shows.
    int png_changed = 0;
    for (auto [x, y] : tiles) {
        const auto xs = static_cast<std::uint64_t>(x) / 4 * 4;
        const auto ys = static_cast<std::uint64_t>(y) / 4 * 4;
        const auto a = wm.tile_bounds_lonlat(9, xs, ys);
        const auto b = wm.tile_bounds_lonlat(9, xs + 3, ys + 3);
        // A metatile is drawn with a 16-px buffer around its 1024 px.
        const bool inside = grown(core::box{a.min_x, b.min_y, b.max_x, a.max_y}, 16.0 / 1024).intersects(changed);
        auto res = c.Get("/tiles/cgrid/9/" + std::to_string(x) + "/" + std::to_string(y) + ".png");
        ASSERT_TRUE(res);
        ASSERT_EQ(res->status, 200);
        if (res->body != png_before[{x, y}]) {
            ++png_changed;
            EXPECT_TRUE(inside) << "PNG 9/" << x << "/" << y << " changed outside the published bbox";
        }
    }
    EXPECT_GT(png_changed, 0) << "the new version must show in some PNG tile";

    // What the server now serves over the change is the new version: compare feature ids.
    for (auto [x, y] : tiles) {
        const auto b = wm.tile_bounds_lonlat(9, static_cast<std::uint64_t>(x), static_cast<std::uint64_t>(y));
        if (!b.intersects(changed)) {
            continue;
        }
        auto res = c.Get("/tiles/cgrid/9/" + std::to_string(x) + "/" + std::to_string(y) + ".mvt");
        std::set<std::string> served;
        if (res->status == 200) {
            const auto layers = test::decode_tile(res->body); // keep the tile alive while iterating
            for (const auto& f : layers.at(0).features) {
                served.insert(f.properties.at("wgbm"));
            }
        }
        auto conn = test::db().connect();
        pqxx::work txn(*conn);
        // Every served grid is a 2024 grid in reach of the tile, and every 2024 grid drawn at
        // this zoom with a visible share of the tile is served (slivers may quantize away).
        std::set<std::string> reachable;
        std::set<std::string> visible;
        for (const auto& r : txn.exec_params(
                 // z9 reads the copy simplified to half a pixel: reach grows by one pixel.
                 // Drawn at z9: a visible share of the tile and the size rule (MIN_FEATURE_PIXELS).
                 "SELECT wgbm, ST_Area(ST_Intersection(geom, e)) > 1e-4 * ST_Area(e) AND "
                 "GREATEST(ST_XMax(geom) - ST_XMin(geom), ST_YMax(geom) - ST_YMin(geom)) >= $4 "
                 "FROM onemap_data.cgrid__v2, ST_Transform(ST_TileEnvelope(9, $1, $2, margin => 64.0/4096), 4490) e "
                 "WHERE ST_Intersects(geom, ST_Expand(e, $3))",
                 x, y, core::degrees_per_pixel(9), core::MIN_FEATURE_PIXELS * core::degrees_per_pixel(9))) {
            reachable.insert(r[0].as<std::string>());
            if (r[1].as<bool>()) {
                visible.insert(r[0].as<std::string>());
            }
        }
        for (const auto& id : served) {
            EXPECT_EQ(reachable.count(id), 1U) << "tile 9/" << x << "/" << y << " serves " << id;
        }
        for (const auto& id : visible) {
            EXPECT_EQ(served.count(id), 1U) << "tile 9/" << x << "/" << y << " lacks " << id;
        }
    }
}

TEST_F(cache_http, seeding_fills_the_cache_for_a_box_and_zoom_range)
{
    std::string out;
    // The command starts a seed job and follows it to its end.
    const int rc = test::run_command(test::server_exe() + " seed --server " + s_server->base_url() +
                                         " --admin-token-file " + s_token_file +
                                         " --tileset cgrid --bbox 113.9,32.9,114.2,33.1 --zooms 10-12",
                                     &out);
    ASSERT_EQ(rc, 0) << out;
    const auto seeded = seed_result(out);
    const auto& wm = core::web_mercator_quad();
    std::size_t expected = 0;
    for (int z = 10; z <= 12; ++z) {
        const auto r = wm.tile_range(z, core::box{113.9, 32.9, 114.2, 33.1});
        expected += (r.max_col - r.min_col + 1) * (r.max_row - r.min_row + 1);
    }
    EXPECT_EQ(seeded["state"], "done");
    EXPECT_EQ(seeded["total"].get<std::size_t>(), expected);
    EXPECT_EQ(seeded["done"].get<std::size_t>(), expected);

    // Every seeded tile is now a cache hit.
    const auto before = stats()["cache"];
    auto c = s_server->client();
    for (int z = 10; z <= 12; ++z) {
        const auto r = wm.tile_range(z, core::box{113.9, 32.9, 114.2, 33.1});
        for (auto x = r.min_col; x <= r.max_col; ++x) {
            for (auto y = r.min_row; y <= r.max_row; ++y) {
                ASSERT_TRUE(c.Get("/tiles/cgrid/" + std::to_string(z) + "/" + std::to_string(x) + "/" + std::to_string(y) + ".mvt"));
            }
        }
    }
    const auto after = stats()["cache"];
    EXPECT_EQ(after["misses"], before["misses"]);
    EXPECT_EQ(after["hits"].get<std::size_t>() - before["hits"].get<std::size_t>(), expected);

    // PNG seeding renders each metatile once and leaves every tile of the box cached.
    const auto png_before = stats();
    ASSERT_EQ(test::run_command(test::server_exe() + " seed --server " + s_server->base_url() +
                                    " --admin-token-file " + s_token_file +
                                    " --tileset cgrid --format png --bbox 113.9,32.9,114.2,33.1 --zooms 10-12",
                                &out),
              0)
        << out;
    EXPECT_EQ(seed_result(out)["done"].get<std::size_t>(), expected);
    const auto png_seeded = stats();
    std::size_t metatiles = 0;
    for (int z = 10; z <= 12; ++z) {
        const auto r = wm.tile_range(z, core::box{113.9, 32.9, 114.2, 33.1});
        metatiles += (r.max_col / 4 - r.min_col / 4 + 1) * (r.max_row / 4 - r.min_row / 4 + 1);
        for (auto x = r.min_col; x <= r.max_col; ++x) {
            for (auto y = r.min_row; y <= r.max_row; ++y) {
                const auto res = c.Get("/tiles/cgrid/" + std::to_string(z) + "/" + std::to_string(x) + "/" +
                                       std::to_string(y) + ".png");
                ASSERT_TRUE(res);
                EXPECT_EQ(res->status, 200);
            }
        }
    }
    EXPECT_EQ(png_seeded["raster"]["metatiles_drawn"].get<std::size_t>() -
                  png_before["raster"]["metatiles_drawn"].get<std::size_t>(),
              metatiles);
    EXPECT_EQ(stats()["cache"]["misses"], png_seeded["cache"]["misses"]) << "a seeded PNG tile was drawn again";
    EXPECT_EQ(stats()["raster"]["metatiles_drawn"], png_seeded["raster"]["metatiles_drawn"]);

    const httplib::Headers admin{{"Authorization", "Bearer " + ADMIN_TOKEN}};
    auto bad = c.Post("/admin/seed", admin, httplib::Params{{"tileset", "cgrid"}, {"bbox", "1,2,3"}, {"minzoom", "1"}, {"maxzoom", "2"}});
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400);
    EXPECT_EQ(nlohmann::json::parse(bad->body)["parameter"], "bbox");
    auto huge = c.Post("/admin/seed", admin, httplib::Params{{"tileset", "cgrid"}, {"bbox", "-180,-85,180,85"}, {"minzoom", "0"}, {"maxzoom", "18"}});
    EXPECT_EQ(huge->status, 400);
}
