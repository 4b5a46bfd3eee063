// WMTS 1.0.0 as real clients use it: the capabilities validate against the official schema
// (offline, Debian python3-mapproxy's copy), GDAL's WMTS driver and OWSLib fetch PNG tiles of
// the basemap from the Web Mercator and the CGCS2000 grids and find a reservoir blue and a
// red line red at the same places, every exception path is a valid ExceptionReport, and
// the TIME dimension selects versions.
#include "png_rgba.hpp"
#include "sample_points.hpp"
#include "server_process.hpp"
#include "tempdb.hpp"

#include "onemap/core/tile_matrix_set.hpp"

#include <cpl_vsi.h>
#include <gdal_priv.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <thread>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>

using namespace onemap;

namespace {

const std::string SCHEMAS = "/usr/share/python3-mapproxy/test/schemas";

using test::lonlat;
using test::point_of;

struct rgb {
    int r = 0;
    int g = 0;
    int b = 0;
};

bool watery(const rgb& c)
{
    return c.b > c.r + 60 && c.b > c.g + 20;
}

bool red(const rgb& c)
{
    return c.r > 170 && c.g < 110 && c.b < 110;
}

std::string temp_path(const std::string& name)
{
    return (std::filesystem::temp_directory_path() / ("onemap_wmts_" + std::to_string(::getpid()) + "_" + name)).string();
}

void write_file(const std::string& path, const std::string& body)
{
    std::ofstream(path, std::ios::binary) << body;
}

// xmllint against a schema of the OGC bundle; "" when valid, else what xmllint said.
std::string schema_errors(const std::string& xml, const std::string& schema)
{
    const std::string file = temp_path("doc.xml");
    write_file(file, xml);
    std::string out;
    const int rc = test::run_command("xmllint --noout --nonet --schema " + SCHEMAS + "/" + schema + " " + file, &out);
    std::filesystem::remove(file);
    return rc == 0 ? std::string() : out;
}

class wmts_http : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        GDALAllRegister();
        std::string out;
        ASSERT_EQ(test::run_import("--manifest " + test::data_samples() + "/manifest.yaml", &out), 0) << out;
        s_server = new test::server_process(test::db().conninfo(),
                                            {"--config", test::source_dir() + "/tileserver/onemap.yaml", "--styles",
                                             test::source_dir() + "/styles"});
        s_reservoir = test::reservoir_point();
        s_reservoir_name = test::reservoir_name();
        s_redline = test::redline_point();
        s_dry = test::dry_point();
    }
    static void TearDownTestSuite()
    {
        delete s_server;
        s_server = nullptr;
    }
    static httplib::Result get(const std::string& path) { return s_server->client().Get(path); }

    // Checks an ExceptionReport: status, code, locator, and validity against the OWS schema.
    static void expect_exception(const std::string& path, int status, const std::string& code,
                                 const std::string& locator)
    {
        const auto res = get(path);
        ASSERT_TRUE(res) << path;
        EXPECT_EQ(res->status, status) << path << "\n" << res->body;
        EXPECT_NE(res->get_header_value("Content-Type").find("xml"), std::string::npos) << path;
        EXPECT_NE(res->body.find("exceptionCode=\"" + code + "\""), std::string::npos) << path << "\n" << res->body;
        if (!locator.empty()) {
            EXPECT_NE(res->body.find("locator=\"" + locator + "\""), std::string::npos) << path << "\n" << res->body;
        }
        EXPECT_EQ(schema_errors(res->body, "ows/1.1.0/owsExceptionReport.xsd"), "") << path << "\n" << res->body;
    }

    static test::server_process* s_server;
    static lonlat s_reservoir;
    static std::string s_reservoir_name;
    static lonlat s_redline;
    static lonlat s_dry;
};

test::server_process* wmts_http::s_server = nullptr;
lonlat wmts_http::s_reservoir;
std::string wmts_http::s_reservoir_name;
lonlat wmts_http::s_redline;
lonlat wmts_http::s_dry;

// The tile (col, row) and the pixel inside it holding a point, for a matrix set level.
struct tile_pixel {
    std::uint64_t col = 0;
    std::uint64_t row = 0;
    int i = 0;
    int j = 0;
};

tile_pixel locate(const core::tile_matrix_set& tms, int level, lonlat p)
{
    const auto* m = tms.matrix(level);
    const double x = tms.geographic() ? p.lon : core::lon_to_mercator_x(p.lon);
    const double y = tms.geographic() ? p.lat : core::lat_to_mercator_y(p.lat);
    const double px = (x - m->origin_x) / m->cell_size;
    const double py = (m->origin_y - y) / m->cell_size;
    tile_pixel t;
    t.col = static_cast<std::uint64_t>(px / m->tile_width);
    t.row = static_cast<std::uint64_t>(py / m->tile_height);
    t.i = static_cast<int>(px - static_cast<double>(t.col * m->tile_width));
    t.j = static_cast<int>(py - static_cast<double>(t.row * m->tile_height));
    return t;
}

} // namespace

