// Inputs the libFuzzer targets (tests/fuzz) found to break a parser, each kept with the
// behaviour it should have had: a clear error or a valid result. A test per finding, named after
// it; the fuzz target and the artifact it came from are in the comment.
#include "mvt_decode.hpp"
#include "onemap/core/error.hpp"
#include "onemap/core/mvt.hpp"
#include "onemap/core/tile_matrix_set.hpp"
#include "onemap/importers/manifest.hpp"
#include "onemap/importers/text_decoder.hpp"
#include "onemap/tileserver/router.hpp"
#include "onemap/tileserver/wmts.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using onemap::tileserver::http_method;
using onemap::tileserver::http_request;
using onemap::tileserver::http_response;

// ---- WMTS exception reports (fuzz_wmts) -------------------------------------------------------

http_response wmts_answer(const std::string& target)
{
    static const auto no_tilesets = std::make_shared<const std::vector<onemap::tileserver::tileset_config>>();
    onemap::tileserver::wmts_context ctx;
    ctx.catalog = [](const http_request&) { return std::make_shared<const std::vector<onemap::core::layer>>(); };
    ctx.base_url = [](const http_request&) { return std::string("http://localhost:8080"); };
    ctx.tilesets = [] { return no_tilesets; };
    onemap::tileserver::router routes;
    onemap::tileserver::register_wmts(routes, std::move(ctx));
    http_request req;
    req.method = http_method::get;
    req.set_target(target);
    http_response res;
    routes.dispatch(req, res, true);
    return res;
}

// XML 1.0 allows no C0 control character but TAB, LF and CR, not even as a character reference.
bool xml_chars_only(std::string_view s)
{
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            return false;
        }
    }
    return s.find("\xef\xbf\xbe") == std::string_view::npos && s.find("\xef\xbf\xbf") == std::string_view::npos;
}

// fuzz_wmts: /wmts/1.0.0/basemap/default/2023%13-45… answered 404 with U+0013 inside
// <ows:ExceptionText>: no XML parser (GDAL, OWSLib, QGIS) reads that report.
TEST(fuzz_regressions, wmts_exception_report_for_a_path_with_a_control_character_is_well_formed_xml)
{
    const auto res = wmts_answer("/wmts/1.0.0/basemap/default/2023%13-45%01%ef%bf%bf");
    EXPECT_EQ(res.status, 404);
    EXPECT_NE(res.body.find("<ows:ExceptionText>"), std::string::npos) << res.body;
    EXPECT_TRUE(xml_chars_only(res.body)) << res.body;
    EXPECT_NE(res.body.find("basemap/default/2023"), std::string::npos) << "the text around it is kept: " << res.body;
}

// ---- manifest (fuzz_manifest) ----------------------------------------------------------------

class fuzz_regressions_manifest : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_dir = fs::path(::testing::TempDir()) /
                ("onemap-fuzz-regressions-" + std::to_string(::getpid()) + "-" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(m_dir);
    }
    void TearDown() override { fs::remove_all(m_dir); }

    std::string write(const std::string& text) const
    {
        auto path = (m_dir / "manifest.yaml").string();
        std::ofstream(path, std::ios::binary) << text;
        return path;
    }

    // The message of the config_error read_manifest throws; fails the test for anything else.
    std::string refusal(const std::string& text) const
    {
        const std::string path = write(text);
        try {
            onemap::importers::read_manifest(path);
        } catch (const onemap::config_error& e) {
            EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << "names the file: " << e.what();
            return e.what();
        } catch (const std::exception& e) {
            ADD_FAILURE() << "not a config_error: " << e.what();
            return {};
        }
        ADD_FAILURE() << "read";
        return {};
    }

private:
    fs::path m_dir;
};

