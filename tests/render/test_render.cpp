// The raster renderer drawn and checked pixel by pixel: fills, lines, filters, functions, colors,
// CJK labels with halos and collisions, PNG read back with Cairo's own reader, bad styles, threads.
#include "onemap/render/renderer.hpp"

#include <cairo.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pango/pangocairo.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <iostream>
#include <thread>

// Sanitizer builds: fontconfig keeps its configuration for the life of the process (one
// allocation per process, not per render or thread); LeakSanitizer should not count it.
extern "C" const char* __lsan_default_suppressions()
{
    return "leak:libfontconfig.so\n";
}

using namespace onemap::render;
using geom = onemap::core::mvt::geom_type;
using json = nlohmann::json;

namespace {

using props = std::vector<std::pair<std::string, onemap::core::mvt::value>>;

constexpr std::uint32_t WHITE = 0xFFFFFFFF;

feature polygon(std::vector<std::vector<point>> rings, props p = {})
{
    feature f;
    f.type = geom::polygon;
    f.parts = std::move(rings);
    f.properties = std::move(p);
    return f;
}

std::vector<point> rect(double x0, double y0, double x1, double y1)
{
    return {{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}};
}

feature square(double x0, double y0, double x1, double y1, props p = {})
{
    return polygon({rect(x0, y0, x1, y1)}, std::move(p));
}

feature line(std::vector<point> pts, props p = {})
{
    feature f;
    f.type = geom::linestring;
    f.parts = {std::move(pts)};
    f.properties = std::move(p);
    return f;
}

feature label_point(double x, double y, const std::string& name)
{
    feature f;
    f.type = geom::point;
    f.parts = {{{x, y}}};
    f.properties = {{"name", name}};
    return f;
}

// A style: white background, then `layers`.
std::shared_ptr<const style> style_with(const std::vector<json>& layers)
{
    json doc = {{"version", 8}, {"name", "test"}, {"sources", json::object()}};
    doc["layers"] = json::array({{{"id", "bg"}, {"type", "background"}, {"paint", {{"background-color", "#ffffff"}}}}});
    for (const auto& l : layers) {
        doc["layers"].push_back(l);
    }
    return style::parse(doc);
}

image render(const std::vector<json>& layers, const std::vector<source_layer>& data, double zoom = 10, int size = 100,
             double ratio = 1, int margin = 0)
{
    frame f;
    f.width = size;
    f.height = size;
    f.zoom = zoom;
    f.pixel_ratio = ratio;
    f.label_margin = margin;
    return draw(*style_with(layers), f, data);
}

json fill_layer(const json& color, const json& filter = nullptr)
{
    json l = {
        {"id", "f"}, {"type", "fill"}, {"source", "s"}, {"source-layer", "a"}, {"paint", {{"fill-color", color}}}};
    if (!filter.is_null()) {
        l["filter"] = filter;
    }
    return l;
}

int channel(std::uint32_t rgba, int shift)
{
    return static_cast<int>((rgba >> shift) & 0xFFU);
}

// Same color within `tolerance` per channel.
bool near(std::uint32_t a, std::uint32_t b, int tolerance = 2)
{
    for (const int shift : {24, 16, 8, 0}) {
        if (std::abs(channel(a, shift) - channel(b, shift)) > tolerance) {
            return false;
        }
    }
    return true;
}

// Pixels darker than mid-grey in column x (a black line on white).
int dark_in_column(const image& img, int x)
{
    int n = 0;
    for (int y = 0; y < img.height(); ++y) {
        n += channel(img.rgba(x, y), 24) < 128 ? 1 : 0;
    }
    return n;
}

template <typename Pred>
int count_pixels(const image& img, Pred pred, int x0 = 0, int y0 = 0, int x1 = -1, int y1 = -1)
{
    x1 = x1 < 0 ? img.width() : x1;
    y1 = y1 < 0 ? img.height() : y1;
    int n = 0;
    for (int y = y0; y < y1; ++y) {
        for (int x = x0; x < x1; ++x) {
            n += pred(img.rgba(x, y)) ? 1 : 0;
        }
    }
    return n;
}

// Pixels of `b` that differ from those of `a` at offset x0, y0.
int differing_pixels_in(const image& a, int x0, int y0, const image& b)
{
    int n = 0;
    for (int y = 0; y < b.height(); ++y) {
        for (int x = 0; x < b.width(); ++x) {
            n += a.rgba(x0 + x, y0 + y) != b.rgba(x, y) ? 1 : 0;
        }
    }
    return n;
}

int differing_pixels(const image& a, const image& b)
{
    return differing_pixels_in(a, 0, 0, b);
}

bool reddish(std::uint32_t c)
{
    return channel(c, 24) > 180 && channel(c, 16) < 90 && channel(c, 8) < 90;
}
bool greenish(std::uint32_t c)
{
    return channel(c, 16) > 180 && channel(c, 24) < 90 && channel(c, 8) < 90;
}

json text_layer(const std::string& id, const json& extra_layout = json::object())
{
    json layout = {{"text-field", "{name}"}, {"text-font", {"Noto Sans CJK SC Regular"}}, {"text-size", 24}};
    layout.update(extra_layout);
    return {{"id", id},
            {"type", "symbol"},
            {"source", "s"},
            {"source-layer", id},
            {"layout", layout},
            {"paint", {{"text-color", "#ff0000"}, {"text-halo-color", "#00ff00"}, {"text-halo-width", 2}}}};
}

} // namespace

// ---- style ---------------------------------------------------------------------------------

TEST(render_style, basemap_parses_and_answers_uses_by_zoom)
{
    const auto s = style::load(ONEMAP_BASEMAP_STYLE);
    EXPECT_EQ(s->name(), "onemap basemap");
    EXPECT_TRUE(s->uses("dltb", 3));  // dissolved by class at low zooms (issue 18)
    EXPECT_TRUE(s->uses("dltb", 10));
    EXPECT_TRUE(s->uses("dltb", 12));
    EXPECT_FALSE(s->uses("landuse_zone", 11)); // planned zones are their own layer, not the basemap
    EXPECT_FALSE(s->uses("grid", 12));
    EXPECT_TRUE(s->uses("grid", 14));
    EXPECT_TRUE(s->uses("admin_county", 3));
    EXPECT_TRUE(s->uses("admin_county", 18));
    EXPECT_FALSE(s->uses("no_such_layer", 12));
    const auto all = s->source_layers();
    for (const char* name : {"dltb", "basic_farmland", "urban_boundary", "ecological_redline", "reservoir", "river",
                             "grid", "admin_village", "admin_town", "admin_county"}) {
        EXPECT_NE(std::find(all.begin(), all.end(), name), all.end()) << name;
    }
    EXPECT_EQ(all.size(), 10U);
}

