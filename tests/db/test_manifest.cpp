// The committed sample imported as a data manager would: the manifest batch, in its own
// database (the layer names are the manifest's).
#include "onemap/core/catalog.hpp"
#include "tempdb.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

using namespace onemap;
namespace fs = std::filesystem;

namespace {

class import_manifest : public ::testing::Test {
protected:
};

const std::string RESERVOIR = "/water/reservoir.shp";

} // namespace

TEST_F(import_manifest, manifest_batch_imports_all_four_themes_and_both_versions)
{
    std::string out;
    const int rc = test::run_import("--manifest " + test::data_samples() + "/manifest.yaml --summary " +
                           (fs::path(::testing::TempDir()) / "summary.json").string(),
                       &out);
    ASSERT_EQ(rc, 0) << out;
    const auto s = test::import_summary(out);
    EXPECT_TRUE(s["ok"].get<bool>());
    for (const auto& l : s["layers"]) {
        EXPECT_EQ(l["status"], "published") << l.dump();
        EXPECT_GT(l["features"].get<long long>(), 0);
        EXPECT_TRUE(l.contains("seconds"));
        EXPECT_TRUE(l.contains("repaired"));
        EXPECT_TRUE(l.contains("rejected"));
    }
    std::ifstream in(fs::path(::testing::TempDir()) / "summary.json");
    EXPECT_EQ(nlohmann::json::parse(in), s);
    EXPECT_EQ(test::query_value("SELECT string_agg(DISTINCT theme, ',' ORDER BY theme) FROM onemap.layer WHERE name IN "
                     "('admin_county', 'grid', 'dltb', 'river', 'basic_farmland')"),
              "grid,natural-resource,planning,water");
    for (const char* layer : {"admin_county", "admin_town", "admin_village", "grid"}) {
        EXPECT_EQ(test::query_value<int>(std::string("SELECT count(*) FROM onemap.layer_version WHERE superseded_by IS NULL AND layer = '") +
                              layer + "'"),
                  2)
            << layer;
    }
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM onemap.layer_version WHERE superseded_by IS NULL AND layer = 'dltb'"), 2);
    EXPECT_EQ(test::query_value("SELECT valid_from::text FROM onemap.version_as_of('dltb', '2023-06-30')"), "2022-12-31");
    EXPECT_EQ(test::query_value("SELECT valid_from::text FROM onemap.version_as_of('grid', '2024-07-01')"), "2024-07-01");

    // Run again: nothing changes, everything is reported unchanged.
    ASSERT_EQ(test::run_import("--manifest " + test::data_samples() + "/manifest.yaml", &out), 0) << out;
    const auto again = test::import_summary(out); // named: a range over a temporary's member dangles
    ASSERT_FALSE(again["layers"].empty()) << out;
    for (const auto& l : again["layers"]) {
        EXPECT_EQ(l["status"], "unchanged") << l.dump();
    }
}

