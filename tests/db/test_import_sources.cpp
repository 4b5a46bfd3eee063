// Every kind of source a department sends, and the manifest batch with its summary.
#include "onemap/core/catalog.hpp"
#include "tempdb.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

using namespace onemap;
namespace fs = std::filesystem;

namespace {

class import_sources : public ::testing::Test {
protected:
    static fs::path scratch(const std::string& name)
    {
        fs::path dir = fs::path(::testing::TempDir()) / ("sources_" + name);
        fs::remove_all(dir);
        fs::create_directories(dir);
        return dir;
    }
    static void sh(const std::string& command)
    {
        std::string out;
        ASSERT_EQ(test::run_command(command, &out), 0) << command << "\n" << out;
    }
};

const std::string RESERVOIR = "/water/reservoir.shp";

} // namespace

TEST_F(import_sources, zip_of_a_shapefile)
{
    const auto dir = scratch("zip");
    sh("cd " + test::data_samples() + "/water && zip -q " + (dir / "reservoir.zip").string() +
       " reservoir.shp reservoir.shx reservoir.dbf reservoir.prj reservoir.cpg");
    std::string out;
    ASSERT_EQ(test::run_import("--layer zip_reservoir " + (dir / "reservoir.zip").string(), &out), 0) << out;
    EXPECT_EQ(test::query_value<long long>("SELECT count(*) FROM onemap_data.zip_reservoir__v1"),
              test::query_value<long long>("SELECT feature_count FROM onemap.layer_version WHERE layer = 'zip_reservoir'"));
    EXPECT_GT(test::query_value<int>("SELECT count(*) FROM onemap_data.zip_reservoir__v1 WHERE skmc LIKE '%水库'"), 0);
}

TEST_F(import_sources, geopackage_with_several_layers_imports_each)
{
    const auto dir = scratch("gpkg");
    const auto gpkg = (dir / "water.gpkg").string();
    sh("ogr2ogr -f GPKG " + gpkg + " " + test::data_samples() + "/water/river.shp -nln river");
    sh("ogr2ogr -f GPKG -update " + gpkg + " " + test::data_samples() + RESERVOIR + " -nln reservoir");
    std::string out;
    ASSERT_EQ(test::run_import("--valid-from 2023-01-01 " + gpkg, &out), 0) << out;
    const auto s = test::import_summary(out);
    ASSERT_EQ(s["layers"].size(), 2U) << out;
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM onemap.layer WHERE name IN ('river', 'reservoir')"), 2);
    EXPECT_EQ(test::query_value("SELECT geometry_type FROM onemap.layer WHERE name = 'river'"), "MULTILINESTRING");
    EXPECT_EQ(test::query_value<int>("SELECT source_srid FROM onemap.layer WHERE name = 'reservoir'"), 4526);
}

TEST_F(import_sources, filegdb_folder)
{
    const auto dir = scratch("gdb");
    const auto gdb = (dir / "planning.gdb").string();
    sh("ogr2ogr -f OpenFileGDB " + gdb + " " + test::data_samples() + "/planning/urban_boundary.geojson -nln urban");
    std::string out;
    ASSERT_EQ(test::run_import("--layer gdb_urban --valid-from 2023-01-01 " + gdb, &out), 0) << out;
    EXPECT_GT(test::query_value<long long>("SELECT count(*) FROM onemap_data.gdb_urban__v1"), 0);
}

TEST_F(import_sources, folder_of_shapefiles)
{
    std::string out;
    ASSERT_EQ(test::run_import("--valid-from 2023-01-01 " + test::data_samples() + "/water", &out), 0) << out;
    const auto s = test::import_summary(out);
    std::set<std::string> layers;
    for (const auto& l : s["layers"]) {
        layers.insert(l["layer"].get<std::string>());
        EXPECT_EQ(l["status"], "published") << l.dump();
    }
    EXPECT_EQ(layers, (std::set<std::string>{"function_zone", "reservoir", "river"}));
}

TEST_F(import_sources, geojson_in_cgcs2000)
{
    std::string out;
    ASSERT_EQ(test::run_import("--layer gj_urban " + test::data_samples() + "/planning/urban_boundary.geojson", &out), 0) << out;
    EXPECT_EQ(test::query_value<int>("SELECT source_srid FROM onemap.layer WHERE name = 'gj_urban'"), 4490);
}

TEST_F(import_sources, a_failing_layer_in_a_batch_is_named_and_the_others_still_land)
{
    const auto dir = scratch("batch");
    std::ofstream(dir / "manifest.yaml") << "layers:\n"
                                            "  - file: " << test::data_samples() << RESERVOIR << "\n"
                                            "    layer: batch_ok\n"
                                            "    theme: water\n"
                                            "  - file: " << test::data_samples() << "/natural-resources/dltb_2022.shp\n"
                                            "    layer: batch_bad\n"
                                            "    theme: natural-resource\n";
    std::string out;
    const int rc = test::run_import("--manifest " + (dir / "manifest.yaml").string(), &out);
    EXPECT_EQ(rc, 1) << out;
    EXPECT_NE(out.find("batch_bad"), std::string::npos);
    const auto s = test::import_summary(out);
    EXPECT_FALSE(s["ok"].get<bool>());
    EXPECT_EQ(s["layers"][0]["status"], "published");
    EXPECT_EQ(s["layers"][1]["status"], "failed");
    EXPECT_NE(s["layers"][1]["error"].get<std::string>().find("--encoding"), std::string::npos);
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM onemap.layer WHERE name = 'batch_ok'"), 1);
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM onemap.layer WHERE name = 'batch_bad'"), 0);
}

TEST_F(import_sources, progress_is_plain_lines_when_not_a_terminal)
{
    std::string out;
    const int rc = test::run_command(test::import_exe() + " --db '" + test::db().conninfo() +
                                         "' --layer progress_reservoir " + test::data_samples() + RESERVOIR,
                                     &out);
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("progress_reservoir"), std::string::npos);
    EXPECT_NE(out.find("features/s"), std::string::npos) << out;
    EXPECT_NE(out.find("published version 1"), std::string::npos) << out;
    EXPECT_EQ(out.find('\r'), std::string::npos) << "no carriage-return bar outside a terminal";
}

TEST_F(import_sources, z_and_m_are_dropped_with_a_note_and_parts_promoted_to_multi)
{
    const fs::path p = fs::path(::testing::TempDir()) / "z.geojson";
    std::ofstream(p) << R"({"type":"FeatureCollection","features":[)"
                        R"({"type":"Feature","properties":{"n":1},"geometry":{"type":"Polygon","coordinates":)"
                        R"([[[114.0,33.0,10],[114.01,33.0,11],[114.01,33.01,12],[114.0,33.0,10]]]}},)"
                        R"({"type":"Feature","properties":{"n":2},"geometry":{"type":"MultiPolygon","coordinates":)"
                        R"([[[[114.1,33.0,5],[114.11,33.0,5],[114.11,33.01,5],[114.1,33.0,5]]]]}}]})";
    std::string out;
    ASSERT_EQ(test::run_import("--layer z_polys " + p.string(), &out), 0) << out;
    const auto s = test::import_summary(out);
    const auto notes = s["layers"][0]["notes"].dump();
    EXPECT_NE(notes.find("Z/M dropped from 2 features"), std::string::npos) << notes;
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM onemap_data.z_polys__v1 WHERE ST_NDims(geom) = 2 AND "
                          "GeometryType(geom) = 'MULTIPOLYGON'"),
              2);
}
