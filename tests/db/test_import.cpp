// onemap-import against a real PostGIS: encodings, CRSs, versions, atomicity, bad input.
#include "onemap/core/catalog.hpp"
#include "onemap/importers/layer_import.hpp"
#include "tempdb.hpp"

#include <gdal_priv.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <ogrsf_frmts.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace onemap;
namespace fs = std::filesystem;

namespace {

// The importer's progress observer, stalling once mid-COPY so that a test can kill the import
// or its connection while COPY is under way (test code only: the library has no such hook).
class stalling_progress : public importers::progress {
public:
    explicit stalling_progress(long long after) : progress(nullptr), m_after(after) {}
    void update(long long done) override
    {
        if (!m_stalled && done >= m_after) {
            m_stalled = true;
            std::this_thread::sleep_for(std::chrono::seconds(5));
        }
    }

private:
    long long m_after;
    bool m_stalled = false;
};

class import_db : public ::testing::Test {
protected:
    static void SetUpTestSuite() { GDALAllRegister(); }

    static std::vector<importers::import_result> import(const importers::import_request& r)
    {
        auto conn = test::db().connect();
        importers::progress quiet(nullptr);
        return importers::import_source(*conn, r, quiet);
    }

    static importers::import_request request(const std::string& file, const std::string& layer)
    {
        importers::import_request r;
        r.source = test::data_samples() + "/" + file;
        r.layer = layer;
        r.valid_from = "2023-01-01";
        return r;
    }


    // Copies a shapefile's parts into a fresh folder (to break them).
    static fs::path copy_shapefile(const std::string& file, const std::string& folder)
    {
        const fs::path dir = fs::path(::testing::TempDir()) / folder;
        fs::remove_all(dir);
        fs::create_directories(dir);
        const fs::path src = fs::path(test::data_samples()) / file;
        for (const char* ext : {".shp", ".shx", ".dbf", ".prj", ".cpg"}) {
            fs::path p = src;
            p.replace_extension(ext);
            if (fs::exists(p)) {
                fs::copy_file(p, dir / p.filename());
            }
        }
        return dir / src.filename();
    }

};

} // namespace

TEST_F(import_db, gbk_with_cpg_lands_as_correct_chinese)
{
    const auto r = import(request("grid/2023-01-01/county.shp", "enc_county"));
    ASSERT_EQ(r.at(0).status, "published") << r.at(0).error;
    EXPECT_EQ(r[0].source_encoding, "GBK");
    EXPECT_EQ(r[0].features, 10);
    EXPECT_EQ(test::query_value("SELECT string_agg(xzqmc, ',' ORDER BY xzqdm) FROM onemap_data.enc_county__v1"),
              "驿城区,西平县,上蔡县,平舆县,正阳县,确山县,泌阳县,汝南县,遂平县,新蔡县");
}

TEST_F(import_db, gbk_without_cpg_needs_the_encoding_and_then_lands_correctly)
{
    auto req = request("natural-resources/dltb_2022.shp", "enc_dltb");
    const auto fail = import(req);
    ASSERT_EQ(fail.at(0).status, "failed");
    EXPECT_NE(fail[0].error.find("dltb_2022.shp"), std::string::npos) << fail[0].error;
    EXPECT_NE(fail[0].error.find("feature"), std::string::npos) << fail[0].error;
    EXPECT_NE(fail[0].error.find("field"), std::string::npos) << fail[0].error;
    EXPECT_NE(fail[0].error.find("--encoding"), std::string::npos) << fail[0].error;
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM onemap.layer WHERE name = 'enc_dltb'"), 0);
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'enc_dltb%'"), 0);

    req.encoding = "GBK";
    const auto ok = import(req);
    ASSERT_EQ(ok.at(0).status, "published") << ok.at(0).error;
    EXPECT_GT(test::query_value<int>("SELECT count(*) FROM onemap_data.enc_dltb__v1 WHERE dlmc = '旱地' AND dlbm = '0103'"), 0);
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM onemap_data.enc_dltb__v1 WHERE qsdwmc !~ '(村|社区|居委会|镇|乡|街道)'"), 0);
}

