// Glyph PBFs decoded with an independent wire-level reader (libprotobuf's CodedInputStream,
// field numbers and types of the fontnik/MapLibre format) and checked against FreeType
// itself: advances, glyph boxes and coverage of the antialiased rendering.
#include "onemap/render/glyphs.hpp"

#include <ft2build.h>
#include FT_FREETYPE_H
#include FT_OUTLINE_H

#include <google/protobuf/io/coded_stream.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <thread>

using onemap::render::glyph_error;
using onemap::render::glyph_range_error;
using onemap::render::glyph_source;
using onemap::render::unknown_fontstack_error;

namespace {

const std::string NOTO_SC = "Noto Sans CJK SC Regular";
const std::string NOTO_MONO_SC = "Noto Sans Mono CJK SC Regular";
const char* const NOTO_CJK_FILE = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";
constexpr int BUFFER = 3;

// ---- wire-level decoder ------------------------------------------------------------------

struct decoded_glyph {
    std::uint32_t id = 0;
    bool has_bitmap = false;
    std::string bitmap;
    std::uint32_t width = 0;
    std::uint32_t height = 0;
    std::int32_t left = 0;
    std::int32_t top = 0;
    std::uint32_t advance = 0;

    bool operator==(const decoded_glyph& o) const
    {
        return id == o.id && has_bitmap == o.has_bitmap && bitmap == o.bitmap && width == o.width &&
               height == o.height && left == o.left && top == o.top && advance == o.advance;
    }

    std::uint8_t at(std::uint32_t col, std::uint32_t row) const
    {
        return static_cast<std::uint8_t>(bitmap.at(static_cast<std::size_t>(row) * (width + 2 * BUFFER) + col));
    }
};

struct decoded_stack {
    std::string name;
    std::string range;
    std::vector<decoded_glyph> glyphs;

