// Departments and layer rights (issue 15) against the real server on the samples: keys made by
// `onemap-server keys create`, rights from the departments:/access: sections of the config, and
// a matrix of callers × layers × endpoints asserting exactly who sees what — a layer asked for
// by name (401 without a key, 403 naming it with a key lacking the right), composite MVT and PNG
// tiles drawn without what the caller may not see (two callers asking for the same tile one
// after the other get different tiles), TileJSON, styles, WMTS capabilities, GetTile and
// GetFeatureInfo, OGC API items, /locate and /grids; revoked, unknown and malformed keys; a
// revocation reaching the running server.
#include "mvt_decode.hpp"
#include "raw_http.hpp"
#include "sample_points.hpp"
#include "server_process.hpp"
#include "tempdb.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <csignal>

using namespace onemap;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// Rights on top of the shipped tilesets: farmland for natural resources only, the reservoirs
// for water only, the grid for any key.
const char* RIGHTS = R"(
departments:
  - id: natural_resources
    name: 自然资源和规划局
  - id: water
    name: 水利局
access:
  default: public
  layers:
    basic_farmland: {departments: [natural_resources]}
    reservoir: {departments: [water]}
    grid: internal
)";

std::string keys_command(const std::string& args, std::string* out)
{
    const int rc = test::run_command(test::server_exe() + " --db '" + test::db().conninfo() + "' keys " + args, out);
    EXPECT_EQ(rc, 0) << *out;
    return *out;
}

std::string new_key(const std::string& department)
{
    std::string out;
    keys_command("create --department " + department, &out);
    std::smatch m;
    static const std::regex key_re("om_[A-Za-z0-9_-]{43}");
    EXPECT_TRUE(std::regex_search(out, m, key_re)) << out;
    return m.str();
}

using test::tile_of;
using test::tile_xy;
using test::xyz;

// WMTS KVP GetTile of `layer` at zoom 14 over the farmland point.
std::string kvp_tile(const std::string& layer, const test::lonlat& at, const std::string& format)
{
    const tile_xy t = tile_of(14, at.lon, at.lat);
    return "/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=" + layer +
           "&STYLE=default&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=14&TILEROW=" + std::to_string(t.y) +
           "&TILECOL=" + std::to_string(t.x) + "&FORMAT=" + format;
}

std::vector<std::string> layer_names(const std::string& mvt)
{
    std::vector<std::string> out;
    for (const auto& l : test::decode_tile(mvt)) {
        out.push_back(l.name);
    }
    return out;
}

bool has(const std::vector<std::string>& v, const std::string& s)
{
    return std::find(v.begin(), v.end(), s) != v.end();
}

class access_http : public ::testing::Test {
protected:
    struct who {
        const char* label;
        std::string key; ///< "" = no key
    };

    static void SetUpTestSuite()
    {
        std::string out;
        ASSERT_EQ(test::run_import("--manifest " + test::data_samples() + "/manifest.yaml", &out), 0) << out;
        // The shipped config with rights added.
        std::ifstream shipped(test::source_dir() + "/tileserver/onemap.yaml");
        std::string text((std::istreambuf_iterator<char>(shipped)), std::istreambuf_iterator<char>());
        s_config = ::testing::TempDir() + "onemap-access.yaml";
        std::ofstream(s_config) << text << RIGHTS;
        s_nr = new_key("natural_resources");
        s_water = new_key("water");
        s_access_log = ::testing::TempDir() + "onemap-access.log";
        std::remove(s_access_log.c_str());
        s_server = new test::server_process(test::db().conninfo(), {"--config", s_config, "--styles",
                                                                    test::source_dir() + "/styles", "--access-log",
                                                                    s_access_log});
        // A point inside both a farmland parcel and a reservoir's neighbourhood is not needed:
        // a farmland parcel inside a grid cell is.
        s_farmland = test::point_of(
            "SELECT ST_PointOnSurface(f.geom) FROM onemap_data.basic_farmland__v1 f WHERE EXISTS (SELECT 1 FROM "
            "onemap_data.grid__v2 g WHERE ST_Contains(g.geom, ST_PointOnSurface(f.geom))) ORDER BY ST_Area(f.geom) "
            "DESC LIMIT 1");
        s_grid_code = test::query_value("SELECT wgbm FROM onemap_data.grid__v2 ORDER BY wgbm LIMIT 1");
    }
    static void TearDownTestSuite()
    {
        delete s_server;
        s_server = nullptr;
    }

    static httplib::Result get(const std::string& path, const std::string& key, bool as_query = false)
    {
        auto c = s_server->client();
        if (key.empty()) {
            return c.Get(path);
        }
        if (as_query) {
            return c.Get(path + (path.find('?') == std::string::npos ? "?" : "&") + "key=" + key);
        }
        return c.Get(path, httplib::Headers{{"X-Onemap-Key", key}});
    }

