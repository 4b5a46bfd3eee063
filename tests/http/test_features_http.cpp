// OGC API - Features under /ogc against the real server, checked by hand and with GDAL's OAPIF
// driver, against direct PostGIS queries on the same tables.
#include "server_process.hpp"
#include "tempdb.hpp"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <set>
#include <thread>
#include <vector>

using namespace onemap;
using nlohmann::json;

namespace {

class features_http : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        std::string out;
        ASSERT_EQ(test::run_import("--manifest " + test::data_samples() + "/manifest.yaml", &out), 0) << out;
        s_server = new test::server_process(test::db().conninfo());
    }
    static void TearDownTestSuite()
    {
        delete s_server;
        s_server = nullptr;
    }
    static json get_json(const std::string& path, int status = 200)
    {
        auto res = s_server->client().Get(path);
        EXPECT_TRUE(res) << path;
        EXPECT_EQ(res->status, status) << path << ": " << res->body;
        return json::parse(res->body);
    }
    static std::set<long long> ids(const json& fc)
    {
        std::set<long long> out;
        for (const auto& f : fc["features"]) {
            out.insert(f["id"].get<long long>());
        }
        return out;
    }
    static test::server_process* s_server;
};

test::server_process* features_http::s_server = nullptr;

} // namespace

TEST_F(features_http, landing_conformance_and_collections)
{
    const auto landing = get_json("/ogc");
    std::set<std::string> rels;
    for (const auto& l : landing["links"]) {
        rels.insert(l["rel"]);
    }
    EXPECT_EQ(rels.count("data"), 1U);
    EXPECT_EQ(rels.count("conformance"), 1U);
    EXPECT_EQ(rels.count("service-desc"), 1U);
    const auto conf = get_json("/ogc/conformance")["conformsTo"].dump();
    EXPECT_NE(conf.find("ogcapi-features-1/1.0/conf/core"), std::string::npos);
    EXPECT_NE(conf.find("ogcapi-features-1/1.0/conf/geojson"), std::string::npos);
    const auto cols = get_json("/ogc/collections");
    bool dltb = false;
    for (const auto& c : cols["collections"]) {
        if (c["id"] == "dltb") {
            dltb = true;
            EXPECT_EQ(c["extent"]["spatial"]["bbox"][0].size(), 4U);
            EXPECT_EQ(c["extent"]["temporal"]["interval"][0][0], "2022-12-31T00:00:00Z");
        }
    }
    EXPECT_TRUE(dltb);
    EXPECT_EQ(get_json("/ogc/collections/grid")["id"], "grid");
    get_json("/ogc/collections/nothing", 404);
}

TEST_F(features_http, paging_follows_next_links_without_overlap)
{
    const auto first = get_json("/ogc/collections/dltb/items?limit=10");
    EXPECT_EQ(first["type"], "FeatureCollection");
    EXPECT_EQ(first["numberReturned"], 10);
    std::string next;
    for (const auto& l : first["links"]) {
        if (l["rel"] == "next") {
            next = l["href"];
        }
    }
    ASSERT_FALSE(next.empty());
    const auto second = get_json(next.substr(next.find("/ogc")));
    const auto a = ids(first);
    const auto b = ids(second);
    EXPECT_EQ(b.size(), 10U);
    for (auto id : b) {
        EXPECT_EQ(a.count(id), 0U);
        EXPECT_GT(id, *a.rbegin());
    }
}