// fuzz_manifest: a document that is a scalar ("layersD …" after a typo) threw yaml-cpp's
// BadSubscript ("operator[] call on a scalar") instead of the config_error the contract names.
TEST_F(fuzz_regressions_manifest, a_manifest_that_is_not_a_mapping_is_a_config_error)
{
    EXPECT_NE(refusal("layersD\n  - file:Gdatum/bj54:pointslaye.shrsp").find("layers"), std::string::npos);
    EXPECT_NE(refusal("- file: a.shp\n").find("layers"), std::string::npos);
}

// ---- attribute text (fuzz_text_decoder) --------------------------------------------------------

// fuzz_text_decoder: bytes below 0x80 were returned as they are whatever the encoding, so text in
// an encoding that is not ASCII-based came out wrong (EBCDIC 0x40 is a space, not '@'; UTF-16LE
// "A\0" is "A").
TEST(fuzz_regressions, ascii_range_bytes_are_decoded_in_encodings_that_are_not_ascii_based)
{
    onemap::importers::text_decoder ebcdic("CP037");
    EXPECT_EQ(ebcdic.decode("\x40").value_or("?"), " ");
    EXPECT_EQ(ebcdic.decode("\xc8\x85\x93\x93\x96").value_or("?"), "Hello");
    onemap::importers::text_decoder utf16("UTF-16LE");
    EXPECT_EQ(utf16.decode(std::string("A\0B\0", 4)).value_or("?"), "AB");
    onemap::importers::text_decoder gbk("GBK"); // ASCII-based: unchanged
    EXPECT_EQ(gbk.decode("DLBM 0101").value_or("?"), "DLBM 0101");
}

// ISO-2022-JP writes kanji with ASCII bytes between escape sequences: "\x1b$B0!\x1b(B" is 亜, and
// was returned as it is; an escape sequence cut short was passed as text (fuzz_text_decoder).
TEST(fuzz_regressions, ascii_bytes_between_iso2022_escape_sequences_are_decoded)
{
    onemap::importers::text_decoder jis("ISO-2022-JP");
    EXPECT_EQ(jis.decode("\x1b$B0!\x1b(B").value_or("?"), "亜");
    EXPECT_FALSE(jis.decode("\x1b\x1b\x1b?"));
    EXPECT_EQ(jis.decode("JBNTBH 42").value_or("?"), "JBNTBH 42");
}

// A UTF-16 text with a big-endian byte-order mark taught the decoder's iconv descriptor that
// order, and glibc's reset kept it: the next text, without a mark, was read big-endian where a
// text on its own is read in glibc's default order (fuzz_text_decoder, crash-4a88abd9: "B@").
// Every text is decoded on its own, whatever came before it.
TEST(fuzz_regressions, a_byte_order_mark_in_one_text_does_not_change_how_the_next_is_read)
{
    onemap::importers::text_decoder fresh("UTF-16");
    const auto alone = fresh.decode("B@");
    ASSERT_TRUE(alone);
    for (const std::string& mark : {std::string("\xfe\xff\0A", 4), std::string("\xff\xfe" "A\0", 4)}) {
        onemap::importers::text_decoder reused("UTF-16");
        EXPECT_EQ(reused.decode(mark).value_or("?"), "A");
        EXPECT_EQ(reused.decode("B@"), alone) << "after the mark " << (mark[0] == '\xfe' ? "FE FF" : "FF FE");
    }
    onemap::importers::text_decoder utf32("UTF-32");
    const auto plain = utf32.decode(std::string("\0\0\0A", 4));
    EXPECT_EQ(utf32.decode(std::string("\xff\xfe\0\0" "A\0\0\0", 8)).value_or("?"), "A");
    EXPECT_EQ(utf32.decode(std::string("\0\0\0A", 4)), plain);
}

