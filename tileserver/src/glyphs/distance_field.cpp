#include "distance_field.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace onemap::render::detail {

namespace {

// fontnik scales distances by the integer 256 / radius and shifts them by cutoff · 256, so
// that the outline lands on 255 − 64 = 191 and MapLibre's 0.75 threshold draws it.
constexpr int DISTANCE_SCALE_INT = 256 / SDF_RADIUS_PX;
constexpr double DISTANCE_SCALE = DISTANCE_SCALE_INT;
constexpr double DISTANCE_SHIFT = SDF_CUTOFF * 256.0;

std::uint8_t encode_distance(double distance_px, bool inside) noexcept
{
    double d = distance_px * DISTANCE_SCALE;
    if (inside) {
        d = -d;
    }
    d += DISTANCE_SHIFT;
    // Truncation toward zero, then clamping, exactly as fontnik does.
    int n = d > 255.0 ? 255 : static_cast<int>(d);
    n = std::max(n, 0);
    return static_cast<std::uint8_t>(255 - n);
}

} // namespace

sdf_bitmap render_distance_field(const std::vector<edge>& edges)
{
    sdf_bitmap out;
    if (edges.empty()) {
        return out;
    }
    double xmin = std::numeric_limits<double>::infinity();
    double ymin = xmin;
    double xmax = -xmin;
    double ymax = -xmin;
    for (const edge& e : edges) {
        xmin = std::min({xmin, e.x0, e.x1});
        xmax = std::max({xmax, e.x0, e.x1});
        ymin = std::min({ymin, e.y0, e.y1});
        ymax = std::max({ymax, e.y0, e.y1});
    }
    // fontnik rounds the outline's box to whole pixels; the bitmap is that box plus the buffer.
    const auto left = static_cast<std::int32_t>(std::round(xmin));
    const auto right = static_cast<std::int32_t>(std::round(xmax));
    const auto bottom = static_cast<std::int32_t>(std::round(ymin));
    const auto top = static_cast<std::int32_t>(std::round(ymax));
    if (right <= left || top <= bottom) {
        return out;
    }
    out.width = static_cast<std::uint32_t>(right - left);
    out.height = static_cast<std::uint32_t>(top - bottom);
    out.left = left;
    out.top = top;

    const int w = right - left + 2 * SDF_BUFFER_PX;
    const int h = top - bottom + 2 * SDF_BUFFER_PX;
    const auto at = [w](int x, int y) {
        return static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + static_cast<std::size_t>(x);
    };

    // Bitmap space, y up, shifted by half a pixel so that pixel (x, y) samples the point (x, y).
    std::vector<edge> local;
    local.reserve(edges.size());
    const double dx = SDF_BUFFER_PX - left - 0.5;
    const double dy = SDF_BUFFER_PX - bottom - 0.5;
    for (const edge& e : edges) {
        local.push_back(edge{e.x0 + dx, e.y0 + dy, e.x1 + dx, e.y1 + dy});
    }

    // Squared distance to the nearest edge; beyond the radius every value encodes the same.
    constexpr double RADIUS = SDF_RADIUS_PX;
    std::vector<double> dist2(static_cast<std::size_t>(w) * static_cast<std::size_t>(h), RADIUS * RADIUS);
    for (const edge& e : local) {
        const int x_lo = std::max(0, static_cast<int>(std::ceil(std::min(e.x0, e.x1) - RADIUS)));
        const int x_hi = std::min(w - 1, static_cast<int>(std::floor(std::max(e.x0, e.x1) + RADIUS)));
        const int y_lo = std::max(0, static_cast<int>(std::ceil(std::min(e.y0, e.y1) - RADIUS)));
        const int y_hi = std::min(h - 1, static_cast<int>(std::floor(std::max(e.y0, e.y1) + RADIUS)));
        const double vx = e.x1 - e.x0;
        const double vy = e.y1 - e.y0;
        const double len2 = vx * vx + vy * vy;
        const double inv_len2 = len2 > 0.0 ? 1.0 / len2 : 0.0;
        for (int y = y_lo; y <= y_hi; ++y) {
            const double py = y - e.y0;
            for (int x = x_lo; x <= x_hi; ++x) {
                const double px = x - e.x0;
                const double t = std::clamp((px * vx + py * vy) * inv_len2, 0.0, 1.0);
                const double qx = px - t * vx;
                const double qy = py - t * vy;
                double& best = dist2[at(x, y)];
                best = std::min(best, qx * qx + qy * qy);
            }
        }
    }

    // Inside or out by the nonzero rule, as the rasterizer fills glyphs: one scanline per row.
    out.pixels.resize(dist2.size());
    std::vector<std::pair<double, int>> crossings;
    for (int y = 0; y < h; ++y) {
        crossings.clear();
        for (const edge& e : local) {
            if ((e.y0 > y) != (e.y1 > y)) {
                const double x = e.x0 + (y - e.y0) * (e.x1 - e.x0) / (e.y1 - e.y0);
                crossings.emplace_back(x, e.y1 > e.y0 ? 1 : -1);
            }
        }
        std::sort(crossings.begin(), crossings.end());
        int winding = 0;
        std::size_t k = 0;
        const int row = h - 1 - y; // the PBF stores rows top to bottom
        for (int x = 0; x < w; ++x) {
            while (k < crossings.size() && crossings[k].first < x) {
                winding += crossings[k].second;
                ++k;
            }
            out.pixels[at(x, row)] = static_cast<char>(encode_distance(std::sqrt(dist2[at(x, y)]), winding != 0));
        }
    }
    return out;
}

} // namespace onemap::render::detail