    const decoded_glyph* find(std::uint32_t id) const
    {
        const auto it = std::find_if(glyphs.begin(), glyphs.end(), [id](const decoded_glyph& g) { return g.id == id; });
        return it == glyphs.end() ? nullptr : &*it;
    }
};

using google::protobuf::io::CodedInputStream;

constexpr std::uint32_t VARINT = 0;
constexpr std::uint32_t LENGTH_DELIMITED = 2;

std::string read_bytes(CodedInputStream& in)
{
    std::uint32_t length = 0;
    std::string out;
    if (!in.ReadVarint32(&length) || !in.ReadString(&out, static_cast<int>(length))) {
        ADD_FAILURE() << "truncated length-delimited field";
    }
    return out;
}

std::uint32_t read_varint(CodedInputStream& in, std::uint32_t tag)
{
    EXPECT_EQ(tag & 7U, VARINT) << "field " << (tag >> 3) << " must be a varint";
    std::uint32_t v = 0;
    EXPECT_TRUE(in.ReadVarint32(&v));
    return v;
}

std::int32_t zigzag(std::uint32_t v)
{
    return static_cast<std::int32_t>(v >> 1U) ^ -static_cast<std::int32_t>(v & 1U);
}

decoded_glyph decode_glyph(const std::string& bytes)
{
    CodedInputStream in(reinterpret_cast<const std::uint8_t*>(bytes.data()), static_cast<int>(bytes.size()));
    decoded_glyph g;
    unsigned seen = 0;
    while (const std::uint32_t tag = in.ReadTag()) {
        const std::uint32_t field = tag >> 3U;
        if (field < 32) {
            seen |= 1U << field;
        }
        switch (field) {
        case 1: g.id = read_varint(in, tag); break;
        case 2:
            EXPECT_EQ(tag & 7U, LENGTH_DELIMITED);
            g.bitmap = read_bytes(in);
            g.has_bitmap = true;
            break;
        case 3: g.width = read_varint(in, tag); break;
        case 4: g.height = read_varint(in, tag); break;
        case 5: g.left = zigzag(read_varint(in, tag)); break;
        case 6: g.top = zigzag(read_varint(in, tag)); break;
        case 7: g.advance = read_varint(in, tag); break;
        default: ADD_FAILURE() << "unexpected glyph field " << field; return g;
        }
    }
    // Required by the proto2 schema: id, width, height, left, top, advance.
    EXPECT_EQ(seen & 0b11111010U, 0b11111010U) << "glyph " << g.id << " lacks a required field";
    return g;
}

decoded_stack decode_stack(const std::string& bytes)
{
    CodedInputStream in(reinterpret_cast<const std::uint8_t*>(bytes.data()), static_cast<int>(bytes.size()));
    decoded_stack s;
    while (const std::uint32_t tag = in.ReadTag()) {
        EXPECT_EQ(tag & 7U, LENGTH_DELIMITED);
        switch (tag >> 3U) {
        case 1: s.name = read_bytes(in); break;
        case 2: s.range = read_bytes(in); break;
        case 3: s.glyphs.push_back(decode_glyph(read_bytes(in))); break;
        default: ADD_FAILURE() << "unexpected fontstack field " << (tag >> 3U); return s;
        }
    }
    return s;
}

/// The one fontstack of a range PBF (message glyphs, field 1).
decoded_stack decode(const std::string& pbf)
{
    CodedInputStream in(reinterpret_cast<const std::uint8_t*>(pbf.data()), static_cast<int>(pbf.size()));
    std::vector<decoded_stack> stacks;
    while (const std::uint32_t tag = in.ReadTag()) {
        EXPECT_EQ(tag, (1U << 3U) | LENGTH_DELIMITED) << "unexpected field in glyphs";
        if (tag != ((1U << 3U) | LENGTH_DELIMITED)) {
            break;
        }
        stacks.push_back(decode_stack(read_bytes(in)));
    }
    EXPECT_TRUE(in.ConsumedEntireMessage() || in.BytesUntilLimit() <= 0);
    EXPECT_EQ(stacks.size(), 1U);
    return stacks.empty() ? decoded_stack{} : stacks.front();
}

// ---- FreeType, independently of the library ----------------------------------------------

struct ft_library {
    FT_Library lib = nullptr;
    ft_library() { EXPECT_EQ(FT_Init_FreeType(&lib), 0); }
    ~ft_library() { FT_Done_FreeType(lib); }
    ft_library(const ft_library&) = delete;
    ft_library& operator=(const ft_library&) = delete;
};

struct face_deleter {
    void operator()(FT_Face f) const noexcept { FT_Done_Face(f); }
};
using face_ptr = std::unique_ptr<FT_FaceRec_, face_deleter>;

/// The face of the Noto CJK collection with this family and style, at 24 px.
face_ptr open_noto_face(FT_Library lib, const std::string& family, const std::string& style)
{
    if (!std::filesystem::exists(NOTO_CJK_FILE)) {
        ADD_FAILURE() << NOTO_CJK_FILE << " is missing: apt-get install fonts-noto-cjk";
        return nullptr;
    }
    for (FT_Long i = 0;; ++i) {
        FT_Face raw = nullptr;
        if (FT_New_Face(lib, NOTO_CJK_FILE, i, &raw) != 0) {
            break;
        }
        face_ptr face(raw);
        if (family == raw->family_name && style == raw->style_name) {
            EXPECT_EQ(FT_Set_Char_Size(raw, 0, FT_F26Dot6{24} * 64, 0, 0), 0); // 24 pt in 26.6 fixed point
            return face;
        }
    }
    ADD_FAILURE() << "no face " << family << " " << style << " in " << NOTO_CJK_FILE;
    return nullptr;
}

glyph_source& source()
{
    static glyph_source s;
    return s;
}

} // namespace

