// The analytics over HTTP against the real server on the samples: compliance review areas
// cross-checked with PostGIS (planar in the GK zone, ellipsoidal as geography) for every CRS
// the red line may come in, the HTML report's map, statistics by region and class against
// PostGIS with their sums, the 60 parcels the generator changed between the survey years,
// CSV and XLSX read back by Python, and every refusal naming its parameter.
#include "onemap/tileserver/analysis/report_map.hpp"
#include "png_rgba.hpp"
#include "sample_server_test.hpp"

#include <gdal_priv.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <set>

using namespace onemap;
using nlohmann::json;
namespace analysis = onemap::tileserver::analysis;

namespace {

// The generator's deliberately broken 2022 parcels (data-samples/README.md): overlaid like any
// other, so their overlaps with the 2023 parcels are reported as changes too.
const std::set<std::int64_t> BROKEN{4117029999900001, 4117029999900002, 4117029999900003, 4117029999900004};

class analysis_http : public test::sample_server_test<analysis_http> {
public:
    // The HTML report draws the basemap: the server needs the styles.
    static std::vector<std::string> extra_server_args() { return {"--styles", test::source_dir() + "/styles"}; }

protected:
    static httplib::Result post(const std::string& path, const std::string& body)
    {
        return server().client().Post(path, body, "application/geo+json");
    }
    static httplib::Result get(const std::string& path) { return server().client().Get(path); }

    static std::string table_of(const std::string& layer, const std::string& date)
    {
        return test::query_value("SELECT table_name FROM onemap.layer_version WHERE layer = '" + layer +
                                 "' AND superseded_by IS NULL AND valid_from <= '" + date +
                                 "' ORDER BY valid_from DESC LIMIT 1");
    }

    // A red line: a (4 × quad_segs)-gon of `radius` m (in EPSG:4547) around the point `point_sql` selects,
    // as GeoJSON coordinates in `srid`.
    static std::string red_line(const std::string& point_sql, double radius, int srid, int quad_segs = 8)
    {
        return test::query_value("SELECT ST_AsGeoJSON(ST_Transform(ST_Buffer(ST_Transform((" + point_sql +
                                 "), 4547), " + std::to_string(radius) + ", 'quad_segs=" + std::to_string(quad_segs) +
                                 "'), " + std::to_string(srid) + "), 9)");
    }

    static std::string with_crs(const std::string& geometry, const std::string& crs)
    {
        json g = json::parse(geometry);
        g["crs"] = {{"type", "name"}, {"properties", {{"name", crs}}}};
        return g.dump();
    }

    // PostGIS's area of each feature's overlap with the red line (4490 GeoJSON), by fid.
    static std::map<std::int64_t, double> postgis_overlaps(const std::string& table, const std::string& geojson,
                                                           bool ellipsoidal)
    {
        auto conn = test::db().connect();
        pqxx::work txn(*conn);
        const std::string area = ellipsoidal ? "ST_Area(ST_Intersection(t.geom, r.g)::geography)"
                                             : "ST_Area(ST_Intersection(ST_Transform(t.geom, 4547), ST_Transform(r.g, 4547)))";
        std::map<std::int64_t, double> out;
        for (const auto& row : txn.exec_params("WITH r AS (SELECT ST_SetSRID(ST_GeomFromGeoJSON($1), 4490) g) SELECT t.fid, " +
                                                   area + " FROM onemap_data." + table +
                                                   " t, r WHERE ST_Intersects(t.geom, r.g)",
                                               geojson)) {
            const double a = row[1].as<double>();
            if (a >= 0.01) {
                out[row[0].as<std::int64_t>()] = a;
            }
        }
        return out;
    }

    static const json& check_of(const json& doc, const std::string& id)
    {
        for (const auto& c : doc["checks"]) {
            if (c["id"] == id) {
                return c;
            }
        }
        static const json none;
        ADD_FAILURE() << "no check " << id;
        return none;
    }

