// Import integrity (issue 13): a damaged corpus refused or accounted for, coordinates that
// cannot be rejected per feature, datum shifts checked against cs2cs, concurrent imports of
// one layer, and the command line's --source-layer and exit codes. Real PostGIS, real files.
#include "tempdb.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

using namespace onemap;
namespace fs = std::filesystem;

namespace {

std::string damaged_dir()
{
    return test::source_dir() + "/tests/data/damaged";
}

std::string datum_dir()
{
    return test::source_dir() + "/tests/data/datum";
}

struct db_state {
    int versions;
    int tables;
    bool operator==(const db_state& o) const { return versions == o.versions && tables == o.tables; }
};

db_state state()
{
    return {test::query_value<int>("SELECT count(*) FROM onemap.layer_version"),
            test::query_value<int>("SELECT count(*) FROM pg_tables WHERE schemaname = 'onemap_data'")};
}

// The catalog exists before a refused import is compared against it.
void ensure_some_layer()
{
    std::string out;
    ASSERT_EQ(test::run_import("--layer integrity_base --valid-from 2023-01-01 " + test::data_samples() +
                                   "/water/river.shp",
                               &out),
              0)
        << out;
}

// lon/lat (x, y) of "x y" or "lat lon" cs2cs output lines, in order.
std::vector<std::pair<double, double>> cs2cs(const std::string& args, const std::string& input, bool lat_first)
{
    const fs::path in = fs::path(::testing::TempDir()) / "cs2cs_in.txt";
    std::ofstream(in) << input;
    std::string out;
    EXPECT_EQ(test::run_command("cs2cs -f %.10f " + args + " < " + in.string(), &out), 0) << out;
    std::vector<std::pair<double, double>> pts;
    std::istringstream lines(out);
    double a = 0, b = 0, z = 0;
    while (lines >> a >> b >> z) {
        pts.emplace_back(lat_first ? b : a, lat_first ? a : b);
    }
    return pts;
}

// Distance in metres between each stored point (by fid order) and the expected lon/lat.
std::vector<double> distances(const std::string& table, const std::vector<std::pair<double, double>>& expected)
{
    std::vector<double> d;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        char point[96];
        std::snprintf(point, sizeof point, "%.10f, %.10f", expected[i].first, expected[i].second);
        d.push_back(test::query_value<double>("SELECT ST_Distance(ST_GeometryN(geom, 1)::geography, ST_SetSRID(ST_MakePoint(" +
                                              std::string(point) + "), 4490)::geography) FROM " + table +
                                              " WHERE fid = " + std::to_string(i + 1)));
    }
    return d;
}

} // namespace

TEST(import_integrity, every_damaged_file_has_its_expected_outcome)
{
    ensure_some_layer();
    std::ifstream in(damaged_dir() + "/cases.json");
    ASSERT_TRUE(in) << "tests/data/damaged/cases.json missing";
    const auto cases = nlohmann::json::parse(in)["cases"];
    ASSERT_GE(cases.size(), 10U);
    for (const auto& c : cases) {
        const std::string name = c["name"];
        const std::string layer = "dmg_" + name.substr(0, 40);
        const db_state before = state();
        std::string out;
        const int rc = test::run_import("--layer " + layer + " --valid-from 2023-01-01 " + c["args"].get<std::string>() +
                                            " '" + damaged_dir() + "/" + c["file"].get<std::string>() + "'",
                                        &out);
        EXPECT_EQ(rc, c["exit"].get<int>()) << name << ":\n" << out;
        EXPECT_EQ(out.find("Segmentation"), std::string::npos) << name;
        if (c["exit"] != 0) {
            for (const auto& m : c["message"]) {
                EXPECT_NE(out.find(m.get<std::string>()), std::string::npos)
                    << name << ": expected '" << m.get<std::string>() << "' in:\n" << out;
            }
            EXPECT_TRUE(state() == before) << name << ": a refused import changed the database";
            EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM onemap.layer WHERE name = '" + layer + "'"), 0) << name;
            continue;
        }
        const auto s = test::import_summary(out)["layers"].at(0);
        ASSERT_EQ(s["status"], "published") << name << ": " << s.dump();
        const auto source = s["source_features"].get<long long>();
        const auto published = s["features"].get<long long>();
        const auto rejected = s["rejected"].get<long long>();
        const auto not_read = s["not_read"].get<long long>();
        EXPECT_EQ(source, c["source_features"].get<long long>()) << name;
        EXPECT_EQ(published, c["features"].get<long long>()) << name;
        EXPECT_EQ(rejected, c["rejected"].get<long long>()) << name;
        EXPECT_EQ(not_read, c["not_read"].get<long long>()) << name;
        // The counts add up to what the source holds.
        EXPECT_EQ(published + rejected + not_read, source) << name;
        EXPECT_EQ(s["read"].get<long long>(), published + rejected) << name;
        EXPECT_EQ(test::query_value<long long>("SELECT count(*) FROM onemap_data." + layer + "__v1"), published) << name;
        const std::string lost = s["lost"].dump();
        if (c.contains("lost")) {
            for (const auto& m : c["lost"]) {
                EXPECT_NE(lost.find(m.get<std::string>()), std::string::npos) << name << ": " << lost;
            }
        } else {
            EXPECT_EQ(s["lost"].size(), 0U) << name << ": " << lost;
        }
        if (c.contains("rejections")) {
            for (const auto& [fid, kind] : c["rejections"].items()) {
                bool found = false;
                for (const auto& r : s["rejections"]) {
                    found = found || (std::to_string(r["feature"].get<long long>()) == fid && r["kind"] == kind);
                }
                EXPECT_TRUE(found) << name << ": feature " << fid << " not rejected as " << kind << ": "
                                   << s["rejections"].dump();
            }
        }
        // The catalog's report carries the same counts, and the layer's extent is finite.
        EXPECT_EQ(test::query_value<long long>("SELECT (report->'counts'->>'not_read')::bigint FROM onemap.layer_version "
                                               "WHERE layer = '" + layer + "'"),
                  not_read)
            << name;
        EXPECT_TRUE(test::query_value<bool>("SELECT ST_XMin(bbox) BETWEEN -180 AND 180 AND ST_YMax(bbox) BETWEEN -90 AND 90 "
                                            "FROM onemap.layer_version WHERE layer = '" + layer + "'"))
            << name;
    }
}