TEST(glyphs, fonts_lists_noto_cjk_sc_by_family_and_style)
{
    const auto fonts = source().fonts();
    EXPECT_TRUE(std::is_sorted(fonts.begin(), fonts.end()));
    EXPECT_NE(std::find(fonts.begin(), fonts.end(), NOTO_SC), fonts.end());
    EXPECT_NE(std::find(fonts.begin(), fonts.end(), "Noto Sans CJK SC Bold"), fonts.end());
    EXPECT_NE(std::find(fonts.begin(), fonts.end(), NOTO_MONO_SC), fonts.end());
}

TEST(glyphs, latin_range_has_plausible_letter_a_and_blank_space)
{
    const decoded_stack s = decode(source().range_pbf(NOTO_SC, 0, 255));
    EXPECT_EQ(s.name, NOTO_SC);
    EXPECT_EQ(s.range, "0-255");
    for (const auto& g : s.glyphs) {
        EXPECT_LE(g.id, 255U);
    }

    const decoded_glyph* a = s.find('A');
    ASSERT_NE(a, nullptr);
    EXPECT_GE(a->advance, 10U);
    EXPECT_LE(a->advance, 20U);
    EXPECT_GE(a->width, 10U);
    EXPECT_LE(a->width, 18U);
    EXPECT_GE(a->height, 14U);
    EXPECT_LE(a->height, 20U);
    EXPECT_GE(a->left, -1);
    EXPECT_LE(a->left, 3);
    // Cap height (≈ 17 px) minus the face's 28 px ascender.
    EXPECT_GE(a->top, -14);
    EXPECT_LE(a->top, -8);
    ASSERT_TRUE(a->has_bitmap);
    EXPECT_EQ(a->bitmap.size(), static_cast<std::size_t>(a->width + 6) * (a->height + 6));

    const decoded_glyph* space = s.find(' ');
    ASSERT_NE(space, nullptr);
    EXPECT_GT(space->advance, 0U);
    EXPECT_EQ(space->width, 0U);
    EXPECT_EQ(space->height, 0U);
    EXPECT_FALSE(space->has_bitmap);
}

TEST(glyphs, distance_field_is_high_inside_and_low_outside)
{
    // ■ U+25A0: a filled square, so its centre is deep inside and its corners far outside.
    const decoded_stack shapes = decode(source().range_pbf(NOTO_SC, 9472, 9727));
    const decoded_glyph* square = shapes.find(0x25A0);
    ASSERT_NE(square, nullptr);
    ASSERT_TRUE(square->has_bitmap);
    const std::uint32_t w = square->width + 6;
    const std::uint32_t h = square->height + 6;
    EXPECT_GT(square->at(w / 2, h / 2), 192);
    EXPECT_EQ(square->at(w / 2, h / 2), 255);
    for (const auto& [x, y] : {std::pair{0U, 0U}, {w - 1, 0U}, {0U, h - 1}, {w - 1, h - 1}}) {
        EXPECT_LT(square->at(x, y), 100) << x << "," << y;
    }
    // The edge encodes as 191: at mid-height, the centre of column 2 lies half a pixel left
    // of the square's rounded box (0–1 px outside the outline), that of column 4 1.5 px right.
    EXPECT_LT(square->at(BUFFER - 1, h / 2), 192);
    EXPECT_GT(square->at(BUFFER + 1, h / 2), 192);

    // The stem of 'l': somewhere on the middle row it is inside; the row ends are outside.
    const decoded_stack latin = decode(source().range_pbf(NOTO_SC, 0, 255));
    const decoded_glyph* l = latin.find('l');
    ASSERT_NE(l, nullptr);
    ASSERT_TRUE(l->has_bitmap);
    const std::uint32_t lw = l->width + 6;
    const std::uint32_t mid = (l->height + 6) / 2;
    std::uint8_t best = 0;
    for (std::uint32_t x = 0; x < lw; ++x) {
        best = std::max(best, l->at(x, mid));
    }
    EXPECT_GT(best, 192);
    const std::uint32_t lh = l->height + 6;
    EXPECT_LT(l->at(0, mid), 192);
    EXPECT_LT(l->at(lw - 1, mid), 192);
    for (const auto& [x, y] : {std::pair{0U, 0U}, {lw - 1, 0U}, {0U, lh - 1}, {lw - 1, lh - 1}}) {
        EXPECT_LT(l->at(x, y), 100) << x << "," << y;
    }
}

