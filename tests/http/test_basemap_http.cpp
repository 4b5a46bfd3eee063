// The unified basemap: the whole sample imported with its manifest, served as one tileset
// composed by tileserver/onemap.yaml, beside each layer on its own.
#include "mvt_decode.hpp"
#include "onemap/core/tile_matrix_set.hpp"
#include "server_process.hpp"
#include "tempdb.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <set>

using namespace onemap;

namespace {

class basemap_http : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        std::string out;
        ASSERT_EQ(test::run_import("--manifest " + test::data_samples() + "/manifest.yaml", &out), 0) << out;
        s_server = new test::server_process(test::db().conninfo(),
                                            {"--config", test::source_dir() + "/tileserver/onemap.yaml"});
    }
    static void TearDownTestSuite()
    {
        delete s_server;
        s_server = nullptr;
    }
    static std::vector<test::decoded_layer> tile(const std::string& path)
    {
        auto res = s_server->client().Get(path);
        EXPECT_TRUE(res);
        EXPECT_EQ(res->status, 200) << path << ": " << res->body;
        return test::decode_tile(res->body);
    }
    static std::vector<std::string> names(const std::vector<test::decoded_layer>& layers)
    {
        std::vector<std::string> n;
        n.reserve(layers.size());
        for (const auto& l : layers) {
            n.push_back(l.name);
        }
        return n;
    }
    static test::server_process* s_server;
};

test::server_process* basemap_http::s_server = nullptr;

std::string xyz(int z, double lon, double lat)
{
    const double r = lat * M_PI / 180.0;
    const auto x = static_cast<long long>((lon + 180.0) / 360.0 * std::ldexp(1.0, z));
    const auto y = static_cast<long long>((1.0 - std::log(std::tan(r) + 1.0 / std::cos(r)) / M_PI) / 2.0 * std::ldexp(1.0, z));
    return std::to_string(z) + "/" + std::to_string(x) + "/" + std::to_string(y);
}

} // namespace

TEST_F(basemap_http, listed_beside_the_layers)
{
    auto res = s_server->client().Get("/tiles");
    const auto doc = nlohmann::json::parse(res->body);
    bool basemap = false;
    bool dltb = false;
    for (const auto& t : doc["tilesets"]) {
        basemap |= t["name"] == "basemap" && t["layers"].size() == 10;
        dltb |= t["name"] == "dltb";
    }
    EXPECT_TRUE(basemap);
    EXPECT_TRUE(dltb);
}

TEST_F(basemap_http, high_zoom_tile_stacks_layers_in_configured_order_with_kept_attributes)
{
    const auto layers = tile("/tiles/basemap/" + xyz(13, 114.03, 32.98) + ".mvt");
    const auto n = names(layers);
    // Configured order, bottom first; layers without features here are absent.
    const std::vector<std::string> order{"dltb", "basic_farmland", "urban_boundary",
                                         "ecological_redline", "reservoir", "river", "admin_county",
                                         "admin_town", "admin_village", "grid"};
    std::size_t last = 0;
    for (const auto& name : n) {
        const auto pos = static_cast<std::size_t>(std::find(order.begin(), order.end(), name) - order.begin());
        ASSERT_LT(pos, order.size()) << name;
        EXPECT_GE(pos, last) << name << " out of order";
        last = pos;
    }
    for (const char* must : {"dltb", "admin_county", "admin_village", "grid"}) {
        EXPECT_NE(std::find(n.begin(), n.end(), must), n.end()) << must;
    }
    for (const auto& l : layers) {
        if (l.name != "dltb") {
            continue;
        }
        for (const auto& f : l.features) {
            for (const auto& [k, v] : f.properties) {
                EXPECT_TRUE(k == "dlbm" || k == "dlmc" || k == "tbmj") << k;
            }
            EXPECT_EQ(f.properties.count("dlbm"), 1U);
        }
    }
}