TEST_F(features_http, filters_match_postgis)
{
    const auto by_class = get_json("/ogc/collections/dltb/items?DLBM=0103&limit=10000");
    for (const auto& f : by_class["features"]) {
        EXPECT_EQ(f["properties"]["dlbm"], "0103");
    }
    EXPECT_EQ(by_class["numberReturned"].get<long long>(),
              test::query_value<long long>("SELECT count(*) FROM onemap_data.dltb__v2 WHERE dlbm = '0103'"));

    const auto boxed = get_json("/ogc/collections/dltb/items?bbox=114.0,32.9,114.2,33.0&limit=10000");
    std::set<long long> expected;
    auto conn = test::db().connect();
    pqxx::work txn(*conn);
    for (const auto& r : txn.exec("SELECT fid FROM onemap_data.dltb__v2 WHERE ST_Intersects(geom, "
                                  "ST_MakeEnvelope(114.0, 32.9, 114.2, 33.0, 4490))")) {
        expected.insert(r[0].as<long long>());
    }
    EXPECT_EQ(ids(boxed), expected);
    EXPECT_FALSE(expected.empty());

    // The 2022 survey on a 2023 date: a parcel whose class changed shows its old class.
    const auto changed = txn.exec("SELECT a.fid, a.dlbm FROM onemap_data.dltb__v1 a JOIN onemap_data.dltb__v2 b USING (fid) "
                                  "WHERE a.dlbm <> b.dlbm ORDER BY fid LIMIT 1");
    ASSERT_EQ(changed.size(), 1U);
    const auto item = get_json("/ogc/collections/dltb/items/" + std::string(changed[0][0].c_str()) + "?datetime=2023-06-30");
    EXPECT_EQ(item["type"], "Feature");
    EXPECT_EQ(item["properties"]["dlbm"], changed[0][1].as<std::string>());
    EXPECT_FALSE(item["geometry"].contains("crs"));
}

TEST_F(features_http, output_crs_and_axis_order)
{
    auto res = s_server->client().Get("/ogc/collections/admin_county/items?limit=1&crs=http://www.opengis.net/def/crs/EPSG/0/4490");
    ASSERT_EQ(res->status, 200);
    EXPECT_EQ(res->get_header_value("Content-Crs"), "<http://www.opengis.net/def/crs/EPSG/0/4490>");
    const auto p = json::parse(res->body)["features"][0]["geometry"]["coordinates"][0][0][0];
    EXPECT_GT(p[0].get<double>(), 32.0); // latitude first, as EPSG:4490 defines
    EXPECT_LT(p[0].get<double>(), 34.0);
    EXPECT_GT(p[1].get<double>(), 113.0);
    const auto m = json::parse(s_server->client().Get("/ogc/collections/admin_county/items?limit=1&crs=http://www.opengis.net/def/crs/EPSG/0/3857")->body);
    EXPECT_GT(m["features"][0]["geometry"]["coordinates"][0][0][0][0].get<double>(), 12000000.0);
    const auto d = json::parse(s_server->client().Get("/ogc/collections/admin_county/items?limit=1")->body);
    EXPECT_GT(d["features"][0]["geometry"]["coordinates"][0][0][0][0].get<double>(), 113.0); // CRS84: lon first
}

TEST_F(features_http, bad_requests_are_problems_naming_the_parameter)
{
    struct probe {
        std::string path;
        int status;
        std::string parameter;
    };
    for (const auto& p : {probe{"/ogc/collections/dltb/items?limit=0", 400, "limit"},
                          probe{"/ogc/collections/dltb/items?limit=x", 400, "limit"},
                          probe{"/ogc/collections/dltb/items?bbox=1,2,3", 400, "bbox"},
                          probe{"/ogc/collections/dltb/items?bbox=100,20,120,40", 400, "bbox"},
                          probe{"/ogc/collections/dltb/items?bbox=114,32,115,33x", 400, "bbox"},
                          probe{"/ogc/collections/dltb/items?bbox=114,32,nan,33", 400, "bbox"},
                          probe{"/ogc/collections/dltb/items?bbox=115,32,114,33", 400, "bbox"},
                          // 13.5 by 11 degrees, given in Web Mercator metres: too large as well.
                          probe{"/ogc/collections/dltb/items?bbox=12000000,3000000,13500000,4500000&bbox-crs="
                                "http://www.opengis.net/def/crs/EPSG/0/3857",
                                400, "bbox"},
                          probe{"/ogc/collections/dltb/items?bbox=114,32,115,33&bbox-crs=EPSG:4326", 400, "bbox-crs"},
                          probe{"/ogc/collections/dltb/items?colour=red", 400, "colour"},
                          probe{"/ogc/collections/dltb/items?crs=EPSG:9999", 400, "crs"},
                          probe{"/ogc/collections/dltb/items?datetime=2024-01-01/2023-01-01", 400, "datetime"},
                          probe{"/ogc/collections/dltb/items?datetime=..", 400, "datetime"},
                          probe{"/ogc/collections/dltb/items?datetime=2023-01-01/tomorrow", 400, "datetime"},
                          probe{"/ogc/collections/dltb/items/999", 404, ""},
                          probe{"/ogc/collections/nothing/items", 404, ""}}) {
        auto res = s_server->client().Get(p.path);
        ASSERT_TRUE(res) << p.path;
        EXPECT_EQ(res->status, p.status) << p.path << " " << res->body;
        EXPECT_EQ(res->get_header_value("Content-Type"), "application/problem+json") << p.path;
        if (!p.parameter.empty()) {
            EXPECT_EQ(json::parse(res->body)["parameter"], p.parameter) << p.path;
        }
    }
    // Issue 14 overrides the earlier clamping: a limit above the maximum is refused (see
    // a_limit_above_the_maximum_is_refused_naming_limit).
}