    // 401 without a key, 403 naming the layer with one lacking the right, `ok` with the right.
    static void expect_guarded(const std::string& path, const std::string& layer, const std::string& right_key,
                               const std::string& wrong_key, std::initializer_list<int> ok = {200})
    {
        auto none = get(path, "");
        ASSERT_TRUE(none) << path;
        EXPECT_EQ(none->status, 401) << path << ": " << none->body;
        EXPECT_NE(none->body.find(layer), std::string::npos) << path << ": " << none->body;
        auto wrong = get(path, wrong_key);
        ASSERT_TRUE(wrong) << path;
        EXPECT_EQ(wrong->status, 403) << path << ": " << wrong->body;
        EXPECT_NE(wrong->body.find(layer), std::string::npos) << path << ": " << wrong->body;
        auto right = get(path, right_key);
        ASSERT_TRUE(right) << path;
        EXPECT_TRUE(std::find(ok.begin(), ok.end(), right->status) != ok.end())
            << path << ": " << right->status << " " << right->body.substr(0, 300);
    }

    static inline test::server_process* s_server = nullptr;
    static inline std::string s_config;
    static inline std::string s_access_log;
    static inline std::string s_nr;    ///< natural_resources: farmland and the grid
    static inline std::string s_water; ///< water: reservoirs and the grid
    static inline test::lonlat s_farmland;
    static inline std::string s_grid_code;
};

TEST_F(access_http, a_layer_asked_for_by_name_is_401_without_a_key_and_403_naming_it_without_the_right)
{
    const std::string tile = xyz(14, s_farmland.lon, s_farmland.lat);
    expect_guarded("/tiles/basic_farmland/" + tile + ".mvt", "basic_farmland", s_nr, s_water);
    expect_guarded("/tiles/basic_farmland/" + tile + ".png", "basic_farmland", s_nr, s_water);
    expect_guarded("/tiles/basic_farmland.json", "basic_farmland", s_nr, s_water);
    expect_guarded("/tiles/reservoir.json", "reservoir", s_water, s_nr);
    expect_guarded("/ogc/collections/basic_farmland/items?limit=1", "basic_farmland", s_nr, s_water);
    expect_guarded("/ogc/collections/basic_farmland", "basic_farmland", s_nr, s_water);
    const tile_xy t = tile_of(14, s_farmland.lon, s_farmland.lat);
    expect_guarded("/wmts/1.0.0/basic_farmland/default/WebMercatorQuad/14/" + std::to_string(t.y) + "/" +
                       std::to_string(t.x) + ".png",
                   "basic_farmland", s_nr, s_water, {200});
    // The grid is internal: any key.
    auto none = get("/tiles/grid.json", "");
    EXPECT_EQ(none->status, 401);
    EXPECT_EQ(get("/tiles/grid.json", s_water)->status, 200);
    EXPECT_EQ(get("/tiles/grid.json", s_nr)->status, 200);
    // Public layers need nothing.
    EXPECT_EQ(get("/tiles/dltb.json", "")->status, 200);
    EXPECT_EQ(get("/ogc/collections/river/items?limit=1", "")->status, 200);
}

TEST_F(access_http, analytics_read_only_layers_the_caller_may_see)
{
    // The review's checks include basic farmland: 401 without a key, 403 naming it for water,
    // an answer for natural resources; a check list without it is open to everyone.
    const std::string red_line = test::query_value(
        "SELECT ST_AsGeoJSON(ST_Transform(ST_Buffer(ST_Transform(ST_PointOnSurface(geom), 4547), 300), 4490), 9) FROM "
        "onemap_data.basic_farmland__v1 ORDER BY ST_Area(geom) DESC LIMIT 1");
    auto post = [&](const std::string& path, const std::string& key) {
        auto c = s_server->client();
        return key.empty() ? c.Post(path, red_line, "application/geo+json")
                           : c.Post(path, httplib::Headers{{"X-Onemap-Key", key}}, red_line, "application/geo+json");
    };
    auto none = post("/analysis/compliance", "");
    EXPECT_EQ(none->status, 401) << none->body;
    EXPECT_NE(none->body.find("basic_farmland"), std::string::npos) << none->body;
    auto water = post("/analysis/compliance", s_water);
    EXPECT_EQ(water->status, 403) << water->body;
    EXPECT_NE(water->body.find("basic_farmland"), std::string::npos) << water->body;
    auto nr = post("/analysis/compliance", s_nr);
    ASSERT_EQ(nr->status, 200) << nr->body;
    const json doc = json::parse(nr->body);
    EXPECT_EQ(doc["checks"][1]["id"], "basic_farmland");
    EXPECT_EQ(doc["checks"][1]["conclusion"], "conflict");
    EXPECT_EQ(post("/analysis/compliance?checks=ecological_redline,urban_boundary", "")->status, 200);
    // Statistics name their layers: by the parameter (the router's rule) and by region level.
    expect_guarded("/analysis/stats?layer=basic_farmland&by=county&class_field=jbntbh", "basic_farmland", s_nr, s_water);
    auto grid = get("/analysis/stats?layer=dltb&by=grid&class_field=dlbm", "");
    EXPECT_EQ(grid->status, 401) << grid->body;
    EXPECT_NE(grid->body.find("grid"), std::string::npos) << grid->body;
    EXPECT_EQ(get("/analysis/stats?layer=dltb&by=grid&class_field=dlbm", s_water)->status, 200);
    EXPECT_EQ(get("/analysis/stats?layer=dltb&by=village&class_field=dlbm", "")->status, 200);
}

