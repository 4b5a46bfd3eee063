// The canvas: a Cairo ARGB32 image surface, cut into PNG tiles through libpng (Cairo's PNG writer).
#include "onemap/render/renderer.hpp"

#include <cairo.h>

#include <cstring>
#include <memory>
#include <string>

namespace onemap::render {

namespace {

cairo_surface_t* as_surface(void* p)
{
    return static_cast<cairo_surface_t*>(p);
}

cairo_status_t append_to_string(void* closure, const unsigned char* data, unsigned int length)
{
    static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
    return CAIRO_STATUS_SUCCESS;
}

struct surface_deleter {
    void operator()(cairo_surface_t* s) const noexcept { cairo_surface_destroy(s); }
};

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
    // cut tiles from one image at once. A copy of the rows rather than a sub-surface: concurrent png() calls on one
    // image then share nothing but read-only pixels.
    cairo_surface_t* src = as_surface(m_surface);
    std::unique_ptr<cairo_surface_t, surface_deleter> tile(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h));
    if (cairo_surface_status(tile.get()) != CAIRO_STATUS_SUCCESS) {
        throw std::runtime_error("image::png: cannot create a tile surface");
    }
    const int src_stride = cairo_image_surface_get_stride(src);
    const int dst_stride = cairo_image_surface_get_stride(tile.get());
    const unsigned char* from = cairo_image_surface_get_data(src);
    unsigned char* to = cairo_image_surface_get_data(tile.get());
    for (int row = 0; row < h; ++row) {
        std::memcpy(to + static_cast<std::ptrdiff_t>(row) * dst_stride,
                    from + static_cast<std::ptrdiff_t>(y + row) * src_stride + static_cast<std::ptrdiff_t>(x) * 4,
                    static_cast<std::size_t>(w) * 4);
    }
    cairo_surface_mark_dirty(tile.get());
    std::string out;
    const cairo_status_t status = cairo_surface_write_to_png_stream(tile.get(), append_to_string, &out);
    if (status != CAIRO_STATUS_SUCCESS) {
        throw std::runtime_error(std::string("image::png: ") + cairo_status_to_string(status));
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
