// The canvas: a Cairo ARGB32 image surface, cut into PNG tiles written with libpng directly.
// A tile of at most 256 colours (flat fills, no antialiasing to speak of) is written with its
// exact palette; any other is quantised to 256 colours by libimagequant (pngquant's library),
// without dithering so that flat fills stay flat, unless it cannot keep the image's quality
// (photographs, hillshade), which are written as RGB(A). A map tile's palette PNG is about
// half the size of its RGB PNG (bench/RESULTS.md). zlib level 1: higher levels cost more time
// than they save bytes; palette rows unfiltered, RGB rows with the Up filter.
#include "onemap/render/renderer.hpp"

#include <cairo.h>
#include <libimagequant.h>
#include <omp.h>
#include <png.h>

#include <algorithm>
#include <array>
#include <csetjmp>
#include <vector>

#include <cstring>
#include <memory>
#include <string>

namespace onemap::render {

namespace {

cairo_surface_t* as_surface(void* p)
{
    return static_cast<cairo_surface_t*>(p);
}

void append_to_string(png_structp png, png_bytep data, png_size_t length)
{
    static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<const char*>(data), length);
}

void flush_nothing(png_structp) {}

// What a PNG is written as: straight 8-bit rows of `channels` 3 or 4 bytes per pixel, or of
// 1-byte indices into `palette` (RGBA entries; alphas below 255 go to tRNS).
struct png_rows {
    std::vector<png_bytep> rows;
    int channels = 4;
    std::vector<std::array<unsigned char, 4>> palette; // empty: not a palette image
};

// PNG bytes of the rows; false on a libpng error. Nothing with a destructor lives between
// setjmp and a possible longjmp.
bool encode_png(const png_rows& in, int w, int h, std::string& out)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    if (png == nullptr) {
        return false;
    }
    png_infop info = png_create_info_struct(png);
    if (info == nullptr || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return false;
    }
    png_set_write_fn(png, &out, append_to_string, flush_nothing);
    png_set_compression_level(png, 1);
    const bool indexed = !in.palette.empty();
    png_set_filter(png, PNG_FILTER_TYPE_BASE, indexed ? PNG_FILTER_NONE : PNG_FILTER_UP);
    const int type = indexed ? PNG_COLOR_TYPE_PALETTE : in.channels == 4 ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB;
    png_set_IHDR(png, info, static_cast<png_uint_32>(w), static_cast<png_uint_32>(h), 8, type, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_BASE, PNG_FILTER_TYPE_BASE);
    std::array<png_color, 256> colours{};
    std::array<png_byte, 256> alphas{};
    int translucent = 0; // entries up to the last with alpha below 255
    if (indexed) {
        for (std::size_t i = 0; i < in.palette.size(); ++i) {
            colours[i] = png_color{in.palette[i][0], in.palette[i][1], in.palette[i][2]};
            alphas[i] = in.palette[i][3];
            if (alphas[i] != 255) {
                translucent = static_cast<int>(i) + 1;
            }
        }
        png_set_PLTE(png, info, colours.data(), static_cast<int>(in.palette.size()));
        if (translucent > 0) {
            png_set_tRNS(png, info, alphas.data(), translucent, nullptr);
        }
    }
    png_write_info(png, info);
    png_write_image(png, const_cast<png_bytepp>(in.rows.data()));
    png_write_end(png, nullptr);
    png_destroy_write_struct(&png, &info);
    return true;
}

// The distinct colours of a tile (straight RGBA as one native-endian word) with their pixel
// counts, and each pixel's colour as an index into them.
struct colour_table {
    std::vector<std::uint32_t> colours;
    std::vector<unsigned> counts;
    std::vector<std::uint16_t> pixel_colour;
};