// An interval means every feature that existed at some time in it, once, as the latest
// version in the interval has it (parcels: survey 2022 valid from 2022-12-31, 2023 from
// 2023-12-31).
TEST_F(features_http, datetime_intervals_span_versions)
{
    auto ids_and_classes = [&](const std::string& datetime) {
        std::map<long long, std::string> out;
        std::string next = "/ogc/collections/dltb/items?limit=10000&datetime=" + datetime;
        while (!next.empty()) {
            const auto page = get_json(next);
            for (const auto& f : page["features"]) {
                EXPECT_EQ(out.count(f["id"].get<long long>()), 0u) << "feature " << f["id"] << " twice";
                out[f["id"].get<long long>()] = f["properties"]["dlbm"].get<std::string>();
            }
            next.clear();
            for (const auto& l : page["links"]) {
                if (l["rel"] == "next") {
                    next = l["href"].get<std::string>().substr(s_server->base_url().size());
                }
            }
        }
        return out;
    };
    auto sql_map = [&](const std::string& sql) {
        std::map<long long, std::string> out;
        auto conn = test::db().connect();
        pqxx::work txn(*conn);
        for (const auto& r : txn.exec(sql)) {
            out[r[0].as<long long>()] = r[1].as<std::string>();
        }
        return out;
    };
    const auto both = ids_and_classes("2023-06-01/2024-06-01");
    EXPECT_EQ(both, sql_map("SELECT DISTINCT ON (fid) fid, dlbm FROM (SELECT fid, dlbm, 2 AS v FROM onemap_data.dltb__v2 "
                            "UNION ALL SELECT fid, dlbm, 1 FROM onemap_data.dltb__v1) u ORDER BY fid, v DESC"));
    // The parcels that changed class show their 2023 class.
    const auto changed = sql_map("SELECT a.fid, b.dlbm FROM onemap_data.dltb__v1 a JOIN onemap_data.dltb__v2 b "
                                 "USING (fid) WHERE a.dlbm <> b.dlbm");
    ASSERT_FALSE(changed.empty());
    for (const auto& [fid, dlbm] : changed) {
        EXPECT_EQ(both.at(fid), dlbm) << fid;
    }
    // Open ends: before the 2023 survey only the 2022 version, after it only the 2023 one.
    EXPECT_EQ(ids_and_classes("../2023-06-01"), sql_map("SELECT fid, dlbm FROM onemap_data.dltb__v1"));
    EXPECT_EQ(ids_and_classes("2024-01-01T00:00:00Z/.."), sql_map("SELECT fid, dlbm FROM onemap_data.dltb__v2"));
    // An interval before any version: nothing.
    EXPECT_TRUE(ids_and_classes("2000-01-01/2001-01-01").empty());
}