TEST_F(access_http, wmts_kvp_get_tile_and_feature_info_are_guarded_with_ows_exceptions)
{
    const std::string kvp = kvp_tile("basic_farmland", s_farmland, "image/png");
    auto none = get(kvp, "");
    EXPECT_EQ(none->status, 401) << none->body;
    EXPECT_NE(none->body.find("ExceptionReport"), std::string::npos) << none->body;
    EXPECT_NE(none->body.find("basic_farmland"), std::string::npos) << none->body;
    auto wrong = get(kvp, s_water, true);
    EXPECT_EQ(wrong->status, 403) << wrong->body;
    auto right = get(kvp, s_nr, true);
    EXPECT_EQ(right->status, 200) << right->body;
    EXPECT_EQ(right->get_header_value("Content-Type"), "image/png");
}

TEST_F(access_http, composite_tiles_leave_out_what_the_caller_may_not_see_and_are_never_shared_across_rights)
{
    const std::string path = "/tiles/basemap/" + xyz(14, s_farmland.lon, s_farmland.lat) + ".mvt";
    // The one with every right first: its tile is in the cache when the others ask.
    auto nr = get(path, s_nr);
    ASSERT_EQ(nr->status, 200);
    const auto nr_layers = layer_names(nr->body);
    EXPECT_TRUE(has(nr_layers, "basic_farmland"));
    EXPECT_TRUE(has(nr_layers, "grid"));
    auto none = get(path, "");
    ASSERT_EQ(none->status, 200);
    const auto none_layers = layer_names(none->body);
    EXPECT_FALSE(has(none_layers, "basic_farmland"));
    EXPECT_FALSE(has(none_layers, "grid"));
    EXPECT_TRUE(has(none_layers, "dltb"));
    auto water = get(path, s_water);
    const auto water_layers = layer_names(water->body);
    EXPECT_FALSE(has(water_layers, "basic_farmland"));
    EXPECT_TRUE(has(water_layers, "grid"));
    EXPECT_NE(nr->get_header_value("ETag"), none->get_header_value("ETag"));
    // The same caller again is a cache hit with the same bytes (rights do not defeat the cache).
    auto again = get(path, "");
    EXPECT_EQ(again->body, none->body);
    // Answers that depend on the caller say so to shared caches.
    EXPECT_NE(none->get_header_value("Vary").find("X-Onemap-Key"), std::string::npos);
    EXPECT_EQ(nr->get_header_value("Cache-Control").rfind("private", 0), 0U) << nr->get_header_value("Cache-Control");
    EXPECT_EQ(none->get_header_value("Cache-Control").rfind("public", 0), 0U);

    // PNG: the farmland is drawn for natural resources only, whichever asks first.
    const std::string png = "/tiles/basemap/" + xyz(13, s_farmland.lon, s_farmland.lat) + ".png";
    auto png_none = get(png, "");
    auto png_nr = get(png, s_nr);
    auto png_none_again = get(png, "");
    ASSERT_EQ(png_none->status, 200);
    ASSERT_EQ(png_nr->status, 200);
    EXPECT_TRUE(png_none->body != png_nr->body) << "the farmland outlines and grid lines are drawn for nr only";
    EXPECT_TRUE(png_none->body == png_none_again->body);

    // WMTS GetTile of the basemap (KVP, key as a parameter as QGIS sends it).
    const std::string kvp = kvp_tile("basemap", s_farmland, "application/vnd.mapbox-vector-tile");
    EXPECT_FALSE(has(layer_names(get(kvp, "")->body), "basic_farmland"));
    EXPECT_TRUE(has(layer_names(get(kvp, s_nr, true)->body), "basic_farmland"));
}

TEST_F(access_http, feature_info_on_the_basemap_reports_only_visible_layers)
{
    // Pixel of the farmland point inside its z14 tile.
    const double n = std::ldexp(1.0, 14);
    const double fx = (s_farmland.lon + 180.0) / 360.0 * n;
    const double r = s_farmland.lat * M_PI / 180.0;
    const double fy = (1.0 - std::log(std::tan(r) + 1.0 / std::cos(r)) / M_PI) / 2.0 * n;
    const int i = static_cast<int>((fx - std::floor(fx)) * 256);
    const int j = static_cast<int>((fy - std::floor(fy)) * 256);
    const std::string path = "/wmts/1.0.0/basemap/default/WebMercatorQuad/14/" +
                             std::to_string(static_cast<long long>(fy)) + "/" +
                             std::to_string(static_cast<long long>(fx)) + "/" + std::to_string(j) + "/" +
                             std::to_string(i) + ".json";
    auto nr = get(path, s_nr);
    ASSERT_EQ(nr->status, 200) << nr->body;
    EXPECT_NE(nr->body.find("basic_farmland"), std::string::npos) << nr->body.substr(0, 500);
    auto none = get(path, "");
    ASSERT_EQ(none->status, 200) << none->body;
    EXPECT_EQ(none->body.find("basic_farmland"), std::string::npos) << none->body.substr(0, 500);
    EXPECT_EQ(none->body.find("\"grid\""), std::string::npos) << none->body.substr(0, 500);
}