// Fills `t` from straight RGBA pixels; false when there are more than `most` colours (an image
// too colourful for a palette).
bool count_colours(const std::vector<unsigned char>& rgba, std::size_t most, colour_table& t)
{
    constexpr std::size_t SLOTS = 1U << 14U; // open addressing, kept under a quarter full
    static_assert(SLOTS >= std::size_t{4} * 4096, "the table holds `most` colours at most a quarter full");
    std::vector<std::uint32_t> keys(SLOTS);
    std::vector<std::uint16_t> values(SLOTS); // index + 1; 0 = empty
    const std::size_t n = rgba.size() / 4;
    t.pixel_colour.resize(n);
    std::uint32_t last = 0;
    std::uint16_t last_index = 0;
    bool have_last = false;
    for (std::size_t i = 0; i < n; ++i) {
        std::uint32_t c = 0;
        std::memcpy(&c, rgba.data() + i * 4, 4);
        if (!have_last || c != last) { // runs of one colour are the rule in a map
            std::size_t slot = (c * 2654435761U) >> 18U; // top 14 bits of a Knuth hash
            while (values[slot] != 0 && keys[slot] != c) {
                slot = (slot + 1) & (SLOTS - 1);
            }
            if (values[slot] == 0) {
                if (t.colours.size() == most) {
                    return false;
                }
                t.colours.push_back(c);
                t.counts.push_back(0);
                keys[slot] = c;
                values[slot] = static_cast<std::uint16_t>(t.colours.size());
            }
            last = c;
            last_index = static_cast<std::uint16_t>(values[slot] - 1);
            have_last = true;
        }
        ++t.counts[last_index];
        t.pixel_colour[i] = last_index;
    }
    return true;
}

std::array<unsigned char, 4> bytes_of(std::uint32_t c)
{
    std::array<unsigned char, 4> b{};
    std::memcpy(b.data(), &c, 4);
    return b;
}

// A palette of at most 256 colours for the tile and each pixel's index into it: the tile's own
// colours when it has no more, else 256 chosen by libimagequant from the tile's histogram, each
// colour then mapped to its nearest entry (no dithering: flat fills stay flat). false when the
// tile has too many colours or libimagequant cannot keep the quality; it is then written as it is.
bool palette_of(const std::vector<unsigned char>& rgba, std::vector<unsigned char>& indices,
                std::vector<std::array<unsigned char, 4>>& palette)
{
    colour_table t;
    if (!count_colours(rgba, 4096, t)) {
        return false;
    }
    std::vector<unsigned char> index_of(t.colours.size());
    if (t.colours.size() <= 256) {
        for (std::size_t i = 0; i < t.colours.size(); ++i) {
            palette.push_back(bytes_of(t.colours[i]));
            index_of[i] = static_cast<unsigned char>(i);
        }
    } else {
        struct attr_deleter {
            void operator()(liq_attr* a) const noexcept { liq_attr_destroy(a); }
        };
        struct histogram_deleter {
            void operator()(liq_histogram* h) const noexcept { liq_histogram_destroy(h); }
        };
        struct result_deleter {
            void operator()(liq_result* r) const noexcept { liq_result_destroy(r); }
        };
        // libimagequant runs its loops in OpenMP teams, whose threads spin while they wait: on
        // a server drawing one tile per core they would only take cores from the other tiles.
        omp_set_num_threads(1);
        const std::unique_ptr<liq_attr, attr_deleter> attr(liq_attr_create());
        if (!attr || liq_set_speed(attr.get(), 10) != LIQ_OK || liq_set_max_colors(attr.get(), 128) != LIQ_OK || liq_set_quality(attr.get(), 85, 100) != LIQ_OK) {
            return false;
        }
        const std::unique_ptr<liq_histogram, histogram_deleter> hist(liq_histogram_create(attr.get()));
        std::vector<liq_histogram_entry> entries(t.colours.size());
        for (std::size_t i = 0; i < t.colours.size(); ++i) {
            const auto b = bytes_of(t.colours[i]);
            entries[i].color = liq_color{b[0], b[1], b[2], b[3]};
            entries[i].count = t.counts[i];
        }
        liq_result* raw = nullptr;
        if (!hist ||
            liq_histogram_add_colors(hist.get(), attr.get(), entries.data(), static_cast<int>(entries.size()), 0) !=
                LIQ_OK ||
            liq_histogram_quantize(hist.get(), attr.get(), &raw) != LIQ_OK || raw == nullptr) {
            return false; // LIQ_QUALITY_TOO_LOW among others
        }
        const std::unique_ptr<liq_result, result_deleter> result(raw);
        const liq_palette* pal = liq_get_palette(result.get());
        for (unsigned i = 0; i < pal->count; ++i) {
            palette.push_back({pal->entries[i].r, pal->entries[i].g, pal->entries[i].b, pal->entries[i].a});
        }
        // Each colour's nearest entry (squared RGBA distance): entries sorted by green, searched
        // outwards from the colour's green until the green difference alone is farther.
        std::vector<std::pair<int, int>> by_green; // green, entry
        for (std::size_t k = 0; k < palette.size(); ++k) {
            by_green.emplace_back(palette[k][1], static_cast<int>(k));
        }
        std::sort(by_green.begin(), by_green.end());
        auto distance = [&](const std::array<unsigned char, 4>& c, int k, int bound) {
            int d = 0;
            for (std::size_t ch = 0; ch < 4 && d < bound; ++ch) {
                const int diff = static_cast<int>(c[ch]) - static_cast<int>(palette[static_cast<std::size_t>(k)][ch]);
                d += diff * diff;
            }
            return d;
        };
        for (std::size_t i = 0; i < t.colours.size(); ++i) {
            const auto c = bytes_of(t.colours[i]);
            const int green = c[1];
            const auto start = std::lower_bound(by_green.begin(), by_green.end(), std::make_pair(green, -1)) -
                               by_green.begin();
            int best = by_green.front().second;
            int best_distance = 1 << 30;
            auto visit = [&](std::ptrdiff_t at) {
                const int dg = by_green[static_cast<std::size_t>(at)].first - green;
                if (dg * dg >= best_distance) {
                    return false; // every entry farther along this direction is farther still
                }
                const int k = by_green[static_cast<std::size_t>(at)].second;
                const int d = distance(c, k, best_distance);
                if (d < best_distance) {
                    best_distance = d;
                    best = k;
                }
                return true;
            };
            const auto n = static_cast<std::ptrdiff_t>(by_green.size());
            for (std::ptrdiff_t up = start, down = start - 1; best_distance > 0 && (up < n || down >= 0);) {
                if (up < n && !visit(up)) {
                    up = n;
                } else {
                    ++up;
                }
                if (best_distance > 0 && down >= 0 && !visit(down)) {
                    down = -1;
                } else {
                    --down;
                }
            }
            index_of[i] = static_cast<unsigned char>(best);
        }
    }
    indices.resize(t.pixel_colour.size());
    for (std::size_t i = 0; i < indices.size(); ++i) {
        indices[i] = index_of[t.pixel_colour[i]];
    }
    return true;
}

} // namespace