TEST_F(wmts_http, capabilities_validate_against_the_ogc_schema_in_both_encodings)
{
    const auto kvp = get("/wmts?SERVICE=WMTS&REQUEST=GetCapabilities");
    ASSERT_TRUE(kvp);
    ASSERT_EQ(kvp->status, 200) << kvp->body;
    EXPECT_EQ(schema_errors(kvp->body, "wmts/1.0/wmtsGetCapabilities_response.xsd"), "");
    const auto rest = get("/wmts/1.0.0/WMTSCapabilities.xml");
    ASSERT_TRUE(rest);
    ASSERT_EQ(rest->status, 200);
    EXPECT_EQ(rest->body, kvp->body);
    // Case-insensitive names, unknown parameters (a Tianditu key) ignored.
    const auto mixed = get("/wmts?service=WMTS&Request=GetCapabilities&tk=0123456789abcdef");
    ASSERT_TRUE(mixed);
    EXPECT_EQ(mixed->status, 200);
    EXPECT_EQ(mixed->body, kvp->body);
}

TEST_F(wmts_http, capabilities_write_every_matrix_set_with_the_crs_and_corner_clients_expect)
{
    const std::string caps = get("/wmts/1.0.0/WMTSCapabilities.xml")->body;
    for (const auto* tms : core::all_tile_matrix_sets()) {
        EXPECT_NE(caps.find("<ows:Identifier>" + tms->id() + "</ows:Identifier>"), std::string::npos) << tms->id();
    }
    // CGCS2000: the URN (GDAL and QGIS agree on lat/lon order for it) and the corner 90 -180
    // on every level.
    const auto cgcs = caps.substr(caps.find("<ows:Identifier>CGCS2000Quad</ows:Identifier>"));
    const auto cgcs_set = cgcs.substr(0, cgcs.find("</TileMatrixSet>"));
    EXPECT_NE(cgcs_set.find("<ows:SupportedCRS>urn:ogc:def:crs:EPSG::4490</ows:SupportedCRS>"), std::string::npos);
    std::size_t corners = 0;
    for (std::size_t at = cgcs_set.find("<TopLeftCorner>"); at != std::string::npos;
         at = cgcs_set.find("<TopLeftCorner>", at + 1)) {
        EXPECT_EQ(cgcs_set.substr(at, 32), "<TopLeftCorner>90 -180</TopLeftC");
        ++corners;
    }
    EXPECT_EQ(corners, 18u);
    // Level 1 of the Tianditu "c" layout: 2 × 1 tiles, OGC-correct scale (0.28 mm pixel).
    EXPECT_NE(cgcs_set.find("<ows:Identifier>1</ows:Identifier>\n        <ScaleDenominator>279541132.01435"),
              std::string::npos);
    const auto merc = caps.substr(caps.find("<ows:Identifier>WebMercatorQuad</ows:Identifier>"));
    EXPECT_NE(merc.find("<TopLeftCorner>-20037508.342789244 20037508.342789244</TopLeftCorner>"), std::string::npos);
    EXPECT_NE(merc.find("<ScaleDenominator>559082264.02871776</ScaleDenominator>"), std::string::npos);
}

TEST_F(wmts_http, basemap_and_every_layer_are_layers_with_a_time_dimension_of_their_versions)
{
    const std::string caps = get("/wmts/1.0.0/WMTSCapabilities.xml")->body;
    for (const char* name : {"basemap", "grid", "dltb", "reservoir", "river", "ecological_redline", "admin_county"}) {
        EXPECT_NE(caps.find(std::string("<ows:Identifier>") + name + "</ows:Identifier>\n      <Style"),
                  std::string::npos)
            << name;
    }
    // grid has versions from 2023-01-01 and 2024-07-01; the current one is the default.
    const auto grid = caps.substr(caps.find("<ows:Identifier>grid</ows:Identifier>"));
    const auto dim = grid.substr(grid.find("<Dimension>"), grid.find("</Dimension>") - grid.find("<Dimension>"));
    EXPECT_NE(dim.find("<ows:Identifier>time</ows:Identifier>"), std::string::npos);
    EXPECT_NE(dim.find("<Default>2024-07-01</Default>"), std::string::npos) << dim;
    EXPECT_NE(dim.find("<Value>2023-01-01</Value>"), std::string::npos);
    EXPECT_NE(dim.find("<Value>2024-07-01</Value>"), std::string::npos);
    EXPECT_NE(grid.find("template=\"" + s_server->base_url() +
                        "/wmts/1.0.0/grid/{Style}/{time}/{TileMatrixSet}/{TileMatrix}/{TileRow}/{TileCol}.png\""),
              std::string::npos);
}