TEST_F(access_http, documents_list_only_what_the_caller_may_see_and_carry_a_query_key)
{
    // TileJSON of the basemap.
    auto ids = [](const std::string& body) {
        std::vector<std::string> out;
        const json doc = json::parse(body);
        for (const auto& l : doc["vector_layers"]) {
            out.push_back(l["id"].get<std::string>());
        }
        return out;
    };
    const auto none_ids = ids(get("/tiles/basemap.json", "")->body);
    EXPECT_FALSE(has(none_ids, "basic_farmland"));
    EXPECT_FALSE(has(none_ids, "reservoir"));
    EXPECT_FALSE(has(none_ids, "grid"));
    EXPECT_TRUE(has(none_ids, "dltb"));
    const auto water_ids = ids(get("/tiles/basemap.json", s_water)->body);
    EXPECT_TRUE(has(water_ids, "reservoir"));
    EXPECT_TRUE(has(water_ids, "grid"));
    EXPECT_FALSE(has(water_ids, "basic_farmland"));
    // A key given as ?key= is written into the tile URLs (MapLibre asks for them as given).
    const auto tj = json::parse(get("/tiles/basemap.json", s_nr, true)->body);
    EXPECT_NE(tj["tiles"][0].get<std::string>().find("key=" + s_nr), std::string::npos) << tj["tiles"];
    EXPECT_EQ(json::parse(get("/tiles/basemap.json", s_nr)->body)["tiles"][0].get<std::string>().find("key="),
              std::string::npos);

    // The tileset list.
    auto names = [](const std::string& body) {
        std::vector<std::string> out;
        const json doc = json::parse(body);
        for (const auto& t : doc["tilesets"]) {
            out.push_back(t["name"].get<std::string>());
            if (t["name"] == "basemap") {
                for (const auto& m : t["layers"]) {
                    out.push_back("basemap:" + m.get<std::string>());
                }
            }
        }
        return out;
    };
    const auto listed = names(get("/tiles", "")->body);
    EXPECT_FALSE(has(listed, "basic_farmland"));
    EXPECT_FALSE(has(listed, "basemap:basic_farmland"));
    EXPECT_TRUE(has(listed, "dltb"));
    EXPECT_TRUE(has(names(get("/tiles", s_nr)->body), "basemap:basic_farmland"));

    // The style: layers drawing a hidden source-layer are dropped.
    auto style_layers = [](const std::string& body) {
        std::vector<std::string> out;
        const json doc = json::parse(body);
        for (const auto& l : doc["layers"]) {
            if (l.contains("source-layer")) {
                out.push_back(l["source-layer"].get<std::string>());
            }
        }
        return out;
    };
    EXPECT_FALSE(has(style_layers(get("/styles/basemap.json", "")->body), "basic_farmland"));
    EXPECT_TRUE(has(style_layers(get("/styles/basemap.json", s_nr)->body), "basic_farmland"));
    const auto style = json::parse(get("/styles/basemap.json", s_nr, true)->body);
    EXPECT_NE(style["sources"]["onemap"]["url"].get<std::string>().find("key=" + s_nr), std::string::npos);

    // WMTS capabilities: absent layers, and the key in every URL when it came as ?key=.
    const auto caps_none = get("/wmts?SERVICE=WMTS&REQUEST=GetCapabilities", "")->body;
    EXPECT_EQ(caps_none.find("<ows:Identifier>basic_farmland</ows:Identifier>"), std::string::npos);
    EXPECT_EQ(caps_none.find("<ows:Identifier>grid</ows:Identifier>"), std::string::npos);
    EXPECT_NE(caps_none.find("<ows:Identifier>dltb</ows:Identifier>"), std::string::npos);
    const auto caps_nr = get("/wmts?SERVICE=WMTS&REQUEST=GetCapabilities", s_nr, true)->body;
    EXPECT_NE(caps_nr.find("<ows:Identifier>basic_farmland</ows:Identifier>"), std::string::npos);
    EXPECT_NE(caps_nr.find(".png?key=" + s_nr), std::string::npos);
    EXPECT_NE(caps_nr.find("/wmts?key=" + s_nr + "&amp;"), std::string::npos);
    EXPECT_EQ(caps_nr.find("<ows:Identifier>reservoir</ows:Identifier>"), std::string::npos);

    // OGC API collections.
    const auto collections = get("/ogc/collections", "")->body;
    EXPECT_EQ(collections.find("\"basic_farmland\""), std::string::npos);
    EXPECT_NE(get("/ogc/collections", s_nr)->body.find("\"basic_farmland\""), std::string::npos);
}

