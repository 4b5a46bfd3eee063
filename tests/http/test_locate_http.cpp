// "Which grid am I in?" over HTTP against the real server: the chain county → town → village →
// grid, versions by date, GCJ-02 input, boundaries, neighbours, and the error paths.
#include "onemap/core/gcj02.hpp"
#include "sample_server_test.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <thread>

using namespace onemap;

namespace {

class locate_http : public test::sample_server_test<locate_http> {
protected:
    static httplib::Result get(const std::string& path) { return server().client().Get(path); }
    static std::string at(double lon, double lat)
    {
        char buf[96];
        std::snprintf(buf, sizeof buf, "lon=%.9f&lat=%.9f", lon, lat);
        return buf;
    }
};

} // namespace

TEST_F(locate_http, answers_the_whole_chain_with_consistent_codes)
{
    // A point surely inside a 2024 grid: its point on surface, from PostGIS.
    const auto code = test::query_value("SELECT wgbm FROM onemap_data.grid__v2 ORDER BY wgbm LIMIT 1 OFFSET 100");
    const auto lon = test::query_value<double>("SELECT ST_X(ST_PointOnSurface(geom)) FROM onemap_data.grid__v2 WHERE wgbm = '" + code + "'");
    const auto lat = test::query_value<double>("SELECT ST_Y(ST_PointOnSurface(geom)) FROM onemap_data.grid__v2 WHERE wgbm = '" + code + "'");
    auto res = get("/locate?" + at(lon, lat));
    ASSERT_EQ(res->status, 200) << res->body;
    const auto doc = nlohmann::json::parse(res->body);
    EXPECT_EQ(doc["grid"]["code"], code);
    const std::string grid = doc["grid"]["code"];
    EXPECT_EQ(doc["village"]["code"], grid.substr(0, 12));
    EXPECT_EQ(doc["town"]["code"], grid.substr(0, 9));
    EXPECT_EQ(doc["county"]["code"], grid.substr(0, 6));
    EXPECT_FALSE(doc["county"]["name"].get<std::string>().empty());
    EXPECT_EQ(doc["levels"], nlohmann::json::parse(R"(["county","town","village","grid"])"));
    EXPECT_EQ(doc["grid"]["valid_from"], "2024-07-01");
    EXPECT_FALSE(doc["grid"].contains("boundary"));
}

TEST_F(locate_http, datetime_picks_the_version_and_a_moved_grid_changes_code)
{
    // A 2023 grid whose code no longer exists in 2024 (moved or split).
    const auto row = test::query_value("SELECT wgbm || ' ' || ST_X(ST_PointOnSurface(geom)) || ' ' || "
                                       "ST_Y(ST_PointOnSurface(geom)) FROM onemap_data.grid__v1 a WHERE NOT EXISTS "
                                       "(SELECT 1 FROM onemap_data.grid__v2 b WHERE b.wgbm = a.wgbm) ORDER BY wgbm LIMIT 1");
    std::istringstream in(row);
    std::string old_code;
    double lon = 0;
    double lat = 0;
    in >> old_code >> lon >> lat;
    auto then = nlohmann::json::parse(get("/locate?" + at(lon, lat) + "&datetime=2023-06-01")->body);
    auto now = nlohmann::json::parse(get("/locate?" + at(lon, lat))->body);
    EXPECT_EQ(then["grid"]["code"], old_code);
    EXPECT_EQ(then["grid"]["valid_from"], "2023-01-01");
    EXPECT_NE(now["grid"]["code"], old_code);
    EXPECT_EQ(get("/locate?" + at(lon, lat) + "&datetime=2020-01-01")->status, 404);
}

