// The report map drawn with Cairo: the basemap tiles composed on an RGB canvas at the frame's
// zoom, the red line filled and stroked over them, then a border and a scale bar, encoded with
// Cairo's own PNG writer (report maps are one per report, not worth libpng tuning). Frames
// start on whole pixels so that tiles are copied, not resampled. A red line crossing the
// antimeridian is not expected (the data is Chinese); it would be framed across the world.
#include "onemap/tileserver/analysis/report_map.hpp"

#include "onemap/core/error.hpp"
#include "onemap/core/tile_matrix_set.hpp"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

namespace onemap::tileserver::analysis {

namespace {

constexpr int TILE_SIZE = 256;
constexpr int MAX_ZOOM = 18;
constexpr double MARGIN = 0.15;                                   // of the box, on every side
constexpr double METRES_PER_PIXEL_AT_ZOOM_0 = 156543.03392804097; // on the equator
constexpr double RADIANS_PER_DEGREE = 3.14159265358979323846 / 180.0;

struct rgb {
    double r, g, b;
};
constexpr rgb BACKGROUND{0xf2 / 255.0, 0xef / 255.0, 0xe9 / 255.0};
constexpr rgb RED_LINE{230 / 255.0, 0.0, 0.0};
constexpr double RED_LINE_FILL_OPACITY = 0.15;
constexpr double RED_LINE_WIDTH = 3.0;
constexpr rgb DARK_GREY{0.25, 0.25, 0.25};

struct surface_deleter {
    void operator()(cairo_surface_t* s) const noexcept { cairo_surface_destroy(s); }
};
using surface_ptr = std::unique_ptr<cairo_surface_t, surface_deleter>;

struct context_deleter {
    void operator()(cairo_t* cr) const noexcept { cairo_destroy(cr); }
};
using context_ptr = std::unique_ptr<cairo_t, context_deleter>;

void set_colour(cairo_t* cr, const rgb& c, double alpha = 1.0)
{
    cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha);
}

double world_size(int zoom)
{
    return TILE_SIZE * std::ldexp(1.0, zoom);
}

// World pixels (x right, y down) of a lon/lat in a world `size` pixels wide.
std::pair<double, double> world_position(lonlat p, double size)
{
    const double span = 2 * core::WEB_MERCATOR_HALF;
    return {(core::lon_to_mercator_x(p.lon) / span + 0.5) * size, (0.5 - core::lat_to_mercator_y(p.lat) / span) * size};
}

surface_ptr make_canvas(int width, int height)
{
    surface_ptr s(cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height));
    if (cairo_surface_status(s.get()) != CAIRO_STATUS_SUCCESS) {
        throw error("report map: cannot create a " + std::to_string(width) + "x" + std::to_string(height) +
                    " canvas: " + cairo_status_to_string(cairo_surface_status(s.get())));
    }
    return s;
}

struct png_source {
    const std::string* bytes;
    std::size_t offset;
};

cairo_status_t read_png(void* closure, unsigned char* data, unsigned int length)
{
    auto* source = static_cast<png_source*>(closure);
    if (source->bytes->size() - source->offset < length) {
        return CAIRO_STATUS_READ_ERROR;
    }
    std::memcpy(data, source->bytes->data() + source->offset, length);
    source->offset += length;
    return CAIRO_STATUS_SUCCESS;
}

cairo_status_t append_png(void* closure, const unsigned char* data, unsigned int length)
{
    try {
        static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
        return CAIRO_STATUS_SUCCESS;
    } catch (...) { // nothing may unwind through Cairo's C frames
        return CAIRO_STATUS_WRITE_ERROR;
    }
}

// The tile's image, or null when the bytes are not a PNG Cairo can read.
surface_ptr decode_tile(const std::string& png)
{
    png_source source{&png, 0};
    surface_ptr s(cairo_image_surface_create_from_png_stream(read_png, &source));
    if (cairo_surface_status(s.get()) != CAIRO_STATUS_SUCCESS || cairo_image_surface_get_width(s.get()) <= 0 ||
        cairo_image_surface_get_height(s.get()) <= 0) {
        return nullptr;
    }
    return s;
}