TEST_F(import_db, wrong_encoding_is_an_error_naming_file_feature_and_field)
{
    auto req = request("grid/2023-01-01/county.shp", "enc_wrong");
    req.encoding = "UTF-8";
    const auto r = import(req);
    ASSERT_EQ(r.at(0).status, "failed");
    EXPECT_NE(r[0].error.find("county.shp"), std::string::npos);
    EXPECT_NE(r[0].error.find("field XZQMC"), std::string::npos) << r[0].error;
    EXPECT_NE(r[0].error.find("feature 0"), std::string::npos) << r[0].error;
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM onemap.layer WHERE name = 'enc_wrong'"), 0);
}

// Each CRS sample lands where PostGIS's own transformation puts the source coordinates.
TEST_F(import_db, each_crs_sample_lands_within_a_tenth_of_a_metre)
{
    struct sample {
        const char* file;
        const char* layer;
        int epsg;
        const char* encoding;
        const char* id_field;
    };
    for (const auto& s : {sample{"natural-resources/dltb_2023.shp", "crs_dltb", 4547, "GBK", "BSM"},
                          sample{"water/reservoir.shp", "crs_reservoir", 4526, nullptr, nullptr},
                          sample{"grid/2023-01-01/grid.shp", "crs_grid", 4490, nullptr, "WGBM"}}) {
        auto req = request(s.file, s.layer);
        if (s.encoding != nullptr) {
            req.encoding = s.encoding;
        }
        if (s.id_field != nullptr) {
            req.id_field = s.id_field;
        }
        const auto r = import(req);
        ASSERT_EQ(r.at(0).status, "published") << r.at(0).error;
        EXPECT_EQ(r[0].source_srid, s.epsg) << s.file;

        // First vertex of a few source features, read by GDAL in the source CRS.
        std::unique_ptr<GDALDataset> ds(static_cast<GDALDataset*>(
            GDALOpenEx((test::data_samples() + "/" + s.file).c_str(), GDAL_OF_VECTOR, nullptr, nullptr, nullptr)));
        ASSERT_TRUE(ds);
        OGRLayer* layer = ds->GetLayer(0);
        int checked = 0;
        for (auto& f : *layer) {
            const OGRGeometry* g = f->GetGeometryRef();
            if (g == nullptr || g->IsEmpty() || checked >= 5) {
                continue;
            }
            OGRPoint p;
            const auto* poly = wkbFlatten(g->getGeometryType()) == wkbMultiPolygon
                                   ? g->toMultiPolygon()->getGeometryRef(0)
                                   : g->toPolygon();
            poly->getExteriorRing()->getPoint(0, &p);
            const long long id = s.id_field != nullptr ? std::stoll(f->GetFieldAsString(s.id_field)) : f->GetFID() + 1;
            // Nearest stored vertex to PostGIS's transform of the source vertex, in metres.
            const double d = test::query_value<double>(
                "SELECT min(ST_Distance(ST_Transform(ST_SetSRID(ST_MakePoint(" + std::to_string(p.getX()) + ", " +
                std::to_string(p.getY()) + "), " + std::to_string(s.epsg) + "), 4490)::geography, (dp).geom::geography)) "
                "FROM (SELECT ST_DumpPoints(geom) AS dp FROM onemap_data." + std::string(s.layer) +
                "__v1 WHERE fid = " + std::to_string(id) + ") x");
            EXPECT_LT(d, 0.1) << s.file << " feature " << id;
            ++checked;
        }
        EXPECT_EQ(checked, 5) << s.file;
    }
    // The zone-prefixed layer really has 38 xxx xxx eastings and landed in Zhumadian.
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM onemap_data.crs_reservoir__v1 WHERE NOT ST_Within(geom, "
                          "ST_MakeEnvelope(113.0, 32.2, 115.3, 33.6, 4490))"),
              0);
}

TEST_F(import_db, zone_prefix_mismatch_is_refused_with_the_right_code)
{
    auto req = request("water/reservoir.shp", "crs_mismatch");
    req.srs = 4547; // the file's eastings are 38 xxx xxx
    const auto r = import(req);
    ASSERT_EQ(r.at(0).status, "failed");
    EXPECT_NE(r[0].error.find("EPSG:4526"), std::string::npos) << r[0].error;
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM onemap.layer WHERE name = 'crs_mismatch'"), 0);
}