TEST_F(wmts_http, kvp_and_restful_gettile_return_the_same_png_and_mvt)
{
    const auto t = locate(core::cgcs2000_quad(), 12, s_reservoir);
    const std::string rest = "/wmts/1.0.0/basemap/default/CGCS2000Quad/12/" + std::to_string(t.row) + "/" +
                             std::to_string(t.col);
    const std::string kvp = "/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=basemap&STYLE=default"
                            "&TILEMATRIXSET=CGCS2000Quad&TILEMATRIX=12&TILEROW=" +
                            std::to_string(t.row) + "&TILECOL=" + std::to_string(t.col);
    const auto png_rest = get(rest + ".png");
    const auto png_kvp = get(kvp + "&FORMAT=image/png");
    const auto png_lower = get("/wmts?service=WMTS&request=GetTile&version=1.0.0&layer=basemap&style=default"
                               "&tilematrixset=CGCS2000Quad&tilematrix=12&tilerow=" +
                               std::to_string(t.row) + "&tilecol=" + std::to_string(t.col) + "&format=image/png&tk=x");
    ASSERT_TRUE(png_rest && png_kvp && png_lower);
    ASSERT_EQ(png_rest->status, 200) << png_rest->body;
    EXPECT_EQ(png_rest->get_header_value("Content-Type"), "image/png");
    EXPECT_EQ(png_rest->body.substr(0, 8), "\x89PNG\r\n\x1a\n");
    EXPECT_EQ(png_kvp->body, png_rest->body);
    EXPECT_EQ(png_lower->body, png_rest->body);
    const auto mvt_rest = get(rest + ".mvt");
    const auto mvt_kvp = get(kvp + "&FORMAT=application/vnd.mapbox-vector-tile");
    ASSERT_EQ(mvt_rest->status, 200);
    EXPECT_EQ(mvt_rest->get_header_value("Content-Type"), "application/vnd.mapbox-vector-tile");
    EXPECT_EQ(mvt_kvp->body, mvt_rest->body);
    // The same tile through the XYZ-style raster route of the same matrix set.
    const auto xyz = get("/tiles/basemap/CGCS2000Quad/12/" + std::to_string(t.col) + "/" + std::to_string(t.row) + ".png");
    EXPECT_EQ(xyz->body, png_rest->body);
}

TEST_F(wmts_http, gdal_wmts_driver_puts_water_and_red_lines_in_the_same_places_on_both_grids)
{
    // gdal_translate of a small window around each known point to PNG, from each grid; the
    // window is georeferenced by GDAL (.aux.xml), the point located in it by its coordinates.
    auto window_colors = [&](const char* tms_id, lonlat p, int& blue, int& reds) {
        const std::string out = temp_path(std::string(tms_id) + ".png");
        // Web Mercator level 13 and CGCS2000 level 13 have the same resolution at the equator.
        const std::string src = "WMTS:" + s_server->base_url() + "/wmts/1.0.0/WMTSCapabilities.xml,layer=basemap,"
                                "tilematrixset=" + tms_id + ",tilematrix=13";
        const double pad = 0.004;
        char projwin[160];
        std::snprintf(projwin, sizeof projwin, "-projwin %.6f %.6f %.6f %.6f -projwin_srs EPSG:4326", p.lon - pad,
                      p.lat + pad, p.lon + pad, p.lat - pad);
        std::string log;
        ASSERT_EQ(test::run_command("gdal_translate -q --config GDAL_ENABLE_WMS_CACHE NO -of PNG " + std::string(projwin) + " '" + src + "' " + out, &log), 0)
            << log;
        GDALDatasetUniquePtr ds(GDALDataset::Open(out.c_str(), GDAL_OF_RASTER));
        ASSERT_TRUE(ds);
        ASSERT_GE(ds->GetRasterCount(), 3);
        double gt[6];
        ASSERT_EQ(ds->GetGeoTransform(gt), CE_None);
        const bool mercator = std::string(tms_id) == "WebMercatorQuad";
        const double x = mercator ? core::lon_to_mercator_x(p.lon) : p.lon;
        const double y = mercator ? core::lat_to_mercator_y(p.lat) : p.lat;
        const int px = static_cast<int>((x - gt[0]) / gt[1]);
        const int py = static_cast<int>((y - gt[3]) / gt[5]);
        ASSERT_GT(px, 3);
        ASSERT_GT(py, 3);
        ASSERT_LT(px, ds->GetRasterXSize() - 3);
        ASSERT_LT(py, ds->GetRasterYSize() - 3);
        blue = 0;
        reds = 0;
        for (int dy = -2; dy <= 2; ++dy) {
            for (int dx = -2; dx <= 2; ++dx) {
                rgb c;
                int* channel[3] = {&c.r, &c.g, &c.b};
                for (int band = 1; band <= 3; ++band) {
                    GByte v = 0;
                    EXPECT_EQ(ds->GetRasterBand(band)->RasterIO(GF_Read, px + dx, py + dy, 1, 1, &v, 1, 1, GDT_Byte, 0, 0),
                              CE_None);
                    *channel[band - 1] = v;
                }
                blue += watery(c);
                reds += red(c);
            }
        }
        std::filesystem::remove(out);
        std::filesystem::remove(out + ".aux.xml");
    };
    for (const char* tms_id : {"WebMercatorQuad", "CGCS2000Quad"}) {
        SCOPED_TRACE(tms_id);
        int blue = 0;
        int reds = 0;
        window_colors(tms_id, s_reservoir, blue, reds);
        EXPECT_GE(blue, 20) << "reservoir at " << s_reservoir.lon << "," << s_reservoir.lat;
        window_colors(tms_id, s_redline, blue, reds);
        EXPECT_GE(reds, 3) << "red line at " << s_redline.lon << "," << s_redline.lat;
        window_colors(tms_id, s_dry, blue, reds);
        EXPECT_EQ(blue, 0) << "dry land at " << s_dry.lon << "," << s_dry.lat;
        EXPECT_EQ(reds, 0) << "dry land at " << s_dry.lon << "," << s_dry.lat;
    }
}