void draw_tiles(cairo_t* cr, const map_frame& frame, const tile_fetch& fetch)
{
    const long long last = (1LL << frame.zoom) - 1;
    const auto first_x = std::max(0LL, static_cast<long long>(std::floor(frame.min_x / TILE_SIZE)));
    const auto first_y = std::max(0LL, static_cast<long long>(std::floor(frame.min_y / TILE_SIZE)));
    const auto last_x = std::min(last, static_cast<long long>(std::floor((frame.min_x + frame.width - 1) / TILE_SIZE)));
    const auto last_y = std::min(last, static_cast<long long>(std::floor((frame.min_y + frame.height - 1) / TILE_SIZE)));
    for (long long y = first_y; y <= last_y; ++y) {
        for (long long x = first_x; x <= last_x; ++x) {
            const std::string png = fetch(frame.zoom, static_cast<std::uint32_t>(x), static_cast<std::uint32_t>(y));
            if (png.empty()) {
                continue;
            }
            const surface_ptr tile = decode_tile(png);
            if (!tile) {
                continue;
            }
            // A tile of another size (a 512-px @2x tile) is scaled into its 256-px cell.
            const int w = cairo_image_surface_get_width(tile.get());
            const int h = cairo_image_surface_get_height(tile.get());
            cairo_save(cr);
            cairo_translate(cr, static_cast<double>(x) * TILE_SIZE - frame.min_x,
                            static_cast<double>(y) * TILE_SIZE - frame.min_y);
            cairo_scale(cr, static_cast<double>(TILE_SIZE) / w, static_cast<double>(TILE_SIZE) / h);
            cairo_set_source_surface(cr, tile.get(), 0, 0);
            cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD);
            cairo_rectangle(cr, 0, 0, w, h);
            cairo_fill(cr);
            cairo_restore(cr);
        }
    }
}

void add_ring(cairo_t* cr, const map_frame& frame, const ring& r)
{
    std::size_t n = r.size();
    if (n > 1 && r.front().lon == r.back().lon && r.front().lat == r.back().lat) {
        --n; // close_path draws the closing edge with a proper join
    }
    for (std::size_t i = 0; i < n; ++i) {
        const auto [x, y] = image_position(frame, r[i]);
        if (i == 0) {
            cairo_move_to(cr, x, y);
        } else {
            cairo_line_to(cr, x, y);
        }
    }
    if (n > 0) {
        cairo_close_path(cr);
    }
}

// Each polygon is filled on its own, so its holes stay open while two overlapping polygons
// both tint their overlap; the outline is one stroke over all rings.
void draw_red_line(cairo_t* cr, const map_frame& frame, const std::vector<polygon>& polygons)
{
    cairo_set_fill_rule(cr, CAIRO_FILL_RULE_EVEN_ODD);
    set_colour(cr, RED_LINE, RED_LINE_FILL_OPACITY);
    for (const polygon& p : polygons) {
        cairo_new_path(cr);
        for (const ring& r : p) {
            add_ring(cr, frame, r);
        }
        cairo_fill(cr);
    }
    cairo_new_path(cr);
    for (const polygon& p : polygons) {
        for (const ring& r : p) {
            add_ring(cr, frame, r);
        }
    }
    set_colour(cr, RED_LINE);
    cairo_set_line_width(cr, RED_LINE_WIDTH);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_stroke(cr);
}

// The longest 1, 2 or 5 × 10^k metres not over `max_metres`.
double round_length(double max_metres)
{
    const double power = std::pow(10.0, std::floor(std::log10(max_metres)));
    for (const double m : {5.0, 2.0}) {
        if (m * power <= max_metres) {
            return m * power;
        }
    }
    return power;
}

// Bottom left, on a translucent white plate: the label over a bar with end ticks. Images too
// small to hold it get none.
void draw_scale_bar(cairo_t* cr, const map_frame& frame)
{
    constexpr double INSET = 10;
    constexpr double PADDING = 8;
    constexpr double PLATE_HEIGHT = 34;
    if (frame.width < 120 || frame.height < 60) {
        return;
    }
    const double centre_y = frame.min_y + frame.height / 2.0;
    const double lat = core::mercator_y_to_lat((0.5 - centre_y / world_size(frame.zoom)) * 2 * core::WEB_MERCATOR_HALF);
    const double metres_per_pixel = METRES_PER_PIXEL_AT_ZOOM_0 * std::cos(lat * RADIANS_PER_DEGREE) / std::ldexp(1.0, frame.zoom);
    const double max_pixels = std::min(200.0, frame.width / 4.0);
    const double metres = round_length(max_pixels * metres_per_pixel);
    const double pixels = metres / metres_per_pixel;
    const std::string label = metres >= 1000 ? std::to_string(std::lround(metres / 1000)) + " km"
                                             : std::to_string(std::lround(metres)) + " m";

    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 12);
    cairo_text_extents_t text{};
    cairo_text_extents(cr, label.c_str(), &text);

    const double left = INSET;
    const double top = frame.height - INSET - PLATE_HEIGHT;
    cairo_rectangle(cr, left, top, std::max(pixels, text.x_advance) + 2 * PADDING, PLATE_HEIGHT);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.8);
    cairo_fill(cr);

    set_colour(cr, DARK_GREY);
    cairo_move_to(cr, left + PADDING, top + 15);
    cairo_show_text(cr, label.c_str());
    const double bar_y = top + PLATE_HEIGHT - PADDING;
    cairo_move_to(cr, left + PADDING, bar_y - 6);
    cairo_line_to(cr, left + PADDING, bar_y);
    cairo_line_to(cr, left + PADDING + pixels, bar_y);
    cairo_line_to(cr, left + PADDING + pixels, bar_y - 6);
    cairo_set_line_width(cr, 2);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_MITER);
    cairo_stroke(cr);
}