    // Every feature's area within 0.1 %, the total within 0.01 %, against PostGIS.
    static void expect_matches_postgis(const json& doc, const std::string& geojson, bool ellipsoidal,
                                       const std::string& date)
    {
        for (const auto& id : {"ecological_redline", "basic_farmland", "urban_boundary", "cultivated_land"}) {
            const json& c = check_of(doc, id);
            const std::string table = table_of(c["layer"], date);
            const auto expected = postgis_overlaps(table, geojson, ellipsoidal);
            double total = 0;
            for (const auto& e : expected) {
                total += e.second;
            }
            EXPECT_NEAR(c["overlap"]["m2"].get<double>(), total, std::max(0.02, total * 1e-4)) << id;
            if (c["rule"] == "classes") {
                continue; // its features are the conflicting classes only: checked by class below
            }
            EXPECT_EQ(c["features"].size(), expected.size()) << id;
            for (const auto& f : c["features"]) {
                const auto it = expected.find(f["id"].get<std::int64_t>());
                ASSERT_NE(it, expected.end()) << id << " feature " << f["id"];
                EXPECT_NEAR(f["area"]["m2"].get<double>(), it->second, std::max(0.02, it->second * 1e-3)) << id;
                EXPECT_NEAR(f["area"]["mu"].get<double>(), it->second * 15 / 10000, std::max(0.01, it->second * 15e-7));
            }
        }
    }
};

const char* URBAN_EDGE = "SELECT ST_StartPoint(ST_ExteriorRing(ST_GeometryN(geom, 1))) FROM onemap_data.urban_boundary__v1 "
                         "ORDER BY fid LIMIT 1";

} // namespace

TEST_F(analysis_http, compliance_areas_match_postgis_planar_and_ellipsoidal)
{
    const std::string geojson = red_line(URBAN_EDGE, 2500, 4490);
    for (const bool ellipsoidal : {false, true}) {
        auto res = post(std::string("/analysis/compliance?datetime=2024-01-01") + (ellipsoidal ? "&method=ellipsoidal" : ""),
                        with_crs(geojson, "EPSG:4490"));
        ASSERT_EQ(res->status, 200) << res->body;
        const json doc = json::parse(res->body);
        EXPECT_EQ(doc["method"], ellipsoidal ? "ellipsoidal" : "planar");
        EXPECT_EQ(doc["area_crs"].get<std::string>().rfind(ellipsoidal ? "GRS 80" : "EPSG:4547", 0), 0u) << doc["area_crs"];
        const double project = test::query_value<double>(
            ellipsoidal ? "SELECT ST_Area(ST_SetSRID(ST_GeomFromGeoJSON('" + geojson + "'), 4490)::geography)"
                        : "SELECT ST_Area(ST_Transform(ST_SetSRID(ST_GeomFromGeoJSON('" + geojson + "'), 4490), 4547))");
        EXPECT_NEAR(doc["project"]["area"]["m2"].get<double>(), project, project * 1e-4);
        EXPECT_NEAR(doc["project"]["area"]["ha"].get<double>(), project / 10000, 0.001);
        expect_matches_postgis(doc, geojson, ellipsoidal, "2024-01-01");

        // This red line straddles the development boundary: part outside conflicts, and the
        // land inside plus outside is the project.
        const json& urban = check_of(doc, "urban_boundary");
        EXPECT_EQ(urban["conclusion"], "conflict");
        EXPECT_NEAR(urban["overlap"]["m2"].get<double>() + urban["conflict_area"]["m2"].get<double>(),
                    doc["project"]["area"]["m2"].get<double>(), 0.1);
        // Cultivated land by class: classes add up to the overlap, 01xx are the conflicts.
        const json& land = check_of(doc, "cultivated_land");
        double sum = 0;
        double farm = 0;
        for (const auto& k : land["classes"]) {
            sum += k["area"]["m2"].get<double>();
            const bool cultivated = k["class"].get<std::string>().rfind("01", 0) == 0;
            EXPECT_EQ(k["conflict"].get<bool>(), cultivated) << k;
            farm += cultivated ? k["area"]["m2"].get<double>() : 0.0;
        }
        EXPECT_NEAR(sum, land["overlap"]["m2"].get<double>(), 0.1);
        EXPECT_NEAR(farm, land["conflict_area"]["m2"].get<double>(), 0.1);
        const auto by_class = test::query_value<double>(
            std::string("WITH r AS (SELECT ST_SetSRID(ST_GeomFromGeoJSON('") + geojson + "'), 4490) g) SELECT coalesce(sum(" +
            (ellipsoidal ? "ST_Area(ST_Intersection(t.geom, r.g)::geography)"
                         : "ST_Area(ST_Intersection(ST_Transform(t.geom, 4547), ST_Transform(r.g, 4547)))") +
            "), 0) FROM onemap_data." + table_of("dltb", "2024-01-01") + " t, r WHERE ST_Intersects(t.geom, r.g) AND dlbm LIKE '01%'");
        EXPECT_NEAR(farm, by_class, std::max(0.02, by_class * 1e-4));
        EXPECT_EQ(doc["conclusion"], "conflict");
    }
}

