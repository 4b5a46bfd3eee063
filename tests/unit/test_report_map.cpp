// The report map's frame and image: a red line near 114°E 33°N framed with its margin at the
// highest zoom that fits, drawn over synthetic solid-blue tiles and read back pixel by pixel with
// Cairo's own PNG reader; undecodable tiles and Cairo failures.
#include "onemap/core/error.hpp"
#include "onemap/tileserver/analysis/report_map.hpp"

#include <cairo.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <tuple>

using namespace onemap::tileserver::analysis;

namespace {

constexpr double MARGIN = 0.15;

struct surface_deleter {
    void operator()(cairo_surface_t* s) const noexcept { cairo_surface_destroy(s); }
};
using surface_ptr = std::unique_ptr<cairo_surface_t, surface_deleter>;

struct rgb {
    int r, g, b;
};

cairo_status_t append(void* closure, const unsigned char* data, unsigned int length)
{
    static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
    return CAIRO_STATUS_SUCCESS;
}

struct reader {
    const std::string* bytes;
    std::size_t offset = 0;
};

cairo_status_t read(void* closure, unsigned char* data, unsigned int length)
{
    auto* r = static_cast<reader*>(closure);
    if (r->bytes->size() - r->offset < length) {
        return CAIRO_STATUS_READ_ERROR;
    }
    std::memcpy(data, r->bytes->data() + r->offset, length);
    r->offset += length;
    return CAIRO_STATUS_SUCCESS;
}

// A 256×256 tile of pure blue, as the tile server would send it.
std::string blue_tile()
{
    surface_ptr s(cairo_image_surface_create(CAIRO_FORMAT_RGB24, 256, 256));
    cairo_t* cr = cairo_create(s.get());
    cairo_set_source_rgb(cr, 0, 0, 1);
    cairo_paint(cr);
    cairo_destroy(cr);
    std::string png;
    EXPECT_EQ(cairo_surface_write_to_png_stream(s.get(), append, &png), CAIRO_STATUS_SUCCESS);
    return png;
}

surface_ptr decode(const std::string& png)
{
    reader r{&png};
    surface_ptr s(cairo_image_surface_create_from_png_stream(read, &r));
    EXPECT_EQ(cairo_surface_status(s.get()), CAIRO_STATUS_SUCCESS) << "the report map is not a PNG";
    return s;
}

// Straight RGB of an opaque pixel.
rgb pixel(cairo_surface_t* s, int x, int y)
{
    const unsigned char* row = cairo_image_surface_get_data(s) + static_cast<std::ptrdiff_t>(y) * cairo_image_surface_get_stride(s);
    std::uint32_t v = 0;
    std::memcpy(&v, row + static_cast<std::ptrdiff_t>(x) * 4, 4);
    return {static_cast<int>((v >> 16) & 0xFF), static_cast<int>((v >> 8) & 0xFF), static_cast<int>(v & 0xFF)};
}

rgb pixel_at(cairo_surface_t* s, std::pair<double, double> p)
{
    return pixel(s, static_cast<int>(std::floor(p.first)), static_cast<int>(std::floor(p.second)));
}

bool red_dominant(const rgb& c)
{
    return c.r > 180 && c.g < 80 && c.b < 80;
}

// Antialiasing may move the line's core by a pixel: any of the 3×3 around the point counts.
bool red_near(cairo_surface_t* s, std::pair<double, double> p)
{
    const int cx = static_cast<int>(std::floor(p.first));
    const int cy = static_cast<int>(std::floor(p.second));
    for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
            if (red_dominant(pixel(s, cx + dx, cy + dy))) {
                return true;
            }
        }
    }
    return false;
}

ring rectangle(double lon0, double lat0, double lon1, double lat1)
{
    return {{lon0, lat0}, {lon1, lat0}, {lon1, lat1}, {lon0, lat1}, {lon0, lat0}};
}

// About 930 m × 890 m near 114°E 33°N, with a 190 m × 220 m hole in its middle.
polygon small_red_line()
{
    return {rectangle(114.000, 33.000, 114.010, 33.008), rectangle(114.004, 33.003, 114.006, 33.005)};
}

struct pixel_box {
    double min_x = 1e300, min_y = 1e300, max_x = -1e300, max_y = -1e300;
};

pixel_box image_box(const map_frame& frame, const std::vector<polygon>& polygons)
{
    pixel_box b;
    for (const polygon& p : polygons) {
        for (const ring& r : p) {
            for (const lonlat& v : r) {
                const auto [x, y] = image_position(frame, v);
                b.min_x = std::min(b.min_x, x);
                b.min_y = std::min(b.min_y, y);
                b.max_x = std::max(b.max_x, x);
                b.max_y = std::max(b.max_y, y);
            }
        }
    }
    return b;
}