TEST_F(access_http, locate_leaves_out_levels_the_caller_may_not_see_and_grids_need_a_key)
{
    const std::string q = "/locate?lon=" + std::to_string(s_farmland.lon) + "&lat=" + std::to_string(s_farmland.lat);
    auto none = get(q, "");
    ASSERT_EQ(none->status, 200) << none->body;
    const auto levels_none = json::parse(none->body)["levels"];
    EXPECT_EQ(levels_none, json({"county", "town", "village"}));
    auto keyed = get(q, s_water);
    ASSERT_EQ(keyed->status, 200) << keyed->body;
    EXPECT_EQ(json::parse(keyed->body)["levels"], json({"county", "town", "village", "grid"}));

    EXPECT_EQ(get("/grids/" + s_grid_code, "")->status, 401);
    EXPECT_EQ(get("/grids/" + s_grid_code, s_water)->status, 200);
    EXPECT_EQ(get("/grids/" + s_grid_code + "/neighbors", "")->status, 401);
}

TEST_F(access_http, unknown_malformed_and_revoked_keys_are_401_never_the_public_view)
{
    const std::string unknown = "om_" + std::string(43, 'A');
    for (const std::string& bad : {unknown, std::string("om_short"), std::string("not a key")}) {
        auto res = get("/tiles/dltb.json", bad);
        EXPECT_EQ(res->status, 401) << bad << ": " << res->body;
        EXPECT_EQ(get("/tiles/dltb.json", bad, true)->status, 401) << bad;
    }
    EXPECT_EQ(get("/tiles/dltb.json?key=", "")->status, 401);

    // A key in use, revoked: the server forgets it on the revocation's notification.
    const std::string key = new_key("water");
    ASSERT_EQ(get("/tiles/reservoir.json", key)->status, 200);
    std::string out;
    keys_command("list", &out);
    std::smatch m;
    const std::regex id_re("\\{\"created_at\":[^\\n]*\"department\":\"water\",\"id\":([0-9]+),\"key\":\"" +
                           key.substr(0, 11));
    ASSERT_TRUE(std::regex_search(out, m, id_re)) << out;
    keys_command("revoke " + m[1].str(), &out);
    int status = 0;
    for (int i = 0; i < 50 && status != 401; ++i) {
        status = get("/tiles/reservoir.json", key)->status;
        if (status != 401) {
            std::this_thread::sleep_for(100ms);
        }
    }
    EXPECT_EQ(status, 401) << "a revoked key must stop working within seconds (NOTIFY onemap_keys)";
    EXPECT_EQ(get("/tiles/reservoir.json", s_water)->status, 200) << "other keys of the department still work";
}

TEST_F(access_http, the_server_refuses_rights_naming_an_unknown_department_with_the_line)
{
    const std::string path = ::testing::TempDir() + "onemap-bad-access.yaml";
    std::ofstream(path) << "tilesets: []\ndepartments:\n  - id: water\naccess:\n  layers:\n    grid: {departments: "
                           "[watre]}\n";
    std::string out;
    const int rc = test::run_command(test::server_exe() + " --db '" + test::db().conninfo() + "' --port 0 --config " +
                                         path + " 2>&1",
                                     &out);
    EXPECT_NE(rc, 0);
    EXPECT_NE(out.find(path + ":6: access.layers.grid.departments: unknown department 'watre'"), std::string::npos)
        << out;
}

} // namespace

namespace {

// /metrics through python3-prometheus-client's parser: every sample by name and labels.
json scrape(test::server_process& server)
{
    auto res = server.client().Get("/metrics");
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0), 0U);
    const std::string file = ::testing::TempDir() + "onemap-metrics.txt";
    std::ofstream(file) << res->body;
    std::string out;
    EXPECT_EQ(test::run_command("/usr/bin/python3 " + test::source_dir() + "/tests/http/prom_parse.py < " + file, &out), 0)
        << out;
    return json::parse(out);
}

double sample(const json& samples, const std::string& key)
{
    return samples.contains(key) ? samples[key].get<double>() : 0.0;
}

TEST_F(access_http, metrics_parse_and_move_as_requests_are_made)
{
    const json before = scrape(*s_server);
    const std::string route = "/tiles/{tileset}/{z}/{x}/{y}.mvt";
    const std::string ok = "onemap_http_requests_total{route=" + route + ",status=200}";
    const std::string path = "/tiles/dltb/" + xyz(16, s_farmland.lon, s_farmland.lat) + ".mvt";
    for (int i = 0; i < 5; ++i) {
        ASSERT_EQ(get(path, "")->status, 200);
    }
    EXPECT_EQ(get("/tiles/basic_farmland.json", s_water)->status, 403);
    EXPECT_EQ(get("/no/such/thing", "")->status, 404);
    const json after = scrape(*s_server);
    EXPECT_EQ(sample(after, ok) - sample(before, ok), 5) << after.dump(1).substr(0, 2000);
    EXPECT_EQ(sample(after, "onemap_http_request_duration_seconds_count{route=" + route + "}") -
                  sample(before, "onemap_http_request_duration_seconds_count{route=" + route + "}"),
              5);
    EXPECT_GE(sample(after, "onemap_tile_build_seconds_count{format=mvt,tileset=dltb,zoom=16}"), 1);
    EXPECT_GE(sample(after, "onemap_tile_cache_total{event=hit}") - sample(before, "onemap_tile_cache_total{event=hit}"),
              4);
    EXPECT_EQ(sample(after, "onemap_rights_denials_total{layer=basic_farmland,status=403}") -
                  sample(before, "onemap_rights_denials_total{layer=basic_farmland,status=403}"),
              1);
    EXPECT_EQ(sample(after, "onemap_http_requests_total{route=none,status=404}") -
                  sample(before, "onemap_http_requests_total{route=none,status=404}"),
              1);
    EXPECT_GT(sample(after, "onemap_db_pool_connections{state=size}"), 0);
    EXPECT_TRUE(after.contains("onemap_db_pool_connections{state=in_use}"));
    EXPECT_TRUE(after.contains("onemap_db_pool_connections{state=waiting}"));
    EXPECT_GT(sample(after, "onemap_tile_cache_bytes{}"), 0);
    EXPECT_EQ(sample(after, "onemap_ready{}"), 1);
    EXPECT_TRUE(after.contains("onemap_publishes_seen_total{}"));

    auto ready = get("/ready", "");
    EXPECT_EQ(ready->status, 200) << ready->body;
    EXPECT_EQ(json::parse(ready->body)["ready"], true);
}