TEST(import_integrity, a_million_vertex_polygon_is_imported_whole)
{
    const fs::path dir = fs::path(::testing::TempDir()) / "big_polygon";
    std::string out;
    ASSERT_EQ(test::run_command("/usr/bin/python3 " + damaged_dir() + "/make_damaged.py --big " + dir.string(), &out), 0)
        << out;
    const auto started = std::chrono::steady_clock::now();
    ASSERT_EQ(test::run_import("--layer dmg_big " + (dir / "big.shp").string(), &out), 0) << out;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf("1M-vertex polygon imported in %.1f s\n", seconds);
    EXPECT_EQ(test::query_value<long long>("SELECT ST_NPoints(geom) FROM onemap_data.dmg_big__v1"), 1000001);
    EXPECT_LT(seconds, 120.0);
}

TEST(import_integrity, nad27_and_osgb36_land_where_proj_best_operation_to_wgs84_puts_them)
{
    std::string out;
    // North Carolina and Scotland lie outside CGCS2000's area of use: refused per feature
    // unless asked for.
    EXPECT_EQ(test::run_import("--layer datum_nad27_refused " + datum_dir() + "/nad27_nc.shp", &out), 1) << out;
    EXPECT_NE(out.find("outside_area_of_use"), std::string::npos) << out;
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM onemap.layer WHERE name = 'datum_nad27_refused'"), 0);
    ASSERT_EQ(test::run_import("--layer datum_nad27 --allow-outside-area " + datum_dir() + "/nad27_nc.shp", &out), 0)
        << out;
    ASSERT_EQ(test::run_import("--layer datum_osgb36 --allow-outside-area " + datum_dir() + "/osgb36_scot.shp", &out), 0)
        << out;
    // Independent reference: cs2cs, PROJ's best operation EPSG:4267/27700 → WGS 84.
    const auto nad = cs2cs("EPSG:4267 EPSG:4326", "35.7796 -78.6382\n35.2271 -80.8431\n35.5951 -82.5515\n", true);
    const auto bng = cs2cs("EPSG:27700 EPSG:4326", "325900 673900\n259000 665500\n394200 806300\n", true);
    ASSERT_EQ(nad.size(), 3U);
    ASSERT_EQ(bng.size(), 3U);
    for (double d : distances("onemap_data.datum_nad27__v1", nad)) {
        EXPECT_LT(d, 1.0);
    }
    for (double d : distances("onemap_data.datum_osgb36__v1", bng)) {
        EXPECT_LT(d, 1.0);
    }
    // The ballpark no-op would have left NAD27 tens of metres off: the shift is real.
    EXPECT_GT(test::query_value<double>("SELECT ST_Distance(ST_GeometryN(geom, 1)::geography, "
                                        "ST_SetSRID(ST_MakePoint(-78.6382, 35.7796), 4490)::geography) "
                                        "FROM onemap_data.datum_nad27__v1 WHERE fid = 1"),
              10.0);
    // The operation is in the catalog with its name and accuracy.
    EXPECT_NE(test::query_value("SELECT report->'transformation'->>'name' FROM onemap.layer_version WHERE layer = 'datum_nad27'")
                  .find("NAD27 to WGS 84"),
              std::string::npos);
    EXPECT_EQ(test::query_value<double>("SELECT (report->'transformation'->>'accuracy_m')::float FROM onemap.layer_version "
                                        "WHERE layer = 'datum_osgb36'"),
              2.0);
    EXPECT_NE(out.find("\"transformation\""), std::string::npos) << out;
}