image::image(int width, int height)
{
    if (width <= 0 || height <= 0) {
        throw std::invalid_argument("image: width and height must be positive");
    }
    cairo_surface_t* s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, width, height);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        const std::string why = cairo_status_to_string(cairo_surface_status(s));
        cairo_surface_destroy(s);
        throw std::runtime_error("image: cannot create a " + std::to_string(width) + "x" + std::to_string(height) +
                                 " surface: " + why);
    }
    m_surface = s;
}

image::~image()
{
    if (m_surface != nullptr) {
        cairo_surface_destroy(as_surface(m_surface));
    }
}

image::image(image&& o) noexcept : m_surface(o.m_surface)
{
    o.m_surface = nullptr;
}

image& image::operator=(image&& o) noexcept
{
    if (this != &o) {
        if (m_surface != nullptr) {
            cairo_surface_destroy(as_surface(m_surface));
        }
        m_surface = o.m_surface;
        o.m_surface = nullptr;
    }
    return *this;
}

int image::width() const noexcept
{
    return m_surface != nullptr ? cairo_image_surface_get_width(as_surface(m_surface)) : 0;
}

int image::height() const noexcept
{
    return m_surface != nullptr ? cairo_image_surface_get_height(as_surface(m_surface)) : 0;
}

std::string image::png(int x, int y, int w, int h) const
{
    if (m_surface == nullptr || x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > width() || y + h > height()) {
        throw std::out_of_range("image::png: rectangle " + std::to_string(x) + "," + std::to_string(y) + " " +
                                std::to_string(w) + "x" + std::to_string(h) + " is not inside the " +
                                std::to_string(width()) + "x" + std::to_string(height()) + " image");
    }
    // draw() flushed the surface; reading it here writes nothing, so any number of threads may
    // cut tiles from one image at once.
    cairo_surface_t* src = as_surface(m_surface);
    const int stride = cairo_image_surface_get_stride(src);
    const unsigned char* data = cairo_image_surface_get_data(src);
    const std::uint32_t first = *(reinterpret_cast<const std::uint32_t*>(data + static_cast<std::ptrdiff_t>(y) * stride) + x);
    bool opaque = true;
    bool uniform = true;
    for (int row = 0; row < h && (opaque || uniform); ++row) {
        const auto* px = reinterpret_cast<const std::uint32_t*>(data + static_cast<std::ptrdiff_t>(y + row) * stride) + x;
        for (int col = 0; col < w; ++col) {
            opaque = opaque && (px[col] >> 24) == 0xFF;
            uniform = uniform && px[col] == first;
        }
    }
    // Tiles of one colour (background, open water, outside the data) are common: each thread
    // keeps the PNG of the few it has seen.
    thread_local std::vector<std::pair<std::uint64_t, std::string>> uniform_tiles;
    const std::uint64_t uniform_key = (static_cast<std::uint64_t>(first) << 32) | (static_cast<std::uint64_t>(w) << 16) |
                                      static_cast<std::uint64_t>(h);
    if (uniform) {
        for (const auto& [key, png] : uniform_tiles) {
            if (key == uniform_key) {
                return png;
            }
        }
    }
    // Cairo keeps native-endian premultiplied ARGB; PNG wants straight R, G, B, A bytes.
    std::vector<unsigned char> pixels(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 4);
    unsigned char* to = pixels.data();
    for (int row = 0; row < h; ++row) {
        const auto* px = reinterpret_cast<const std::uint32_t*>(data + static_cast<std::ptrdiff_t>(y + row) * stride) + x;
        for (int col = 0; col < w; ++col) {
            const std::uint32_t v = px[col];
            const unsigned a = v >> 24;
            unsigned r = (v >> 16) & 0xFF;
            unsigned g = (v >> 8) & 0xFF;
            unsigned b = v & 0xFF;
            if (a != 0xFF && a != 0) {
                r = (r * 255 + a / 2) / a;
                g = (g * 255 + a / 2) / a;
                b = (b * 255 + a / 2) / a;
            }
            *to++ = static_cast<unsigned char>(r);
            *to++ = static_cast<unsigned char>(g);
            *to++ = static_cast<unsigned char>(b);
            *to++ = static_cast<unsigned char>(a);
        }
    }
    png_rows rows;
    rows.rows.resize(static_cast<std::size_t>(h));
    std::vector<unsigned char> indices;
    if (palette_of(pixels, indices, rows.palette)) {
        for (int row = 0; row < h; ++row) {
            rows.rows[static_cast<std::size_t>(row)] = indices.data() + static_cast<std::size_t>(row) * w;
        }
    } else {
        rows.palette.clear();
        rows.channels = opaque ? 3 : 4;
        if (opaque) { // RGBA → RGB in place
            for (std::size_t i = 0, n = static_cast<std::size_t>(w) * static_cast<std::size_t>(h); i < n; ++i) {
                std::memmove(pixels.data() + i * 3, pixels.data() + i * 4, 3);
            }
        }
        for (int row = 0; row < h; ++row) {
            rows.rows[static_cast<std::size_t>(row)] = pixels.data() + static_cast<std::size_t>(row) * w * rows.channels;
        }
    }
    std::string out;
    if (!encode_png(rows, w, h, out)) {
        throw std::runtime_error("image::png: libpng could not encode the tile");
    }
    if (uniform && uniform_tiles.size() < 64) {
        uniform_tiles.emplace_back(uniform_key, out);
    }
    return out;
}

std::uint32_t image::rgba(int x, int y) const
{
    if (m_surface == nullptr || x < 0 || y < 0 || x >= width() || y >= height()) {
        throw std::out_of_range("image::rgba: pixel outside the image");
    }
    cairo_surface_t* s = as_surface(m_surface);
    const unsigned char* row =
        cairo_image_surface_get_data(s) + static_cast<std::ptrdiff_t>(y) * cairo_image_surface_get_stride(s);
    std::uint32_t argb = 0;
    std::memcpy(&argb, row + static_cast<std::ptrdiff_t>(x) * 4, 4);
    const std::uint32_t a = argb >> 24U;
    if (a == 0) {
        return 0;
    }
    const auto straight = [a](std::uint32_t c) { return (c * 255 + a / 2) / a; };
    const std::uint32_t r = straight((argb >> 16U) & 0xFFU);
    const std::uint32_t g = straight((argb >> 8U) & 0xFFU);
    const std::uint32_t b = straight(argb & 0xFFU);
    return (r << 24U) | (g << 16U) | (b << 8U) | a;
}

} // namespace onemap::render