TEST(render_style, visibility_none_and_zoom_range_hide_a_layer)
{
    json doc = {{"version", 8},
                {"layers",
                 {{{"id", "hidden"}, {"type", "line"}, {"source-layer", "a"}, {"layout", {{"visibility", "none"}}}},
                  {{"id", "ranged"}, {"type", "fill"}, {"source-layer", "b"}, {"minzoom", 5}, {"maxzoom", 8}}}}};
    const auto s = style::parse(doc);
    EXPECT_FALSE(s->uses("a", 10));
    EXPECT_FALSE(s->uses("b", 4.9));
    EXPECT_TRUE(s->uses("b", 5));
    EXPECT_TRUE(s->uses("b", 7.9));
    EXPECT_FALSE(s->uses("b", 8));
    const std::vector<source_layer> data{{"b", {square(10, 10, 90, 90)}}};
    frame f;
    f.width = f.height = 100;
    f.zoom = 6;
    EXPECT_EQ(draw(*s, f, data).rgba(50, 50), 0x000000FFU); // fill-color defaults to black
    f.zoom = 8;
    EXPECT_EQ(draw(*s, f, data).rgba(50, 50), 0U); // nothing drawn: transparent
}

std::string error_of(const json& doc)
{
    try {
        style::parse(doc);
    } catch (const style_error& e) {
        return e.what();
    }
    return "";
}

TEST(render_style, bad_styles_name_the_layer_and_property)
{
    EXPECT_NE(error_of({{"version", 7}, {"layers", json::array()}}).find("version"), std::string::npos);
    EXPECT_NE(error_of({{"version", 8}}).find("layers"), std::string::npos);
    const auto one = [](json layer) { return json{{"version", 8}, {"layers", {layer}}}; };
    std::string e = error_of(one({{"id", "odd"}, {"type", "polygon"}}));
    EXPECT_NE(e.find("odd"), std::string::npos) << e;
    EXPECT_NE(e.find("type"), std::string::npos) << e;
    e = error_of(one({{"id", "p1"}, {"type", "fill"}, {"paint", {{"fill-color", "#zzz"}}}}));
    EXPECT_NE(e.find("p1"), std::string::npos) << e;
    EXPECT_NE(e.find("fill-color"), std::string::npos) << e;
    e = error_of(one({{"id", "p2"},
                      {"type", "fill"},
                      {"paint", {{"fill-color", {"match", {"get", "k"}, "a", "nocolor", "#fff"}}}}}));
    EXPECT_NE(e.find("p2"), std::string::npos) << e;
    EXPECT_NE(e.find("fill-color"), std::string::npos) << e;
    e = error_of(one({{"id", "l1"}, {"type", "line"}, {"paint", {{"line-width", "wide"}}}}));
    EXPECT_NE(e.find("l1"), std::string::npos) << e;
    EXPECT_NE(e.find("line-width"), std::string::npos) << e;
    e = error_of(one({{"id", "l2"}, {"type", "line"}, {"layout", {{"line-cap", "pointy"}}}}));
    EXPECT_NE(e.find("line-cap"), std::string::npos) << e;
    e = error_of(one({{"id", "l3"}, {"type", "line"}, {"paint", {{"line-width", {"frobnicate", 1}}}}}));
    EXPECT_NE(e.find("l3"), std::string::npos) << e;
    EXPECT_NE(e.find("frobnicate"), std::string::npos) << e;
    e = error_of(one({{"id", "f1"}, {"type", "fill"}, {"filter", {"~=", "k", 1}}}));
    EXPECT_NE(e.find("f1"), std::string::npos) << e;
    EXPECT_NE(e.find("filter"), std::string::npos) << e;
    // Forward compatibility: unknown properties are ignored; valid types we do not draw are skipped.
    EXPECT_EQ(error_of(one({{"id", "ok"}, {"type", "fill"}, {"paint", {{"fill-sparkle", 3}}}})), "");
    EXPECT_EQ(error_of(one({{"id", "dem"}, {"type", "hillshade"}, {"source", "dem"}})), "");
    try {
        style::load("/nonexistent/basemap.json");
        FAIL() << "no error";
    } catch (const style_error& ex) {
        EXPECT_NE(std::string(ex.what()).find("/nonexistent/basemap.json"), std::string::npos);
    }
}

// ---- fills ---------------------------------------------------------------------------------

TEST(render_fill, match_colour_inside_background_outside)
{
    const auto img = render({fill_layer({"match", {"get", "dlbm"}, "0101", "#F5F064", "1101", "#50A0F0", "#000000"})},
                            {{"a",
                              {square(10, 10, 45, 45, {{"dlbm", std::string("0101")}}),
                               square(55, 55, 90, 90, {{"dlbm", std::string("1101")}})}}});
    EXPECT_EQ(img.rgba(27, 27), 0xF5F064FFU);
    EXPECT_EQ(img.rgba(70, 70), 0x50A0F0FFU);
    EXPECT_EQ(img.rgba(5, 5), WHITE);
    EXPECT_EQ(img.rgba(50, 50), WHITE);
}

TEST(render_fill, hole_stays_background_by_even_odd)
{
    // The hole is wound the same way as the shell: only even-odd leaves it empty.
    const auto img = render({fill_layer("#0000ff")}, {{"a", {polygon({rect(10, 10, 90, 90), rect(30, 30, 70, 70)})}}});
    EXPECT_EQ(img.rgba(20, 20), 0x0000FFFFU);
    EXPECT_EQ(img.rgba(50, 50), WHITE);
}

TEST(render_fill, opacity_and_outline)
{
    json l = fill_layer("#000000");
    l["paint"]["fill-opacity"] = 0.5;
    l["paint"]["fill-outline-color"] = "#ff0000";
    const auto img = render({l}, {{"a", {square(20.5, 20.5, 80.5, 80.5)}}});
    EXPECT_TRUE(near(img.rgba(50, 50), 0x808080FF)) << std::hex << img.rgba(50, 50);
    // The 1-px outline along x = 20.5 covers column 20 (half-covered by the fill: 75% white),
    // red at the fill's opacity over it.
    EXPECT_TRUE(near(img.rgba(20, 50), 0xDF5F5FFF, 4)) << std::hex << img.rgba(20, 50);
}