TEST(import_integrity, beijing_1954_needs_towgs84_and_then_lands_where_cs2cs_puts_it)
{
    const std::string file = datum_dir() + "/beijing1954_gk.shp";
    std::string out;
    EXPECT_EQ(test::run_import("--layer datum_bj54 " + file, &out), 1) << out;
    EXPECT_NE(out.find("Beijing 1954"), std::string::npos) << out;
    EXPECT_NE(out.find("--towgs84"), std::string::npos) << out;
    EXPECT_NE(out.find("--accept-ballpark"), std::string::npos) << out;
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM onemap.layer WHERE name = 'datum_bj54'"), 0);

    const std::string params = "15.8,-154.4,-82.3,0.1,-0.2,0.3,1.5";
    ASSERT_EQ(test::run_import("--layer datum_bj54 --towgs84 " + params + " " + file, &out), 0) << out;
    const auto ref = cs2cs("+proj=tmerc +lat_0=0 +lon_0=114 +k=1 +x_0=500000 +y_0=0 +ellps=krass +towgs84=" + params +
                               " +units=m +type=crs +to +proj=longlat +datum=WGS84 +type=crs",
                           "502300 3649800\n486000 3688000\n521000 3653000\n", false);
    ASSERT_EQ(ref.size(), 3U);
    for (double d : distances("onemap_data.datum_bj54__v1", ref)) {
        EXPECT_LT(d, 0.01);
    }
    EXPECT_NE(test::query_value("SELECT report->'transformation'->>'name' FROM onemap.layer_version WHERE layer = 'datum_bj54'")
                  .find("--towgs84"),
              std::string::npos);

    // --accept-ballpark publishes, and the catalog says it was a ballpark.
    ASSERT_EQ(test::run_import("--layer datum_bj54_ballpark --accept-ballpark " + file, &out), 0) << out;
    EXPECT_TRUE(test::query_value<bool>("SELECT (report->'transformation'->>'ballpark')::boolean FROM onemap.layer_version "
                                        "WHERE layer = 'datum_bj54_ballpark'"));
}

TEST(import_integrity, an_import_waiting_for_the_layer_gives_up_naming_the_other_import)
{
    ensure_some_layer();
    auto holder = test::db().connect();
    pqxx::work txn(*holder);
    txn.exec("SELECT set_config('application_name', 'onemap-import conc_held < test holder', false)");
    txn.exec("SELECT pg_advisory_xact_lock(hashtext('onemap.layer:' || 'conc_held'))");
    const db_state before = state();
    std::string out;
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(test::run_import("--layer conc_held --lock-timeout 1 " + test::data_samples() + "/water/reservoir.shp", &out), 1)
        << out;
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    EXPECT_GE(waited, 1.0);
    EXPECT_NE(out.find("layer 'conc_held' is being imported by 'onemap-import conc_held < test holder'"), std::string::npos)
        << out;
    EXPECT_NE(out.find("--lock-timeout 1 s"), std::string::npos) << out;
    EXPECT_EQ(out.find("ERROR:"), std::string::npos) << out;
    EXPECT_TRUE(state() == before);
    txn.abort();
    EXPECT_EQ(test::run_import("--layer conc_held --lock-timeout 1 " + test::data_samples() + "/water/reservoir.shp", &out), 0)
        << out;
}