TEST_F(wmts_http, owslib_reads_the_capabilities_and_fetches_tiles_and_feature_info)
{
    char args[256];
    std::snprintf(args, sizeof args, " %.8f %.8f %.8f %.8f", s_reservoir.lon, s_reservoir.lat, s_dry.lon, s_dry.lat);
    std::string out;
    const int rc = test::run_command("/usr/bin/python3 " + test::source_dir() + "/tests/http/wmts_owslib.py " +
                                         s_server->base_url() + args + " '" + s_reservoir_name + "'",
                                     &out);
    EXPECT_EQ(rc, 0) << out;
}

TEST_F(wmts_http, feature_info_names_the_feature_under_the_pixel_in_json_and_html)
{
    const auto t = locate(core::web_mercator_quad(), 13, s_reservoir);
    const std::string path = "/wmts/1.0.0/basemap/default/WebMercatorQuad/13/" + std::to_string(t.row) + "/" +
                             std::to_string(t.col) + "/" + std::to_string(t.j) + "/" + std::to_string(t.i);
    const auto json = get(path + ".json");
    ASSERT_EQ(json->status, 200) << json->body;
    const auto doc = nlohmann::json::parse(json->body);
    bool found = false;
    for (const auto& f : doc["features"]) {
        found |= f["layer"] == "reservoir" && f["properties"]["skmc"] == s_reservoir_name;
    }
    EXPECT_TRUE(found) << json->body;
    const auto kvp = get("/wmts?SERVICE=WMTS&REQUEST=GetFeatureInfo&VERSION=1.0.0&LAYER=basemap&STYLE=default&"
                         "FORMAT=image/png&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=13&TILEROW=" +
                         std::to_string(t.row) + "&TILECOL=" + std::to_string(t.col) + "&I=" + std::to_string(t.i) +
                         "&J=" + std::to_string(t.j) + "&INFOFORMAT=application/json");
    ASSERT_EQ(kvp->status, 200) << kvp->body;
    EXPECT_EQ(nlohmann::json::parse(kvp->body), doc);
    const auto html = get(path + ".html");
    ASSERT_EQ(html->status, 200);
    EXPECT_NE(html->get_header_value("Content-Type").find("text/html"), std::string::npos);
    EXPECT_NE(html->body.find(s_reservoir_name), std::string::npos);
    // As a browser asks (curl, with a browser's Accept-Encoding): never Brotli, which
    // cpp-httplib would apply by itself at quality 11 to any text/ answer.
    {
        std::string headers;
        ASSERT_EQ(test::run_command("curl -sS -D - -o /dev/null -H 'Accept-Encoding: gzip, deflate, br' '" +
                                        s_server->base_url() + path + ".html'",
                                    &headers),
                  0)
            << headers;
        EXPECT_NE(headers.find("200 OK"), std::string::npos) << headers;
        EXPECT_EQ(headers.find("Content-Encoding: br"), std::string::npos) << headers;
    }
    // Dry land has no reservoir.
    const auto d = locate(core::web_mercator_quad(), 13, s_dry);
    const auto dry = nlohmann::json::parse(get("/wmts/1.0.0/reservoir/default/WebMercatorQuad/13/" + std::to_string(d.row) +
                                               "/" + std::to_string(d.col) + "/" + std::to_string(d.j) + "/" +
                                               std::to_string(d.i) + ".json")
                                               ->body);
    EXPECT_TRUE(dry["features"].empty()) << dry.dump();
}

