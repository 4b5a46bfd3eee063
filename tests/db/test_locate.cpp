// In-memory point location (cell table, then Boost.Geometry R-tree and the exact test) against
// PostGIS ST_Covers on 100,000 points per level (grid, village, town, county) and version:
// random points over the city, grid vertices and midpoints of grid edges (points exactly on
// shared boundaries). Zero mismatches, by the cell table and by the exact path alone; and the
// two paths agree on a further million random points.
#include "onemap/core/boundary_index.hpp"
#include "tempdb.hpp"

#include <gtest/gtest.h>

#include <random>

using namespace onemap;

namespace {

// The grid-management layers of both versions, imported once (a second import of the same files
// is a no-op).
void import_grid_versions()
{
    std::string out;
    ASSERT_EQ(test::run_import("--manifest " + test::data_samples() + "/manifest.yaml", &out), 0) << out;
}

struct level_table {
    const char* table;
    const char* code;
    const char* name;
};

class locate_db : public ::testing::TestWithParam<level_table> {
protected:
    static void SetUpTestSuite() { import_grid_versions(); }
};

class locate_neighbors : public ::testing::Test {
protected:
    static void SetUpTestSuite() { import_grid_versions(); }
};

} // namespace

TEST_P(locate_db, agrees_with_postgis_st_covers_on_100k_points)
{
    const std::string table = std::string("onemap_data.") + GetParam().table;
    const std::string code = GetParam().code;
    const std::string name = GetParam().name;
    auto conn = test::db().connect();
    core::boundary_index index;
    {
        pqxx::work txn(*conn);
        for (const auto& r : txn.exec("SELECT fid, " + code + ", " + name + ", ST_AsBinary(geom) FROM " + table)) {
            const pqxx::binarystring wkb(r[3]);
            index.add(core::boundary{r[1].as<std::string>(), r[2].as<std::string>(), r[0].as<std::uint64_t>(), {}},
                      std::string_view(wkb.get(), wkb.size()));
        }
    }
    index.build();
    ASSERT_GE(index.size(), 10U);

    pqxx::work txn(*conn);
    txn.exec("SELECT setseed(0.42)");
    // Up to 15,000 vertices and 15,000 edge midpoints, random points over (and a little beyond)
    // the city for the rest of 100,000; PostgreSQL prints doubles in shortest round-trip form, so both sides see the
    // same coordinates.
    txn.exec("CREATE TEMP TABLE pts AS "
             "(SELECT ST_X(g) AS x, ST_Y(g) AS y FROM (SELECT (ST_DumpPoints(geom)).geom AS g FROM " + table +
             ") v ORDER BY random() LIMIT 15000) "
             "UNION ALL (SELECT (ST_X(a) + ST_X(b)) / 2, (ST_Y(a) + ST_Y(b)) / 2 FROM (SELECT ST_PointN(r, i) AS a, "
             "ST_PointN(r, i + 1) AS b FROM (SELECT ST_ExteriorRing((ST_Dump(geom)).geom) AS r FROM " + table +
             ") rings, generate_series(1, ST_NPoints(r) - 1) i) s ORDER BY random() LIMIT 15000)");
    txn.exec("INSERT INTO pts SELECT 113.0 + random() * 2.3, 32.2 + random() * 1.4 FROM "
             "generate_series(1, 100000 - (SELECT count(*) FROM pts))");
    const auto rows = txn.exec("SELECT x, y, (SELECT " + code + " FROM " + table +
                               " WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(x, y), 4490)) ORDER BY " + code +
                               " LIMIT 1) FROM pts");
    ASSERT_EQ(rows.size(), 100000U);
    std::size_t mismatches = 0;
    std::size_t inside = 0;
    for (const auto& r : rows) {
        const double x = r[0].as<double>();
        const double y = r[1].as<double>();
        const core::boundary* b = index.locate(x, y);
        const core::boundary* e = index.locate_exact(x, y);
        const std::string ours = b != nullptr ? b->code : "";
        const std::string exact = e != nullptr ? e->code : "";
        const std::string theirs = r[2].is_null() ? "" : r[2].as<std::string>();
        inside += theirs.empty() ? 0 : 1;
        if (ours != theirs || exact != theirs) {
            if (++mismatches <= 10) {
                ADD_FAILURE() << "point " << r[0].c_str() << " " << r[1].c_str() << ": onemap '" << ours
                              << "' (exact path '" << exact << "'), PostGIS '" << theirs << "'";
            }
        }
    }
    EXPECT_EQ(mismatches, 0U);
    EXPECT_GT(inside, 50000U);

    // The cell table answers most of the area by itself (so the comparison above exercised it),
    // and where it does it says what the exact test says.
    EXPECT_GT(index.direct_share(), 0.5) << GetParam().table;
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<double> lon(113.0, 115.3);
    std::uniform_real_distribution<double> lat(32.2, 33.6);
    std::size_t disagreements = 0;
    for (int i = 0; i < 1000000; ++i) {
        const double x = lon(rng);
        const double y = lat(rng);
        if (index.locate(x, y) != index.locate_exact(x, y) && ++disagreements <= 10) {
            ADD_FAILURE() << "cell table and exact test disagree at " << x << " " << y;
        }
    }
    EXPECT_EQ(disagreements, 0U);
}

INSTANTIATE_TEST_SUITE_P(
    every_level_and_version, locate_db,
    ::testing::Values(level_table{"grid__v1", "wgbm", "wgmc"}, level_table{"grid__v2", "wgbm", "wgmc"},
                      level_table{"admin_village__v1", "xzqdm", "xzqmc"}, level_table{"admin_village__v2", "xzqdm", "xzqmc"},
                      level_table{"admin_town__v1", "xzqdm", "xzqmc"}, level_table{"admin_town__v2", "xzqdm", "xzqmc"},
                      level_table{"admin_county__v1", "xzqdm", "xzqmc"}, level_table{"admin_county__v2", "xzqdm", "xzqmc"}));

TEST_F(locate_neighbors, grids_sharing_an_edge_are_neighbours)
{
    auto conn = test::db().connect();
    core::boundary_index index;
    pqxx::work txn(*conn);
    for (const auto& r : txn.exec("SELECT fid, wgbm, wgmc, ST_AsBinary(geom) FROM onemap_data.grid__v1")) {
        const pqxx::binarystring wkb(r[3]);
        index.add(core::boundary{r[1].as<std::string>(), r[2].as<std::string>(), r[0].as<std::uint64_t>(), {}},
                  std::string_view(wkb.get(), wkb.size()));
    }
    index.build();
    const std::string code = txn.exec("SELECT wgbm FROM onemap_data.grid__v1 ORDER BY wgbm LIMIT 1")[0][0].as<std::string>();
    std::vector<std::string> ours;
    for (const auto* n : index.neighbors(code)) {
        ours.push_back(n->code);
    }
    std::vector<std::string> theirs;
    for (const auto& r : txn.exec_params("SELECT b.wgbm FROM onemap_data.grid__v1 a, onemap_data.grid__v1 b WHERE "
                                         "a.wgbm = $1 AND b.wgbm <> a.wgbm AND ST_Intersects(a.geom, b.geom) ORDER BY b.wgbm",
                                         code)) {
        theirs.push_back(r[0].as<std::string>());
    }
    EXPECT_FALSE(theirs.empty());
    EXPECT_EQ(ours, theirs);
    EXPECT_EQ(index.find(code)->code, code);
    EXPECT_EQ(index.find("no-such-code"), nullptr);
}