TEST_F(locate_http, gcj02_input_is_converted_only_when_asked)
{
    const auto lon = test::query_value<double>("SELECT ST_X(ST_PointOnSurface(geom)) FROM onemap_data.grid__v2 ORDER BY wgbm LIMIT 1 OFFSET 7");
    const auto lat = test::query_value<double>("SELECT ST_Y(ST_PointOnSurface(geom)) FROM onemap_data.grid__v2 ORDER BY wgbm LIMIT 1 OFFSET 7");
    const auto g = core::wgs84_to_gcj02({lon, lat});
    // The GCJ-02 offset around Zhumadian is hundreds of metres.
    const double offset_m = std::hypot((g.lon - lon) * 93000, (g.lat - lat) * 111000);
    EXPECT_GT(offset_m, 100);
    EXPECT_LT(offset_m, 1000);
    const auto wgs = nlohmann::json::parse(get("/locate?" + at(lon, lat))->body);
    const auto gcj = nlohmann::json::parse(get("/locate?" + at(g.lon, g.lat) + "&crs=gcj02")->body);
    EXPECT_EQ(gcj["grid"]["code"], wgs["grid"]["code"]);
    EXPECT_NEAR(gcj["lon"].get<double>(), lon, 1e-7);
    EXPECT_NEAR(gcj["lat"].get<double>(), lat, 1e-7);
}

TEST_F(locate_http, boundary_on_request_and_grid_endpoints)
{
    const auto code = test::query_value("SELECT wgbm FROM onemap_data.grid__v2 ORDER BY wgbm LIMIT 1 OFFSET 33");
    const auto lon = test::query_value<double>("SELECT ST_X(ST_PointOnSurface(geom)) FROM onemap_data.grid__v2 WHERE wgbm = '" + code + "'");
    const auto lat = test::query_value<double>("SELECT ST_Y(ST_PointOnSurface(geom)) FROM onemap_data.grid__v2 WHERE wgbm = '" + code + "'");
    const auto doc = nlohmann::json::parse(get("/locate?" + at(lon, lat) + "&boundary=true")->body);
    EXPECT_EQ(doc["grid"]["boundary"]["type"], "MultiPolygon");
    EXPECT_EQ(doc["county"]["boundary"]["type"], "MultiPolygon");

    auto res = get("/grids/" + code);
    ASSERT_EQ(res->status, 200);
    const auto f = nlohmann::json::parse(res->body);
    EXPECT_EQ(f["type"], "Feature");
    EXPECT_EQ(f["id"], code);
    // Same area as the stored boundary (7 decimals of GeoJSON).
    const double ours = test::query_value<double>("SELECT ST_Area(ST_GeomFromGeoJSON('" + f["geometry"].dump() + "'))");
    const double stored = test::query_value<double>("SELECT ST_Area(geom) FROM onemap_data.grid__v2 WHERE wgbm = '" + code + "'");
    EXPECT_NEAR(ours, stored, stored * 1e-4);
    const auto simplified = nlohmann::json::parse(get("/grids/" + code + "?simplify=200")->body);
    EXPECT_LT(simplified["geometry"].dump().size(), f["geometry"].dump().size());

    const auto n = nlohmann::json::parse(get("/grids/" + code + "/neighbors")->body);
    std::vector<std::string> ours_n;
    for (const auto& x : n["neighbors"]) {
        ours_n.push_back(x["code"]);
    }
    std::vector<std::string> theirs;
    auto conn = test::db().connect();
    pqxx::work txn(*conn);
    for (const auto& r : txn.exec_params("SELECT b.wgbm FROM onemap_data.grid__v2 a, onemap_data.grid__v2 b WHERE a.wgbm = $1 "
                                         "AND b.wgbm <> a.wgbm AND ST_Intersects(a.geom, b.geom) ORDER BY b.wgbm",
                                         code)) {
        theirs.push_back(r[0].as<std::string>());
    }
    EXPECT_EQ(ours_n, theirs);
    EXPECT_FALSE(theirs.empty());
}