// The contract of frame_for: the box plus 15 % on every side fits and is centred (to the whole
// pixel the frame is rounded to), and at the next zoom (every length doubled) it would not fit.
void expect_framed(const map_frame& frame, const std::vector<polygon>& polygons)
{
    const pixel_box b = image_box(frame, polygons);
    const double w = b.max_x - b.min_x;
    const double h = b.max_y - b.min_y;
    EXPECT_GE(b.min_x, MARGIN * w - 1);
    EXPECT_GE(b.min_y, MARGIN * h - 1);
    EXPECT_LE(b.max_x, frame.width - MARGIN * w + 1);
    EXPECT_LE(b.max_y, frame.height - MARGIN * h + 1);
    EXPECT_NEAR((b.min_x + b.max_x) / 2, frame.width / 2.0, 1.0);
    EXPECT_NEAR((b.min_y + b.max_y) / 2, frame.height / 2.0, 1.0);
    if (frame.zoom < 18) {
        const double padded = 1 + 2 * MARGIN;
        EXPECT_TRUE(2 * w * padded > frame.width || 2 * h * padded > frame.height)
            << "zoom " << frame.zoom + 1 << " would fit too";
        // Hence the box covers more than 1/2.6 of the width or of the height.
        EXPECT_TRUE(w > frame.width / (2 * padded) || h > frame.height / (2 * padded));
    }
}

using tile_address = std::tuple<int, std::uint32_t, std::uint32_t>;

// The tiles a frame overlaps: each candidate (the covering range and one more on every side,
// inside the world) kept when its 256-px square overlaps the frame's pixel rectangle.
std::set<tile_address> tiles_of(const map_frame& frame)
{
    std::set<tile_address> tiles;
    const long long n = 1LL << frame.zoom;
    const auto from = [](double pixel) { return std::max(0LL, static_cast<long long>(std::floor(pixel / 256)) - 1); };
    const auto to = [n](double pixel) { return std::min(n - 1, static_cast<long long>(std::floor(pixel / 256)) + 1); };
    for (long long y = from(frame.min_y); y <= to(frame.min_y + frame.height); ++y) {
        for (long long x = from(frame.min_x); x <= to(frame.min_x + frame.width); ++x) {
            const double left = static_cast<double>(x) * 256 - frame.min_x;
            const double top = static_cast<double>(y) * 256 - frame.min_y;
            if (left < frame.width && left + 256 > 0 && top < frame.height && top + 256 > 0) {
                tiles.emplace(frame.zoom, static_cast<std::uint32_t>(x), static_cast<std::uint32_t>(y));
            }
        }
    }
    return tiles;
}

tile_address tile_under(const map_frame& frame, int px, int py)
{
    return {frame.zoom, static_cast<std::uint32_t>(std::floor((frame.min_x + px) / 256)),
            static_cast<std::uint32_t>(std::floor((frame.min_y + py) / 256))};
}

void expect_colour(const rgb& c, const rgb& want, int tolerance, const char* what)
{
    EXPECT_NEAR(c.r, want.r, tolerance) << what;
    EXPECT_NEAR(c.g, want.g, tolerance) << what;
    EXPECT_NEAR(c.b, want.b, tolerance) << what;
}

constexpr rgb BLUE{0, 0, 255};
constexpr rgb BACKGROUND{0xf2, 0xef, 0xe9};

} // namespace

TEST(ReportMapFrame, SmallRedLineAtHighZoomWithMargin)
{
    const std::vector<polygon> red_line{small_red_line()};
    const map_frame frame = frame_for(red_line, 800, 600);
    EXPECT_EQ(frame.width, 800);
    EXPECT_EQ(frame.height, 600);
    EXPECT_GE(frame.zoom, 14);
    EXPECT_LE(frame.zoom, 18);
    expect_framed(frame, red_line);
}

TEST(ReportMapFrame, OneDegreeRedLineGetsLowerZoom)
{
    const std::vector<polygon> small{small_red_line()};
    const std::vector<polygon> big{{rectangle(114.0, 33.0, 115.0, 34.0)}};
    const map_frame small_frame = frame_for(small, 800, 600);
    const map_frame big_frame = frame_for(big, 800, 600);
    EXPECT_LT(big_frame.zoom, small_frame.zoom);
    EXPECT_GE(big_frame.zoom, 7);
    expect_framed(big_frame, big);
}

TEST(ReportMapFrame, RejectsBadSizeAndCoordinates)
{
    const std::vector<polygon> red_line{small_red_line()};
    EXPECT_THROW(frame_for(red_line, 0, 600), onemap::input_error);
    EXPECT_THROW(frame_for(red_line, 800, -1), onemap::input_error);
    const std::vector<polygon> not_a_number{{{{114.0, 33.0}, {std::nan(""), 33.1}, {114.1, 33.1}}}};
    EXPECT_THROW(frame_for(not_a_number, 800, 600), onemap::input_error);
}

