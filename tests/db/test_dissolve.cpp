// Land use at every zoom (issue 18): DLTB imported with --class-field DLBM, its low-zoom copies
// dissolved by class. Checked against PostGIS on the full-detail table: every tile with land has
// land use, each class keeps its area per tile, the copy is a partition (no gap or overlap of a
// pixel), small parcels are merged under their class, large ones keep their ids and attributes,
// and GDAL's MVT driver reads the tiles.
// Built twice: on the committed sample (db_dissolve_tests; its ~3 km parcels are under 3 px up to
// z7) and, with ONEMAP_DISSOLVE_PARCELS, on a set the generator makes (db_dissolve_large_tests,
// --parcels 200000: ~290 m parcels, merged up to z10 or z11).
#include "mvt_decode.hpp"
#include "onemap/core/catalog.hpp"
#include "onemap/core/db.hpp"
#include "onemap/core/tile_matrix_set.hpp"
#include "onemap/tileserver/tile_service.hpp"
#include "tempdb.hpp"

#include <gdal_priv.h>
#include <gtest/gtest.h>
#include <ogrsf_frmts.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>

using namespace onemap;

namespace {

constexpr double WORLD = 40075016.685578488; // Web Mercator metres across

#ifdef ONEMAP_DISSOLVE_PARCELS
constexpr int PARCELS = ONEMAP_DISSOLVE_PARCELS;
#else
constexpr int PARCELS = 0; // the committed sample
#endif

// The DLTB file: the sample's, or one the generator writes for PARCELS parcels.
std::string dltb_file()
{
    if (PARCELS == 0) {
        return test::data_samples() + "/natural-resources/dltb_2023.shp";
    }
    const auto dir = std::filesystem::path(::testing::TempDir()) / ("dissolve-" + std::to_string(PARCELS));
    const auto file = dir / "natural-resources" / "dltb_2023.shp";
    if (!std::filesystem::exists(file)) {
        std::string out;
        const int rc = test::run_command("/usr/bin/python3 " + test::source_dir() + "/data-samples/generate.py --out " +
                                             dir.string() + " --parcels " + std::to_string(PARCELS) + " 2>&1",
                                         &out);
        if (rc != 0) {
            throw std::runtime_error("the generator failed: " + out);
        }
    }
    return file.string();
}

double pixel_m(int z)
{
    return WORLD / (256.0 * std::ldexp(1.0, z));
}

class dissolve_db : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        std::string out;
        ASSERT_EQ(test::run_import("--layer dltb --class-field DLBM --id-field BSM --encoding GBK "
                                   "--valid-from 2023-12-31 " + dltb_file(),
                                   &out),
                  0)
            << out;
        auto conn = test::db().connect();
        s_layers = new std::vector<core::layer>(core::load_catalog(*conn));
        s_pool = new core::connection_pool(test::db().conninfo(), 2);
        GDALAllRegister();
    }
    static void TearDownTestSuite()
    {
        delete s_layers;
        delete s_pool;
    }
    static const core::layer& dltb()
    {
        for (const auto& l : *s_layers) {
            if (l.name == "dltb") {
                return l;
            }
        }
        throw std::runtime_error("no dltb layer");
    }
    // Web Mercator tiles at z covering the layer, with the full-detail land in them of at
    // least one pixel's area (less may fall between the grid's sample points).
    static std::vector<std::array<std::uint64_t, 2>> tiles_with_land(int z)
    {
        const auto& v = dltb().versions.back();
        auto conn = test::db().connect();
        pqxx::work txn(*conn);
        std::vector<std::array<std::uint64_t, 2>> out;
        const auto& wm = core::web_mercator_quad();
        const auto b = *v.bbox;
        const double n = std::ldexp(1.0, z);
        auto tx = [n](double lon) { return static_cast<std::uint64_t>((lon + 180.0) / 360.0 * n); };
        auto ty = [n](double lat) {
            const double r = lat * M_PI / 180.0;
            return static_cast<std::uint64_t>((1.0 - std::log(std::tan(r) + 1.0 / std::cos(r)) / M_PI) / 2.0 * n);
        };
        (void)wm;
        for (auto y = ty(b.max_y); y <= ty(b.min_y); ++y) {
            for (auto x = tx(b.min_x); x <= tx(b.max_x); ++x) {
                // On a generated set, a fixed quarter of the tiles from z10 (hundreds otherwise).
                if (PARCELS != 0 && z >= 10 && (x + y) % 4 != 0) {
                    continue;
                }
                const auto r = txn.exec_params(
                    "SELECT coalesce(sum(ST_Area(ST_Intersection(ST_Transform(geom, 3857), e))), 0) FROM "
                    "onemap_data." + txn.quote_name(v.table) + ", ST_TileEnvelope($1, $2, $3) e "
                    "WHERE geom && ST_Transform(e, 4490)",
                    z, x, y);
                if (r[0][0].as<double>() >= pixel_m(z) * pixel_m(z)) {
                    out.push_back({x, y});
                }
            }
        }
        return out;
    }
    static std::vector<core::layer>* s_layers;
    static core::connection_pool* s_pool;
};