TEST_F(wmts_http, time_selects_the_version_drawn_and_queried)
{
    // A grid that exists only in the 2024-07-01 version (moved or split).
    const auto code = test::query_value("SELECT wgbm FROM onemap_data.grid__v2 WHERE wgbm NOT IN (SELECT wgbm FROM "
                                        "onemap_data.grid__v1) ORDER BY wgbm LIMIT 1");
    const lonlat p = point_of("SELECT ST_PointOnSurface(geom) FROM onemap_data.grid__v2 WHERE wgbm = '" + code + "'");
    const auto t = locate(core::cgcs2000_quad(), 16, p);
    const std::string tail = "/CGCS2000Quad/16/" + std::to_string(t.row) + "/" + std::to_string(t.col) + "/" +
                             std::to_string(t.j) + "/" + std::to_string(t.i) + ".json";
    auto codes_at = [&](const std::string& time) {
        const auto doc = nlohmann::json::parse(get("/wmts/1.0.0/grid/default/" + time + tail)->body);
        std::vector<std::string> codes;
        for (const auto& f : doc["features"]) {
            codes.push_back(f["properties"]["wgbm"]);
        }
        return codes;
    };
    const auto now = codes_at("2024-07-01");
    const auto before = codes_at("2023-06-30");
    EXPECT_NE(std::find(now.begin(), now.end(), code), now.end());
    EXPECT_EQ(std::find(before.begin(), before.end(), code), before.end());
    EXPECT_FALSE(before.empty());
    // The tiles differ too: the 2023 grid layer is drawn from the other version.
    const std::string tile = "/CGCS2000Quad/16/" + std::to_string(t.row) + "/" + std::to_string(t.col) + ".mvt";
    EXPECT_NE(get("/wmts/1.0.0/grid/default/2023-06-30" + tile)->body, get("/wmts/1.0.0/grid/default/2024-07-01" + tile)->body);
    EXPECT_EQ(get("/wmts/1.0.0/grid/default/current" + tile)->body, get("/wmts/1.0.0/grid/default" + tile)->body);
}

TEST_F(wmts_http, every_error_is_an_exception_report_with_code_locator_and_status)
{
    const std::string tile = "/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=basemap&STYLE=default"
                             "&FORMAT=image/png&TILEMATRIXSET=WebMercatorQuad";
    expect_exception(tile + "&TILEROW=0&TILECOL=0", 400, "MissingParameterValue", "TILEMATRIX");
    expect_exception(tile + "&TILEMATRIX=99&TILEROW=0&TILECOL=0", 400, "InvalidParameterValue", "TILEMATRIX");
    expect_exception(tile + "&TILEMATRIX=3&TILEROW=8&TILECOL=0", 400, "TileOutOfRange", "TILEROW");
    expect_exception(tile + "&TILEMATRIX=3&TILEROW=0&TILECOL=8", 400, "TileOutOfRange", "TILECOL");
    expect_exception(tile + "&TILEMATRIX=3&TILEROW=x&TILECOL=0", 400, "InvalidParameterValue", "TILEROW");
    expect_exception(tile + "&TILEMATRIX=3&TILEROW=0&TILECOL=0&TIME=yesterday", 400, "InvalidParameterValue", "TIME");
    expect_exception("/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=nosuch&STYLE=default&FORMAT=image/png"
                     "&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=3&TILEROW=0&TILECOL=0",
                     400, "InvalidParameterValue", "LAYER");
    expect_exception("/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=basemap&STYLE=default&FORMAT=image/jpeg"
                     "&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=3&TILEROW=0&TILECOL=0",
                     400, "InvalidParameterValue", "FORMAT");
    expect_exception("/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=basemap&STYLE=default&FORMAT=image/png"
                     "&TILEMATRIXSET=EPSG:900913&TILEMATRIX=3&TILEROW=0&TILECOL=0",
                     400, "InvalidParameterValue", "TILEMATRIXSET");
    expect_exception("/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=basemap&STYLE=fancy&FORMAT=image/png"
                     "&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=3&TILEROW=0&TILECOL=0",
                     400, "InvalidParameterValue", "STYLE");
    expect_exception("/wmts?SERVICE=WMTS&REQUEST=GetMap", 501, "OperationNotSupported", "REQUEST");
    expect_exception("/wmts?REQUEST=GetCapabilities", 400, "MissingParameterValue", "SERVICE");
    expect_exception("/wmts?SERVICE=WMTS", 400, "MissingParameterValue", "REQUEST");
    expect_exception("/wmts?SERVICE=WMTS&REQUEST=GetCapabilities&ACCEPTVERSIONS=2.0.0", 400,
                     "VersionNegotiationFailed", "ACCEPTVERSIONS");
    expect_exception("/wmts?SERVICE=WMTS&REQUEST=GetFeatureInfo&VERSION=1.0.0&LAYER=basemap&STYLE=default"
                     "&FORMAT=image/png&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=3&TILEROW=0&TILECOL=0&I=256&J=0"
                     "&INFOFORMAT=application/json",
                     400, "PointIJOutOfRange", "I");
    expect_exception("/wmts?SERVICE=WMTS&REQUEST=GetFeatureInfo&VERSION=1.0.0&LAYER=basemap&STYLE=default"
                     "&FORMAT=image/png&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=3&TILEROW=0&TILECOL=0&I=0&J=0",
                     400, "MissingParameterValue", "INFOFORMAT");
    // RESTful paths report the same way.
    expect_exception("/wmts/1.0.0/basemap/default/CGCS2000Quad/0/0/0.png", 400, "InvalidParameterValue", "TILEMATRIX");
    expect_exception("/wmts/1.0.0/basemap/default/CGCS2000Quad/1/1/0.png", 400, "TileOutOfRange", "TILEROW");
    expect_exception("/wmts/1.0.0/nosuch/default/CGCS2000Quad/1/0/0.png", 400, "InvalidParameterValue", "LAYER");
    expect_exception("/wmts/1.0.0/basemap/default/2023-13-45/CGCS2000Quad/1/0/0.png", 400, "InvalidParameterValue",
                     "TIME");
    expect_exception("/wmts/1.0.0/basemap/default/CGCS2000Quad/5/0/0/0/999.json", 400, "PointIJOutOfRange", "I");
}