TEST_F(locate_http, errors_name_the_parameter_or_say_what_is_missing)
{
    struct probe {
        std::string path;
        int status;
        std::string parameter;
    };
    for (const auto& p : {probe{"/locate?lat=33", 400, "lon"}, probe{"/locate?lon=abc&lat=33", 400, "lon"},
                          probe{"/locate?lon=114&lat=95", 400, "lat"}, probe{"/locate?lon=114&lat=33&crs=bd09", 400, "crs"},
                          probe{"/locate?lon=114&lat=33&datetime=yesterday", 400, "datetime"},
                          probe{"/grids/000/neighbors", 404, ""}, probe{"/grids/000", 404, ""},
                          probe{"/locate?lon=120.5&lat=30.2", 404, ""}}) {
        auto res = get(p.path);
        ASSERT_TRUE(res) << p.path;
        EXPECT_EQ(res->status, p.status) << p.path << " " << res->body;
        EXPECT_EQ(res->get_header_value("Content-Type"), "application/problem+json") << p.path;
        const auto doc = nlohmann::json::parse(res->body);
        if (!p.parameter.empty()) {
            EXPECT_EQ(doc["parameter"], p.parameter) << p.path;
        } else {
            EXPECT_FALSE(doc["detail"].get<std::string>().empty());
        }
    }
}

// Issue 14: /locate?boundary=<anything> was read as false; only true and false are values.
TEST_F(locate_http, boundary_other_than_true_or_false_is_a_400_naming_boundary)
{
    for (const std::string value : {"yes", "1", "TRUE", "", "true%00"}) {
        auto res = get("/locate?lon=114.05&lat=32.95&boundary=" + value);
        ASSERT_TRUE(res);
        EXPECT_EQ(res->status, 400) << value << " " << res->body;
        EXPECT_EQ(nlohmann::json::parse(res->body)["parameter"], "boundary") << value;
    }
    // An impossible time of day is not a date (it used to be cut to its date).
    auto res = get("/locate?lon=114.05&lat=32.95&datetime=2024-01-01T25:00:00Z");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << res->body;
    EXPECT_EQ(nlohmann::json::parse(res->body)["parameter"], "datetime");
}

TEST_F(locate_http, a_published_version_is_located_and_the_others_are_not_indexed_again)
{
    auto indexed_lines = [] {
        std::size_t n = 0;
        const std::string log = server().log();
        for (std::size_t at = log.find("boundaries indexed"); at != std::string::npos;
             at = log.find("boundaries indexed", at + 1)) {
            ++n;
        }
        return n;
    };
    const auto lon = test::query_value<double>("SELECT ST_X(ST_PointOnSurface(geom)) FROM onemap_data.grid__v2 ORDER BY wgbm LIMIT 1");
    const auto lat = test::query_value<double>("SELECT ST_Y(ST_PointOnSurface(geom)) FROM onemap_data.grid__v2 ORDER BY wgbm LIMIT 1");
    const std::string far_future = "/locate?" + at(lon, lat) + "&datetime=2099-06-01";
    ASSERT_EQ(nlohmann::json::parse(get(far_future)->body)["grid"]["valid_from"], "2024-07-01");
    const std::size_t before = indexed_lines();

    // A new grid version, valid from 2099 (today's answers stay as they are for the other tests).
    std::string out;
    ASSERT_EQ(test::run_import("--layer grid --title 网格 --department 网格化管理中心 --theme grid --id-field WGBM "
                               "--valid-from 2099-01-01 " + test::data_samples() + "/grid/2024-07-01/grid.shp",
                               &out),
              0)
        << out;
    std::string valid_from;
    for (int i = 0; i < 100 && valid_from != "2099-01-01"; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        valid_from = nlohmann::json::parse(get(far_future)->body)["grid"]["valid_from"];
    }
    EXPECT_EQ(valid_from, "2099-01-01") << "the published version was not picked up";
    // Only the new version was read and indexed; the 8 versions the server held were kept.
    EXPECT_EQ(indexed_lines(), before + 1) << server().log();
    EXPECT_EQ(nlohmann::json::parse(get("/locate?" + at(lon, lat) + "&datetime=2024-08-01")->body)["grid"]["valid_from"],
              "2024-07-01");
}