TEST_F(access_http, the_access_log_has_a_json_line_per_request_with_the_department_and_never_a_key)
{
    const std::string marker = "access-log-probe-0123";
    auto res = s_server->client().Get("/tiles/basic_farmland.json?key=" + s_nr,
                                      httplib::Headers{{"X-Request-Id", marker}});
    ASSERT_EQ(res->status, 200);
    EXPECT_EQ(res->get_header_value("X-Request-Id"), marker);
    EXPECT_EQ(get("/tiles/basic_farmland.json", "")->status, 401);
    // Written by the log's own thread: wait for the line.
    json line;
    std::string text;
    for (int i = 0; i < 50 && line.is_null(); ++i) {
        std::ifstream in(s_access_log);
        text.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::istringstream lines(text);
        for (std::string l; std::getline(lines, l);) {
            if (l.find(marker) != std::string::npos) {
                line = json::parse(l);
            }
        }
        if (line.is_null()) {
            std::this_thread::sleep_for(100ms);
        }
    }
    ASSERT_FALSE(line.is_null()) << text.substr(0, 2000);
    EXPECT_EQ(line["department"], "natural_resources");
    EXPECT_EQ(line["route"], "/tiles/{tileset}.json");
    EXPECT_EQ(line["layer"], "basic_farmland");
    EXPECT_TRUE(line["zoom"].is_null());
    EXPECT_EQ(line["status"], 200);
    EXPECT_GT(line["bytes"].get<long long>(), 0);
    EXPECT_GE(line["ms"].get<double>(), 0);
    EXPECT_TRUE(line.contains("time"));
    EXPECT_EQ(text.find(s_nr), std::string::npos) << "a key must never reach the access log";
    EXPECT_EQ(text.find(s_water), std::string::npos);
    EXPECT_NE(text.find("\"status\":401"), std::string::npos);
}

} // namespace

namespace {

TEST_F(access_http, each_key_and_each_address_has_its_own_rate_with_429_and_retry_after)
{
    const std::string config = ::testing::TempDir() + "onemap-rates.yaml";
    std::ofstream(config) << "tilesets: []\n"
                          << RIGHTS
                          << "rate_limits:\n  per_key: {per_second: 0.2, burst: 3}\n"
                             "  per_address: {per_second: 0.2, burst: 5}\n";
    test::server_process limited(test::db().conninfo(), {"--config", config});
    auto c = limited.client();
    const httplib::Headers nr{{"X-Onemap-Key", s_nr}};
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(c.Get("/tiles/dltb.json", nr)->status, 200) << i;
    }
    auto refused = c.Get("/tiles/dltb.json", nr);
    EXPECT_EQ(refused->status, 429) << refused->body;
    const int retry = std::atoi(refused->get_header_value("Retry-After").c_str());
    EXPECT_GE(retry, 1);
    EXPECT_LE(retry, 5);
    EXPECT_NE(refused->body.find("rate"), std::string::npos) << refused->body;
    // The same key as ?key= is the same bucket.
    EXPECT_EQ(c.Get("/tiles/dltb.json?key=" + s_nr)->status, 429);
    // Another key, and callers without a key (by address), count apart.
    EXPECT_EQ(c.Get("/tiles/dltb.json", httplib::Headers{{"X-Onemap-Key", s_water}})->status, 200);
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(c.Get("/tiles/dltb.json")->status, 200) << i;
    }
    EXPECT_EQ(c.Get("/tiles/dltb.json")->status, 429);
    // Operations' routes are never limited.
    EXPECT_EQ(c.Get("/health")->status, 200);
    EXPECT_EQ(c.Get("/ready")->status, 200);
    // WMTS clients get an exception report with the same status.
    auto wmts = c.Get("/wmts?SERVICE=WMTS&REQUEST=GetCapabilities");
    EXPECT_EQ(wmts->status, 429);
    EXPECT_NE(wmts->body.find("ExceptionReport"), std::string::npos);
    EXPECT_FALSE(wmts->get_header_value("Retry-After").empty());
}

} // namespace