void draw_border(cairo_t* cr, const map_frame& frame)
{
    cairo_rectangle(cr, 0.5, 0.5, frame.width - 1.0, frame.height - 1.0);
    set_colour(cr, DARK_GREY);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
}

} // namespace

map_frame frame_for(const std::vector<polygon>& polygons, int width, int height)
{
    if (width <= 0) {
        throw input_error("width", "report map: width must be positive, not " + std::to_string(width));
    }
    if (height <= 0) {
        throw input_error("height", "report map: height must be positive, not " + std::to_string(height));
    }
    constexpr double INF = std::numeric_limits<double>::infinity();
    double min_x = INF, min_y = INF, max_x = -INF, max_y = -INF;
    for (const polygon& p : polygons) {
        for (const ring& r : p) {
            for (const lonlat& v : r) {
                if (!std::isfinite(v.lon) || !std::isfinite(v.lat)) {
                    throw input_error("report map: a red line coordinate is not a finite number");
                }
                const auto [x, y] = world_position(v, TILE_SIZE);
                min_x = std::min(min_x, x);
                min_y = std::min(min_y, y);
                max_x = std::max(max_x, x);
                max_y = std::max(max_y, y);
            }
        }
    }
    if (min_x > max_x) {
        min_x = max_x = min_y = max_y = TILE_SIZE / 2.0;
    }
    map_frame frame;
    frame.width = width;
    frame.height = height;
    const double padded = 1 + 2 * MARGIN;
    for (int z = MAX_ZOOM; z >= 0; --z) {
        const double scale = std::ldexp(1.0, z);
        if ((max_x - min_x) * scale * padded <= width && (max_y - min_y) * scale * padded <= height) {
            frame.zoom = z;
            break;
        }
    }
    const double scale = std::ldexp(1.0, frame.zoom);
    frame.min_x = std::round((min_x + max_x) / 2 * scale - width / 2.0);
    frame.min_y = std::round((min_y + max_y) / 2 * scale - height / 2.0);
    return frame;
}

std::pair<double, double> image_position(const map_frame& frame, lonlat p)
{
    const auto [x, y] = world_position(p, world_size(frame.zoom));
    return {x - frame.min_x, y - frame.min_y};
}

std::string render_report_map(const std::vector<polygon>& polygons, const tile_fetch& fetch, int width, int height)
{
    const map_frame frame = frame_for(polygons, width, height);
    const surface_ptr canvas = make_canvas(width, height);
    const context_ptr cr(cairo_create(canvas.get()));
    set_colour(cr.get(), BACKGROUND);
    cairo_paint(cr.get());
    draw_tiles(cr.get(), frame, fetch);
    draw_red_line(cr.get(), frame, polygons);
    draw_border(cr.get(), frame);
    draw_scale_bar(cr.get(), frame);
    if (cairo_status(cr.get()) != CAIRO_STATUS_SUCCESS) {
        throw error(std::string("report map: drawing failed: ") + cairo_status_to_string(cairo_status(cr.get())));
    }
    cairo_surface_flush(canvas.get());
    std::string png;
    const cairo_status_t written = cairo_surface_write_to_png_stream(canvas.get(), append_png, &png);
    if (written != CAIRO_STATUS_SUCCESS) {
        throw error(std::string("report map: PNG encoding failed: ") + cairo_status_to_string(written));
    }
    return png;
}

} // namespace onemap::tileserver::analysis