std::vector<core::layer>* dissolve_db::s_layers = nullptr;
core::connection_pool* dissolve_db::s_pool = nullptr;

TEST_F(dissolve_db, the_catalog_records_the_class_field_and_its_levels)
{
    const auto& v = dltb().versions.back();
    ASSERT_TRUE(v.class_field);
    EXPECT_EQ(*v.class_field, "dlbm");
    EXPECT_EQ(v.class_levels, "0-9:2,10-12:all");
    // Copies up to the highest zoom where 1 % of the parcels are under 3 px: for the sample's
    // ~3 km parcels z7, for 200,000 parcels of ~290 m z10 or z11; above, the full table.
    const int top = PARCELS == 0 ? 7 : v.overview_max_zoom;
    EXPECT_EQ(v.overview_max_zoom, top);
    if (PARCELS != 0) {
        EXPECT_GE(top, 10);
    }
    EXPECT_EQ(v.table_for_resolution(core::degrees_per_pixel(top)), v.table + "__z" + std::to_string(top));
    EXPECT_EQ(v.table_for_resolution(core::degrees_per_pixel(top + 1)), v.table);
}

TEST_F(dissolve_db, every_tile_with_land_has_land_use_from_z6_to_z12_and_gdal_reads_it)
{
    const auto& l = dltb();
    const auto& v = l.versions.back();
    tileserver::tile_service service(*s_pool);
    // A generated set: z6-z11 (z12 reads its full table), every other zoom to bound the run.
    const std::vector<int> zooms = PARCELS == 0 ? std::vector<int>{6, 7, 8, 9, 10, 11, 12} : std::vector<int>{6, 8, 10, 11};
    for (const int z : zooms) {
        const auto tiles = tiles_with_land(z);
        ASSERT_FALSE(tiles.empty()) << "z" << z;
        std::size_t largest = 0;
        bool checked_with_gdal = false;
        for (const auto& [x, y] : tiles) {
            const std::string bytes = service.render({&l, &v, &core::web_mercator_quad(), z, x, y});
            ASSERT_FALSE(bytes.empty()) << z << "/" << x << "/" << y << " has land but no land use";
            largest = std::max(largest, bytes.size());
            const auto layers = test::decode_tile(bytes);
            ASSERT_EQ(layers.size(), 1U);
            EXPECT_FALSE(layers[0].features.empty()) << z << "/" << x << "/" << y;
            if (checked_with_gdal || layers[0].features.size() < 2) {
                continue;
            }
            // An independent decoder: GDAL's MVT driver, z/x/y from the path.
            const auto dir = std::filesystem::path(::testing::TempDir()) / "dissolve_mvt" / std::to_string(z) /
                             std::to_string(x);
            std::filesystem::create_directories(dir);
            const auto file = dir / (std::to_string(y) + ".pbf");
            std::ofstream(file, std::ios::binary) << bytes;
            const char* options[] = {"CLIP=NO", nullptr}; // features in the buffer count too
            std::unique_ptr<GDALDataset> ds(static_cast<GDALDataset*>(
                GDALOpenEx(("MVT:" + file.string()).c_str(), GDAL_OF_VECTOR, nullptr, options, nullptr)));
            ASSERT_TRUE(ds) << CPLGetLastErrorMsg();
            OGRLayer* gl = ds->GetLayerByName("dltb");
            ASSERT_NE(gl, nullptr);
            std::size_t n = 0;
            for (auto& f : *gl) {
                EXPECT_TRUE(f->IsFieldSetAndNotNull(f->GetFieldIndex("dlbm")));
                ++n;
            }
            EXPECT_EQ(n, layers[0].features.size());
            checked_with_gdal = true;
        }
        EXPECT_LT(largest, 500U * 1024) << "z" << z;
    }
}