TEST_F(basemap_http, low_zoom_tile_shows_land_use_dissolved_by_class_and_the_overview_layers)
{
    const auto layers = tile("/tiles/basemap/" + xyz(7, 114.0, 33.0) + ".mvt");
    const auto n = names(layers);
    EXPECT_NE(std::find(n.begin(), n.end(), "admin_county"), n.end());
    EXPECT_EQ(std::find(n.begin(), n.end(), "grid"), n.end());
    EXPECT_EQ(std::find(n.begin(), n.end(), "landuse_zone"), n.end()) << "the basemap shows current land use";
    // DLTB at z7: parcels too small to see merged into areas of their 一级类 (two digits).
    std::set<std::string> classes;
    for (const auto& l : layers) {
        if (l.name == "dltb") {
            for (const auto& f : l.features) {
                ASSERT_EQ(f.properties.count("dlbm"), 1U);
                classes.insert(f.properties.at("dlbm"));
            }
        }
    }
    // Merged areas carry the 一级类; the few parcels of 3 px or more at z7 their own code.
    std::size_t merged_classes = 0;
    for (const auto& c : classes) {
        EXPECT_TRUE(c.size() == 2U || c.size() == 4U) << c;
        merged_classes += c.size() == 2U ? 1 : 0;
    }
    EXPECT_GE(merged_classes, 3U);
}

TEST_F(basemap_http, cgcs2000_grid_serves_the_same_composition)
{
    // CGCS2000Quad level n spans what Web Mercator zoom n spans: level 13 shows parcels.
    const auto& cg = core::cgcs2000_quad();
    const double cell = cg.matrix(13)->cell_size * 256;
    const auto x = static_cast<long long>((114.03 + 180.0) / cell);
    const auto y = static_cast<long long>((90.0 - 32.98) / cell);
    const auto n = names(tile("/tiles/basemap/CGCS2000Quad/13/" + std::to_string(x) + "/" + std::to_string(y) + ".mvt"));
    EXPECT_NE(std::find(n.begin(), n.end(), "dltb"), n.end());
    EXPECT_NE(std::find(n.begin(), n.end(), "admin_village"), n.end());
}

TEST_F(basemap_http, datetime_picks_each_layers_version)
{
    // A parcel whose land class changed between the 2022 and 2023 surveys.
    auto conn = test::db().connect();
    pqxx::work txn(*conn);
    const auto r = txn.exec("SELECT a.fid, a.dlbm, b.dlbm, ST_X(ST_PointOnSurface(a.geom)), ST_Y(ST_PointOnSurface(a.geom)) "
                            "FROM onemap_data.dltb__v1 a JOIN onemap_data.dltb__v2 b USING (fid) "
                            "WHERE a.dlbm <> b.dlbm ORDER BY fid LIMIT 1");
    ASSERT_EQ(r.size(), 1U);
    const auto fid = r[0][0].as<std::uint64_t>();
    const std::string path = "/tiles/basemap/" + xyz(14, r[0][3].as<double>(), r[0][4].as<double>()) + ".mvt";
    auto class_on = [&](const std::string& date) {
        for (const auto& l : tile(path + "?datetime=" + date)) {
            if (l.name == "dltb") {
                for (const auto& f : l.features) {
                    if (f.id == fid) {
                        return f.properties.at("dlbm");
                    }
                }
            }
        }
        return std::string("absent");
    };
    EXPECT_EQ(class_on("2023-06-30"), r[0][1].as<std::string>());
    EXPECT_EQ(class_on("2024-06-30"), r[0][2].as<std::string>());
    // Before the first version of any layer: nothing to draw.
    EXPECT_EQ(s_server->client().Get(path + "?datetime=2022-06-30")->status, 204);
}

TEST_F(basemap_http, tilejson_lists_member_layers_with_their_fields_and_zooms)
{
    auto res = s_server->client().Get("/tiles/basemap.json");
    ASSERT_EQ(res->status, 200);
    const auto doc = nlohmann::json::parse(res->body);
    EXPECT_EQ(doc["tilejson"], "3.0.0");
    ASSERT_EQ(doc["vector_layers"].size(), 10U);
    EXPECT_EQ(doc["vector_layers"][0]["id"], "dltb");
    EXPECT_EQ(doc["vector_layers"][0]["minzoom"], 0); // land use at every zoom (issue 18)
    EXPECT_EQ(doc["vector_layers"][0]["fields"].size(), 3U);
    EXPECT_EQ(doc["vector_layers"][0]["fields"]["tbmj"], "Number");
    EXPECT_EQ(doc["minzoom"], 0);
}