// fuzz_style found a circle-radius of 2.7e125 that kept cairo flattening one arc for minutes; a
// sub-pixel dash period does the same along a line. Sizes past MAX_STYLE_PX are drawn at it, a
// dash period under a pixel is drawn solid: the tile comes back, covered as the style asks.
TEST(render_limits, huge_sizes_and_subpixel_dashes_are_drawn_bounded)
{
    const json circle = {{"id", "c"},
                         {"type", "circle"},
                         {"source", "s"},
                         {"source-layer", "a"},
                         {"paint", {{"circle-color", "#ff0000"}, {"circle-radius", 2.7e125}, {"circle-stroke-width", 1e300}}}};
    const json dashed = {{"id", "l"},
                         {"type", "line"},
                         {"source", "s"},
                         {"source-layer", "b"},
                         {"paint", {{"line-color", "#00ff00"}, {"line-width", 4}, {"line-dasharray", {1e-12, 1e-12}}}}};
    const json wide = {{"id", "w"},
                       {"type", "line"},
                       {"source", "s"},
                       {"source-layer", "c"},
                       {"paint", {{"line-color", "#0000ff"}, {"line-width", 1e200}}}};
    const auto img = render({circle}, {{"a", {label_point(50, 50, "x")}}});
    EXPECT_EQ(img.rgba(5, 5), 0xFF0000FFU) << "the bounded circle still covers the tile";
    const auto lines = render({dashed}, {{"b", {line({{0, 50}, {100, 50}})}}});
    EXPECT_TRUE(greenish(lines.rgba(50, 50))) << std::hex << lines.rgba(50, 50);
    const auto thick = render({wide}, {{"c", {line({{0, 50}, {100, 50}})}}});
    EXPECT_EQ(thick.rgba(50, 5), 0x0000FFFFU) << "the bounded width still covers the tile";
}

// ---- colors and functions ------------------------------------------------------------------

TEST(render_color, every_notation)
{
    const std::vector<std::pair<json, std::uint32_t>> cases{{"#f00", 0xFF0000FF},
                                                            {"#00FF00", 0x00FF00FF},
                                                            {"#0000ff80", 0x7F7FFFFF},
                                                            {"rgb(255, 128, 0)", 0xFF8000FF},
                                                            {"rgba(0,0,255,0.5)", 0x7F7FFFFF},
                                                            {"hsl(120, 100%, 50%)", 0x00FF00FF},
                                                            {"hsla(240,100%,50%,0.5)", 0x7F7FFFFF},
                                                            {"teal", 0x008080FF},
                                                            {"transparent", WHITE},
                                                            {{"rgb", 10, 20, 30}, 0x0A141EFF},
                                                            {{"to-color", "navy"}, 0x000080FF}};
    for (const auto& [c, want] : cases) {
        const auto img = render({fill_layer(c)}, {{"a", {square(0, 0, 100, 100)}}});
        EXPECT_TRUE(near(img.rgba(50, 50), want, 1)) << c.dump() << " gave " << std::hex << img.rgba(50, 50);
    }
}

TEST(render_function, legacy_zoom_stops_interpolate)
{
    const json stops = {{"stops", {{10, "#ff0000"}, {12, "#0000ff"}}}};
    const std::vector<source_layer> data{{"a", {square(0, 0, 100, 100)}}};
    EXPECT_EQ(render({fill_layer(stops)}, data, 9).rgba(50, 50), 0xFF0000FFU);
    EXPECT_EQ(render({fill_layer(stops)}, data, 12).rgba(50, 50), 0x0000FFFFU);
    EXPECT_TRUE(near(render({fill_layer(stops)}, data, 11).rgba(50, 50), 0x800080FF, 1));
    // Exponential base: at the midpoint of [0, 10] with base 2 the factor is (2^5-1)/(2^10-1) ≈ 0.03.
    json width = fill_layer("#000000");
    width["paint"]["fill-opacity"] = {{"base", 2}, {"stops", {{0, 0}, {10, 1}}}};
    const auto c = render({width}, data, 5).rgba(50, 50);
    EXPECT_GT(channel(c, 24), 240);
    EXPECT_LT(channel(c, 24), 252);
}

TEST(render_function, legacy_property_functions)
{
    const std::vector<source_layer> data{{"a",
                                          {square(0, 0, 30, 30, {{"k", std::string("a")}, {"n", std::int64_t{5}}}),
                                           square(35, 0, 65, 30, {{"k", std::string("b")}, {"n", 15.0}}),
                                           square(70, 0, 100, 30, {{"c", std::string("#ff00ff")}})}}};
    const auto cat = render({fill_layer({{"property", "k"},
                                         {"type", "categorical"},
                                         {"stops", json::array({json::array({"a", "#00ff00"})})},
                                         {"default", "#0000ff"}})},
                            data);
    EXPECT_EQ(cat.rgba(15, 15), 0x00FF00FFU);
    EXPECT_EQ(cat.rgba(50, 15), 0x0000FFFFU);
    EXPECT_EQ(cat.rgba(85, 15), 0x0000FFFFU); // no "k": the default
    const auto interval = render(
        {fill_layer({{"property", "n"}, {"type", "interval"}, {"stops", {{0, "#ff0000"}, {10, "#00ff00"}}}})}, data);
    EXPECT_EQ(interval.rgba(15, 15), 0xFF0000FFU);
    EXPECT_EQ(interval.rgba(50, 15), 0x00FF00FFU);
    const auto identity = render({fill_layer({{"property", "c"}, {"type", "identity"}})}, data);
    EXPECT_EQ(identity.rgba(85, 15), 0xFF00FFFFU);
    EXPECT_EQ(identity.rgba(15, 15), 0x000000FFU); // not a color: the spec default, black
}

TEST(render_function, expressions_case_coalesce_step_and_arithmetic)
{
    const std::vector<source_layer> data{
        {"a", {square(0, 0, 30, 30, {{"n", 3.0}}), square(35, 0, 65, 30, {{"n", 30.0}}), square(70, 0, 100, 30)}}};
    const auto img = render({fill_layer({"case",
                                         {">", {"coalesce", {"get", "n"}, -1}, 10},
                                         "#ff0000",
                                         {"==", {"get", "n"}, 3},
                                         "#00ff00",
                                         "#0000ff"})},
                            data);
    EXPECT_EQ(img.rgba(15, 15), 0x00FF00FFU);
    EXPECT_EQ(img.rgba(50, 15), 0xFF0000FFU);
    EXPECT_EQ(img.rgba(85, 15), 0x0000FFFFU);
    const auto stepped = render(
        {fill_layer({"step", {"*", {"to-number", {"get", "n"}}, 2}, "#000000", 10, "#ffff00", 100, "#ff0000"})}, data);
    EXPECT_EQ(stepped.rgba(15, 15), 0x000000FFU); // 6
    EXPECT_EQ(stepped.rgba(50, 15), 0xFFFF00FFU); // 60
    EXPECT_EQ(stepped.rgba(85, 15), 0x000000FFU); // to-number(null) = 0
}