TEST_F(dissolve_db, each_class_keeps_its_area_in_every_tile)
{
    const auto& v = dltb().versions.back();
    auto conn = test::db().connect();
    pqxx::work txn(*conn);
    // A generated set: one zoom of each bound's range and level, z12 reading its full table.
    const std::vector<int> zooms = PARCELS == 0 ? std::vector<int>{6, 7, 8, 9, 10, 11, 12} : std::vector<int>{6, 8, 10};
    for (const int z : zooms) {
        // The class level this zoom keeps: two characters up to z9, the whole code from z10.
        const int chars = z <= 9 ? 2 : 16;
        const double bound = z >= 8 ? 0.05 : 0.10;
        const std::string copy = v.table_for_resolution(core::degrees_per_pixel(z));
        int compared = 0;
        for (const auto& [x, y] : tiles_with_land(z)) {
            const auto r = txn.exec_params(
                "WITH e AS (SELECT ST_TileEnvelope($1, $2, $3) AS e), "
                "full_detail AS (SELECT left(dlbm, $4) AS c, sum(ST_Area(ST_Intersection(ST_Transform(geom, 3857), e))) AS a "
                "  FROM onemap_data." + txn.quote_name(v.table) + ", e WHERE geom && ST_Transform(e, 4490) GROUP BY 1), "
                "copy AS (SELECT left(dlbm, $4) AS c, sum(ST_Area(ST_Intersection(ST_Transform(ST_MakeValid(geom), 3857), e))) AS a "
                "  FROM onemap_data." + txn.quote_name(copy) + ", e WHERE geom && ST_Transform(e, 4490) GROUP BY 1) "
                "SELECT f.c, f.a, coalesce(c.a, 0), f.a / ST_Area((SELECT e FROM e)) "
                "  FROM full_detail f LEFT JOIN copy c USING (c)",
                z, x, y, chars);
            for (const auto& row : r) {
                if (row[3].as<double>() < 0.01) {
                    continue; // classes under 1 % of the tile are not bound
                }
                const double full = row[1].as<double>();
                const double ours = row[2].as<double>();
                EXPECT_LE(std::abs(ours - full), bound * full)
                    << "class " << row[0].as<std::string>() << " in " << z << "/" << x << "/" << y << ": " << ours
                    << " m² against " << full << " m² at full detail";
                ++compared;
            }
        }
        EXPECT_GT(compared, 0) << "z" << z;
    }
}

TEST_F(dissolve_db, the_copies_are_a_partition_without_gaps_or_overlaps_of_a_pixel)
{
    const auto& v = dltb().versions.back();
    auto conn = test::db().connect();
    pqxx::work txn(*conn);
    // The land: the full-detail parcels' union, once.
    txn.exec("CREATE TEMP TABLE land AS SELECT ST_Transform(ST_Union(geom), 3857) AS g FROM onemap_data." +
             txn.quote_name(v.table));
    const std::vector<int> zooms = PARCELS == 0 ? std::vector<int>{5, 6, 7} : std::vector<int>{8, 10};
    for (const int z : zooms) {
        const std::string copy = txn.quote_name(v.table_for_resolution(core::degrees_per_pixel(z)));
        ASSERT_NE(copy, txn.quote_name(v.table)) << "z" << z << " has a copy";
        const double half = pixel_m(z) / 2;
        int tiles = 0;
        for (const auto& [x, y] : tiles_with_land(z)) {
            const auto r = txn.exec_params(
                "WITH e AS (SELECT ST_TileEnvelope($1, $2, $3) AS e), "
                "l AS (SELECT ST_Intersection(land.g, e.e) AS g FROM land, e), "
                "parts AS (SELECT ST_Intersection(ST_Transform(ST_MakeValid(geom), 3857), e) AS g "
                "  FROM onemap_data." + copy + ", e WHERE geom && ST_Transform(e, 4490)), "
                "painted AS (SELECT ST_Union(g) AS g, sum(ST_Area(g)) AS parts_area FROM parts) "
                "SELECT ST_Area(ST_Buffer(ST_Difference(l.g, painted.g), -$4::float8)), "
                "       ST_Area(ST_Buffer(ST_Difference(painted.g, l.g), -$4::float8)), "
                "       painted.parts_area - ST_Area(painted.g) "
                "  FROM l, painted",
                z, x, y, half);
            ASSERT_EQ(r.size(), 1U);
            const std::string at = std::to_string(z) + "/" + std::to_string(x) + "/" + std::to_string(y);
            EXPECT_EQ(r[0][0].as<double>(0.0), 0.0) << at << ": land left unpainted over a pixel or more";
            EXPECT_EQ(r[0][1].as<double>(0.0), 0.0) << at << ": painted where there is no land, a pixel or more";
            // Painted twice: the parts' areas add up to their union's, within one pixel's area.
            EXPECT_LT(r[0][2].as<double>(0.0), 4 * half * half) << at << ": painted twice over a pixel or more";
            ++tiles;
        }
        EXPECT_GT(tiles, 0) << "z" << z;
    }
}

