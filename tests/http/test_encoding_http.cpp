// Content coding against the real server, as browsers ("gzip, deflate, br"), phones ("gzip"),
// GIS clients and curl ask. Debian's cpp-httplib would Brotli-compress every JSON answer at
// quality 11 for a browser (11 times slower /locate); onemap's policy: small answers as they
// are, large JSON and XML gzipped, Brotli never. curl decodes what the server sends.
#include "sample_server_test.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

using namespace onemap;

namespace {

class encoding_http : public test::sample_server_test<encoding_http> {
protected:
    // The raw answer to `path` with this Accept-Encoding (empty: none sent), not decoded.
    static httplib::Result raw(const std::string& path, const std::string& accept_encoding)
    {
        auto c = server().client();
        c.set_decompress(false);
        httplib::Headers h{{"Accept-Encoding", accept_encoding.empty() ? "identity" : accept_encoding}};
        return c.Get(path, h);
    }
    static std::string url(const std::string& path) { return "http://127.0.0.1:" + std::to_string(server().port()) + path; }
};

const char* const BROWSER = "gzip, deflate, br";

} // namespace

TEST_F(encoding_http, small_answers_travel_uncompressed_even_to_browsers)
{
    const auto lon = test::query_value<double>("SELECT ST_X(ST_PointOnSurface(geom)) FROM onemap_data.grid__v2 ORDER BY wgbm LIMIT 1");
    const auto lat = test::query_value<double>("SELECT ST_Y(ST_PointOnSurface(geom)) FROM onemap_data.grid__v2 ORDER BY wgbm LIMIT 1");
    char q[96];
    std::snprintf(q, sizeof q, "/locate?lon=%.9f&lat=%.9f", lon, lat);
    for (const std::string& path : {std::string(q), std::string("/locate?lon=1&lat=1"), std::string("/health")}) {
        auto res = raw(path, BROWSER);
        ASSERT_TRUE(res) << path;
        EXPECT_FALSE(res->has_header("Content-Encoding")) << path << ": " << res->get_header_value("Content-Encoding");
        EXPECT_TRUE(nlohmann::json::accept(res->body)) << path;
        EXPECT_LT(res->body.size(), 1400U) << path;
        // curl sends the browser's header exactly as written.
        std::string headers;
        ASSERT_EQ(test::run_command("curl -sS -D - -o /dev/null -H 'Accept-Encoding: gzip, deflate, br' '" + url(path) + "'",
                                    &headers),
                  0)
            << headers;
        EXPECT_EQ(headers.find("Content-Encoding"), std::string::npos) << path << ":\n" << headers;
    }
}

TEST_F(encoding_http, large_json_and_xml_are_gzipped_and_decode_to_the_same_bytes)
{
    for (const std::string path : {"/ogc/collections/dltb/items?limit=300", "/wmts?SERVICE=WMTS&REQUEST=GetCapabilities",
                                   "/ogc/collections", "/tiles"}) {
        auto plain = raw(path, "");
        ASSERT_TRUE(plain) << path;
        ASSERT_EQ(plain->status, 200) << path;
        ASSERT_GE(plain->body.size(), 1400U) << path;
        EXPECT_FALSE(plain->has_header("Content-Encoding")) << path;

        for (const std::string& accept : {std::string(BROWSER), std::string("gzip")}) {
            auto packed = raw(path, accept);
            ASSERT_TRUE(packed) << path;
            EXPECT_EQ(packed->get_header_value("Content-Encoding"), "gzip") << path << " / " << accept;
            EXPECT_EQ(packed->get_header_value_count("Content-Encoding"), 1U) << path;
            EXPECT_EQ(packed->get_header_value("Vary"), "Accept-Encoding") << path;
            EXPECT_LT(packed->body.size(), plain->body.size() / 2) << path;
        }
        // Brotli alone, or gzip refused: the plain bytes.
        for (const std::string accept : {"br", "gzip;q=0, *;q=1"}) {
            auto other = raw(path, accept);
            ASSERT_TRUE(other) << path;
            EXPECT_FALSE(other->has_header("Content-Encoding")) << path << " / " << accept;
            EXPECT_EQ(other->body, plain->body) << path << " / " << accept;
        }
        // curl, asking as browsers do, decodes the same bytes.
        const std::string file = ::testing::TempDir() + "/encoding_http.body";
        std::string log;
        ASSERT_EQ(test::run_command("curl -sS --fail -H 'Accept-Encoding: gzip, deflate, br' --compressed -o '" + file +
                                        "' '" + url(path) + "'",
                                    &log),
                  0)
            << log;
        std::ifstream in(file, std::ios::binary);
        std::stringstream decoded;
        decoded << in.rdbuf();
        EXPECT_EQ(decoded.str(), plain->body) << path;
    }
}