// ---- filters -------------------------------------------------------------------------------

namespace {

// Four squares k=a, k=b, k=c and one without k, and a line; which squares got painted.
std::string painted_by(const json& filter)
{
    const std::vector<source_layer> data{
        {"a",
         {square(0, 0, 20, 20, {{"k", std::string("a")}, {"n", 1.0}}),
          square(25, 0, 45, 20, {{"k", std::string("b")}, {"n", 2.0}}),
          square(50, 0, 70, 20, {{"k", std::string("c")}, {"n", std::int64_t{3}}}), square(75, 0, 95, 20, {{"n", 4.0}}),
          line({{0, 50}, {100, 50}}, {{"k", std::string("a")}})}}};
    json fill = fill_layer("#000000", filter);
    json stroke = {
        {"id", "l"}, {"type", "line"}, {"source-layer", "a"}, {"paint", {{"line-width", 4}}}, {"filter", filter}};
    const auto img = render({fill, stroke}, data);
    std::string out;
    for (const int x : {10, 35, 60, 85}) {
        out += img.rgba(x, 10) == 0x000000FFU ? "1" : "0";
    }
    out += img.rgba(10, 50) == 0x000000FFU ? "L" : "-";
    return out;
}

} // namespace

TEST(render_filter, legacy_and_expression_forms)
{
    EXPECT_EQ(painted_by({"in", "k", "a", "b"}), "1100L");
    EXPECT_EQ(painted_by({"match", {"get", "k"}, {"a", "b"}, true, false}), "1100L");
    EXPECT_EQ(painted_by({"in", {"get", "k"}, {"literal", {"a", "b"}}}), "1100L");
    EXPECT_EQ(painted_by({"!in", "k", "a", "b"}), "0011-");
    EXPECT_EQ(painted_by({"==", "k", "c"}), "0010-");
    EXPECT_EQ(painted_by({"!=", "k", "c"}), "1101L"); // legacy != passes features without k
    EXPECT_EQ(painted_by({"!=", {"get", "k"}, "c"}), "1101L");
    EXPECT_EQ(painted_by({"==", "$type", "Polygon"}), "1111-");
    EXPECT_EQ(painted_by({"==", {"geometry-type"}, "LineString"}), "0000L");
    EXPECT_EQ(painted_by({"has", "k"}), "1110L");
    EXPECT_EQ(painted_by({"!has", "k"}), "0001-");
    EXPECT_EQ(painted_by({">=", "n", 2}), "0111-");
    EXPECT_EQ(painted_by({"<", {"get", "n"}, 3}), "1100-");
    EXPECT_EQ(painted_by({"all", {"==", "$type", "Polygon"}, {"any", {"==", "k", "a"}, {">", "n", 3}}}), "1001-");
    EXPECT_EQ(
        painted_by(
            {"all", {"==", {"geometry-type"}, "Polygon"}, {"any", {"==", {"get", "k"}, "a"}, {">", {"get", "n"}, 3}}}),
        "1001-");
    EXPECT_EQ(painted_by({"none", {"==", "k", "a"}, {"==", "k", "b"}}), "0011-");
    EXPECT_EQ(painted_by({"!", {"has", "k"}}), "0001-");
    EXPECT_EQ(painted_by({"==", "n", 3}), "0010-"); // integer property against a number
    EXPECT_EQ(painted_by({"==", "k", 1}), "0000-"); // legacy == is type-strict
    EXPECT_EQ(painted_by(false), "0000-");
}

// ---- lines ---------------------------------------------------------------------------------

namespace {

json line_layer(const json& paint, const json& layout = json::object())
{
    return {{"id", "l"}, {"type", "line"}, {"source-layer", "a"}, {"paint", paint}, {"layout", layout}};
}

const std::vector<source_layer> HORIZONTAL{{"a", {line({{-10, 50}, {210, 50}})}}};

} // namespace

TEST(render_line, width_follows_zoom_interpolation_and_pixel_ratio)
{
    const json l =
        line_layer({{"line-color", "#000000"}, {"line-width", {"interpolate", {"linear"}, {"zoom"}, 6, 2, 14, 10}}});
    EXPECT_EQ(dark_in_column(render({l}, HORIZONTAL, 6), 50), 2);
    EXPECT_EQ(dark_in_column(render({l}, HORIZONTAL, 10), 50), 6);
    EXPECT_EQ(dark_in_column(render({l}, HORIZONTAL, 14), 50), 10);
    // @2x: the same line in a canvas twice the size, twice as wide.
    const std::vector<source_layer> doubled{{"a", {line({{-10, 100}, {410, 100}})}}};
    EXPECT_EQ(dark_in_column(render({l}, doubled, 10, 200, 2), 100), 12);
}

TEST(render_line, dasharray_is_in_line_widths)
{
    const json l = line_layer({{"line-color", "#000000"}, {"line-width", 4}, {"line-dasharray", {2, 1}}});
    const auto runs = [](const image& img, int y) {
        std::vector<int> out; // lengths of alternating dark/light runs along row y
        bool dark = channel(img.rgba(0, y), 24) < 128;
        int n = 0;
        for (int x = 0; x < img.width(); ++x) {
            const bool d = channel(img.rgba(x, y), 24) < 128;
            if (d != dark) {
                out.push_back(n);
                n = 0;
                dark = d;
            }
            ++n;
        }
        return out;
    };
    const auto dashed = runs(render({l}, HORIZONTAL, 10, 200), 50);
    ASSERT_GE(dashed.size(), 20U);
    // Away from the start: 8-px dashes (2 × width 4) and 4-px gaps, alternating.
    for (std::size_t i = 2; i + 1 < dashed.size(); ++i) {
        EXPECT_TRUE(dashed[i] == 8 || dashed[i] == 4) << i << ": " << dashed[i];
        EXPECT_NE(dashed[i], dashed[i - 1]);
    }
    const auto solid =
        runs(render({line_layer({{"line-color", "#000000"}, {"line-width", 4}})}, HORIZONTAL, 10, 200), 50);
    EXPECT_TRUE(solid.empty());
    const std::vector<source_layer> doubled{{"a", {line({{-10, 100}, {410, 100}})}}};
    const auto retina = runs(render({l}, doubled, 10, 400, 2), 100);
    ASSERT_GE(retina.size(), 6U);
    EXPECT_TRUE(retina[3] == 16 || retina[3] == 8) << retina[3];
    EXPECT_EQ(retina[3] + retina[4], 24);
}