// The response size cap: a page stops before passing it and its next link goes on from the
// first feature left out, so following the links still yields every feature once.
TEST_F(features_http, pages_stop_at_the_response_size_cap_and_link_to_the_rest)
{
    const test::server_process capped(test::db().conninfo(), {"--ogc-max-response-kb", "64"});
    auto client = capped.client();
    std::set<long long> seen;
    std::string next = "/ogc/collections/dltb/items?limit=1000";
    int pages = 0;
    while (!next.empty()) {
        const auto res = client.Get(next);
        ASSERT_TRUE(res);
        ASSERT_EQ(res->status, 200) << res->body;
        const auto page = json::parse(res->body);
        const auto n = page["numberReturned"].get<std::size_t>();
        EXPECT_EQ(page["features"].size(), n);
        if (n > 1) {
            // Features are at most a few KB here; the page ends before 64 KB plus the links.
            EXPECT_LT(res->body.size(), 64u * 1024u + 4096u) << next;
        }
        for (const auto& f : page["features"]) {
            EXPECT_TRUE(seen.insert(f["id"].get<long long>()).second) << "feature " << f["id"] << " twice";
        }
        ++pages;
        next.clear();
        for (const auto& l : page["links"]) {
            if (l["rel"] == "next") {
                next = l["href"].get<std::string>().substr(capped.base_url().size());
            }
        }
    }
    EXPECT_GT(pages, 2 * 2); // 2,000 parcels at limit 1000 would be 2 pages without the cap
    EXPECT_EQ(static_cast<long long>(seen.size()),
              test::query_value<long long>("SELECT count(*) FROM onemap_data.dltb__v2"));
}

TEST_F(features_http, gdal_oapif_driver_reads_the_same_features_as_postgis)
{
    const std::string url = "OAPIF:" + s_server->base_url() + "/ogc";
    std::string out;
    ASSERT_EQ(test::run_command("ogrinfo -ro -so " + url + " dltb", &out), 0) << out;
    EXPECT_NE(out.find("Feature Count: " + std::to_string(test::query_value<long long>("SELECT count(*) FROM onemap_data.dltb__v2"))),
              std::string::npos)
        << out;
    // bbox through the driver's spatial filter, datetime through the collection URL.
    ASSERT_EQ(test::run_command("ogrinfo -ro -al -q -spat 114.0 32.9 114.2 33.0 '" + url +
                                    "/collections/dltb?datetime=2023-06-30' | grep -c '^OGRFeature'",
                                &out),
              0)
        << out;
    EXPECT_EQ(std::stoll(out), test::query_value<long long>("SELECT count(*) FROM onemap_data.dltb__v1 WHERE ST_Intersects(geom, "
                                                            "ST_MakeEnvelope(114.0, 32.9, 114.2, 33.0, 4490))"));
}

TEST_F(features_http, a_query_over_the_time_limit_is_cancelled_with_a_problem)
{
    // A second server whose queries may run 1 ms: a page of every feature cannot finish.
    test::server_process hurried(test::db().conninfo(), {"--query-timeout-ms", "1"});
    auto res = hurried.client().Get("/ogc/collections/dltb/items?limit=10000");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 503) << res->body;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/problem+json");
    EXPECT_NE(json::parse(res->body)["detail"].get<std::string>().find("--query-timeout-ms"), std::string::npos)
        << res->body;
    // The server goes on: a cheap request right after is answered.
    EXPECT_EQ(hurried.client().Get("/ogc/collections")->status, 200);
    // And the default limit lets the same page through.
    EXPECT_EQ(s_server->client().Get("/ogc/collections/dltb/items?limit=10000")->status, 200);
}

