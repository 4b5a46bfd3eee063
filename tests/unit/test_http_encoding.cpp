// The content-coding policy (tileserver/http_encoding.hpp) on the server's responses, without a
// network: which Accept-Encoding values admit gzip, what gets gzipped, and the media types named
// with their charset. The real server is checked in tests/http/test_encoding_http.cpp.
#include "onemap/tileserver/http_encoding.hpp"

#include <gtest/gtest.h>
#include <algorithm>
#include <zlib.h>

using onemap::tileserver::accepts_gzip;
using onemap::tileserver::encode_response;
using onemap::tileserver::GZIP_MIN_BYTES;
using onemap::tileserver::http_request;
using onemap::tileserver::http_response;

namespace {

std::string gunzip(const std::string& in)
{
    z_stream zs{};
    EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
    std::string out(1 << 20, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
    out.resize(zs.total_out);
    inflateEnd(&zs);
    return out;
}

http_response answer(const std::string& body, const std::string& type)
{
    http_response res;
    res.set_content(body, type);
    return res;
}

http_request asking(const std::string& accept_encoding)
{
    http_request req;
    if (!accept_encoding.empty()) {
        req.headers.emplace_back("Accept-Encoding", accept_encoding);
    }
    return req;
}

std::size_t header_count(const http_response& res, std::string_view name)
{
    return static_cast<std::size_t>(std::count_if(res.headers.begin(), res.headers.end(),
                                                  [&](const auto& h) { return onemap::tileserver::iequals(h.first, name); }));
}

std::string large_json()
{
    std::string s = "[";
    for (int i = 0; i < 400; ++i) {
        s += R"({"code":"4117020010010)" + std::to_string(i) + R"(","name":"网格"},)";
    }
    s.back() = ']';
    return s;
}

} // namespace

TEST(AcceptEncoding, GzipIsAdmittedByNameOrWildcardWithPositiveQ)
{
    EXPECT_TRUE(accepts_gzip("gzip"));
    EXPECT_TRUE(accepts_gzip("gzip, deflate, br"));        // browsers
    EXPECT_TRUE(accepts_gzip("deflate, gzip;q=0.5"));      // weighted
    EXPECT_TRUE(accepts_gzip("x-gzip"));                   // legacy alias
    EXPECT_TRUE(accepts_gzip("*"));                        // anything
    EXPECT_TRUE(accepts_gzip("br;q=1.0, GZIP ; q=0.1"));   // case and spaces
    EXPECT_FALSE(accepts_gzip(""));                        // nothing said: identity
    EXPECT_FALSE(accepts_gzip("br"));                      // Brotli only
    EXPECT_FALSE(accepts_gzip("identity"));
    EXPECT_FALSE(accepts_gzip("gzip;q=0"));                // refused explicitly
    EXPECT_FALSE(accepts_gzip("*, gzip;q=0"));             // refused despite the wildcard
    EXPECT_FALSE(accepts_gzip("*;q=0"));
    EXPECT_FALSE(accepts_gzip("gzip;q=abc"));              // malformed weight: not acceptable
    EXPECT_FALSE(accepts_gzip("gzipped"));                 // a substring is not the coding
}

TEST(ContentCoding, LargeJsonIsGzippedForClientsThatAcceptIt)
{
    const std::string body = large_json();
    ASSERT_GE(body.size(), GZIP_MIN_BYTES);
    auto res = answer(body, "application/json");
    encode_response(asking("gzip, deflate, br"), res);
    EXPECT_EQ(res.get_header_value("Content-Encoding"), "gzip");
    EXPECT_EQ(res.get_header_value("Vary"), "Accept-Encoding");
    EXPECT_LT(res.body.size(), body.size() / 4);
    EXPECT_EQ(gunzip(res.body), body);
    // One Content-Type, with the charset named.
    EXPECT_EQ(header_count(res, "Content-Type"), 1U);
    EXPECT_EQ(res.get_header_value("Content-Type"), "application/json; charset=utf-8");
}

TEST(ContentCoding, OtherClientsGetTheBodyAsItIs)
{
    const std::string body = large_json();
    for (const std::string accept : {"", "br", "identity", "gzip;q=0"}) {
        auto res = answer(body, "application/geo+json");
        encode_response(asking(accept), res);
        EXPECT_FALSE(res.has_header("Content-Encoding")) << accept;
        EXPECT_EQ(res.body, body) << accept;
        EXPECT_EQ(res.get_header_value("Vary"), "Accept-Encoding") << accept; // caches must still split
        EXPECT_EQ(res.get_header_value("Content-Type"), "application/geo+json") << accept;
    }
}

TEST(ContentCoding, SmallAnswersAreNeverCompressed)
{
    const std::string body = R"({"grid":{"code":"411702001001001","name":"第1网格"}})";
    auto res = answer(body, "application/json");
    encode_response(asking("gzip, deflate, br"), res);
    EXPECT_FALSE(res.has_header("Content-Encoding"));
    EXPECT_FALSE(res.has_header("Vary"));
    EXPECT_EQ(res.body, body);
    EXPECT_EQ(res.get_header_value("Content-Type"), "application/json; charset=utf-8");
}

TEST(ContentCoding, XmlAndHtmlAreGzippedToo)
{
    const std::string xml = "<Capabilities>" + std::string(4000, ' ') + "</Capabilities>";
    auto res = answer(xml, "application/xml");
    encode_response(asking("gzip"), res);
    EXPECT_EQ(gunzip(res.body), xml);
    EXPECT_EQ(res.get_header_value("Content-Type"), "application/xml; charset=utf-8");

    // text/ bodies: gzipped like the others, for the clients that accept gzip only.
    const std::string page = "<table>" + std::string(4000, ' ') + "</table>";
    for (const std::string accept : {"gzip, br", "br"}) {
        auto html = answer(page, "text/html; charset=utf-8");
        encode_response(asking(accept), html);
        EXPECT_EQ(header_count(html, "Content-Type"), 1U);
        EXPECT_EQ(html.get_header_value("Content-Type"), "text/html; charset=utf-8");
        const bool gzipped = accept == "gzip, br";
        EXPECT_EQ(html.get_header_value("Content-Encoding"), gzipped ? "gzip" : "") << accept;
        EXPECT_EQ(gzipped ? gunzip(html.body) : html.body, page) << accept;
    }
}

TEST(ContentCoding, BodiesWithTheirOwnCodingAndBinaryTypesAreLeftAlone)
{
    const std::string bytes(5000, '\x01');
    auto tile = answer(bytes, "application/vnd.mapbox-vector-tile");
    tile.set_header("Content-Encoding", "gzip"); // already gzipped by the tile cache
    encode_response(asking("gzip"), tile);
    EXPECT_EQ(tile.body, bytes);
    EXPECT_EQ(header_count(tile, "Content-Encoding"), 1U);

    auto png = answer(bytes, "image/png");
    encode_response(asking("gzip"), png);
    EXPECT_EQ(png.body, bytes);
    EXPECT_FALSE(png.has_header("Content-Encoding"));
}