TEST(render_line, caps_and_polygon_rings)
{
    const std::vector<source_layer> stub{{"a", {line({{40, 50}, {60, 50}})}}};
    const auto butt = render({line_layer({{"line-width", 10}})}, stub);
    const auto round = render({line_layer({{"line-width", 10}}, {{"line-cap", "round"}})}, stub);
    EXPECT_EQ(butt.rgba(37, 50), WHITE);
    EXPECT_EQ(round.rgba(37, 50), 0x000000FFU);
    // A line layer outlines polygon rings, closing them.
    const auto ring = render({line_layer({{"line-width", 2}})}, {{"a", {square(20, 20, 80, 80)}}});
    EXPECT_EQ(ring.rgba(50, 20), 0x000000FFU);
    EXPECT_EQ(ring.rgba(20, 50), 0x000000FFU);
    EXPECT_EQ(ring.rgba(50, 50), WHITE);
}

TEST(render_circle, radius_and_stroke)
{
    feature p;
    p.type = geom::point;
    p.parts = {{{50, 50}}};
    const auto img = render({{{"id", "c"},
                              {"type", "circle"},
                              {"source-layer", "a"},
                              {"paint",
                               {{"circle-radius", 10},
                                {"circle-color", "#ff0000"},
                                {"circle-stroke-width", 4},
                                {"circle-stroke-color", "#0000ff"}}}}},
                            {{"a", {p}}});
    EXPECT_EQ(img.rgba(50, 50), 0xFF0000FFU);
    EXPECT_EQ(img.rgba(50 + 12, 50), 0x0000FFFFU);
    EXPECT_EQ(img.rgba(50 + 16, 50), WHITE);
}

// ---- labels --------------------------------------------------------------------------------

TEST(render_text, noto_sans_cjk_covers_the_labels)
{
    // Renders real glyphs, not missing-glyph boxes: the fallback family has every character.
    PangoFontMap* map = pango_cairo_font_map_new();
    PangoContext* ctx = pango_font_map_create_context(map);
    PangoLayout* layout = pango_layout_new(ctx);
    PangoFontDescription* d = pango_font_description_from_string("Noto Sans CJK SC 20");
    pango_layout_set_font_description(layout, d);
    pango_layout_set_text(layout, "驻马店市宿鸭湖驿城区", -1);
    EXPECT_EQ(pango_layout_get_unknown_glyphs_count(layout), 0);
    pango_font_description_free(d);
    g_object_unref(layout);
    g_object_unref(ctx);
    g_object_unref(map);
}

TEST(render_text, chinese_label_with_halo_near_its_anchor)
{
    const std::vector<source_layer> data{{"place", {label_point(128, 128, "驻马店市")}}};
    const auto with = render({text_layer("place")}, data, 10, 256);
    const auto without = render({}, data, 10, 256);
    EXPECT_GT(differing_pixels(with, without), 200);
    // Four 24-px full-width characters: red text within ~50 px of the anchor, green halo around.
    EXPECT_GT(count_pixels(with, reddish, 78, 108, 178, 148), 150);
    EXPECT_GT(count_pixels(with, greenish, 78, 108, 178, 148), 150);
    EXPECT_EQ(count_pixels(with, [](std::uint32_t c) { return c != WHITE; }),
              count_pixels(
                  with, [](std::uint32_t c) { return c != WHITE; }, 72, 108, 184, 148));
    int left = 256;
    int right = 0;
    for (int y = 100; y < 156; ++y) {
        for (int x = 0; x < 256; ++x) {
            if (reddish(with.rgba(x, y))) {
                left = std::min(left, x);
                right = std::max(right, x);
            }
        }
    }
    EXPECT_NEAR(right - left, 4 * 24, 10);
    EXPECT_NEAR((left + right) / 2.0, 128, 3);
}

// A feature read only for its label (its shapes cannot reach the window drawn) gets its label
// and nothing else: the fill layer over the same source layer skips it.
TEST(render_text, a_label_only_feature_is_labelled_but_not_filled)
{
    json fill = fill_layer("#0000ff");
    fill["source-layer"] = "place";
    feature f = square(64, 64, 192, 192, {{"name", std::string("驻马店市")}});
    f.label_anchor = point{128, 128};
    f.label_only = true;
    const auto img = render({fill, text_layer("place")}, {{"place", {f}}}, 10, 256);
    EXPECT_EQ(count_pixels(img, [](std::uint32_t c) { return near(c, 0x0000FFFF, 8); }), 0);
    EXPECT_GT(count_pixels(img, reddish, 78, 108, 178, 148), 150);
    f.label_only = false; // the same feature drawn whole is filled
    const auto whole = render({fill, text_layer("place")}, {{"place", {f}}}, 10, 256);
    EXPECT_GT(count_pixels(whole, [](std::uint32_t c) { return near(c, 0x0000FFFF, 8); }), 100 * 100);
}

namespace {

// The bounding box of the text-coloured pixels: {x0, y0, x1, y1}.
std::array<int, 4> red_box(const image& img)
{
    std::array<int, 4> b{img.width(), img.height(), -1, -1};
    for (int y = 0; y < img.height(); ++y) {
        for (int x = 0; x < img.width(); ++x) {
            if (reddish(img.rgba(x, y))) {
                b = {std::min(b[0], x), std::min(b[1], y), std::max(b[2], x), std::max(b[3], y)};
            }
        }
    }
    return b;
}

} // namespace

TEST(render_text, anchor_offset_and_wrapping)
{
    const std::vector<source_layer> data{{"place", {label_point(128, 128, "驻马店市")}}};
    const auto centred = red_box(render({text_layer("place")}, data, 10, 256));
    ASSERT_GE(centred[2], 0);
    EXPECT_NEAR((centred[1] + centred[3]) / 2.0, 128, 4);
    // "top": the text hangs below the anchor; "left": it starts at the anchor.
    const auto top = red_box(render({text_layer("place", {{"text-anchor", "top"}})}, data, 10, 256));
    EXPECT_GE(top[1], 128);
    EXPECT_LT(top[1], 128 + 12);
    const auto left = red_box(render({text_layer("place", {{"text-anchor", "left"}})}, data, 10, 256));
    EXPECT_GE(left[0], 128);
    EXPECT_LT(left[0], 128 + 4);
    // text-offset is in ems: [0, 2] at 24 px moves the text 48 px down.
    const auto offset = red_box(render({text_layer("place", {{"text-offset", {0, 2}}})}, data, 10, 256));
    EXPECT_NEAR(offset[1] - centred[1], 48, 1);
    EXPECT_NEAR(offset[0], centred[0], 1);
    // text-max-width 2.5 ems wraps four full-width characters onto two lines.
    const auto wrapped = red_box(render({text_layer("place", {{"text-max-width", 2.5}})}, data, 10, 256));
    EXPECT_NEAR(wrapped[2] - wrapped[0], 2 * 24, 6);
    EXPECT_GT(wrapped[3] - wrapped[1], 2 * 20);
    EXPECT_LT(centred[3] - centred[1], 26);
}