TEST_F(import_db, reimport_of_the_same_file_is_a_no_op_unless_forced)
{
    const auto first = import(request("water/river.shp", "same_river"));
    ASSERT_EQ(first.at(0).status, "published") << first.at(0).error;
    const auto again = import(request("water/river.shp", "same_river"));
    EXPECT_EQ(again.at(0).status, "unchanged");
    EXPECT_EQ(again[0].version, first[0].version);
    auto forced = request("water/river.shp", "same_river");
    forced.force = true;
    const auto f = import(forced);
    ASSERT_EQ(f.at(0).status, "published");
    EXPECT_EQ(f[0].version, first[0].version + 1);
    // The forced import supersedes the first on the same date: one active version.
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM onemap.layer_version WHERE layer = 'same_river' AND superseded_by IS NULL"), 1);
    EXPECT_EQ(test::query_value<int>("SELECT version FROM onemap.version_as_of('same_river', '2024-01-01')"), f[0].version);
}

TEST_F(import_db, versions_answer_as_of_queries)
{
    auto v1 = request("grid/2023-01-01/grid.shp", "asof_grid");
    v1.id_field = "WGBM";
    auto v2 = request("grid/2024-07-01/grid.shp", "asof_grid");
    v2.id_field = "WGBM";
    v2.valid_from = "2024-07-01";
    ASSERT_EQ(import(v1).at(0).status, "published");
    ASSERT_EQ(import(v2).at(0).status, "published");
    EXPECT_EQ(test::query_value("SELECT valid_from::text FROM onemap.version_as_of('asof_grid', '2023-06-01')"), "2023-01-01");
    EXPECT_EQ(test::query_value("SELECT valid_from::text FROM onemap.version_as_of('asof_grid', '2024-06-30')"), "2023-01-01");
    EXPECT_EQ(test::query_value("SELECT valid_from::text FROM onemap.version_as_of('asof_grid', '2024-07-01')"), "2024-07-01");
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM onemap.version_as_of('asof_grid', '2022-12-31')"), 0);
    EXPECT_EQ(test::query_value("SELECT valid_to::text FROM onemap.layer_version WHERE layer = 'asof_grid' AND version = 1"),
              "2024-07-01");
    // The versions differ: grids were split and moved.
    EXPECT_NE(test::query_value<long long>("SELECT feature_count FROM onemap.layer_version WHERE layer = 'asof_grid' AND version = 1"),
              test::query_value<long long>("SELECT feature_count FROM onemap.layer_version WHERE layer = 'asof_grid' AND version = 2"));
    // An out-of-order import (a correction of 2023 published after 2024) slots in by date.
    auto c = request("grid/2023-01-01/grid.shp", "asof_grid");
    c.id_field = "WGBM";
    c.valid_from = "2023-06-01";
    ASSERT_EQ(import(c).at(0).status, "published");
    EXPECT_EQ(test::query_value("SELECT valid_to::text FROM onemap.layer_version WHERE layer = 'asof_grid' AND version = 1"),
              "2023-06-01");
    EXPECT_EQ(test::query_value("SELECT valid_to::text FROM onemap.layer_version WHERE layer = 'asof_grid' AND version = 3"),
              "2024-07-01");
}

TEST_F(import_db, publish_notifies_the_changed_area)
{
    auto listener = test::db().connect();
    struct receiver : pqxx::notification_receiver {
        using pqxx::notification_receiver::notification_receiver;
        void operator()(const std::string& payload, int) override { payloads.push_back(payload); }
        std::vector<std::string> payloads;
    } rx(*listener, "onemap_publish");
    auto v1 = request("grid/2023-01-01/grid.shp", "notify_grid");
    v1.id_field = "WGBM";
    ASSERT_EQ(import(v1).at(0).status, "published");
    auto v2 = request("grid/2024-07-01/grid.shp", "notify_grid");
    v2.id_field = "WGBM";
    v2.valid_from = "2024-07-01";
    ASSERT_EQ(import(v2).at(0).status, "published");
    for (int i = 0; i < 50 && rx.payloads.size() < 2; ++i) {
        listener->await_notification(0, 100000);
    }
    ASSERT_EQ(rx.payloads.size(), 2U);
    const auto first = nlohmann::json::parse(rx.payloads[0]);
    const auto second = nlohmann::json::parse(rx.payloads[1]);
    EXPECT_EQ(first["layer"], "notify_grid");
    EXPECT_EQ(second["version"], 2);
    // Only some grids changed: the changed bbox is smaller than the whole layer's.
    const auto& all = first["bbox"];
    const auto& changed = second["bbox"];
    ASSERT_TRUE(changed.is_array());
    const double all_area = (all[2].get<double>() - all[0].get<double>()) * (all[3].get<double>() - all[1].get<double>());
    const double changed_area =
        (changed[2].get<double>() - changed[0].get<double>()) * (changed[3].get<double>() - changed[1].get<double>());
    EXPECT_LT(changed_area, all_area);
    EXPECT_GT(changed_area, 0);
}