TEST(glyphs, cjk_ranges_hold_full_width_ideographs)
{
    const decoded_stack first = decode(source().range_pbf(NOTO_SC, 19968, 20223));
    EXPECT_EQ(first.range, "19968-20223");
    EXPECT_EQ(first.glyphs.size(), 256U); // every code point of the block is in Noto Sans CJK
    const decoded_glyph* yi = first.find(0x4E00); // 一
    ASSERT_NE(yi, nullptr);
    EXPECT_EQ(yi->advance, 24U);
    EXPECT_GE(yi->width, 18U);
    EXPECT_LE(yi->height, 4U);
    EXPECT_EQ(yi->bitmap.size(), static_cast<std::size_t>(yi->width + 6) * (yi->height + 6));

    const decoded_stack second = decode(source().range_pbf(NOTO_SC, 39424, 39679));
    const decoded_glyph* zhu = second.find(0x9A7B); // 驻
    ASSERT_NE(zhu, nullptr);
    EXPECT_EQ(zhu->advance, 24U);
    EXPECT_GE(zhu->width, 18U);
    EXPECT_LE(zhu->width, 24U);
    EXPECT_GE(zhu->height, 18U);
    EXPECT_LE(zhu->height, 24U);
    EXPECT_EQ(zhu->bitmap.size(), static_cast<std::size_t>(zhu->width + 6) * (zhu->height + 6));
}

TEST(glyphs, metrics_match_freetype_for_every_glyph_of_a_range)
{
    ft_library ft;
    const face_ptr face = open_noto_face(ft.lib, "Noto Sans CJK SC", "Regular");
    ASSERT_TRUE(face);
    const std::int32_t ascender = static_cast<std::int32_t>(face->size->metrics.ascender / 64);
    EXPECT_EQ(ascender, 28); // 0.88 em rounded up to whole pixels by FreeType

    const decoded_stack s = decode(source().range_pbf(NOTO_SC, 0, 255));
    std::size_t expected_count = 0;
    for (std::uint32_t cp = 0; cp <= 255; ++cp) {
        const FT_UInt index = FT_Get_Char_Index(face.get(), cp);
        const decoded_glyph* g = s.find(cp);
        if (index == 0) {
            EXPECT_EQ(g, nullptr) << "U+" << cp << " is not in the font";
            continue;
        }
        ++expected_count;
        ASSERT_NE(g, nullptr) << "U+" << cp << " is in the font";
        ASSERT_EQ(FT_Load_Glyph(face.get(), index, FT_LOAD_NO_HINTING), 0);
        // fontnik: the unhinted advance truncated to whole pixels.
        EXPECT_EQ(g->advance, static_cast<std::uint32_t>(face->glyph->metrics.horiAdvance / 64)) << "U+" << cp;
        if (g->width == 0) {
            continue;
        }
        // The control box bounds the outline; for most Latin glyphs it is the outline's box.
        FT_BBox cbox;
        FT_Outline_Get_CBox(&face->glyph->outline, &cbox);
        EXPECT_NEAR(g->left, std::round(cbox.xMin / 64.0), 1) << "U+" << cp;
        EXPECT_NEAR(g->top + ascender, std::round(cbox.yMax / 64.0), 1) << "U+" << cp;
        EXPECT_NEAR(g->width, std::round(cbox.xMax / 64.0) - std::round(cbox.xMin / 64.0), 1) << "U+" << cp;
        EXPECT_NEAR(g->height, std::round(cbox.yMax / 64.0) - std::round(cbox.yMin / 64.0), 1) << "U+" << cp;
    }
    EXPECT_EQ(s.glyphs.size(), expected_count);

    // 'A' has straight edges only: its control box is its exact box.
    const decoded_glyph* a = s.find('A');
    ASSERT_NE(a, nullptr);
    ASSERT_EQ(FT_Load_Char(face.get(), 'A', FT_LOAD_NO_HINTING), 0);
    FT_BBox cbox;
    FT_Outline_Get_CBox(&face->glyph->outline, &cbox);
    EXPECT_EQ(a->left, std::lround(cbox.xMin / 64.0));
    EXPECT_EQ(a->top, std::lround(cbox.yMax / 64.0) - ascender);
    EXPECT_EQ(a->width, static_cast<std::uint32_t>(std::lround(cbox.xMax / 64.0) - std::lround(cbox.xMin / 64.0)));
    EXPECT_EQ(a->advance, 14U); // 0.608 em · 24 px = 14.59 px, truncated
}