TEST(render_text, label_crossing_the_margin_is_not_drawn)
{
    const auto blank = render({}, {}, 10, 256);
    // Centred at x = 10, "驻马店市" (~96 px) would cross the canvas edge.
    EXPECT_EQ(differing_pixels(render({text_layer("place")}, {{"place", {label_point(10, 128, "驻马店市")}}}, 10, 256),
                               blank),
              0);
    const std::vector<source_layer> centre{{"place", {label_point(128, 128, "驻马店市")}}};
    // Inside the canvas but not inside a 100-px margin (allowed x 100..156).
    EXPECT_EQ(differing_pixels(render({text_layer("place")}, centre, 10, 256, 1, 100), blank), 0);
    EXPECT_GT(differing_pixels(render({text_layer("place")}, centre, 10, 256, 1, 40), blank), 200);
}

TEST(render_text, overlapping_labels_only_the_first_is_drawn)
{
    const feature a = label_point(128, 128, "驻马店市");
    const feature b = label_point(140, 134, "宿鸭湖");
    const auto only_a = render({text_layer("place")}, {{"place", {a}}}, 10, 256);
    const auto only_b = render({text_layer("place")}, {{"place", {b}}}, 10, 256);
    ASSERT_GT(differing_pixels(only_a, only_b), 200);
    EXPECT_EQ(differing_pixels(render({text_layer("place")}, {{"place", {a, b}}}, 10, 256), only_a), 0);
    EXPECT_EQ(differing_pixels(render({text_layer("place")}, {{"place", {b, a}}}, 10, 256), only_b), 0);
    // text-allow-overlap: both.
    const auto both = render({text_layer("place", {{"text-allow-overlap", true}})}, {{"place", {a, b}}}, 10, 256);
    EXPECT_GT(differing_pixels(both, only_a), 50);
    EXPECT_GT(differing_pixels(both, only_b), 50);
    // Across layers the later one (higher in the map) wins, as in MapLibre.
    const auto later = render({text_layer("lower"), text_layer("upper")}, {{"lower", {a}}, {"upper", {b}}}, 10, 256);
    const auto upper_alone = render({text_layer("lower"), text_layer("upper")}, {{"upper", {b}}}, 10, 256);
    EXPECT_EQ(differing_pixels(later, upper_alone), 0);
    // Far apart, both are drawn.
    const auto apart = render({text_layer("place")}, {{"place", {a, label_point(128, 40, "宿鸭湖")}}}, 10, 256);
    EXPECT_GT(differing_pixels(apart, only_a), 200);
}

TEST(render_text, text_along_a_line_upright_and_only_when_it_fits)
{
    const json l = text_layer("river", {{"symbol-placement", "line"}});
    const auto blank = render({}, {}, 10, 256);
    const auto ltr =
        render({l}, {{"river", {line({{20, 128}, {236, 128}}, {{"name", std::string("宿鸭湖")}})}}}, 10, 256);
    const auto rtl =
        render({l}, {{"river", {line({{236, 128}, {20, 128}}, {{"name", std::string("宿鸭湖")}})}}}, 10, 256);
    EXPECT_GT(count_pixels(ltr, reddish, 80, 108, 176, 148), 100);
    EXPECT_EQ(differing_pixels(ltr, rtl), 0); // a right-to-left line still reads left to right
    // Rotated along a diagonal: text pixels around the middle, none near the ends.
    const auto diagonal =
        render({l}, {{"river", {line({{30, 30}, {226, 226}}, {{"name", std::string("宿鸭湖")}})}}}, 10, 256);
    EXPECT_GT(count_pixels(diagonal, reddish, 88, 88, 168, 168), 100);
    EXPECT_EQ(count_pixels(diagonal, reddish, 0, 0, 70, 70), 0);
    // A line shorter than the text gets no label.
    const auto short_line =
        render({l}, {{"river", {line({{110, 128}, {150, 128}}, {{"name", std::string("宿鸭湖")}})}}}, 10, 256);
    EXPECT_EQ(differing_pixels(short_line, blank), 0);
}

// ---- PNG and threads -----------------------------------------------------------------------

namespace {

struct png_reader {
    const std::string& bytes;
    std::size_t pos = 0;
};

cairo_status_t read_png(void* closure, unsigned char* data, unsigned int length)
{
    auto* r = static_cast<png_reader*>(closure);
    if (r->pos + length > r->bytes.size()) {
        return CAIRO_STATUS_READ_ERROR;
    }
    std::memcpy(data, r->bytes.data() + r->pos, length);
    r->pos += length;
    return CAIRO_STATUS_SUCCESS;
}

} // namespace

TEST(render_png, sub_rectangle_reads_back_identically)
{
    json translucent = fill_layer("rgba(255,0,0,0.5)");
    translucent["id"] = "f2";
    const auto img = render({fill_layer({"match", {"get", "k"}, "a", "#123456", "#abcdef"}), translucent},
                            {{"a", {square(0, 0, 50, 100, {{"k", std::string("a")}}), square(50, 0, 100, 100)}}});
    const std::string png = img.png(30, 20, 40, 50);
    ASSERT_GT(png.size(), 8U);
    EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    png_reader reader{png};
    cairo_surface_t* back = cairo_image_surface_create_from_png_stream(read_png, &reader);
    ASSERT_EQ(cairo_surface_status(back), CAIRO_STATUS_SUCCESS);
    ASSERT_EQ(cairo_image_surface_get_width(back), 40);
    ASSERT_EQ(cairo_image_surface_get_height(back), 50);
    const auto format = cairo_image_surface_get_format(back);
    const unsigned char* data = cairo_image_surface_get_data(back);
    const int stride = cairo_image_surface_get_stride(back);
    int mismatches = 0;
    for (int y = 0; y < 50; ++y) {
        for (int x = 0; x < 40; ++x) {
            std::uint32_t argb = 0;
            std::memcpy(&argb, data + static_cast<std::ptrdiff_t>(y) * stride + static_cast<std::ptrdiff_t>(x) * 4, 4);
            const std::uint32_t a = format == CAIRO_FORMAT_RGB24 ? 255 : argb >> 24U;
            ASSERT_EQ(a, 255U); // opaque: straight and premultiplied agree
            const std::uint32_t rgba = ((argb & 0xFFFFFFU) << 8U) | a;
            mismatches += rgba != img.rgba(30 + x, 20 + y) ? 1 : 0;
        }
    }
    EXPECT_EQ(mismatches, 0);
    EXPECT_TRUE(near(img.rgba(35, 25), 0x881A2BFF, 1)) << std::hex << img.rgba(35, 25); // 50% red over #123456
    cairo_surface_destroy(back);
    EXPECT_THROW(img.png(90, 90, 20, 20), std::out_of_range);
    // A uniform image encodes too.
    EXPECT_EQ(render({}, {}).png(0, 0, 100, 100).substr(1, 3), "PNG");
}

