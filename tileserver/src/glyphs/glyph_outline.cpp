#include "glyph_outline.hpp"

#include "onemap/render/glyphs.hpp"

#include FT_OUTLINE_H

#include <algorithm>
#include <cmath>
#include <string>

namespace onemap::render::detail {

namespace {

// Curves become polylines that stray at most this far from them: well below what the
// 8-bit distance (1/32 px per step) can show.
constexpr double FLATNESS_PX = 1.0 / 32.0;
constexpr int MAX_CURVE_STEPS = 64;

struct point {
    double x;
    double y;
};

point to_px(const FT_Vector* v) noexcept
{
    return point{static_cast<double>(v->x) / 64.0, static_cast<double>(v->y) / 64.0};
}

double length(double x, double y) noexcept
{
    return std::sqrt(x * x + y * y);
}

// Uniform steps whose chords stay within FLATNESS_PX of a curve whose second derivative is
// bounded by `bend`: the chord error is at most bend / (8 n²).
int curve_steps(double bend) noexcept
{
    const double n = std::ceil(std::sqrt(bend / (8.0 * FLATNESS_PX)));
    return std::clamp(static_cast<int>(n), 1, MAX_CURVE_STEPS);
}

struct outline_builder {
    std::vector<edge>* edges;
    point start{0.0, 0.0};
    point current{0.0, 0.0};
    bool open = false;

    void line(point p)
    {
        if (p.x != current.x || p.y != current.y) {
            edges->push_back(edge{current.x, current.y, p.x, p.y});
        }
        current = p;
    }

    void close()
    {
        if (open) {
            line(start);
        }
        open = false;
    }
};

int move_to(const FT_Vector* to, void* user)
{
    auto& b = *static_cast<outline_builder*>(user);
    b.close();
    b.start = to_px(to);
    b.current = b.start;
    b.open = true;
    return 0;
}

int line_to(const FT_Vector* to, void* user)
{
    static_cast<outline_builder*>(user)->line(to_px(to));
    return 0;
}

int conic_to(const FT_Vector* control, const FT_Vector* to, void* user)
{
    auto& b = *static_cast<outline_builder*>(user);
    const point p0 = b.current;
    const point p1 = to_px(control);
    const point p2 = to_px(to);
    const int n = curve_steps(2.0 * length(p0.x - 2.0 * p1.x + p2.x, p0.y - 2.0 * p1.y + p2.y));
    for (int i = 1; i <= n; ++i) {
        const double t = static_cast<double>(i) / n;
        const double s = 1.0 - t;
        const double a = s * s;
        const double c = 2.0 * s * t;
        const double d = t * t;
        b.line(point{a * p0.x + c * p1.x + d * p2.x, a * p0.y + c * p1.y + d * p2.y});
    }
    return 0;
}

int cubic_to(const FT_Vector* control1, const FT_Vector* control2, const FT_Vector* to, void* user)
{
    auto& b = *static_cast<outline_builder*>(user);
    const point p0 = b.current;
    const point p1 = to_px(control1);
    const point p2 = to_px(control2);
    const point p3 = to_px(to);
    const double bend = 6.0 * std::max(length(p0.x - 2.0 * p1.x + p2.x, p0.y - 2.0 * p1.y + p2.y),
                                       length(p1.x - 2.0 * p2.x + p3.x, p1.y - 2.0 * p2.y + p3.y));
    const int n = curve_steps(bend);
    for (int i = 1; i <= n; ++i) {
        const double t = static_cast<double>(i) / n;
        const double s = 1.0 - t;
        const double a = s * s * s;
        const double c1 = 3.0 * s * s * t;
        const double c2 = 3.0 * s * t * t;
        const double d = t * t * t;
        b.line(point{a * p0.x + c1 * p1.x + c2 * p2.x + d * p3.x, a * p0.y + c1 * p1.y + c2 * p2.y + d * p3.y});
    }
    return 0;
}

} // namespace

glyph_outline load_outline(FT_Face face, FT_UInt glyph_index)
{
    // Unhinted, as fontnik: hinting would bend the outline to a pixel grid MapLibre never uses.
    if (const FT_Error err = FT_Load_Glyph(face, glyph_index, FT_LOAD_NO_HINTING | FT_LOAD_NO_BITMAP); err != 0) {
        throw glyph_error("FreeType error " + std::to_string(err) + " loading glyph " + std::to_string(glyph_index));
    }
    glyph_outline g;
    g.advance = static_cast<std::uint32_t>(std::max<FT_Pos>(face->glyph->metrics.horiAdvance, 0) / 64);
    if (face->glyph->format != FT_GLYPH_FORMAT_OUTLINE) {
        return g;
    }
    FT_Outline_Funcs funcs{};
    funcs.move_to = &move_to;
    funcs.line_to = &line_to;
    funcs.conic_to = &conic_to;
    funcs.cubic_to = &cubic_to;
    funcs.shift = 0;
    funcs.delta = 0;
    outline_builder builder{&g.edges};
    if (const FT_Error err = FT_Outline_Decompose(&face->glyph->outline, &funcs, &builder); err != 0) {
        throw glyph_error("FreeType error " + std::to_string(err) + " decomposing glyph " +
                          std::to_string(glyph_index));
    }
    builder.close();
    return g;
}

} // namespace onemap::render::detail
