#include "labels.hpp"

#include "label_geometry.hpp"

#include <algorithm>
#include <cmath>

namespace onemap::render::detail {

namespace {

constexpr double PI = 3.14159265358979323846;

double px(int pango_units)
{
    return static_cast<double>(pango_units) / PANGO_SCALE;
}

box expand(box b, double by)
{
    return {b.x0 - by, b.y0 - by, b.x1 + by, b.y1 + by};
}

// The bounding box of the local rectangle r rotated by `angle` and moved to `at`.
box rotated_box(const box& r, double angle, point at)
{
    const double c = std::cos(angle);
    const double s = std::sin(angle);
    box out{1e300, 1e300, -1e300, -1e300};
    for (const auto& [x, y] :
         {std::pair{r.x0, r.y0}, std::pair{r.x1, r.y0}, std::pair{r.x0, r.y1}, std::pair{r.x1, r.y1}}) {
        const double X = at.x + x * c - y * s;
        const double Y = at.y + x * s + y * c;
        out = {std::min(out.x0, X), std::min(out.y0, Y), std::max(out.x1, X), std::max(out.y1, Y)};
    }
    return out;
}

double wrap_angle(double a)
{
    while (a > PI) {
        a -= 2 * PI;
    }
    while (a < -PI) {
        a += 2 * PI;
    }
    return a;
}

} // namespace

// ---- collision index -----------------------------------------------------------------------

collision_index::collision_index(double width, double height)
    : m_columns(std::max(1, static_cast<int>(std::ceil(width / CELL)))),
      m_rows(std::max(1, static_cast<int>(std::ceil(height / CELL)))),
      m_cells(static_cast<std::size_t>(m_columns) * static_cast<std::size_t>(m_rows))
{
}

template <typename Fn>
void collision_index::for_cells(const box& b, Fn fn) const
{
    const auto cell = [](double v, int n) { return std::clamp(static_cast<int>(std::floor(v / CELL)), 0, n - 1); };
    const int c0 = cell(b.x0, m_columns);
    const int c1 = cell(b.x1, m_columns);
    const int r0 = cell(b.y0, m_rows);
    const int r1 = cell(b.y1, m_rows);
    for (int r = r0; r <= r1; ++r) {
        for (int c = c0; c <= c1; ++c) {
            if (!fn(static_cast<std::size_t>(r) * static_cast<std::size_t>(m_columns) + static_cast<std::size_t>(c))) {
                return;
            }
        }
    }
}

bool collision_index::collides(const box& b) const
{
    bool hit = false;
    for_cells(b, [&](std::size_t cell) {
        for (const std::size_t i : m_cells[cell]) {
            if (m_boxes[i].intersects(b)) {
                hit = true;
                return false;
            }
        }
        return true;
    });
    return hit;
}

void collision_index::insert(const box& b)
{
    const std::size_t index = m_boxes.size();
    m_boxes.push_back(b);
    auto& cells = m_cells;
    for_cells(b, [&](std::size_t cell) {
        cells[cell].push_back(index);
        return true;
    });
}

// ---- label engine --------------------------------------------------------------------------

using shared_layout = std::shared_ptr<PangoLayout>;

// Glyphs that stay together when text follows a line (a base character and its marks).
struct label_engine::glyph_cluster {
    PangoLayoutRun* run = nullptr; // owned by the layout
    int start = 0;                 // first glyph in run->glyphs
    int count = 0;
    double x = 0; // left edge in the layout, device pixels
    double width = 0;
    // Where it was placed: centre on the line and direction.
    point at{};
    double angle = 0;
};

struct label_engine::placed_label {
    std::size_t order = 0; // style order of the layer, then placement sequence
    std::size_t sequence = 0;
    shared_layout layout;
    bool along_line = false;
    point origin{};                      // point labels: top-left of the layout
    std::vector<glyph_cluster> clusters; // line labels
    double baseline = 0;                 // line labels: baseline below the line's centre
    color text{};
    color halo{};
    double halo_width = 0; // device pixels
    box painted{};         // union of its boxes: drawn only where it meets the window
};

// What one feature's label needs, evaluated once per feature.
struct label_engine::label_request {
    std::size_t order = 0;
    const symbol_style* s = nullptr;
    eval_context ctx;
    std::string text;
    std::vector<std::string> font;
    double size = 0; // device pixels
    double offset_x = 0;
    double offset_y = 0;
    double padding = 0;
    double halo_width = 0;
    bool allow_overlap = false;
    bool ignore_placement = false;
};

label_engine::label_engine(cairo_t* cr, const frame& f)
    : m_cr(cr), m_frame(f), m_allowed{static_cast<double>(f.label_margin), static_cast<double>(f.label_margin),
                                      static_cast<double>(f.width - f.label_margin),
                                      static_cast<double>(f.height - f.label_margin)},
      m_shaper(text_shaper::for_this_thread()), m_index(f.width, f.height)
{
}

label_engine::~label_engine() = default;

void label_engine::add_layer(const layer& l, std::vector<const feature*> features)
{
    if (l.symbol.has_text && !features.empty()) {
        m_jobs.push_back({&l, std::move(features)});
    }
}

bool label_engine::fits_canvas(const box& b) const noexcept
{
    return b.x0 >= m_allowed.x0 && b.y0 >= m_allowed.y0 && b.x1 <= m_allowed.x1 && b.y1 <= m_allowed.y1;
}

// Inside the canvas and (unless allowed to overlap) clear of placed labels; registers the boxes.
bool label_engine::accept(const label_request& r, const std::vector<box>& boxes)
{
    for (const auto& b : boxes) {
        if (!fits_canvas(b)) {
            return false;
        }
    }
    if (!r.allow_overlap) {
        for (const auto& b : boxes) {
            if (m_index.collides(expand(b, r.padding))) {
                return false;
            }
        }
    }
    if (!r.ignore_placement) {
        for (const auto& b : boxes) {
            m_index.insert(expand(b, r.padding));
        }
    }
    return true;
}

void label_engine::place_and_draw()
{
    // Later symbol layers are placed first and so win collisions, as in MapLibre.
    for (std::size_t i = m_jobs.size(); i-- > 0;) {
        place_layer(i, m_jobs[i]);
    }
    std::stable_sort(m_placed.begin(), m_placed.end(), [](const placed_label& a, const placed_label& b) {
        return a.order != b.order ? a.order < b.order : a.sequence < b.sequence;
    });
    // Placed over the whole canvas, drawn where they meet the window (frame::window).
    const box window{static_cast<double>(m_frame.window_x), static_cast<double>(m_frame.window_y),
                     static_cast<double>(m_frame.window_x + m_frame.window_width),
                     static_cast<double>(m_frame.window_y + m_frame.window_height)};
    for (const auto& p : m_placed) {
        if (p.painted.intersects(window)) {
            draw(p);
        }
    }
}

void label_engine::place_layer(std::size_t order, const job& j)
{
    const symbol_style& s = j.l->symbol;
    const double ratio = m_frame.pixel_ratio;
    for (const feature* f : j.features) {
        label_request r;
        r.order = order;
        r.s = &s;
        r.ctx = eval_context{m_frame.zoom, f};
        r.text = s.text_field.evaluate(r.ctx).text;
        if (r.text.empty() || f->parts.empty()) {
            continue;
        }
        r.size = bounded_px(s.text_size.evaluate(r.ctx)) * ratio;
        if (!(r.size > 0)) {
            continue;
        }
        r.font = s.text_font.evaluate(r.ctx);
        const auto offset = s.text_offset.evaluate(r.ctx);
        r.offset_x = offset.size() == 2 ? offset[0] * r.size : 0;
        r.offset_y = offset.size() == 2 ? offset[1] * r.size : 0;
        r.padding = s.text_padding.evaluate(r.ctx) * ratio;
        r.halo_width = std::max(0.0, bounded_px(s.halo_width.evaluate(r.ctx))) * ratio;
        r.allow_overlap = s.text_allow_overlap.evaluate(r.ctx);
        r.ignore_placement = s.text_ignore_placement.evaluate(r.ctx);
        const std::string placement = s.placement.evaluate(r.ctx);
        if (placement == "line" || placement == "line-center") {
            if (f->type == core::mvt::geom_type::linestring || f->type == core::mvt::geom_type::polygon) {
                place_along(r, *f);
            }
            continue;
        }
        std::vector<point> anchors;
        if (f->label_anchor) {
            anchors.push_back(*f->label_anchor);
        } else if (f->type == core::mvt::geom_type::point) {
            for (const auto& part : f->parts) {
                if (!part.empty()) {
                    anchors.push_back(part.front());
                }
            }
        } else if (f->type == core::mvt::geom_type::linestring) {
            if (auto p = line_label_point(f->parts)) {
                anchors.push_back(*p);
            }
        } else if (f->type == core::mvt::geom_type::polygon) {
            if (auto p = polygon_label_point(f->parts)) {
                anchors.push_back(*p);
            }
        }
        place_point(r, anchors);
    }
}

void label_engine::place_point(const label_request& r, const std::vector<point>& anchors)
{
    const symbol_style& s = *r.s;
    const std::string anchor = s.text_anchor.evaluate(r.ctx);
    const double max_width = s.text_max_width.evaluate(r.ctx) * r.size;
    // Skip shaping for anchors too far outside the canvas for any box of this label to fit.
    const double reach = std::abs(r.offset_x) + std::abs(r.offset_y) + r.halo_width +
                         (anchor == "center" ? r.size : max_width + 2 * r.size);
    std::string justify = s.text_justify.evaluate(r.ctx);
    if (justify == "auto") {
        justify = anchor.find("left") != std::string::npos    ? "left"
                  : anchor.find("right") != std::string::npos ? "right"
                                                              : "center";
    }
    const PangoAlignment align = justify == "left"    ? PANGO_ALIGN_LEFT
                                 : justify == "right" ? PANGO_ALIGN_RIGHT
                                                      : PANGO_ALIGN_CENTER;
    shared_layout layout;
    PangoRectangle ink{};
    PangoRectangle logical{};
    for (const point& a : anchors) {
        if (a.x < m_allowed.x0 - reach || a.x > m_allowed.x1 + reach || a.y < m_allowed.y0 - reach ||
            a.y > m_allowed.y1 + reach) {
            continue;
        }
        if (!layout) {
            layout =
                shared_layout(m_shaper.shape(r.text, r.font, r.size, max_width, align).release(), gobject_deleter());
            pango_layout_get_extents(layout.get(), &ink, &logical);
        }
        const double w = px(logical.width);
        const double h = px(logical.height);
        double left = a.x - w / 2;
        double top = a.y - h / 2;
        if (anchor.find("left") != std::string::npos) {
            left = a.x;
        } else if (anchor.find("right") != std::string::npos) {
            left = a.x - w;
        }
        if (anchor.compare(0, 3, "top") == 0) {
            top = a.y;
        } else if (anchor.compare(0, 6, "bottom") == 0) {
            top = a.y - h;
        }
        const point origin{left - px(logical.x) + r.offset_x, top - px(logical.y) + r.offset_y};
        // The painted box: glyph ink plus halo and a pixel of antialiasing.
        const box painted = expand({origin.x + px(ink.x), origin.y + px(ink.y), origin.x + px(ink.x + ink.width),
                                    origin.y + px(ink.y + ink.height)},
                                   r.halo_width + 1);
        if (!accept(r, {painted})) {
            continue;
        }
        placed_label p;
        p.layout = layout;
        p.origin = origin;
        p.painted = painted;
        keep(std::move(p), r);
    }
}

// A placed label takes its drawing order and its colours (with text-opacity) from the request.
void label_engine::keep(placed_label p, const label_request& r)
{
    const symbol_style& s = *r.s;
    p.order = r.order;
    p.sequence = m_placed.size();
    p.halo_width = r.halo_width;
    const double opacity = std::clamp(s.text_opacity.evaluate(r.ctx), 0.0, 1.0);
    p.text = s.text_color.evaluate(r.ctx);
    p.text.a *= opacity;
    p.halo = s.halo_color.evaluate(r.ctx);
    p.halo.a *= opacity;
    m_placed.push_back(std::move(p));
}

void label_engine::place_along(const label_request& r, const feature& f)
{
    const symbol_style& s = *r.s;
    const bool center_only = s.placement.evaluate(r.ctx) == "line-center";
    const double spacing = std::max(1.0, s.spacing.evaluate(r.ctx) * m_frame.pixel_ratio);
    const double max_angle = s.text_max_angle.evaluate(r.ctx) * PI / 180;
    const bool keep_upright = s.text_keep_upright.evaluate(r.ctx);
    shared_layout layout;
    std::vector<glyph_cluster> clusters;
    double label_width = 0;
    double baseline = 0; // below the line the text centres on
    box ink_band{};      // the ink's vertical extent around that centre line
    for (const auto& part : f.parts) {
        if (part.size() < 2) {
            continue;
        }
        const polyline_walker walk(part);
        if (!layout) {
            layout =
                shared_layout(m_shaper.shape(r.text, r.font, r.size, 0, PANGO_ALIGN_LEFT).release(), gobject_deleter());
            PangoRectangle ink{};
            PangoRectangle logical{};
            pango_layout_get_extents(layout.get(), &ink, &logical);
            label_width = px(logical.width);
            const double centre = px(ink.y) + px(ink.height) / 2 - r.offset_y;
            PangoLayoutIter* it = pango_layout_get_iter(layout.get());
            baseline = px(pango_layout_iter_get_baseline(it)) - centre;
            do {
                PangoLayoutRun* run = pango_layout_iter_get_run_readonly(it);
                if (run == nullptr) {
                    continue;
                }
                PangoRectangle run_logical{};
                pango_layout_iter_get_run_extents(it, nullptr, &run_logical);
                double x = px(run_logical.x);
                for (int g = 0; g < run->glyphs->num_glyphs; ++g) {
                    const PangoGlyphInfo& gi = run->glyphs->glyphs[g];
                    if (g == 0 || gi.attr.is_cluster_start != 0U) {
                        clusters.push_back({run, g, 0, x, 0, {}, 0});
                    }
                    clusters.back().count++;
                    clusters.back().width += px(gi.geometry.width);
                    x += px(gi.geometry.width);
                }
            } while (pango_layout_iter_next_run(it));
            pango_layout_iter_free(it);
            ink_band = {0, -px(ink.height) / 2 + r.offset_y, 0, px(ink.height) / 2 + r.offset_y};
            if (clusters.empty()) {
                return;
            }
        }
        const double length = walk.length();
        if (length < label_width) {
            continue;
        }
        std::vector<double> centres{length / 2};
        if (!center_only) {
            for (double d = spacing; length / 2 + d + label_width / 2 <= length; d += spacing) {
                centres.push_back(length / 2 - d);
                centres.push_back(length / 2 + d);
            }
        }
        for (const double c : centres) {
            const double start = c - label_width / 2 + r.offset_x;
            const double end = start + label_width;
            if (start < 0 || end > length) {
                continue;
            }
            const point a = walk.at(start);
            const point b = walk.at(end);
            const bool reversed = keep_upright && b.x < a.x;
            std::vector<glyph_cluster> placed = clusters;
            std::vector<box> boxes;
            bool too_sharp = false;
            for (std::size_t i = 0; i < placed.size(); ++i) {
                auto& g = placed[i];
                const double along = g.x + g.width / 2;
                const double t = reversed ? end - along : start + along;
                g.at = walk.at(t);
                g.angle = wrap_angle(walk.angle_at(t) + (reversed ? PI : 0));
                if (i > 0 && std::abs(wrap_angle(g.angle - placed[i - 1].angle)) > max_angle) {
                    too_sharp = true;
                    break;
                }
                boxes.push_back(rotated_box(
                    expand({-g.width / 2, ink_band.y0, g.width / 2, ink_band.y1}, r.halo_width + 1), g.angle, g.at));
            }
            if (too_sharp || !accept(r, boxes)) {
                continue;
            }
            placed_label p;
            p.layout = layout;
            p.along_line = true;
            p.clusters = std::move(placed);
            p.baseline = baseline;
            p.painted = boxes.front();
            for (const box& g : boxes) {
                p.painted = {std::min(p.painted.x0, g.x0), std::min(p.painted.y0, g.y0), std::max(p.painted.x1, g.x1),
                             std::max(p.painted.y1, g.y1)};
            }
            keep(std::move(p), r);
        }
    }
}

void label_engine::draw(const placed_label& p)
{
    cairo_t* cr = m_cr;
    cairo_save(cr);
    cairo_new_path(cr);
    cairo_set_fill_rule(cr, CAIRO_FILL_RULE_WINDING);
    if (p.along_line) {
        for (const auto& g : p.clusters) {
            cairo_save(cr);
            cairo_translate(cr, g.at.x, g.at.y);
            cairo_rotate(cr, g.angle);
            cairo_move_to(cr, -g.width / 2, p.baseline);
            // A view of this cluster's glyphs; pango_cairo_glyph_string_path only reads them.
            PangoGlyphString view{};
            view.num_glyphs = g.count;
            view.glyphs = g.run->glyphs->glyphs + g.start;
            view.log_clusters = g.run->glyphs->log_clusters + g.start;
            pango_cairo_glyph_string_path(cr, g.run->item->analysis.font, &view);
            cairo_restore(cr); // the path survives: it is not part of the graphics state
        }
    } else {
        cairo_move_to(cr, p.origin.x, p.origin.y);
        pango_cairo_layout_path(cr, p.layout.get());
    }
    if (p.halo_width > 0 && p.halo.a > 0) {
        cairo_set_source_rgba(cr, p.halo.r, p.halo.g, p.halo.b, p.halo.a);
        cairo_set_line_width(cr, 2 * p.halo_width);
        cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
        cairo_stroke_preserve(cr);
    }
    cairo_set_source_rgba(cr, p.text.r, p.text.g, p.text.b, p.text.a);
    cairo_fill(cr);
    cairo_restore(cr);
}

} // namespace onemap::render::detail