namespace {

// A PNG decoded by libpng through Cairo: its colour type (IHDR) and straight RGBA pixels.
struct decoded_png {
    int colour_type = -1;
    int width = 0;
    std::vector<std::uint32_t> rgba;
    std::uint32_t at(int x, int y) const
    {
        return rgba[static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)];
    }
};

decoded_png decode(const std::string& png)
{
    decoded_png out;
    out.colour_type = static_cast<unsigned char>(png.at(25));
    png_reader reader{png};
    cairo_surface_t* back = cairo_image_surface_create_from_png_stream(read_png, &reader);
    EXPECT_EQ(cairo_surface_status(back), CAIRO_STATUS_SUCCESS);
    out.width = cairo_image_surface_get_width(back);
    const int h = cairo_image_surface_get_height(back);
    const bool alpha = cairo_image_surface_get_format(back) == CAIRO_FORMAT_ARGB32;
    const unsigned char* data = cairo_image_surface_get_data(back);
    const int stride = cairo_image_surface_get_stride(back);
    for (int y = 0; y < h; ++y) {
        for (int x = 0; x < out.width; ++x) {
            std::uint32_t argb = 0;
            std::memcpy(&argb, data + static_cast<std::ptrdiff_t>(y) * stride + static_cast<std::ptrdiff_t>(x) * 4, 4);
            const std::uint32_t a = alpha ? argb >> 24U : 255U;
            auto straight = [a](std::uint32_t c) { return a == 0 ? 0U : (c * 255 + a / 2) / a; };
            out.rgba.push_back(a == 0 ? 0U
                                      : (straight((argb >> 16U) & 0xFFU) << 24U) |
                                            (straight((argb >> 8U) & 0xFFU) << 16U) |
                                            (straight(argb & 0xFFU) << 8U) | a);
        }
    }
    cairo_surface_destroy(back);
    return out;
}

} // namespace

namespace {

// A 1024 × 1024 metatile of the basemap at zoom 12.5: 1,024 parcels, 100 village labels, rivers.
std::vector<source_layer> basemap_metatile()
{
    const char* codes[] = {"0101", "0301", "1101", "0601", "9999"};
    source_layer parcels{"dltb", {}};
    for (int row = 0; row < 32; ++row) {
        for (int col = 0; col < 32; ++col) {
            parcels.features.push_back(square(col * 32.0, row * 32.0, col * 32.0 + 32, row * 32.0 + 32,
                                              {{"dlbm", std::string(codes[(row * 32 + col) % 5])}}));
        }
    }
    source_layer villages{"admin_village", {}};
    for (int i = 0; i < 100; ++i) {
        const int col = i % 10;
        const int row = i / 10;
        const double x = 51.2 + col * 102.4;
        const double y = 51.2 + row * 102.4;
        feature v = square(x - 51.2, y - 51.2, x + 51.2, y + 51.2,
                           {{"xzqmc", std::string(i % 2 == 0 ? "驻马店村" : "宿鸭湖村")}});
        v.label_anchor = point{x, y};
        villages.features.push_back(std::move(v));
    }
    source_layer rivers{"river", {}};
    for (const double y : {300.0, 610.0, 920.0}) {
        rivers.features.push_back(line({{-20, y}, {300, y + 40}, {700, y - 30}, {1044, y}},
                                       {{"hldj", std::string("一级")}, {"hymc", std::string("汝河")}}));
    }
    source_layer county{"admin_county", {square(-10, -10, 1034, 1034, {{"xzqmc", std::string("驿城区")}})}};
    return {parcels, villages, rivers, county};
}

frame metatile_frame()
{
    frame f;
    f.width = 1024;
    f.height = 1024;
    f.zoom = 12.5;
    f.label_margin = 0;
    return f;
}

} // namespace

// Map tiles are written as palette PNGs (colour type 3): exactly when the tile has at most 256
// colours, else with 256 chosen by libimagequant and no dithering, so flat fills keep their
// exact colour and antialiased edges move a little; an image a palette cannot hold (here a
// 65,536-colour ramp) is written as it is, in RGB (colour type 2).
TEST(render_png, map_tiles_are_palette_pngs_that_keep_their_colours)
{
    const auto s = style::load(ONEMAP_BASEMAP_STYLE);
    const auto data = basemap_metatile();
    const auto img = draw(*s, metatile_frame(), data);
    const auto tile = decode(img.png(0, 0, 256, 256));
    EXPECT_EQ(tile.colour_type, 3);
    int most = 0;
    for (int y = 0; y < 256; ++y) {
        for (int x = 0; x < 256; ++x) {
            for (int shift = 0; shift < 32; shift += 8) {
                most = std::max(most, std::abs(channel(tile.at(x, y), shift) - channel(img.rgba(x, y), shift)));
            }
        }
    }
    EXPECT_LE(most, 40) << "an antialiased pixel moved too far";
    EXPECT_EQ(tile.at(80, 16), 0x50A0F0FFU); // the flat fills of three parcel classes, exact
    EXPECT_EQ(tile.at(112, 16), 0xC8A0A0FFU);
    EXPECT_EQ(tile.at(144, 16), 0xEEEEEEFFU);

    // Two fills and a translucent one, no antialiasing: a few colours, written exactly.
    json translucent = fill_layer("rgba(255,0,0,0.5)");
    translucent["id"] = "f2";
    const auto few = render({fill_layer({"match", {"get", "k"}, "a", "#123456", "#abcdef"}), translucent},
                            {{"a", {square(0, 0, 50, 100, {{"k", std::string("a")}}), square(50, 0, 100, 100)}}});
    const auto exact = decode(few.png(0, 0, 100, 100));
    EXPECT_EQ(exact.colour_type, 3);
    int differ = 0;
    for (int y = 0; y < 100; ++y) {
        for (int x = 0; x < 100; ++x) {
            differ += exact.at(x, y) != few.rgba(x, y) ? 1 : 0;
        }
    }
    EXPECT_EQ(differ, 0);

    // A ramp through 65,536 colours.
    image ramp(256, 256);
    {
        cairo_t* cr = cairo_create(static_cast<cairo_surface_t*>(ramp.surface()));
        for (int y = 0; y < 256; ++y) {
            for (int x = 0; x < 256; ++x) {
                cairo_set_source_rgb(cr, x / 255.0, y / 255.0, ((x + y) % 256) / 255.0);
                cairo_rectangle(cr, x, y, 1, 1);
                cairo_fill(cr);
            }
        }
        cairo_destroy(cr);
        cairo_surface_flush(static_cast<cairo_surface_t*>(ramp.surface()));
    }
    const auto rgb = decode(ramp.png(0, 0, 256, 256));
    EXPECT_EQ(rgb.colour_type, 2);
    EXPECT_EQ(rgb.at(200, 100), ramp.rgba(200, 100));
}