TEST(import_integrity, concurrent_imports_of_one_layer_both_publish_in_turn)
{
    for (int round = 0; round < 3; ++round) {
        const std::string layer = "conc_dltb_" + std::to_string(round);
        std::string out1, out2;
        int rc1 = -1, rc2 = -1;
        std::thread a([&] {
            rc1 = test::run_import("--layer " + layer + " --encoding GBK --id-field BSM --valid-from 2022-12-31 " +
                                       test::data_samples() + "/natural-resources/dltb_2022.shp",
                                   &out1);
        });
        std::thread b([&] {
            rc2 = test::run_import("--layer " + layer + " --encoding GBK --id-field BSM --valid-from 2023-12-31 " +
                                       test::data_samples() + "/natural-resources/dltb_2023.shp",
                                   &out2);
        });
        a.join();
        b.join();
        EXPECT_EQ(rc1, 0) << out1;
        EXPECT_EQ(rc2, 0) << out2;
        EXPECT_EQ(out1.find("deadlock"), std::string::npos) << out1;
        EXPECT_EQ(out2.find("deadlock"), std::string::npos) << out2;
        EXPECT_EQ(test::query_value("SELECT string_agg(version::text || ':' || valid_from || '-' || coalesce(valid_to::text, ''), "
                                    "',' ORDER BY valid_from) FROM onemap.layer_version WHERE layer = '" + layer + "'")
                      .size(),
                  std::string("1:2022-12-31-2023-12-31,2:2023-12-31-").size());
        EXPECT_EQ(test::query_value("SELECT valid_to::text FROM onemap.layer_version WHERE layer = '" + layer +
                                    "' AND valid_from = '2022-12-31'"),
                  "2023-12-31");
        EXPECT_EQ(test::query_value<int>("SELECT count(DISTINCT version) FROM onemap.layer_version WHERE layer = '" + layer + "'"), 2);
    }
}

TEST(import_integrity, source_layer_picks_one_layer_of_a_geopackage)
{
    const fs::path dir = fs::path(::testing::TempDir()) / "integrity_gpkg";
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string gpkg = (dir / "water.gpkg").string();
    std::string out;
    ASSERT_EQ(test::run_command("ogr2ogr -f GPKG " + gpkg + " " + test::data_samples() + "/water/river.shp -nln river_l", &out), 0) << out;
    ASSERT_EQ(test::run_command("ogr2ogr -f GPKG -update " + gpkg + " " + test::data_samples() +
                                    "/water/reservoir.shp -nln reservoir_l",
                                &out),
              0)
        << out;
    ASSERT_EQ(test::run_import("--source-layer reservoir_l --layer picked_reservoir " + gpkg, &out), 0) << out;
    EXPECT_EQ(test::import_summary(out)["layers"].size(), 1U);
    EXPECT_EQ(test::query_value("SELECT geometry_type FROM onemap.layer WHERE name = 'picked_reservoir'"), "MULTIPOLYGON");
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM onemap.layer WHERE name IN ('river_l', 'reservoir_l')"), 0);
    EXPECT_EQ(test::run_import("--source-layer nope " + gpkg, &out), 1) << out;
    EXPECT_NE(out.find("has no layer 'nope'"), std::string::npos) << out;
}

TEST(import_integrity, bad_options_and_manifests_exit_2_as_documented)
{
    const std::string file = test::data_samples() + "/water/reservoir.shp";
    const fs::path dir = fs::path(::testing::TempDir()) / "integrity_manifests";
    fs::remove_all(dir);
    fs::create_directories(dir);
    auto manifest = [&](const std::string& name, const std::string& entry) {
        const fs::path p = dir / (name + ".yaml");
        std::ofstream(p) << "layers:\n  - file: " << file << "\n" << entry;
        return p.string();
    };
    struct bad {
        std::string args;
        std::string expect;
    };
    const std::vector<bad> cases{
        {"--theme roads " + file, "theme 'roads'"},
        {"--layer Bad-Name " + file, "layer name 'Bad-Name'"},
        {"--valid-from 2023-13-45 " + file, "valid_from '2023-13-45'"},
        {"--encoding KLINGON " + file, "KLINGON"},
        {"--towgs84 1,2 " + file, "--towgs84"},
        {"--no-such-flag " + file, "no-such-flag"},
        {"--lock-timeout -3 " + file, "lock"},
        {"--manifest " + manifest("theme", "    theme: roads\n"), "theme 'roads'"},
        {"--manifest " + manifest("date", "    valid_from: yesterday\n"), "valid_from 'yesterday'"},
        {"--manifest " + manifest("flag", "    force: maybe\n"), "'force' must be true or false"},
        {"--manifest " + manifest("layer", "    layer: 9lives\n"), "layer name '9lives'"},
        {"--manifest " + (dir / "missing.yaml").string(), "missing.yaml"},
    };
    const db_state before = [] {
        ensure_some_layer();
        return state();
    }();
    for (const auto& c : cases) {
        std::string out;
        EXPECT_EQ(test::run_import(c.args, &out), 2) << c.args << "\n" << out;
        EXPECT_NE(out.find(c.expect), std::string::npos) << c.args << ": expected '" << c.expect << "' in\n" << out;
    }
    {
        std::string out;
        const fs::path p = dir / "nofile.yaml";
        std::ofstream(p) << "layers:\n  - file: does/not/exist.shp\n";
        EXPECT_EQ(test::run_import("--manifest " + p.string(), &out), 2) << out;
        EXPECT_NE(out.find("does/not/exist.shp"), std::string::npos) << out;
    }
    EXPECT_TRUE(state() == before);
}