TEST(ReportMap, RedLineOverBlueTiles)
{
    const std::vector<polygon> red_line{small_red_line()};
    std::string tile = blue_tile(); // copied into each answer
    std::vector<tile_address> asked;
    const tile_fetch fetch = [&](int z, std::uint32_t x, std::uint32_t y) {
        asked.emplace_back(z, x, y);
        return tile;
    };
    const std::string png = render_report_map(red_line, fetch);
    std::ofstream(::testing::TempDir() + "report_map_sample.png", std::ios::binary) << png;

    const surface_ptr image = decode(png);
    ASSERT_EQ(cairo_image_surface_get_width(image.get()), 800);
    ASSERT_EQ(cairo_image_surface_get_height(image.get()), 600);
    const map_frame frame = frame_for(red_line, 800, 600);

    const std::set<tile_address> wanted = tiles_of(frame);
    EXPECT_EQ(std::set<tile_address>(asked.begin(), asked.end()), wanted);
    EXPECT_EQ(asked.size(), wanted.size()) << "a tile was fetched twice";

    for (const ring& r : red_line.front()) {
        for (std::size_t i = 0; i + 1 < r.size(); ++i) {
            const auto [x0, y0] = image_position(frame, r[i]);
            const auto [x1, y1] = image_position(frame, r[i + 1]);
            EXPECT_TRUE(red_near(image.get(), {(x0 + x1) / 2, (y0 + y1) / 2}))
                << "edge " << i << " midpoint at " << (x0 + x1) / 2 << "," << (y0 + y1) / 2;
        }
    }
    // 15 % of RGB(230, 0, 0) over blue: 0.15·230 ≈ 35, 0.85·255 ≈ 217.
    expect_colour(pixel_at(image.get(), image_position(frame, {114.002, 33.004})), {35, 0, 217}, 6, "inside");
    expect_colour(pixel_at(image.get(), image_position(frame, {114.005, 33.004})), BLUE, 0, "the hole");
    expect_colour(pixel(image.get(), 40, 40), BLUE, 0, "far outside");
    expect_colour(pixel(image.get(), 400, 0), {64, 64, 64}, 2, "border, top");
    expect_colour(pixel(image.get(), 799, 300), {64, 64, 64}, 2, "border, right");

    int dark = 0;
    for (int y = 600 - 44; y < 600 - 10; ++y) {
        for (int x = 10; x < 230; ++x) {
            const rgb c = pixel(image.get(), x, y);
            dark += c.r < 100 && c.g < 100 && c.b < 100 ? 1 : 0;
        }
    }
    EXPECT_GT(dark, 100) << "no scale bar at the bottom left";
}

TEST(ReportMap, UndecodableTilesLeaveTheBackground)
{
    const std::vector<polygon> red_line{small_red_line()};
    const map_frame frame = frame_for(red_line, 800, 600);
    const std::string tile = blue_tile();
    const tile_address garbage = tile_under(frame, 40, 40);
    const tile_address truncated = tile_under(frame, 760, 40);
    const tile_address empty = tile_under(frame, 760, 560);
    const tile_fetch fetch = [&](int z, std::uint32_t x, std::uint32_t y) -> std::string {
        const tile_address a{z, x, y};
        if (a == garbage) {
            return "\x89PNG but not really a PNG at all";
        }
        if (a == truncated) {
            return tile.substr(0, tile.size() / 2);
        }
        return a == empty ? std::string() : tile;
    };
    const surface_ptr image = decode(render_report_map(red_line, fetch));
    ASSERT_EQ(cairo_image_surface_get_width(image.get()), 800);
    ASSERT_EQ(cairo_image_surface_get_height(image.get()), 600);
    expect_colour(pixel(image.get(), 40, 40), BACKGROUND, 0, "garbage tile");
    expect_colour(pixel(image.get(), 760, 40), BACKGROUND, 0, "truncated tile");
    expect_colour(pixel(image.get(), 760, 560), BACKGROUND, 0, "empty tile");
    expect_colour(pixel_at(image.get(), image_position(frame, {114.005, 33.004})), BLUE, 0, "a good tile");
}

TEST(ReportMap, CairoFailureThrowsError)
{
    const std::vector<polygon> red_line{small_red_line()};
    const tile_fetch fetch = [](int, std::uint32_t, std::uint32_t) { return std::string(); };
    // Cairo's image surfaces stop at 32767 pixels a side.
    EXPECT_THROW(render_report_map(red_line, fetch, 40000, 10), onemap::error);
}