TEST(glyphs, inside_and_outside_agree_with_freetype_antialiased_rendering)
{
    ft_library ft;
    const face_ptr face = open_noto_face(ft.lib, "Noto Sans CJK SC", "Regular");
    ASSERT_TRUE(face);
    const std::int32_t ascender = static_cast<std::int32_t>(face->size->metrics.ascender / 64);

    std::map<std::uint32_t, decoded_stack> ranges;
    for (const std::uint32_t cp : {0x41U, 0x67U, 0x40U, 0x4E00U, 0x9A7BU, 0x6CB3U, 0x5357U}) {
        const std::uint32_t start = cp / 256 * 256;
        if (ranges.count(start) == 0) {
            ranges.emplace(start, decode(source().range_pbf(NOTO_SC, start, start + 255)));
        }
        const decoded_glyph* g = ranges.at(start).find(cp);
        ASSERT_NE(g, nullptr) << "U+" << cp;
        ASSERT_TRUE(g->has_bitmap);

        ASSERT_EQ(FT_Load_Char(face.get(), cp, FT_LOAD_NO_HINTING), 0);
        ASSERT_EQ(FT_Render_Glyph(face->glyph, FT_RENDER_MODE_NORMAL), 0);
        const FT_Bitmap& bm = face->glyph->bitmap;
        ASSERT_EQ(bm.pixel_mode, FT_PIXEL_MODE_GRAY);
        const auto coverage = [&](int bx, int by) -> int {
            if (bx < 0 || by < 0 || bx >= static_cast<int>(bm.width) || by >= static_cast<int>(bm.rows)) {
                return 0;
            }
            return bm.buffer[static_cast<std::ptrdiff_t>(by) * bm.pitch + bx];
        };

        // Pixel (col, row) of the SDF covers x ∈ [left − 3 + col, +1], y ∈ [top − row + 2, +1]
        // in glyph space; FreeType's pixel (bx, by) covers x ∈ [bitmap_left + bx, +1],
        // y ∈ [bitmap_top − by − 1, +1].
        const int glyph_top = g->top + ascender;
        int checked = 0;
        int disagree = 0;
        for (std::uint32_t row = 0; row < g->height + 6; ++row) {
            for (std::uint32_t col = 0; col < g->width + 6; ++col) {
                const int bx = g->left - BUFFER + static_cast<int>(col) - face->glyph->bitmap_left;
                const int by = face->glyph->bitmap_top - (glyph_top + BUFFER - static_cast<int>(row));
                const int c = coverage(bx, by);
                const int v = g->at(col, row);
                if (c >= 230) {
                    ++checked;
                    disagree += v < 192 ? 1 : 0;
                } else if (c <= 25) {
                    ++checked;
                    disagree += v > 191 ? 1 : 0;
                }
            }
        }
        EXPECT_GT(checked, 100) << "U+" << cp;
        EXPECT_LE(disagree * 100, checked) << "U+" << cp << ": " << disagree << " of " << checked
                                           << " clearly covered or empty pixels on the wrong side of the edge";
    }
}