namespace {

TEST_F(access_http, a_reload_that_removes_a_right_takes_effect_on_the_next_request)
{
    std::ifstream shipped(test::source_dir() + "/tileserver/onemap.yaml");
    const std::string tilesets((std::istreambuf_iterator<char>(shipped)), std::istreambuf_iterator<char>());
    const std::string config = ::testing::TempDir() + "onemap-reload.yaml";
    std::ofstream(config) << tilesets << RIGHTS;
    test::server_process server(test::db().conninfo(),
                                {"--config", config, "--styles", test::source_dir() + "/styles"});
    auto c = server.client();
    const httplib::Headers nr{{"X-Onemap-Key", s_nr}};
    const std::string tile = "/tiles/basemap/" + xyz(14, s_farmland.lon, s_farmland.lat) + ".mvt";
    ASSERT_EQ(c.Get("/tiles/basic_farmland.json", nr)->status, 200);
    ASSERT_TRUE(has(layer_names(c.Get(tile, nr)->body), "basic_farmland"));
    EXPECT_EQ(c.Get("/tiles/water_only.json")->status, 404);

    // A keep-alive connection opened before the reload is answered after it.
    test::raw_connection kept(server.port());
    ASSERT_TRUE(kept.send(test::get_request("/tiles/basic_farmland.json", "X-Onemap-Key: " + s_nr + "\r\n")));
    ASSERT_EQ(kept.read_answer().status, 200);

    // The farmland goes to water only, and a tileset is added: SIGHUP.
    std::string rights = RIGHTS;
    rights.replace(rights.find("{departments: [natural_resources]}"), 34, "{departments: [water]}");
    {
        std::string with_tileset = tilesets;
        with_tileset.insert(with_tileset.find("tilesets:\n") + 10,
                            "  - name: water_only\n    layers:\n      - layer: river\n      - layer: reservoir\n");
        std::ofstream(config) << with_tileset << rights;
    }
    ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
    int status = 200;
    for (int i = 0; i < 50 && status == 200; ++i) {
        status = c.Get("/tiles/basic_farmland.json", nr)->status;
        if (status == 200) {
            std::this_thread::sleep_for(100ms);
        }
    }
    EXPECT_EQ(status, 403) << server.log();
    ASSERT_TRUE(kept.send(test::get_request("/tiles/basic_farmland.json", "X-Onemap-Key: " + s_nr + "\r\n")));
    EXPECT_EQ(kept.read_answer().status, 403) << "the connection outlives the reload and follows the new rights";
    EXPECT_FALSE(has(layer_names(c.Get(tile, nr)->body), "basic_farmland")) << "cached tiles follow the new rights";
    EXPECT_TRUE(has(layer_names(c.Get(tile, httplib::Headers{{"X-Onemap-Key", s_water}})->body), "basic_farmland"));
    EXPECT_EQ(c.Get("/tiles/water_only.json")->status, 200) << "a tileset added by the reload is served";

    // A broken file is refused by the loopback call, naming the line; the running rules stay.
    std::ofstream(config) << tilesets << "access:\n  layers:\n    grid: secret\n";
    auto refused = c.Post("/admin/reload");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 422) << refused->body;
    EXPECT_NE(refused->body.find("access.layers.grid"), std::string::npos) << refused->body;
    EXPECT_EQ(c.Get("/tiles/basic_farmland.json", nr)->status, 403) << "the running configuration is kept";
    EXPECT_EQ(c.Get("/tiles/water_only.json")->status, 200);
    // And the loopback call applies a good file at once.
    std::ofstream(config) << tilesets << RIGHTS;
    auto applied = c.Post("/admin/reload");
    EXPECT_EQ(applied->status, 200) << applied->body;
    EXPECT_EQ(c.Get("/tiles/basic_farmland.json", nr)->status, 200);
    EXPECT_EQ(c.Get("/tiles/water_only.json")->status, 404);
}

} // namespace