TEST_F(analysis_http, every_accepted_crs_gives_the_same_answer)
{
    const std::string lonlat = red_line(URBAN_EDGE, 1500, 4490);
    auto reference = post("/analysis/compliance?datetime=2024-01-01", lonlat); // no crs: RFC 7946 lon/lat
    ASSERT_EQ(reference->status, 200) << reference->body;
    const json ref = json::parse(reference->body);
    const double area = ref["project"]["area"]["m2"].get<double>();
    ASSERT_GT(area, 1e6);

    std::string prefixed = red_line(URBAN_EDGE, 1500, 4547);
    json g = json::parse(prefixed);
    for (auto& ring : g["coordinates"]) {
        for (auto& p : ring) {
            p[0] = p[0].get<double>() + 38000000.0;
        }
    }
    const std::vector<std::pair<std::string, std::string>> variants{
        {"CGCS2000 URN", with_crs(lonlat, "urn:ogc:def:crs:EPSG::4490")},
        {"WGS 84", with_crs(lonlat, "EPSG:4326")},
        {"CRS84", with_crs(lonlat, "urn:ogc:def:crs:OGC:1.3:CRS84")},
        {"GK zone 38 without prefix", with_crs(red_line(URBAN_EDGE, 1500, 4547), "EPSG:4547")},
        {"GK zone 38 with prefix", with_crs(g.dump(), "http://www.opengis.net/def/crs/EPSG/0/4526")},
        {"as a Feature", json({{"type", "Feature"}, {"properties", json::object()}, {"geometry", json::parse(lonlat)}}).dump()},
    };
    for (const auto& v : variants) {
        auto res = post("/analysis/compliance?datetime=2024-01-01", v.second);
        ASSERT_EQ(res->status, 200) << v.first << ": " << res->body;
        const json doc = json::parse(res->body);
        EXPECT_NEAR(doc["project"]["area"]["m2"].get<double>(), area, area * 1e-6) << v.first;
        for (std::size_t i = 0; i < ref["checks"].size(); ++i) {
            const double a = ref["checks"][i]["overlap"]["m2"].get<double>();
            EXPECT_NEAR(doc["checks"][i]["overlap"]["m2"].get<double>(), a, std::max(0.05, a * 1e-5)) << v.first;
        }
    }
    // The crs parameter wins over the body.
    auto res = post("/analysis/compliance?datetime=2024-01-01&crs=EPSG:4547", red_line(URBAN_EDGE, 1500, 4547));
    ASSERT_EQ(res->status, 200) << res->body;
    EXPECT_EQ(json::parse(res->body)["input_crs"], "EPSG:4547");
}

// A review over data the server holds is answered on the I/O thread (the hand-over to a worker
// cost as much as the review itself); a long red line, an HTML report and the first review of
// a layer version (it is read from the database) move to a worker. Every answer is the same.
TEST_F(analysis_http, reviews_of_held_data_are_answered_on_the_io_thread_and_long_ones_on_workers)
{
    auto c = server().client();
    auto on_workers = [&c] {
        const auto stats = c.Get("/stats");
        EXPECT_TRUE(stats && stats->status == 200);
        return json::parse(stats->body)["http"]["on_workers"].get<std::uint64_t>();
    };
    const std::string path = "/analysis/compliance?datetime=2024-01-01";
    const std::string geojson = red_line(URBAN_EDGE, 800, 4490);
    const auto first = post(path, geojson);
    ASSERT_EQ(first->status, 200) << first->body;
    const auto before = on_workers();
    for (int i = 0; i < 3; ++i) {
        const auto again = post(path, geojson);
        ASSERT_EQ(again->status, 200);
        EXPECT_EQ(again->body, first->body);
    }
    EXPECT_EQ(on_workers(), before);
    expect_matches_postgis(json::parse(first->body), geojson, false, "2024-01-01");
    // The same circle drawn with 4,000 vertices: more than 32 KB to read, on a worker.
    const std::string long_line = red_line(URBAN_EDGE, 800, 4490, 1000);
    ASSERT_GT(long_line.size(), 32U * 1024);
    const auto long_review = post(path, long_line);
    ASSERT_EQ(long_review->status, 200) << long_review->body;
    EXPECT_EQ(on_workers(), before + 1);
    expect_matches_postgis(json::parse(long_review->body), long_line, false, "2024-01-01");
    const auto report = post(path + "&format=html", geojson);
    ASSERT_EQ(report->status, 200);
    EXPECT_EQ(on_workers(), before + 2);
    // A refusal found on the I/O thread is answered there.
    EXPECT_EQ(post(path, "{\"type\":\"Point\",\"coordinates\":[114,33]}")->status, 400);
    EXPECT_EQ(on_workers(), before + 2);
}