TEST_F(dissolve_db, features_large_enough_to_see_keep_their_ids_and_attributes_and_merged_areas_their_class)
{
    const auto& v = dltb().versions.back();
    auto conn = test::db().connect();
    pqxx::work txn(*conn);
    const std::vector<int> zooms = PARCELS == 0 ? std::vector<int>{5, 6, 7} : std::vector<int>{8, 9, 10};
    for (const int z : zooms) {
        const std::string copy = v.table_for_resolution(core::degrees_per_pixel(z));
        ASSERT_NE(copy, v.table) << "z" << z << " has a copy";
        const double px = core::MIN_FEATURE_PIXELS * core::degrees_per_pixel(z);
        // Large: each row of the copy with its id carries the source row's attributes.
        const auto large = txn.exec_params(
            "SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM onemap_data." + txn.quote_name(copy) +
                " c WHERE c.fid = s.fid)), "
                "count(*) FILTER (WHERE EXISTS (SELECT 1 FROM onemap_data." + txn.quote_name(copy) +
                " c WHERE c.fid = s.fid AND (c.dlbm, c.dlmc, c.bsm, c.tbmj) IS DISTINCT FROM (s.dlbm, s.dlmc, s.bsm, s.tbmj))) "
                "FROM onemap_data." + txn.quote_name(v.table) + " s "
                "WHERE GREATEST(ST_XMax(geom) - ST_XMin(geom), ST_YMax(geom) - ST_YMin(geom)) >= $1",
            px);
        EXPECT_EQ(large[0][1].as<long long>(), 0) << "z" << z << ": large features missing";
        EXPECT_EQ(large[0][2].as<long long>(), 0) << "z" << z << ": large features with other attributes";
        // Small: not there by their own id; merged areas have new ids and only the class.
        const auto small = txn.exec_params(
            "SELECT count(*) FROM onemap_data." + txn.quote_name(v.table) + " s JOIN onemap_data." +
                txn.quote_name(copy) +
                " c USING (fid) WHERE GREATEST(ST_XMax(s.geom) - ST_XMin(s.geom), ST_YMax(s.geom) - ST_YMin(s.geom)) < $1",
            px);
        EXPECT_EQ(small[0][0].as<long long>(), 0) << "z" << z << ": a feature under 3 px kept as itself";
        const auto merged = txn.exec(
            "SELECT count(*), count(*) FILTER (WHERE dlmc IS NOT NULL OR bsm IS NOT NULL OR dlbm IS NULL), "
            "count(*) FILTER (WHERE length(dlbm) <> " + std::string(z <= 9 ? "2" : "4") + ") FROM onemap_data." +
            txn.quote_name(copy) + " WHERE fid > (SELECT max(fid) FROM onemap_data." + txn.quote_name(v.table) + ")");
        EXPECT_GT(merged[0][0].as<long long>(), 0) << "z" << z << ": most parcels are under 3 px here";
        EXPECT_EQ(merged[0][1].as<long long>(), 0) << "z" << z;
        EXPECT_EQ(merged[0][2].as<long long>(), 0) << "z" << z << ": merged areas carry the zoom's class level";
    }
}