// Issue 14: limit=10001 was clamped to 10,000 instead of refused.
TEST_F(features_http, a_limit_above_the_maximum_is_refused_naming_limit)
{
    for (const std::string limit : {"10001", "50000", "99999999999999999999"}) {
        const auto doc = get_json("/ogc/collections/dltb/items?limit=" + limit, 400);
        EXPECT_EQ(doc["parameter"], "limit") << limit;
        EXPECT_NE(doc["detail"].get<std::string>().find("10000"), std::string::npos) << doc.dump();
    }
    EXPECT_EQ(get_json("/ogc/collections/dltb/items?limit=10000")["numberReturned"].get<int>() > 0, true);
}

// Issue 14: 2024-01-01T25:00:00Z was accepted as 2024-01-01 (only the date was read).
TEST_F(features_http, a_datetime_with_an_impossible_time_is_a_400_naming_datetime)
{
    for (const std::string dt : {"2024-01-01T25:00:00Z", "2023-06-30Tanything", "2023-06-30T", "2024-01-01T10:00:00",
                                 "2022-01-01/2024-01-01T24:00:00Z"}) {
        const auto doc = get_json("/ogc/collections/dltb/items?datetime=" + dt, 400);
        EXPECT_EQ(doc["parameter"], "datetime") << dt;
    }
    EXPECT_EQ(get_json("/ogc/collections/dltb/items?limit=1&datetime=2024-01-01T23:59:59%2B08:00")["type"],
              "FeatureCollection");
}

// Issue 14: a filter value that is not UTF-8 reached PostgreSQL and came back as a 500.
TEST_F(features_http, invalid_utf8_in_a_query_is_a_400_naming_the_parameter)
{
    for (const auto& [path, parameter] :
         std::vector<std::pair<std::string, std::string>>{{"/ogc/collections/grid/items?wgbm=%ff%fe", "wgbm"},
                                                          {"/ogc/collections/dltb/items?dlbm=01%c0%af", "dlbm"},
                                                          {"/ogc/collections/dltb/items?bbox=%ed%a0%80", "bbox"},
                                                          {"/ogc/collections/%ff/items", "path"}}) {
        const auto doc = get_json(path, 400);
        EXPECT_EQ(doc["parameter"], parameter) << path;
    }
    // Real UTF-8 in a filter still reaches the query (no feature has this class).
    EXPECT_EQ(get_json("/ogc/collections/dltb/items?dlbm=%e6%97%b1%e5%9c%b0")["numberReturned"], 0);
}

// Issue 14: crs=EPSG:3857 on a layer whose coordinates Web Mercator cannot hold was a 500.
TEST_F(features_http, crs_3857_on_coordinates_outside_web_mercator_is_a_400_naming_crs)
{
    const std::string file = ::testing::TempDir() + "/polar.geojson";
    {
        std::FILE* f = std::fopen(file.c_str(), "w");
        ASSERT_NE(f, nullptr);
        std::fputs("{\"type\":\"FeatureCollection\",\"features\":[{\"type\":\"Feature\",\"properties\":{\"name\":"
                   "\"pole\"},\"geometry\":{\"type\":\"Point\",\"coordinates\":[116.0,89.5]}},{\"type\":\"Feature\","
                   "\"properties\":{\"name\":\"city\"},\"geometry\":{\"type\":\"Point\",\"coordinates\":[116.0,39.9]}}]}",
                   f);
        std::fclose(f);
    }
    std::string out;
    ASSERT_EQ(test::run_import("--layer polar_station --allow-outside-area --theme natural-resource --department test --valid-from 2020-01-01 " +
                                   file,
                               &out),
              0)
        << out;
    // The server reads the new layer when the publish is announced.
    int status = 0;
    for (int i = 0; i < 100 && status != 200; ++i) {
        status = s_server->client().Get("/ogc/collections/polar_station")->status;
        if (status != 200) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    ASSERT_EQ(status, 200);
    const auto doc =
        get_json("/ogc/collections/polar_station/items?crs=http://www.opengis.net/def/crs/EPSG/0/3857", 400);
    EXPECT_EQ(doc["parameter"], "crs") << doc.dump();
    // The other output CRSs serve it.
    EXPECT_EQ(get_json("/ogc/collections/polar_station/items")["numberReturned"], 2);
}