TEST_F(analysis_http, a_red_line_on_the_ecological_red_line_conflicts_feature_by_feature)
{
    const std::string geojson = red_line("SELECT ST_PointOnSurface(geom) FROM onemap_data.ecological_redline__v1 ORDER BY fid LIMIT 1",
                                         1200, 4490);
    auto res = post("/analysis/compliance?datetime=2024-01-01&checks=ecological_redline", geojson);
    ASSERT_EQ(res->status, 200) << res->body;
    const json doc = json::parse(res->body);
    ASSERT_EQ(doc["checks"].size(), 1u);
    const json& c = doc["checks"][0];
    EXPECT_EQ(c["conclusion"], "conflict");
    ASSERT_FALSE(c["features"].empty());
    EXPECT_FALSE(c["features"][0]["properties"]["sthxmc"].get<std::string>().empty());
    EXPECT_GT(c["overlap_share"].get<double>(), 0.0);
    const auto expected = postgis_overlaps(table_of("ecological_redline", "2024-01-01"), geojson, false);
    double total = 0;
    for (const auto& e : expected) {
        total += e.second;
    }
    EXPECT_NEAR(c["overlap"]["m2"].get<double>(), total, total * 1e-4);
}

TEST_F(analysis_http, the_html_report_draws_the_red_line_on_its_map)
{
    const std::string geojson = red_line(URBAN_EDGE, 1500, 4490);
    auto res = post("/analysis/compliance?datetime=2024-01-01&format=html", geojson);
    ASSERT_EQ(res->status, 200) << res->body.substr(0, 300);
    EXPECT_EQ(res->get_header_value("Content-Type").rfind("text/html", 0), 0u);
    EXPECT_NE(res->body.find("城镇开发边界"), std::string::npos);
    const std::string tag = "data:image/png;base64,";
    const auto at = res->body.find(tag);
    ASSERT_NE(at, std::string::npos);
    const std::string b64 = res->body.substr(at + tag.size(), res->body.find('"', at) - at - tag.size());
    // Decode with GDAL (an independent PNG reader) through /vsimem.
    GDALAllRegister();
    const std::string path = "/vsimem/report_map.png.b64";
    std::vector<GByte> bytes(b64.begin(), b64.end());
    bytes.push_back(0);
    const int n = CPLBase64DecodeInPlace(bytes.data());
    const GDALDatasetUniquePtr ds =
        test::open_png_rgba(std::string(reinterpret_cast<const char*>(bytes.data()), static_cast<std::size_t>(n)));
    ASSERT_TRUE(ds);
    const int w = ds->GetRasterXSize();
    const int h = ds->GetRasterYSize();
    EXPECT_EQ(w, 800);
    EXPECT_EQ(h, 600);
    std::vector<GByte> r(static_cast<std::size_t>(w * h)), g(r.size()), b(r.size());
    ASSERT_EQ(ds->GetRasterBand(1)->RasterIO(GF_Read, 0, 0, w, h, r.data(), w, h, GDT_Byte, 0, 0), CE_None);
    ASSERT_EQ(ds->GetRasterBand(2)->RasterIO(GF_Read, 0, 0, w, h, g.data(), w, h, GDT_Byte, 0, 0), CE_None);
    ASSERT_EQ(ds->GetRasterBand(3)->RasterIO(GF_Read, 0, 0, w, h, b.data(), w, h, GDT_Byte, 0, 0), CE_None);
    // Where the red line lands in the image (the report's own framing), and the stroke colour
    // (230, 0, 0) along it: every edge midpoint has a red pixel within 2 px.
    analysis::polygon poly;
    analysis::ring ring;
    const json shape = json::parse(geojson);
    for (const auto& p : shape["coordinates"][0]) {
        ring.push_back({p[0].get<double>(), p[1].get<double>()});
    }
    poly.push_back(ring);
    const auto frame = analysis::frame_for({poly}, 800, 600);
    auto red_near = [&](double fx, double fy) {
        for (int dy = -2; dy <= 2; ++dy) {
            for (int dx = -2; dx <= 2; ++dx) {
                const int x = static_cast<int>(std::lround(fx)) + dx;
                const int y = static_cast<int>(std::lround(fy)) + dy;
                if (x < 0 || y < 0 || x >= w || y >= h) {
                    continue;
                }
                const auto i = static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + static_cast<std::size_t>(x);
                if (r[i] > 190 && g[i] < 50 && b[i] < 50) {
                    return true;
                }
            }
        }
        return false;
    };
    std::size_t red = 0;
    for (std::size_t k = 0; k + 1 < ring.size(); ++k) {
        const auto p0 = analysis::image_position(frame, ring[k]);
        const auto p1 = analysis::image_position(frame, ring[k + 1]);
        EXPECT_TRUE(p0.first > 40 && p0.first < 760 && p0.second > 30 && p0.second < 570) << "framed with a margin";
        red += red_near((p0.first + p1.first) / 2, (p0.second + p1.second) / 2) ? 1 : 0;
    }
    EXPECT_EQ(red, ring.size() - 1) << "the red line's stroke is missing along some edges";
    // The basemap is drawn under it: the image is not one flat colour.
    std::set<int> colours;
    for (std::size_t i = 0; i < r.size(); i += 97) {
        colours.insert(r[i] << 16 | g[i] << 8 | b[i]);
    }
    EXPECT_GT(colours.size(), 5u);
}