TEST_F(import_db, killed_mid_copy_leaves_the_previous_version_served)
{
    ASSERT_EQ(test::run_import("--layer kill_dltb --encoding GBK --valid-from 2022-12-31 --id-field BSM " + test::data_samples() +
                      "/natural-resources/dltb_2022.shp",
                  nullptr),
              0);
    const auto before = test::query_value<long long>("SELECT count(*) FROM onemap_data.kill_dltb__v1");
    // The same layer again, stalled mid-COPY by its progress observer, then kill -9.
    auto again = request("natural-resources/dltb_2023.shp", "kill_dltb");
    again.encoding = "GBK";
    again.valid_from = "2023-12-31";
    again.id_field = "BSM";
    const pid_t pid = fork();
    if (pid == 0) {
        auto conn = test::db().connect();
        stalling_progress stall(500);
        importers::import_source(*conn, again, stall);
        _exit(0);
    }
    bool copying = false;
    for (int i = 0; i < 300 && !copying; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        copying = test::query_value<int>("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY %kill_dltb__v2%'") > 0;
    }
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    ASSERT_TRUE(copying) << "the import never reached COPY";
    // The server notices the dead client and rolls back.
    for (int i = 0; i < 100 && test::query_value<int>("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY %kill_dltb%'") > 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM onemap.layer_version WHERE layer = 'kill_dltb'"), 1);
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM pg_tables WHERE tablename = 'kill_dltb__v2'"), 0);
    EXPECT_EQ(test::query_value<long long>("SELECT count(*) FROM onemap_data.kill_dltb__v1"), before);
    EXPECT_EQ(test::query_value("SELECT table_name FROM onemap.version_as_of('kill_dltb', '2025-01-01')"), "kill_dltb__v1");
    // And the next import goes through.
    EXPECT_EQ(test::run_import("--layer kill_dltb --encoding GBK --valid-from 2023-12-31 --id-field BSM " + test::data_samples() +
                      "/natural-resources/dltb_2023.shp",
                  nullptr),
              0);
    EXPECT_EQ(test::query_value("SELECT table_name FROM onemap.version_as_of('kill_dltb', '2025-01-01')"), "kill_dltb__v2");
}

TEST_F(import_db, database_dropping_the_connection_mid_copy_rolls_back)
{
    ASSERT_EQ(test::run_import("--layer drop_dltb --encoding GBK --valid-from 2022-12-31 --id-field BSM " + test::data_samples() +
                      "/natural-resources/dltb_2022.shp",
                  nullptr),
              0);
    auto again = request("natural-resources/dltb_2023.shp", "drop_dltb");
    again.encoding = "GBK";
    again.valid_from = "2023-12-31";
    again.id_field = "BSM";
    std::string out;
    bool failed = false;
    std::thread importer([&] {
        try {
            auto conn = test::db().connect();
            stalling_progress stall(500);
            for (const auto& r : importers::import_source(*conn, again, stall)) {
                failed = failed || r.status == "failed";
                out += r.layer + ": " + r.error + "\n";
            }
        } catch (const std::exception& e) {
            failed = true;
            out = e.what();
        }
    });
    bool terminated = false;
    for (int i = 0; i < 300 && !terminated; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        terminated = test::query_value<int>("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE query LIKE 'COPY %drop_dltb__v2%') t") > 0;
    }
    importer.join(); // after its stall the importer finds the connection gone and fails
    EXPECT_TRUE(failed) << out;
    EXPECT_NE(out.find("drop_dltb"), std::string::npos) << out;
    ASSERT_TRUE(terminated);
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM onemap.layer_version WHERE layer = 'drop_dltb'"), 1);
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM pg_tables WHERE tablename = 'drop_dltb__v2'"), 0);
}

TEST_F(import_db, bad_inputs_get_clear_messages_and_touch_nothing)
{
    ASSERT_EQ(test::run_import("--layer bad_target --encoding GBK --id-field BSM --valid-from 2022-12-31 " + test::data_samples() +
                      "/natural-resources/dltb_2022.shp",
                  nullptr),
              0);
    const auto versions_before = test::query_value<int>("SELECT count(*) FROM onemap.layer_version");
    const auto tables_before = test::query_value<int>("SELECT count(*) FROM pg_tables WHERE schemaname = 'onemap_data'");

    struct bad {
        std::string name;
        std::string path;
        std::string expect; // in the message
        std::string extra_args;
    };
    std::vector<bad> cases;
    {
        auto p = copy_shapefile("water/reservoir.shp", "no_shx");
        fs::path shx = p;
        fs::remove(shx.replace_extension(".shx"));
        cases.push_back({"missing .shx", p.string(), ".shx", ""});
    }
    {
        auto p = copy_shapefile("water/reservoir.shp", "no_dbf");
        fs::path dbf = p;
        fs::remove(dbf.replace_extension(".dbf"));
        cases.push_back({"missing .dbf", p.string(), ".dbf", ""});
    }
    {
        auto p = copy_shapefile("water/reservoir.shp", "truncated");
        fs::resize_file(p, fs::file_size(p) / 2);
        cases.push_back({"truncated .shp", p.string(), "reservoir.shp", ""});
    }
    {
        auto p = copy_shapefile("water/reservoir.shp", "unknown_prj");
        fs::path prj = p;
        std::ofstream(prj.replace_extension(".prj"))
            << R"(PROJCS["Local_Survey_Grid",GEOGCS["GCS_Unknown",DATUM["D_Unknown",SPHEROID["Krassowsky_Odd",6378245.5,298.3]],PRIMEM["Greenwich",0],UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],PARAMETER["False_Easting",123456.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",113.77],PARAMETER["Scale_Factor",0.9999],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]])";
        cases.push_back({"unknown .prj", p.string(), "--srs", ""});
    }
    {
        auto p = copy_shapefile("grid/2023-01-01/county.shp", "wrong_encoding");
        cases.push_back({"wrong encoding", p.string(), "field XZQMC", "--encoding UTF-8"});
    }
    {
        const fs::path p = fs::path(::testing::TempDir()) / "empty.geojson";
        std::ofstream(p) << "";
        cases.push_back({"empty file", p.string(), "empty", ""});
        const fs::path q = fs::path(::testing::TempDir()) / "no_features.geojson";
        std::ofstream(q) << R"({"type":"FeatureCollection","features":[]})";
        cases.push_back({"no features", q.string(), "no features", ""});
    }
    {
        const fs::path p = fs::path(::testing::TempDir()) / "collections.geojson";
        std::ofstream(p) << R"({"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":)"
                            R"({"type":"GeometryCollection","geometries":[{"type":"Point","coordinates":[114,33]}]}}]})";
        cases.push_back({"unsupported geometry", p.string(), "unsupported geometry type", ""});
    }
    {
        cases.push_back({"missing file", "/nonexistent/x.shp", "no such file", ""});
    }
    for (const auto& c : cases) {
        std::string out;
        const int rc = test::run_import("--layer bad_target --valid-from 2030-01-01 " + c.extra_args + " '" + c.path + "'", &out);
        EXPECT_NE(rc, 0) << c.name << ": " << out;
        EXPECT_NE(out.find(c.expect), std::string::npos) << c.name << ": expected '" << c.expect << "' in:\n" << out;
        EXPECT_EQ(out.find("Segmentation"), std::string::npos) << c.name;
    }
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM onemap.layer_version"), versions_before);
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM pg_tables WHERE schemaname = 'onemap_data'"), tables_before);
    EXPECT_EQ(test::query_value("SELECT table_name FROM onemap.version_as_of('bad_target', '2031-01-01')"), "bad_target__v1");
}