TEST_F(wmts_http, png_tiles_come_in_256_and_512_pixels)
{
    auto size_of = [](const std::string& png) {
        // IHDR: width and height, big-endian, at bytes 16..23.
        auto be = [&](std::size_t at) {
            return (static_cast<unsigned>(static_cast<unsigned char>(png[at])) << 24) |
                   (static_cast<unsigned>(static_cast<unsigned char>(png[at + 1])) << 16) |
                   (static_cast<unsigned>(static_cast<unsigned char>(png[at + 2])) << 8) |
                   static_cast<unsigned>(static_cast<unsigned char>(png[at + 3]));
        };
        return std::pair{be(16), be(20)};
    };
    const auto t = locate(core::web_mercator_quad(), 12, s_reservoir);
    const std::string xyz = "/tiles/basemap/12/" + std::to_string(t.col) + "/" + std::to_string(t.row);
    const auto one = get(xyz + ".png");
    const auto two = get(xyz + "@2x.png");
    ASSERT_EQ(one->status, 200) << one->body;
    ASSERT_EQ(two->status, 200) << two->body;
    EXPECT_EQ(size_of(one->body), std::pair(256u, 256u));
    EXPECT_EQ(size_of(two->body), std::pair(512u, 512u));
}

namespace {

// Pixel (i, j) of a PNG as RGBA, decoded by GDAL's PNG driver (libpng), not by onemap.
std::array<int, 4> png_pixel(const std::string& png, int i, int j)
{
    std::array<int, 4> out{0, 0, 0, 255};
    const GDALDatasetUniquePtr ds = test::open_png_rgba(png);
    EXPECT_TRUE(ds);
    if (ds) {
        for (int band = 1; band <= std::min(4, ds->GetRasterCount()); ++band) {
            GByte v = 0;
            EXPECT_EQ(ds->GetRasterBand(band)->RasterIO(GF_Read, i, j, 1, 1, &v, 1, 1, GDT_Byte, 0, 0), CE_None);
            out[static_cast<std::size_t>(band - 1)] = v;
        }
    }
    return out;
}

} // namespace

TEST_F(wmts_http, each_layer_renders_alone_with_its_own_part_of_the_style)
{
    const auto t = locate(core::web_mercator_quad(), 13, s_reservoir);
    const auto res = get("/wmts/1.0.0/reservoir/default/WebMercatorQuad/13/" + std::to_string(t.row) + "/" +
                         std::to_string(t.col) + ".png");
    ASSERT_EQ(res->status, 200) << res->body;
    const auto water = png_pixel(res->body, t.i, t.j);
    EXPECT_TRUE(watery(rgb{water[0], water[1], water[2]})) << water[0] << "," << water[1] << "," << water[2];
    EXPECT_EQ(water[3], 255);
    // No background: away from reservoirs the layer is transparent.
    const auto d = locate(core::web_mercator_quad(), 13, s_dry);
    const auto dry = get("/wmts/1.0.0/reservoir/default/WebMercatorQuad/13/" + std::to_string(d.row) + "/" +
                         std::to_string(d.col) + ".png");
    ASSERT_EQ(dry->status, 200);
    EXPECT_EQ(png_pixel(dry->body, d.i, d.j)[3], 0);
    // A layer no style file mentions (water-function zones) still draws, in the plain style.
    const auto zone = get("/wmts/1.0.0/water_function_zone/default/WebMercatorQuad/13/" + std::to_string(t.row) + "/" +
                          std::to_string(t.col) + ".png");
    EXPECT_EQ(zone->status, 200);
    EXPECT_EQ(zone->get_header_value("Content-Type"), "image/png");
}