// An encoding name with junk bytes ("UTF8\xff\xff'") was accepted, since glibc's iconv_open
// drops what it cannot read in a name, and its UTF-8 reader then passed F5 96 96 96 (a code
// point past U+10FFFF) as text (fuzz_text_decoder, 10-minute run). Such names are refused, and
// nothing that is not UTF-8 comes out of the decoder whatever the encoding.
TEST(fuzz_regressions, an_encoding_name_with_junk_bytes_is_refused_and_output_is_always_utf8)
{
    EXPECT_THROW(onemap::importers::text_decoder("UTF8\xff\xff'"), onemap::input_error);
    EXPECT_THROW(onemap::importers::text_decoder(std::string("GBK\0", 4)), onemap::input_error);
    onemap::importers::text_decoder alias("UTF8'");
    EXPECT_FALSE(alias.decode("\xf5\x96\x96\x96"));
    EXPECT_EQ(alias.decode("\xe4\xba\x9c").value_or("?"), "亜");
}

// The last character of a CP1258 (Vietnamese) or CP1255 (Hebrew) text was lost: glibc holds it
// back in case a combining mark follows, and the decoder never asked for it at the end.
TEST(fuzz_regressions, the_last_character_of_a_text_in_a_combining_encoding_is_kept)
{
    onemap::importers::text_decoder vietnamese("1258");
    EXPECT_EQ(vietnamese.decode("\xc3").value_or("?"), "Ă");
    EXPECT_EQ(vietnamese.decode("H\xe0 N\xf4i").value_or("?"), "Hà Nôi");
    onemap::importers::text_decoder hebrew("CP1255");
    EXPECT_EQ(hebrew.decode("\xf9\xec\xe5\xed").value_or("?"), "שלום");
}

// Text that grows more than four bytes of UTF-8 per byte (TSCII 0x82 is ஸ்ரீ, twelve bytes)
// overflowed the output buffer and was refused as if it were not text in that encoding.
TEST(fuzz_regressions, text_that_grows_more_than_fourfold_in_utf8_is_decoded)
{
    onemap::importers::text_decoder tamil("TSCII");
    EXPECT_EQ(tamil.decode("\x82\x82").value_or("?"), "ஸ்ரீஸ்ரீ");
    // Past the first buffer's end: glibc's TSCII converter does not resume in order after E2BIG
    // (fuzz_text_decoder: 151 bytes decoded with a scrambled middle).
    std::string text;
    std::string want;
    for (int i = 0; i < 120; ++i) {
        text += "\x8c";
        want += "க்ஷ்";
    }
    EXPECT_EQ(tamil.decode(text).value_or("?"), want);
}

// ---- MVT encoder (fuzz_mvt) --------------------------------------------------------------------