namespace {

// Source FID of the feature whose `field` is `value` (as GDAL reads the file).
long long source_fid(const std::string& file, const char* field, const std::string& value,
                     const std::vector<std::string>& options = {})
{
    std::vector<const char*> opts;
    opts.reserve(options.size() + 1);
    for (const auto& o : options) {
        opts.push_back(o.c_str());
    }
    opts.push_back(nullptr);
    std::unique_ptr<GDALDataset> ds(static_cast<GDALDataset*>(
        GDALOpenEx((test::data_samples() + "/" + file).c_str(), GDAL_OF_VECTOR, nullptr, opts.data(), nullptr)));
    for (auto& f : *ds->GetLayer(0)) {
        if (value == f->GetFieldAsString(field)) {
            return f->GetFID();
        }
    }
    return -1;
}

bool noted(const std::vector<importers::feature_note>& notes, long long fid, const std::string& kind)
{
    for (const auto& n : notes) {
        if (n.feature == fid && n.kind == kind) {
            return true;
        }
    }
    return false;
}

} // namespace

// data-samples/README.md lists the broken features; each is repaired or rejected as reported.
TEST_F(import_db, broken_features_are_repaired_or_rejected_and_reported)
{
    auto req = request("natural-resources/dltb_2022.shp", "broken_dltb");
    req.encoding = "GBK";
    req.id_field = "BSM";
    const auto r = import(req);
    ASSERT_EQ(r.at(0).status, "published") << r.at(0).error;
    const std::string file = "natural-resources/dltb_2022.shp";
    const std::vector<std::string> gbk{"ENCODING=GBK"};
    const long long bowtie = source_fid(file, "BSM", "4117029999900001", gbk);
    const long long rings = source_fid(file, "BSM", "4117029999900002", gbk);
    const long long dups = source_fid(file, "BSM", "4117029999900003", gbk);
    const long long empty = source_fid(file, "BSM", "4117029999900004", gbk);
    ASSERT_GE(std::min({bowtie, rings, dups, empty}), 0) << "a broken feature is missing from the sample";

    EXPECT_TRUE(noted(r[0].repairs, bowtie, "make_valid"));
    EXPECT_TRUE(noted(r[0].repairs, rings, "ring_order"));
    EXPECT_TRUE(noted(r[0].repairs, dups, "duplicate_points"));
    EXPECT_TRUE(noted(r[0].rejections, empty, "empty"));
    EXPECT_EQ(r[0].rejected, 1);
    EXPECT_EQ(r[0].repaired, 3);
    EXPECT_EQ(r[0].features, 2003);

    const std::string t = "onemap_data.broken_dltb__v1";
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM " + t + " WHERE NOT ST_IsValid(geom)"), 0);
    // The bow-tie keeps both triangles; the ring-order one has its 300 m shell and 100 m hole.
    EXPECT_EQ(test::query_value<int>("SELECT ST_NumGeometries(geom) FROM " + t + " WHERE fid = 4117029999900001"), 2);
    EXPECT_EQ(test::query_value<int>("SELECT ST_NumInteriorRings(ST_GeometryN(geom, 1)) FROM " + t + " WHERE fid = 4117029999900002"), 1);
    EXPECT_NEAR(test::query_value<double>("SELECT ST_Area(geom::geography) FROM " + t + " WHERE fid = 4117029999900002"),
                300.0 * 300.0 - 100.0 * 100.0, 0.05 * 300 * 300);
    EXPECT_EQ(test::query_value<int>("SELECT ST_NPoints(geom) - ST_NPoints(ST_RemoveRepeatedPoints(geom)) FROM " + t +
                          " WHERE fid = 4117029999900003"),
              0);
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM " + t + " WHERE fid = 4117029999900004"), 0);
    // The catalog keeps the per-feature report.
    EXPECT_EQ(test::query_value<int>("SELECT jsonb_array_length(report->'rejections') FROM onemap.layer_version WHERE layer = 'broken_dltb'"), 1);

    auto farmland = request("planning/basic_farmland.geojson", "broken_farmland");
    const auto f = import(farmland);
    ASSERT_EQ(f.at(0).status, "published") << f.at(0).error;
    const long long line = source_fid("planning/basic_farmland.geojson", "JBNTBH", "411702999990001");
    EXPECT_TRUE(noted(f[0].rejections, line, "wrong_type"));
    EXPECT_EQ(f[0].rejected, 1);
    EXPECT_EQ(test::query_value("SELECT geometry_type FROM onemap.layer WHERE name = 'broken_farmland'"), "MULTIPOLYGON");
    EXPECT_EQ(test::query_value<int>("SELECT count(*) FROM onemap_data.broken_farmland__v1 WHERE jbntbh = '411702999990001'"), 0);
}