TEST_F(analysis_http, bad_red_lines_are_400_naming_the_problem)
{
    const std::string ok = red_line(URBAN_EDGE, 500, 4490);
    json bare_gk = json::parse(red_line(URBAN_EDGE, 500, 4547));
    bare_gk.erase("crs"); // GK coordinates with no CRS stated
    struct bad {
        std::string label;
        std::string query;
        std::string body;
        std::string parameter;
        std::string words;
    };
    json far = json::parse(ok);
    for (auto& ring : far["coordinates"]) {
        for (auto& p : ring) {
            p[0] = p[0].get<double>() - 10; // 10° west: inside China's zones, outside the city
        }
    }
    const std::vector<bad> cases{
        {"invalid JSON", "", "{\"type\": \"Polygon\", ", "body", "invalid JSON"},
        {"not a polygon", "", R"({"type":"LineString","coordinates":[[114,33],[114.1,33.1]]})", "geometry", "LineString"},
        {"empty collection", "", R"({"type":"FeatureCollection","features":[]})", "geometry", "no polygon"},
        {"empty body", "", "", "body", "empty"},
        {"a bow-tie", "", R"({"type":"Polygon","coordinates":[[[114.0,33.0],[114.01,33.01],[114.01,33.0],[114.0,33.01],[114.0,33.0]]]})",
         "geometry", "Self-intersection"},
        {"open ring", "", R"({"type":"Polygon","coordinates":[[[114.0,33.0],[114.01,33.0],[114.01,33.01],[114.0,33.01]]]})",
         "geometry", "not closed"},
        {"Web Mercator", "", with_crs(ok, "EPSG:3857"), "crs", "not accepted"},
        {"GK sent as lon/lat", "", bare_gk.dump(), "crs", "longitude/latitude"},
        {"prefixed eastings under the unprefixed CRS", "&crs=EPSG:4547",
         R"({"type":"Polygon","coordinates":[[[38500000,3650000],[38501000,3650000],[38501000,3651000],[38500000,3650000]]]})",
         "crs", "EPSG:4526"},
        {"outside the city", "", far.dump(), "geometry", "outside the city"},
        {"too large", "", red_line(URBAN_EDGE, 7000, 4490), "geometry", "max_area_km2"},
        {"unknown method", "&method=spherical", ok, "method", "planar or ellipsoidal"},
        {"unknown check", "&checks=nope", ok, "checks", "nope"},
        {"unknown format", "&format=pdf", ok, "format", "pdf"},
    };
    for (const auto& c : cases) {
        auto res = post("/analysis/compliance?datetime=2024-01-01" + c.query, c.body);
        ASSERT_TRUE(res) << c.label;
        EXPECT_EQ(res->status, 400) << c.label << ": " << res->body;
        const json doc = json::parse(res->body, nullptr, false);
        ASSERT_FALSE(doc.is_discarded()) << c.label << ": " << res->body;
        EXPECT_EQ(doc.value("parameter", ""), c.parameter) << c.label << ": " << res->body;
        EXPECT_NE(doc.value("detail", "").find(c.words), std::string::npos) << c.label << ": " << res->body;
    }
    // The server is still there, and answers the good one.
    EXPECT_EQ(post("/analysis/compliance?datetime=2024-01-01", ok)->status, 200);
}

