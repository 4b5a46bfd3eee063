// Importer pieces that need no database: names, encodings, EPSG parsing, zone checks.
#include "onemap/core/error.hpp"
#include "onemap/importers/crs_resolution.hpp"
#include "onemap/importers/layer_import.hpp"
#include "onemap/importers/manifest.hpp"
#include "onemap/importers/text_decoder.hpp"

#include <gtest/gtest.h>

#include <fstream>

using namespace onemap::importers;

TEST(importer_names, launder_makes_lower_case_ascii_identifiers)
{
    EXPECT_EQ(launder_name("DLBM", 0), "dlbm");
    EXPECT_EQ(launder_name("Shape_Area", 0), "shape_area");
    EXPECT_EQ(launder_name("地类", 3), "f_3");
    EXPECT_EQ(launder_name("2023面积", 0), "f_2023");
    EXPECT_EQ(launder_name("fid", 0), "fid_src");
    EXPECT_EQ(launder_name("GEOM", 0), "geom_src");
    EXPECT_EQ(launder_name("a\"b; drop", 0), "a_b_drop");
}

TEST(text_decoding, gbk_bytes_decode_to_utf8)
{
    text_decoder gbk("GBK");
    const std::string yicheng_gbk = "\xe6\xe4\xb3\xc7\xc7\xf8"; // 驿城区 in GBK
    EXPECT_EQ(gbk.decode(yicheng_gbk).value_or("?"), "驿城区");
    EXPECT_EQ(gbk.decode("plain").value_or("?"), "plain");
}

TEST(text_decoding, invalid_bytes_are_refused_not_replaced)
{
    text_decoder gbk("GBK");
    EXPECT_FALSE(gbk.decode("\x81")); // a lead byte with no trail
    text_decoder utf8("UTF-8");
    EXPECT_FALSE(utf8.decode("\xe6\xe4\xb3\xc7\xc7\xf8")); // GBK read as UTF-8
    EXPECT_EQ(utf8.decode("驿城区").value_or("?"), "驿城区");
    EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));      // overlong
    EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));  // surrogate
    EXPECT_TRUE(is_valid_utf8("汝南县 ok"));
}

TEST(text_decoding, encoding_names_are_normalised)
{
    EXPECT_EQ(normalise_encoding("936"), "CP936");
    EXPECT_EQ(normalise_encoding("utf8"), "UTF-8");
    EXPECT_EQ(normalise_encoding(" gb18030 "), "GB18030");
    EXPECT_THROW(text_decoder("NO-SUCH-ENCODING"), onemap::input_error);
}

TEST(epsg, parse_epsg_accepts_codes_and_names_the_parameter)
{
    EXPECT_EQ(parse_epsg("EPSG:4547"), 4547);
    EXPECT_EQ(parse_epsg("4490"), 4490);
    try {
        parse_epsg("EPSG:abc");
        FAIL() << "no exception";
    } catch (const onemap::input_error& e) {
        EXPECT_EQ(e.parameter(), "srs");
    }
}

TEST(gauss_kruger, counterparts_pair_prefixed_and_cm_codes)
{
    EXPECT_EQ(gauss_kruger_counterpart(4526), 4547);
    EXPECT_EQ(gauss_kruger_counterpart(4547), 4526);
    EXPECT_EQ(gauss_kruger_counterpart(4513), 4534);
    EXPECT_EQ(gauss_kruger_counterpart(4490), 0);
}

TEST(gauss_kruger, zone_prefix_mismatch_is_reported_with_the_fitting_code)
{
    OGREnvelope prefixed;
    prefixed.MinX = 38420000;
    prefixed.MaxX = 38620000;
    OGREnvelope cm;
    cm.MinX = 420000;
    cm.MaxX = 620000;
    EXPECT_NO_THROW(check_gauss_kruger_zone(4526, prefixed, "x.shp"));
    EXPECT_NO_THROW(check_gauss_kruger_zone(4547, cm, "x.shp"));
    try {
        check_gauss_kruger_zone(4547, prefixed, "x.shp");
        FAIL() << "no exception";
    } catch (const onemap::input_error& e) {
        EXPECT_NE(std::string(e.what()).find("EPSG:4526"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("x.shp"), std::string::npos) << e.what();
    }
    try {
        check_gauss_kruger_zone(4526, cm, "y.shp");
        FAIL() << "no exception";
    } catch (const onemap::input_error& e) {
        EXPECT_NE(std::string(e.what()).find("EPSG:4547"), std::string::npos) << e.what();
    }
    EXPECT_NO_THROW(check_gauss_kruger_zone(4490, cm, "z.shp"));
}

TEST(manifest, unknown_keys_and_bad_dates_name_the_entry)
{
    const std::string path = ::testing::TempDir() + "/manifest_bad.yaml";
    std::ofstream(path) << "layers:\n  - file: a.shp\n    layer: a\n  - file: b.shp\n    colour: red\n";
    try {
        read_manifest(path);
        FAIL() << "no exception";
    } catch (const onemap::config_error& e) {
        EXPECT_NE(std::string(e.what()).find("layers[2]"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("colour"), std::string::npos) << e.what();
    }
    std::ofstream(path) << "layers:\n  - file: a.shp\n    valid_from: 2024-02-30\n";
    EXPECT_THROW(read_manifest(path), onemap::config_error);
    std::ofstream(path) << "layers:\n  - file: sub/a.shp\n    layer: a\n    srs: EPSG:4547\n    encoding: GBK\n";
    const auto requests = read_manifest(path);
    ASSERT_EQ(requests.size(), 1U);
    EXPECT_EQ(requests[0].srs.value_or(0), 4547);
    EXPECT_EQ(requests[0].encoding.value_or(""), "GBK");
    EXPECT_EQ(requests[0].source, ::testing::TempDir() + "sub/a.shp");
}