namespace {

TEST_F(access_http, one_configuration_file_with_the_command_line_and_environment_above_it)
{
    const std::string log_file = ::testing::TempDir() + "onemap-config-access.log";
    std::remove(log_file.c_str());
    const std::string config = ::testing::TempDir() + "onemap-server-section.yaml";
    std::ofstream(config) << "server:\n  db_connections: 3\n  cache_mb: 16\n  access_log: " << log_file
                          << "\n  port: 1\n  query_timeout_ms: 2500\n  slow_request_ms: 1\n  styles: "
                          << test::source_dir() << "/styles\ntilesets: []\n";
    // --port on the command line wins over port: 1 (the server comes up on the test's port).
    test::server_process server(test::db().conninfo(), {"--config", config});
    auto c = server.client();
    ASSERT_EQ(c.Get("/tiles/dltb.json")->status, 200);
    const json metrics = scrape(server);
    EXPECT_EQ(sample(metrics, "onemap_db_pool_connections{state=size}"), 3) << "db_connections from the file";
    std::string text;
    for (int i = 0; i < 50 && text.find("/tiles/{tileset}.json") == std::string::npos; ++i) {
        std::this_thread::sleep_for(100ms);
        std::ifstream in(log_file);
        text.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
    EXPECT_NE(text.find("/tiles/{tileset}.json"), std::string::npos) << "access_log from the file";
    // slow_request_ms: 1 — drawing a PNG metatile takes longer: a warning with layer and zoom.
    ASSERT_EQ(c.Get("/tiles/dltb/" + xyz(15, s_farmland.lon, s_farmland.lat) + ".png")->status, 200);
    std::this_thread::sleep_for(200ms);
    EXPECT_NE(server.log().find("slow request"), std::string::npos) << server.log();
    EXPECT_NE(server.log().find("layer 'dltb' zoom '15'"), std::string::npos) << server.log();

    // The database: --db, then ONEMAP_DATABASE_URL, then server.database.
    const std::string bad_db = ::testing::TempDir() + "onemap-bad-db.yaml";
    std::ofstream(bad_db) << "server:\n  database: dbname=onemap_no_such_database\n";
    const std::string keys = " --config " + bad_db + " keys list > /dev/null 2>&1";
    EXPECT_NE(test::run_command(test::server_exe() + keys), 0) << "the file's database is used";
    EXPECT_EQ(test::run_command("ONEMAP_DATABASE_URL='" + test::db().conninfo() + "' " + test::server_exe() + keys), 0)
        << "the environment wins over the file";
    EXPECT_EQ(test::run_command("ONEMAP_DATABASE_URL=dbname=onemap_no_such_database " + test::server_exe() + " --db '" +
                                test::db().conninfo() + "'" + keys),
              0)
        << "the command line wins over the environment";

    // Errors name the file, the line and the key.
    auto refusal = [](const std::string& text_of_file) {
        const std::string path = ::testing::TempDir() + "onemap-bad-server.yaml";
        std::ofstream(path) << text_of_file;
        std::string out;
        EXPECT_NE(test::run_command(test::server_exe() + " --config " + path + " --port 0 2>&1", &out), 0);
        return out;
    };
    const std::string path = ::testing::TempDir() + "onemap-bad-server.yaml";
    EXPECT_NE(refusal("tilesets: []\nserver:\n  cache_megabytes: 5\n").find(path + ":3: server.cache_megabytes: unknown setting"),
              std::string::npos);
    EXPECT_NE(refusal("server:\n  db_connections: 3\n  max_connections: -4\n").find(path + ":3: server.max_connections"),
              std::string::npos)
        << refusal("server:\n  db_connections: 3\n  max_connections: -4\n");
    EXPECT_NE(refusal("server:\n  port: [1, 2]\n").find(path + ":2: server.port: must be a single value"),
              std::string::npos);
}

} // namespace

namespace {

TEST_F(access_http, seeding_draws_one_department_view_and_refuses_a_layer_it_may_not_see)
{
    const std::string token = "access-test-admin-token-0123456789";
    ::setenv("ONEMAP_ADMIN_TOKEN", token.c_str(), 1);
    test::server_process server(test::db().conninfo(), {"--config", s_config});
    ::unsetenv("ONEMAP_ADMIN_TOKEN");
    auto c = server.client();
    const httplib::Headers bearer{{"Authorization", "Bearer " + token}};
    auto seed = [&](const std::string& tileset, const std::string& department) {
        httplib::Params p{{"tileset", tileset}, {"bbox", "114.0,32.95,114.05,33.0"}, {"minzoom", "12"},
                          {"maxzoom", "12"}};
        if (!department.empty()) {
            p.emplace("department", department);
        }
        return c.Post("/admin/seed", bearer, p);
    };
    auto public_view = seed("basic_farmland", "");
    EXPECT_EQ(public_view->status, 403) << public_view->body;
    EXPECT_NE(public_view->body.find("basic_farmland"), std::string::npos);
    EXPECT_EQ(seed("basic_farmland", "water")->status, 403);
    auto bad = seed("basic_farmland", "Water Bureau");
    EXPECT_EQ(bad->status, 400) << bad->body;
    EXPECT_NE(bad->body.find("department"), std::string::npos);
    auto ok = seed("basic_farmland", "natural_resources");
    ASSERT_EQ(ok->status, 202) << ok->body;
    EXPECT_EQ(json::parse(ok->body)["department"], "natural_resources");
    // The basemap is seeded for a view: after the job, natural_resources' tiles are hits.
    auto basemap = seed("basemap", "natural_resources");
    ASSERT_EQ(basemap->status, 202) << basemap->body;
    const std::string location = basemap->get_header_value("Location");
    std::string state;
    for (int i = 0; i < 100 && state != "done"; ++i) {
        state = json::parse(c.Get(location, bearer)->body)["state"].get<std::string>();
        if (state != "done") {
            std::this_thread::sleep_for(100ms);
        }
    }
    ASSERT_EQ(state, "done");
    const json before = scrape(server);
    const test::tile_xy t = tile_of(12, 114.02, 32.97);
    auto tile = c.Get("/tiles/basemap/12/" + std::to_string(t.x) + "/" + std::to_string(t.y) + ".mvt",
                      httplib::Headers{{"X-Onemap-Key", s_nr}});
    EXPECT_EQ(tile->status, 200);
    const json after = scrape(server);
    EXPECT_EQ(sample(after, "onemap_tile_cache_total{event=miss}") - sample(before, "onemap_tile_cache_total{event=miss}"),
              0)
        << "the seeded view is the key's view";
}

} // namespace