TEST_F(analysis_http, statistics_by_village_match_postgis_and_add_up)
{
    auto res = get("/analysis/stats?layer=dltb&by=village&class_field=dlbm&datetime=2024-01-01");
    ASSERT_EQ(res->status, 200) << res->body.substr(0, 500);
    const json doc = json::parse(res->body);
    EXPECT_EQ(doc["by"], "village");
    EXPECT_EQ(doc["level"], 2);
    const std::string parcels = table_of("dltb", "2024-01-01");
    const std::string villages = table_of("admin_village", "2024-01-01");
    double regions = 0;
    std::map<std::string, double> city;
    for (const auto& r : doc["regions"]) {
        double classes = 0;
        for (const auto& c : r["classes"]) {
            classes += c["m2"].get<double>();
            city[c["class"]] += c["m2"].get<double>();
        }
        EXPECT_NEAR(classes, r["total"]["m2"].get<double>(), 0.05) << r["code"];
        regions += r["total"]["m2"].get<double>();
    }
    EXPECT_NEAR(regions, doc["total"]["m2"].get<double>(), 1.0);
    // Every class of the city against PostGIS: parcels and villages transformed to zone 38, then cut.
    auto conn = test::db().connect();
    pqxx::work txn(*conn);
    std::map<std::string, double> expected;
    double expected_total = 0;
    for (const auto& row : txn.exec("SELECT p.dlbm, sum(ST_Area(ST_Intersection(ST_Transform(p.geom, 4547), ST_Transform(v.geom, 4547)))) FROM onemap_data." +
                                    parcels + " p JOIN onemap_data." + villages +
                                    " v ON ST_Intersects(p.geom, v.geom) GROUP BY p.dlbm")) {
        expected[row[0].as<std::string>()] = row[1].as<double>();
        expected_total += row[1].as<double>();
    }
    EXPECT_NEAR(doc["total"]["m2"].get<double>(), expected_total, expected_total * 1e-4);
    for (const auto& c : doc["classes"]) {
        const double e = expected[c["class"]];
        EXPECT_NEAR(c["m2"].get<double>(), e, std::max(0.05, e * 1e-4)) << c["class"];
        EXPECT_NEAR(city[c["class"]], c["m2"].get<double>(), 0.5);
    }
    EXPECT_EQ(doc["classes"].size(), expected.size());
    // One village, class by class, within 0.1 %.
    const std::string code = doc["regions"][100]["code"];
    std::map<std::string, double> one;
    for (const auto& row : txn.exec("SELECT p.dlbm, sum(ST_Area(ST_Intersection(ST_Transform(p.geom, 4547), ST_Transform(v.geom, 4547)))) FROM onemap_data." +
                                    parcels + " p JOIN onemap_data." + villages + " v ON ST_Intersects(p.geom, v.geom) WHERE v.xzqdm = '" +
                                    code + "' GROUP BY p.dlbm")) {
        if (row[1].as<double>() >= 0.01) {
            one[row[0].as<std::string>()] = row[1].as<double>();
        }
    }
    const json& region = doc["regions"][100];
    EXPECT_EQ(region["classes"].size(), one.size());
    for (const auto& c : region["classes"]) {
        EXPECT_NEAR(c["m2"].get<double>(), one[c["class"]], std::max(0.05, one[c["class"]] * 1e-3)) << code;
    }
    // Level 1 sums level 2; a region code selects its villages.
    auto l1 = json::parse(get("/analysis/stats?layer=dltb&by=village&class_field=dlbm&level=1&datetime=2024-01-01")->body);
    double farmland = 0;
    for (const auto& c : doc["classes"]) {
        farmland += c["class"].get<std::string>().rfind("01", 0) == 0 ? c["m2"].get<double>() : 0.0;
    }
    bool found = false;
    for (const auto& c : l1["classes"]) {
        if (c["class"] == "01") {
            found = true;
            EXPECT_EQ(c["name"], "耕地");
            EXPECT_NEAR(c["m2"].get<double>(), farmland, 0.5);
        }
    }
    EXPECT_TRUE(found);
    auto county = json::parse(get("/analysis/stats?by=village&datetime=2024-01-01&region=411702")->body);
    ASSERT_FALSE(county["regions"].empty());
    for (const auto& r : county["regions"]) {
        EXPECT_EQ(r["code"].get<std::string>().rfind("411702", 0), 0u);
    }
}