// A viewer's PNG costs its own tile: it is drawn alone (labels still placed over its whole
// metatile), and its neighbours are drawn when they are asked for.
TEST_F(wmts_http, a_png_request_draws_its_tile_alone_and_each_neighbour_when_asked)
{
    auto stats = [&] { return nlohmann::json::parse(get("/stats")->body); };
    const auto t = locate(core::tianditu_web_mercator(), 15, s_reservoir);
    const std::uint64_t col0 = t.col / 4 * 4;
    const std::uint64_t row0 = t.row / 4 * 4;
    const auto before = stats();
    auto path = [&](std::uint64_t c, std::uint64_t r) {
        return "/wmts/1.0.0/basemap/default/TiandituWebMercatorQuad/15/" + std::to_string(r) + "/" + std::to_string(c) +
               ".png";
    };
    ASSERT_EQ(get(path(t.col, t.row))->status, 200);
    const auto after_one = stats();
    EXPECT_EQ(after_one["cache"]["misses"].get<long>() - before["cache"]["misses"].get<long>(), 1);
    EXPECT_EQ(after_one["raster"]["tiles_drawn"].get<long>() - before["raster"]["tiles_drawn"].get<long>(), 1);
    EXPECT_EQ(after_one["raster"]["metatiles_drawn"], before["raster"]["metatiles_drawn"]);
    for (std::uint64_t r = row0; r < row0 + 4; ++r) {
        for (std::uint64_t c = col0; c < col0 + 4; ++c) {
            const auto res = get(path(c, r));
            EXPECT_EQ(res->status, 200);
            EXPECT_EQ(res->body.substr(1, 3), "PNG");
        }
    }
    const auto after_all = stats();
    EXPECT_EQ(after_all["cache"]["misses"].get<long>() - after_one["cache"]["misses"].get<long>(), 15);
    EXPECT_EQ(after_all["cache"]["hits"].get<long>() - after_one["cache"]["hits"].get<long>(), 1);
    EXPECT_EQ(after_all["raster"]["tiles_drawn"].get<long>() - after_one["raster"]["tiles_drawn"].get<long>(), 15);
    EXPECT_EQ(after_all["raster"]["metatiles_drawn"], before["raster"]["metatiles_drawn"]);
}

TEST_F(wmts_http, many_concurrent_png_requests_draw_each_tile_once)
{
    // 48 clients at once over 24 tiles of z14 in 12 metatiles, each tile asked by two clients:
    // every answer a PNG, and one drawing per tile however many ask for it together.
    const auto t = locate(core::web_mercator_quad(), 14, s_redline);
    const std::uint64_t col0 = t.col / 4 * 4;
    const std::uint64_t row0 = t.row / 4 * 4;
    const auto drawn_before = nlohmann::json::parse(get("/stats")->body)["raster"]["tiles_drawn"].get<long>();
    std::vector<std::thread> clients;
    clients.reserve(48);
    std::atomic<int> pngs{0};
    for (int i = 0; i < 48; ++i) {
        clients.emplace_back([&, i] {
            const int tile = i % 24;
            const std::uint64_t meta = static_cast<std::uint64_t>(tile % 12);
            const std::uint64_t col = col0 + (meta % 4) * 4 + static_cast<std::uint64_t>(tile / 12);
            const std::uint64_t row = row0 + (meta / 4) * 4;
            auto res = s_server->client().Get("/tiles/basemap/14/" + std::to_string(col) + "/" + std::to_string(row) + ".png");
            if (res && res->status == 200 && res->body.substr(1, 3) == "PNG") {
                ++pngs;
            }
        });
    }
    for (auto& c : clients) {
        c.join();
    }
    EXPECT_EQ(pngs.load(), 48);
    const auto drawn_after = nlohmann::json::parse(get("/stats")->body)["raster"]["tiles_drawn"].get<long>();
    EXPECT_EQ(drawn_after - drawn_before, 24);
}

