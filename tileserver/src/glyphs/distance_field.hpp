#pragma once
// Signed distance fields of glyph outlines in node-fontnik's convention, which MapLibre's
// shaders assume: 24 px glyphs, a 3 px buffer, distances up to 8 px, edge at byte 191.
#include <cstdint>
#include <string>
#include <vector>

namespace onemap::render::detail {

constexpr int GLYPH_SIZE_PX = 24;
constexpr int SDF_BUFFER_PX = 3;
constexpr int SDF_RADIUS_PX = 8;
constexpr double SDF_CUTOFF = 0.25;

/// One straight piece of a flattened contour, in pixels: x right from the pen position,
/// y up from the baseline.
struct edge {
    double x0;
    double y0;
    double x1;
    double y1;
};

struct sdf_bitmap {
    std::uint32_t width = 0;  ///< glyph box, without the buffer; 0 for an empty glyph
    std::uint32_t height = 0;
    std::int32_t left = 0;    ///< left of the glyph box, right of the pen position
    std::int32_t top = 0;     ///< top of the glyph box, above the baseline
    /// (width + 2·SDF_BUFFER_PX) × (height + 2·SDF_BUFFER_PX) bytes, rows top to bottom;
    /// byte = 255 − clamp(32·d + 64) with d the signed distance in px, negative inside.
    std::string pixels;
};

/// \pre edges form closed contours; their interior is found with the nonzero rule.
sdf_bitmap render_distance_field(const std::vector<edge>& edges);

} // namespace onemap::render::detail