TEST_F(analysis_http, statistics_as_csv_and_xlsx_open_with_chinese_headers)
{
    auto csv = get("/analysis/stats?layer=dltb&by=county&class_field=dlbm&datetime=2024-01-01&format=csv");
    ASSERT_EQ(csv->status, 200) << csv->body.substr(0, 300);
    EXPECT_EQ(csv->body.substr(0, 3), "\xEF\xBB\xBF");
    auto xlsx = get("/analysis/stats?layer=dltb&by=county&class_field=dlbm&datetime=2024-01-01&format=xlsx");
    ASSERT_EQ(xlsx->status, 200);
    EXPECT_EQ(xlsx->get_header_value("Content-Type"), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    const std::string dir = ::testing::TempDir();
    std::ofstream(dir + "stats.csv", std::ios::binary) << csv->body;
    std::ofstream(dir + "stats.xlsx", std::ios::binary) << xlsx->body;
    auto json_doc = json::parse(get("/analysis/stats?layer=dltb&by=county&class_field=dlbm&datetime=2024-01-01")->body);
    const double total = json_doc["total"]["m2"].get<double>();
    // Python reads both: the header, and the city total row.
    std::string out;
    const int rc = test::run_command(
        "/usr/bin/python3 -c \"import csv, openpyxl, sys\n"
        "rows = list(csv.reader(open('" + dir + "stats.csv', encoding='utf-8-sig')))\n"
        "print(rows[0][0], rows[0][4], rows[-1][0], rows[-1][2], rows[-1][4])\n"
        "wb = openpyxl.load_workbook('" + dir + "stats.xlsx')\n"
        "ws = wb.worksheets[0]\n"
        "data = list(ws.iter_rows(values_only=True))\n"
        "print(ws.title, data[0][0], data[0][5], type(data[-1][4]).__name__, data[-1][4])\n\"",
        &out);
    ASSERT_EQ(rc, 0) << out;
    std::istringstream in(out);
    std::string h0, h4, last0, last2, t;
    in >> h0 >> h4 >> last0 >> last2 >> t;
    EXPECT_EQ(h0, "区域代码");
    EXPECT_EQ(h4, "面积(平方米)");
    EXPECT_EQ(last0, "全部");
    EXPECT_EQ(last2, "合计");
    EXPECT_NEAR(std::stod(t), total, 0.01);
    std::string sheet, x0, x5, type, xt;
    in >> sheet >> x0 >> x5 >> type >> xt;
    EXPECT_EQ(sheet, "统计");
    EXPECT_EQ(x0, "区域代码");
    EXPECT_EQ(x5, "面积(公顷)");
    EXPECT_EQ(type, "float");
    EXPECT_NEAR(std::stod(xt), total, 0.01);
}

TEST_F(analysis_http, changes_between_survey_years_are_the_60_parcels_the_generator_changed)
{
    auto res = get("/analysis/changes?layer=dltb&from=2023-06-30&to=2024-06-30");
    ASSERT_EQ(res->status, 200) << res->body.substr(0, 500);
    const json doc = json::parse(res->body);
    EXPECT_EQ(doc["type"], "FeatureCollection");
    // What changed, by the ids the two shapefiles share.
    std::map<std::int64_t, std::pair<std::string, std::string>> expected;
    {
        auto conn = test::db().connect();
        pqxx::work txn(*conn);
        for (const auto& row : txn.exec("SELECT a.fid, a.dlbm, b.dlbm FROM onemap_data." + table_of("dltb", "2023-06-30") +
                                        " a JOIN onemap_data." + table_of("dltb", "2024-06-30") +
                                        " b USING (fid) WHERE a.dlbm <> b.dlbm")) {
            expected[row[0].as<std::int64_t>()] = {row[1].as<std::string>(), row[2].as<std::string>()};
        }
    }
    ASSERT_EQ(expected.size(), 60u);
    std::map<std::int64_t, std::pair<std::string, std::string>> found;
    double changed = 0;
    for (const auto& f : doc["features"]) {
        const auto from = f["properties"]["from_id"].get<std::int64_t>();
        if (BROKEN.count(from) != 0) {
            continue; // an overlapping broken 2022 parcel: documented, not a survey change
        }
        EXPECT_EQ(f["properties"]["to_id"].get<std::int64_t>(), from);
        found[from] = {f["properties"]["from_class"], f["properties"]["to_class"]};
        EXPECT_FALSE(f["properties"]["to_name"].get<std::string>().empty());
        EXPECT_EQ(f["geometry"]["type"].get<std::string>().find("Polygon") != std::string::npos, true);
        changed += f["properties"]["area"]["m2"].get<double>();
    }
    EXPECT_EQ(found, expected);
    // The matrix holds the same areas off its diagonal, and the diagonal holds the rest.
    double off = 0;
    for (const auto& m : doc["matrix"]) {
        if (m["from"] != m["to"] && !m["from"].is_null() && !m["to"].is_null()) {
            off += m["m2"].get<double>();
        }
    }
    double broken = 0;
    for (const auto& f : doc["features"]) {
        if (BROKEN.count(f["properties"]["from_id"].get<std::int64_t>()) != 0) {
            broken += f["properties"]["area"]["m2"].get<double>();
        }
    }
    EXPECT_NEAR(off, changed + broken, 0.5);
    const double parcels_changed = test::query_value<double>(
        "SELECT sum(ST_Area(ST_Transform(b.geom, 4547))) FROM onemap_data." + table_of("dltb", "2024-06-30") +
        " b JOIN onemap_data." + table_of("dltb", "2023-06-30") + " a USING (fid) WHERE a.dlbm <> b.dlbm");
    EXPECT_NEAR(changed, parcels_changed, parcels_changed * 1e-4);

    // A bbox keeps the changes inside it, cut at its edge.
    auto some = json::parse(get("/analysis/changes?layer=dltb&from=2023-06-30&to=2024-06-30&bbox=113.9,32.8,114.3,33.2")->body);
    for (const auto& f : some["features"]) {
        EXPECT_EQ(found.count(f["properties"]["from_id"].get<std::int64_t>()) + BROKEN.count(f["properties"]["from_id"].get<std::int64_t>()), 1u);
    }
    EXPECT_LT(some["features"].size(), doc["features"].size());
}

TEST_F(analysis_http, change_matrix_as_csv_and_xlsx)
{
    auto csv = get("/analysis/changes?from=2023-06-30&to=2024-06-30&format=csv");
    ASSERT_EQ(csv->status, 200) << csv->body.substr(0, 300);
    auto xlsx = get("/analysis/changes?from=2023-06-30&to=2024-06-30&format=xlsx");
    ASSERT_EQ(xlsx->status, 200);
    const std::string dir = ::testing::TempDir();
    std::ofstream(dir + "changes.csv", std::ios::binary) << csv->body;
    std::ofstream(dir + "changes.xlsx", std::ios::binary) << xlsx->body;
    std::string out;
    const int rc = test::run_command(
        "/usr/bin/python3 -c \"import csv, openpyxl\n"
        "rows = list(csv.reader(open('" + dir + "changes.csv', encoding='utf-8-sig')))\n"
        "print(rows[0][0].split()[0], len(rows) > 5, rows[0][-1])\n"
        "wb = openpyxl.load_workbook('" + dir + "changes.xlsx')\n"
        "print(wb.sheetnames[0].split('(')[0], wb.sheetnames[1], wb.worksheets[1].max_row - 1)\n\"",
        &out);
    ASSERT_EQ(rc, 0) << out;
    std::istringstream in(out);
    std::string first, many, last, sheet0, sheet1;
    int pieces = 0;
    in >> first >> many >> last >> sheet0 >> sheet1 >> pieces;
    EXPECT_EQ(first, "原地类");
    EXPECT_EQ(many, "True");
    EXPECT_EQ(last, "合计");
    EXPECT_EQ(sheet0, "转移矩阵");
    EXPECT_EQ(sheet1, "变化图斑");
    EXPECT_GE(pieces, 60);
}

TEST_F(analysis_http, bad_statistics_and_change_requests_are_400_naming_the_parameter)
{
    const std::vector<std::pair<std::string, std::string>> cases{
        {"/analysis/stats?layer=dltb&class_field=dlbm", "by"},
        {"/analysis/stats?layer=dltb&by=province&class_field=dlbm", "by"},
        {"/analysis/stats?layer=dltb&by=village&class_field=nope", "class_field"},
        {"/analysis/stats?layer=dltb&by=village&level=3", "level"},
        {"/analysis/stats?layer=river&by=village&class_field=hymc", "layer"},
        {"/analysis/stats?layer=no_such&by=village", "layer"},
        {"/analysis/stats?by=village&format=pdf", "format"},
        {"/analysis/stats?by=village&region=999", "region"},
        {"/analysis/stats?by=village&datetime=2020-01-01", "datetime"},
        {"/analysis/changes?to=2024-06-30", "from"},
        {"/analysis/changes?from=2023-06-30&to=yesterday", "to"},
        {"/analysis/changes?from=2024-06-30&to=2023-06-30", "from"},
        {"/analysis/changes?from=2020-01-01&to=2024-06-30", "from"},
        {"/analysis/changes?from=2023-06-30&to=2024-06-30&bbox=114,33,113,34", "bbox"},
        {"/analysis/changes?from=2023-06-30&to=2024-06-30&bbox=1,2,3", "bbox"},
        {"/analysis/changes?from=2023-06-30&to=2024-06-30&region=000", "region"},
        {"/analysis/changes?from=2023-06-30&to=2024-06-30&method=flat", "method"},
    };
    for (const auto& c : cases) {
        auto res = get(c.first);
        ASSERT_TRUE(res) << c.first;
        EXPECT_EQ(res->status, 400) << c.first << ": " << res->body;
        const json doc = json::parse(res->body, nullptr, false);
        EXPECT_EQ(doc.value("parameter", ""), c.second) << c.first << ": " << res->body;
    }
}
