// The canvas: a Cairo ARGB32 image surface, cut into PNG tiles written with libpng directly:
// zlib level 1 and the Up filter (Cairo's writer uses libpng's defaults, which cost more
// time than drawing the tiles), RGB when the tile is opaque, RGBA otherwise.
#include "onemap/render/renderer.hpp"

#include <cairo.h>
#include <png.h>

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

// Straight (non-premultiplied) 8-bit rows, `channels` 3 or 4, to PNG. false on a libpng error.
// Nothing with a destructor lives between setjmp and a possible longjmp.
bool encode_png(const std::vector<png_bytep>& rows, int w, int h, int channels, std::string& out)
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
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_UP);
    png_set_IHDR(png, info, static_cast<png_uint_32>(w), static_cast<png_uint_32>(h), 8,
                 channels == 4 ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_BASE, PNG_FILTER_TYPE_BASE);
    png_write_info(png, info);
    png_write_image(png, const_cast<png_bytepp>(rows.data()));
    png_write_end(png, nullptr);
    png_destroy_write_struct(&png, &info);
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
    // Cairo keeps native-endian premultiplied ARGB; PNG wants straight R, G, B(, A) bytes.
    const int channels = opaque ? 3 : 4;
    std::vector<unsigned char> pixels(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * channels);
    std::vector<png_bytep> rows(static_cast<std::size_t>(h));
    for (int row = 0; row < h; ++row) {
        const auto* px = reinterpret_cast<const std::uint32_t*>(data + static_cast<std::ptrdiff_t>(y + row) * stride) + x;
        unsigned char* to = pixels.data() + static_cast<std::size_t>(row) * static_cast<std::size_t>(w) * channels;
        rows[static_cast<std::size_t>(row)] = to;
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
            if (channels == 4) {
                *to++ = static_cast<unsigned char>(a);
            }
        }
    }
    std::string out;
    if (!encode_png(rows, w, h, channels, out)) {
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