TEST(glyphs, unknown_fontstack_is_an_error_naming_it)
{
    try {
        source().range_pbf("No Such Font Regular", 0, 255);
        FAIL() << "no error";
    } catch (const unknown_fontstack_error& e) {
        EXPECT_NE(std::string(e.what()).find("No Such Font Regular"), std::string::npos) << e.what();
    }
    EXPECT_THROW(source().range_pbf("", 0, 255), unknown_fontstack_error);
    EXPECT_THROW(source().range_pbf("Noto Sans CJK SC", 0, 255), unknown_fontstack_error); // style missing
}

TEST(glyphs, bad_ranges_are_errors_naming_them)
{
    for (const auto& [start, end] : {std::pair{1U, 256U}, {0U, 254U}, {0U, 511U}, {256U, 255U}, {65536U, 65791U},
                                    {4294967040U, 4294967295U}}) {
        try {
            source().range_pbf(NOTO_SC, start, end);
            ADD_FAILURE() << start << "-" << end << " accepted";
        } catch (const glyph_range_error& e) {
            const std::string name = std::to_string(start) + "-" + std::to_string(end);
            EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
        }
    }
    EXPECT_NO_THROW(source().range_pbf(NOTO_SC, 65280, 65535));
}

TEST(glyphs, combined_stack_takes_each_code_point_from_the_first_font_that_has_it)
{
    const decoded_stack plain = decode(source().range_pbf(NOTO_SC, 0, 255));
    const std::string fallback_stack = "Unknown Font," + NOTO_SC;
    const decoded_stack fallback = decode(source().range_pbf(fallback_stack, 0, 255));
    EXPECT_EQ(fallback.name, fallback_stack);
    EXPECT_TRUE(fallback.glyphs == plain.glyphs);

    // The monospaced face has half-width Latin (12 px), the proportional one does not.
    const decoded_stack mono_first = decode(source().range_pbf(NOTO_MONO_SC + "," + NOTO_SC, 0, 255));
    const decoded_stack sans_first = decode(source().range_pbf(NOTO_SC + ", " + NOTO_MONO_SC, 0, 255));
    ASSERT_NE(mono_first.find('A'), nullptr);
    ASSERT_NE(sans_first.find('A'), nullptr);
    EXPECT_EQ(mono_first.find('A')->advance, 12U);
    EXPECT_EQ(sans_first.find('A')->advance, plain.find('A')->advance);
    EXPECT_NE(sans_first.find('A')->advance, 12U);
}

TEST(glyphs, cache_returns_identical_bytes_and_stays_within_its_budget)
{
    glyph_source uncached(0);
    const std::string a = uncached.range_pbf(NOTO_SC, 0, 255);
    EXPECT_EQ(uncached.cached_bytes(), 0U);
    EXPECT_EQ(uncached.range_pbf(NOTO_SC, 0, 255), a); // deterministic

    const std::size_t budget = std::size_t{300} * 1024;
    glyph_source small(budget);
    EXPECT_EQ(small.range_pbf(NOTO_SC, 0, 255), a);
    EXPECT_GT(small.cached_bytes(), a.size());
    for (std::uint32_t start = 19968; start < 19968 + 6 * 256; start += 256) {
        small.range_pbf(NOTO_SC, start, start + 255);
        EXPECT_LE(small.cached_bytes(), budget);
    }
    EXPECT_EQ(small.range_pbf(NOTO_SC, 0, 255), a);
}

TEST(glyphs, concurrent_requests_get_the_same_bytes)
{
    glyph_source shared;
    const std::string expected_latin = glyph_source(0).range_pbf(NOTO_SC, 0, 255);
    const std::string expected_cjk = glyph_source(0).range_pbf(NOTO_SC, 20224, 20479);
    std::vector<std::string> results(6);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < results.size(); ++i) {
        threads.emplace_back([&, i] {
            results[i] = i % 2 == 0 ? shared.range_pbf(NOTO_SC, 0, 255) : shared.range_pbf(NOTO_SC, 20224, 20479);
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    for (std::size_t i = 0; i < results.size(); ++i) {
        EXPECT_EQ(results[i], i % 2 == 0 ? expected_latin : expected_cjk) << "thread " << i;
    }
}