TEST(render_basemap, metatile_draws_parcels_labels_and_rivers)
{
    const auto s = style::load(ONEMAP_BASEMAP_STYLE);
    const auto data = basemap_metatile();
    draw(*s, metatile_frame(), data); // warm the thread's fonts
    const auto start = std::chrono::steady_clock::now();
    const auto img = draw(*s, metatile_frame(), data);
    const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::cout << "basemap metatile 1024x1024, 1,024 parcels + 100 village labels + 3 rivers: " << ms << " ms\n";
    // Parcel (col 2, row 0) is code index 2, "1101" → #50A0F0; (col 3, row 0) "0601" → #C8A0A0.
    EXPECT_EQ(img.rgba(80, 16), 0x50A0F0FFU);
    EXPECT_EQ(img.rgba(112, 16), 0xC8A0A0FFU);
    EXPECT_EQ(img.rgba(144, 16), 0xEEEEEEFFU); // "9999": the match fallback
    // The same metatile with nameless villages: only the village labels differ.
    auto nameless = data;
    for (auto& v : nameless[1].features) {
        v.properties = {{"xzqmc", std::string()}};
    }
    const auto unlabelled = draw(*s, metatile_frame(), nameless);
    EXPECT_GT(differing_pixels(img, unlabelled), 100 * 150);
    EXPECT_GT(count_pixels(img, [](std::uint32_t c) { return near(c, 0x4A3C68FF, 40); }), 100 * 4);
    const int river = count_pixels(img, [](std::uint32_t c) { return near(c, 0x3C8CE6FF, 12); });
    EXPECT_GT(river, 3 * 900 * 3);
    EXPECT_LT(ms, 2000); // "tens of milliseconds" on a workstation; generous for sanitizer builds
}

// A viewer's tile is drawn alone in its metatile's canvas (frame::window): labels are placed
// over the whole metatile, so each tile has the pixels the whole drawing has there — the
// village label centred on x = 256 is drawn in both tiles it straddles — even when the parcels
// that cannot reach the tile are left out, as the server leaves them.
TEST(render_basemap, a_tile_drawn_alone_has_the_pixels_of_its_whole_metatile)
{
    const auto s = style::load(ONEMAP_BASEMAP_STYLE);
    const auto data = basemap_metatile();
    const auto whole = draw(*s, metatile_frame(), data);
    std::array<std::unique_ptr<image>, 16> tiles;
    for (int row = 0; row < 4; ++row) {
        for (int col = 0; col < 4; ++col) {
            frame f = metatile_frame();
            f.window_x = col * 256;
            f.window_y = row * 256;
            f.window_width = 256;
            f.window_height = 256;
            auto near_tile = data;
            auto& parcels = near_tile[0].features;
            parcels.erase(std::remove_if(parcels.begin(), parcels.end(),
                                         [&](const feature& p) {
                                             const point& a = p.parts.at(0).at(0); // top-left corner
                                             return a.x + 32 < f.window_x - 16 || a.x > f.window_x + 256 + 16 ||
                                                    a.y + 32 < f.window_y - 16 || a.y > f.window_y + 256 + 16;
                                         }),
                          parcels.end());
            ASSERT_LT(parcels.size(), 200U);
            auto alone = draw(*s, f, near_tile);
            ASSERT_EQ(alone.width(), 256);
            ASSERT_EQ(alone.height(), 256);
            // Cairo clips strokes at the surface's edge, so the antialiasing of a few pixels along
            // a river may move by a sample or two of its 4 × 4 grid (16/255 each); nothing else
            // differs.
            int differ = 0;
            int most = 0;
            for (int y = 0; y < 256; ++y) {
                for (int x = 0; x < 256; ++x) {
                    const std::uint32_t w = whole.rgba(col * 256 + x, row * 256 + y);
                    const std::uint32_t t = alone.rgba(x, y);
                    differ += w != t ? 1 : 0;
                    for (int shift = 0; shift < 32; shift += 8) {
                        most = std::max(most, std::abs(channel(w, shift) - channel(t, shift)));
                    }
                }
            }
            EXPECT_LE(most, 40) << "tile " << col << "," << row;
            EXPECT_LT(differ, 256 * 256 / 100) << "tile " << col << "," << row;
            tiles[static_cast<std::size_t>(row) * 4 + static_cast<std::size_t>(col)] = std::make_unique<image>(std::move(alone));
        }
    }
    // The village label centred on the edge of tiles (0, 0) and (1, 0) is drawn in both halves.
    auto label_ink = [](const image& img, int x0, int x1) {
        int n = 0;
        for (int y = 0; y < 256; ++y) {
            for (int x = x0; x < x1; ++x) {
                n += near(img.rgba(x, y), 0x4A3C68FF, 40) ? 1 : 0;
            }
        }
        return n;
    };
    EXPECT_GT(label_ink(*tiles[0], 236, 256), 10);
    EXPECT_GT(label_ink(*tiles[1], 0, 20), 10);
    frame outside = metatile_frame();
    outside.window_x = 900;
    outside.window_width = 256;
    outside.window_height = 256;
    EXPECT_THROW(draw(*s, outside, data), std::invalid_argument);
}

TEST(render_basemap, eight_threads_render_identical_images)
{
    const auto s = style::load(ONEMAP_BASEMAP_STYLE);
    const auto data = basemap_metatile();
    const std::string reference = draw(*s, metatile_frame(), data).png(0, 0, 1024, 1024);
    std::vector<std::string> results(8);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < results.size(); ++i) {
        threads.emplace_back([&, i] {
            for (int round = 0; round < 2; ++round) {
                results[i] = draw(*s, metatile_frame(), data).png(0, 0, 1024, 1024);
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    for (std::size_t i = 0; i < results.size(); ++i) {
        EXPECT_TRUE(results[i] == reference) << "thread " << i;
    }
}