// PNG tiles drawn from the versions held in memory (tile_store.hpp) are the tiles drawn from
// queries, byte for byte: the same features in the same order, the same attributes, and label
// anchors computed alike (centroid when on the polygon, else a point on its surface) — checked
// over labelled villages, towns and reservoirs at z12–15 with no tile cache on either server.
// GetFeatureInfo answers alike too: the features within 3 px, nearest first, their attributes.
TEST_F(wmts_http, png_tiles_and_feature_info_from_memory_equal_those_from_queries)
{
    const std::vector<std::string> args{"--config", test::source_dir() + "/tileserver/onemap.yaml", "--styles",
                                        test::source_dir() + "/styles", "--cache-mb", "0"};
    auto with = [&](std::vector<std::string> more) {
        more.insert(more.begin(), args.begin(), args.end());
        return more;
    };
    const test::server_process held(test::db().conninfo(), with({}));
    const test::server_process queried(test::db().conninfo(), with({"--tile-memory-mb", "0"}));
    std::vector<std::string> paths;
    std::vector<std::string> infos;
    for (const int z : {12, 13, 15}) {
        for (const auto& at : {s_reservoir, s_redline, s_dry}) {
            const auto t = locate(core::web_mercator_quad(), z, at);
            for (std::uint64_t d = 0; d < 3; ++d) {
                paths.push_back("/tiles/basemap/" + std::to_string(z) + "/" + std::to_string(t.col + d) + "/" +
                                std::to_string(t.row + d % 2) + ".png");
            }
            for (const std::string layer : {"basemap", "dltb", "admin_village"}) {
                infos.push_back("/wmts/1.0.0/" + layer + "/default/WebMercatorQuad/" + std::to_string(z) + "/" +
                                std::to_string(t.row) + "/" + std::to_string(t.col) + "/" + std::to_string(t.j) +
                                "/" + std::to_string(t.i) + ".json");
            }
        }
    }
    auto hc = held.client();
    auto stats = [&] { return nlohmann::json::parse(hc.Get("/stats")->body); };
    for (const auto& p : paths) { // asks for the versions' loads
        ASSERT_EQ(hc.Get(p)->status, 200) << p;
    }
    for (const auto& p : infos) {
        ASSERT_EQ(hc.Get(p)->status, 200) << p;
    }
    nlohmann::json m = stats()["tile_memory"];
    for (int i = 0; i < 300 && (m["loading"] == true || m["queued"] != 0); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        m = stats()["tile_memory"];
    }
    ASSERT_GT(m["versions"].get<int>(), 3) << m.dump();
    const auto before = stats()["raster"];
    auto qc = queried.client();
    for (const auto& p : paths) {
        const auto a = hc.Get(p);
        const auto b = qc.Get(p);
        ASSERT_TRUE(a && b);
        ASSERT_EQ(a->status, 200);
        ASSERT_EQ(b->status, 200);
        EXPECT_TRUE(a->body == b->body) << p;
    }
    int answered = 0;
    const auto memory_before = stats()["tile_memory"];
    for (const auto& p : infos) {
        const auto a = hc.Get(p);
        const auto b = qc.Get(p);
        ASSERT_TRUE(a && b);
        ASSERT_EQ(a->status, 200) << a->body;
        ASSERT_EQ(b->status, 200) << b->body;
        EXPECT_EQ(nlohmann::json::parse(a->body), nlohmann::json::parse(b->body)) << p;
        answered += nlohmann::json::parse(b->body)["features"].empty() ? 0 : 1;
    }
    EXPECT_GT(answered, static_cast<int>(infos.size()) / 2) << "too few clicks met a feature to compare";
    const auto memory_after = stats()["tile_memory"];
    EXPECT_EQ(memory_after["misses"], memory_before["misses"]) << "feature info queried a held version";
    EXPECT_GE(memory_after["hits"].get<long>() - memory_before["hits"].get<long>(), static_cast<long>(infos.size()));
    const auto after = stats()["raster"];
    EXPECT_EQ(after["layers_from_queries"], before["layers_from_queries"]) << "a held layer was queried";
    EXPECT_GT(after["layers_from_memory"].get<long>() - before["layers_from_memory"].get<long>(),
              static_cast<long>(paths.size()));
    const auto q = nlohmann::json::parse(qc.Get("/stats")->body)["raster"];
    EXPECT_EQ(q["layers_from_memory"], 0);
    EXPECT_GT(q["layers_from_queries"].get<long>(), static_cast<long>(paths.size()));
}

// An operator edits the style file: PNG tiles follow without a restart (the file's revision is
// part of the tile key); an edit that cannot be drawn keeps the last good style in service.
TEST_F(wmts_http, an_edited_style_file_is_drawn_from_the_next_request)
{
    const std::string dir = temp_path("styles");
    std::filesystem::create_directories(dir);
    std::filesystem::copy_file(test::source_dir() + "/styles/basemap.json", dir + "/basemap.json",
                               std::filesystem::copy_options::overwrite_existing);
    const test::server_process server(test::db().conninfo(),
                                      {"--config", test::source_dir() + "/tileserver/onemap.yaml", "--styles", dir});
    const auto t = locate(core::web_mercator_quad(), 13, s_reservoir);
    const std::string path =
        "/tiles/basemap/13/" + std::to_string(t.col) + "/" + std::to_string(t.row) + ".png";
    auto pixel = [&] {
        const auto res = server.client().Get(path);
        EXPECT_EQ(res->status, 200) << res->body;
        return png_pixel(res->body, t.i, t.j);
    };
    const auto before = pixel();
    EXPECT_TRUE(watery(rgb{before[0], before[1], before[2]}));

    auto style = nlohmann::json::parse(std::ifstream(dir + "/basemap.json"));
    for (auto& l : style["layers"]) {
        if (l["id"] == "reservoir") {
            l["paint"]["fill-color"] = "#FF0000";
        }
    }
    std::ofstream(dir + "/basemap.json.new") << style.dump();
    std::filesystem::rename(dir + "/basemap.json.new", dir + "/basemap.json");
    const auto edited = pixel();
    EXPECT_TRUE(red(rgb{edited[0], edited[1], edited[2]})) << edited[0] << "," << edited[1] << "," << edited[2];

    std::ofstream(dir + "/basemap.json.new") << "{ not a style";
    std::filesystem::rename(dir + "/basemap.json.new", dir + "/basemap.json");
    const auto broken = pixel();
    EXPECT_EQ(broken, edited) << "the last good style stays in service";
    std::filesystem::remove_all(dir);
}