TEST_F(dissolve_db, a_large_parcel_keeps_its_id_and_attributes_among_merged_small_ones)
{
    // A partition: 40 × 40 squares of 0.002° (under 3 px up to z10), two classes in blocks of
    // five, and one square of 0.02° (class 0301, id 1) in their place at the corner.
    std::string json = R"({"type":"FeatureCollection","features":[)";
    auto square = [](double x0, double y0, double s) {
        char buf[256];
        std::snprintf(buf, sizeof buf, "[[[%.6f,%.6f],[%.6f,%.6f],[%.6f,%.6f],[%.6f,%.6f],[%.6f,%.6f]]]", x0, y0,
                      x0 + s, y0, x0 + s, y0 + s, x0, y0 + s, x0, y0);
        return std::string(buf);
    };
    auto feature = [&](long id, const char* cls, const std::string& ring) {
        return R"({"type":"Feature","properties":{"fid_src":)" + std::to_string(id) + R"(,"dlbm":")" + cls +
               R"(","name":"p)" + std::to_string(id) + R"("},"geometry":{"type":"Polygon","coordinates":)" + ring +
               "}}";
    };
    json += feature(1, "0301", square(114.0, 33.0, 0.02));
    for (int j = 0; j < 40; ++j) {
        for (int i = 0; i < 40; ++i) {
            if (i < 10 && j < 10) {
                continue;
            }
            const char* cls = ((i / 5) + (j / 5)) % 2 == 0 ? "0101" : "0103";
            json += "," + feature(1000 + j * 40 + i, cls, square(114.0 + i * 0.002, 33.0 + j * 0.002, 0.002));
        }
    }
    json += "]}";
    const auto file = std::filesystem::path(::testing::TempDir()) / "partition.geojson";
    std::ofstream(file) << json;
    std::string out;
    ASSERT_EQ(test::run_import("--layer lu_synth --class-field dlbm --id-field fid_src --srs EPSG:4490 "
                               "--valid-from 2024-01-01 " + file.string(), &out), 0) << out;
    auto conn = test::db().connect();
    const auto layers = core::load_catalog(*conn);
    const core::layer_version* v = nullptr;
    for (const auto& l : layers) {
        if (l.name == "lu_synth") {
            v = &l.versions.back();
        }
    }
    ASSERT_NE(v, nullptr);
    ASSERT_GE(v->overview_max_zoom, 10);
    pqxx::work txn(*conn);
    for (int z : {9, 10}) {
        const std::string copy = txn.quote_name(v->table + "__z" + std::to_string(z));
        const auto big = txn.exec("SELECT dlbm, name FROM onemap_data." + copy + " WHERE fid = 1");
        ASSERT_EQ(big.size(), 1U) << "z" << z;
        EXPECT_EQ(big[0][0].as<std::string>(), "0301");
        EXPECT_EQ(big[0][1].as<std::string>(), "p1");
        EXPECT_EQ(txn.exec("SELECT count(*) FROM onemap_data." + copy + " WHERE fid BETWEEN 1000 AND 2599")[0][0].as<int>(), 0)
            << "z" << z << ": small squares are merged";
        std::set<std::string> classes;
        for (const auto& r : txn.exec("SELECT DISTINCT dlbm FROM onemap_data." + copy + " WHERE fid > 2599")) {
            classes.insert(r[0].as<std::string>());
        }
        const std::set<std::string> expected =
            z == 9 ? std::set<std::string>{"01"} : std::set<std::string>{"0101", "0103"};
        EXPECT_EQ(classes, expected) << "z" << z;
        // The big square's area, and the merged areas' total, as at full detail.
        const auto areas = txn.exec(
            "SELECT (SELECT sum(ST_Area(geom)) FROM onemap_data." + copy + " WHERE fid = 1), "
            "(SELECT sum(ST_Area(geom)) FROM onemap_data." + copy + " WHERE fid > 2599)");
        EXPECT_NEAR(areas[0][0].as<double>(), 0.02 * 0.02, 0.05 * 0.02 * 0.02) << "z" << z;
        EXPECT_NEAR(areas[0][1].as<double>(), 0.08 * 0.08 - 0.02 * 0.02, 0.05 * (0.08 * 0.08 - 0.02 * 0.02)) << "z" << z;
    }
}

TEST_F(dissolve_db, a_class_field_the_file_lacks_or_bad_levels_are_refused_naming_them)
{
    std::string out;
    const std::string file = test::data_samples() + "/natural-resources/dltb_2022.shp";
    EXPECT_NE(test::run_import("--layer dltb_bad --class-field NOPE --encoding GBK " + file, &out), 0);
    EXPECT_NE(out.find("class field 'NOPE'"), std::string::npos) << out;
    EXPECT_NE(out.find("DLBM"), std::string::npos) << out << " (lists the fields)";
    EXPECT_NE(test::run_import("--layer dltb_bad --class-field DLBM --class-levels 0-20:2 --encoding GBK " + file,
                               &out),
              0);
    EXPECT_NE(out.find("class_levels"), std::string::npos) << out;
    EXPECT_NE(test::run_import("--layer river_bad --class-field HYMC " + test::data_samples() + "/water/river.shp",
                               &out),
              0);
    EXPECT_NE(out.find("dissolves polygons"), std::string::npos) << out;
    auto conn = test::db().connect();
    pqxx::work txn(*conn);
    EXPECT_EQ(txn.exec("SELECT count(*) FROM onemap.layer WHERE name IN ('dltb_bad', 'river_bad')")[0][0].as<int>(), 0);
}

} // namespace