std::string line_wkb(const std::vector<std::pair<double, double>>& pts)
{
    std::string out;
    auto u32 = [&out](std::uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
    auto f64 = [&out](double v) { out.append(reinterpret_cast<const char*>(&v), 8); };
    out.push_back('\x01');
    u32(2);
    u32(static_cast<std::uint32_t>(pts.size()));
    for (const auto& [x, y] : pts) {
        f64(x);
        f64(y);
    }
    return out;
}

std::string polygon_wkb(const std::vector<std::pair<double, double>>& ring)
{
    std::string out = line_wkb(ring);
    out[1] = 3; // Polygon: one ring of the same points
    out.insert(5, std::string("\x01\x00\x00\x00", 4));
    return out;
}

// fuzz_mvt: a river whose second vertex had NaN latitude was clipped into a vertex at
// (-21331968, 6160384) in a 4096-unit tile; an infinite longitude did the same, and a polygon
// with a vertex at longitude 4.85e137 was clipped for the renderer into points far outside its
// canvas. Vertices outside EPSG:4490's range (which the importer refuses) are malformed WKB.
TEST(fuzz_regressions, a_line_or_ring_vertex_outside_epsg4490_is_malformed_wkb)
{
    const auto& tms = onemap::core::cgcs2000_quad();
    const onemap::core::mvt::tile_projection proj(tms, 14, 13400, 2592);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    using onemap::core::mvt::clip_wkb;
    using onemap::core::mvt::encode_wkb;
    EXPECT_THROW(encode_wkb(line_wkb({{114.43, 33.04}, {114.44, nan}, {114.45, 33.05}}), proj), onemap::input_error);
    EXPECT_THROW(encode_wkb(line_wkb({{114.43, 33.04}, {HUGE_VAL, 33.05}}), proj), onemap::input_error);
    EXPECT_THROW(clip_wkb(line_wkb({{114.43, 33.04}, {1e308, 33.05}}), proj), onemap::input_error);
    EXPECT_THROW(clip_wkb(polygon_wkb({{114.43, 33.04}, {4.85e137, 33.05}, {114.45, 33.05}, {114.43, 33.04}}), proj),
                 onemap::input_error);
    EXPECT_THROW(encode_wkb(line_wkb({{114.43, 33.04}, {181, 33.05}}), proj), onemap::input_error);
    // The same shapes inside the range are drawn; an empty point (NaN, NaN) is simply not there.
    EXPECT_TRUE(encode_wkb(line_wkb({{114.43, 33.04}, {114.45, 33.05}}), proj));
    EXPECT_TRUE(clip_wkb(polygon_wkb({{114.43, 33.04}, {114.45, 33.04}, {114.45, 33.05}, {114.43, 33.04}}), proj));
    std::string empty_point("\x01\x01\x00\x00\x00", 5);
    empty_point.append(reinterpret_cast<const char*>(&nan), 8).append(reinterpret_cast<const char*>(&nan), 8);
    EXPECT_FALSE(encode_wkb(empty_point, proj));
}

// fuzz_mvt: a self-intersecting polygon (the importer stores only valid ones; the encoder may
// not rely on it) came out of clipping with a vertex at x = 4693 in a tile whose buffer ends at
// 4160. Every vertex of a tile lies within the tile plus its buffer.
TEST(fuzz_regressions, clipping_a_self_intersecting_polygon_keeps_every_vertex_inside_the_buffer)
{
    const std::vector<std::pair<double, double>> ring{
        {113.931003725131, 33.4831345061917}, {113.930262865793, 33.4879800177964},
        {113.929370644179, 33.4928178073599}, {113.92864731213, 33.4976642041741},
        {113.928604402943, -0.122065341260037}, {113.929237855413, 33.5074608103956},
        {113.934006460362, -0.122057226214103}, {113.938765358656, 33.5057780844483},
        {113.953476822252, 33.4995213011251}, {112.750322844433, 33.4938854669687},
        {113.953395394555, 0.0}, {0.0, -33.4826208488585}, {113.954323540452, 33.4770022129175},
        {113.953395380726, 33.4882490418157}, {0.0, 33.4826208489482}, {113.953395380726, 33.4882490418157},
        {0.0, 33.4826208488585}, {113.954323540452, 33.4770022129175}, {113.953395380726, 33.4882490344547},
        {113.935714816531, 24.7410167769158}, {113.931003725131, 33.4831345061917}};
    const onemap::core::mvt::tile_projection proj(onemap::core::cgcs2000_quad(), 14, 13377, 2571);
    auto g = onemap::core::mvt::encode_wkb(polygon_wkb(ring), proj);
    ASSERT_TRUE(g);
    onemap::core::mvt::tile_builder tile;
    tile.add_layer("dltb", 4096).add_feature(1, std::move(*g), {});
    for (const auto& layer : onemap::test::decode_tile(tile.serialize())) {
        for (const auto& f : layer.features) {
            for (const auto& part : f.parts) {
                for (const auto& p : part) {
                    EXPECT_TRUE(p.x >= -64 && p.x <= 4160 && p.y >= -64 && p.y <= 4160) << p.x << ", " << p.y;
                }
            }
        }
    }
    const auto clipped = onemap::core::mvt::clip_wkb(polygon_wkb(ring), proj);
    ASSERT_TRUE(clipped);
    for (const auto& part : clipped->parts) {
        for (const auto& p : part) {
            EXPECT_TRUE(p.x >= -64 && p.x <= 4160 && p.y >= -64 && p.y <= 4160) << p.x << ", " << p.y;
        }
    }
}

} // namespace
