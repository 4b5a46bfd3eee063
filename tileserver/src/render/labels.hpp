#pragma once
// Text labels: collected per symbol layer while the other layers are drawn, then placed with a
// collision index (later symbol layers first, as MapLibre gives them priority) and drawn on top
// in style order.
#include "style_model.hpp"
#include "text_shaper.hpp"

#include <cairo.h>

#include <memory>
#include <vector>

namespace onemap::render::detail {

/// Axis-aligned box in canvas device pixels.
struct box {
    double x0 = 0;
    double y0 = 0;
    double x1 = 0;
    double y1 = 0;
    bool intersects(const box& o) const noexcept { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
};

/// Placed label boxes, bucketed in a uniform grid.
class collision_index {
public:
    collision_index(double width, double height);
    bool collides(const box& b) const;
    void insert(const box& b);

private:
    template <typename Fn>
    void for_cells(const box& b, Fn fn) const;

    static constexpr double CELL = 64;
    int m_columns;
    int m_rows;
    std::vector<box> m_boxes;
    std::vector<std::vector<std::size_t>> m_cells;
};

class label_engine {
public:
    label_engine(cairo_t* cr, const frame& f);
    ~label_engine();
    label_engine(const label_engine&) = delete;
    label_engine& operator=(const label_engine&) = delete;

    /// Queues a symbol layer with the features that passed its filter, in data order.
    void add_layer(const layer& l, std::vector<const feature*> features);
    /// Places every queued label and draws the placed ones.
    void place_and_draw();

private:
    struct job {
        const layer* l;
        std::vector<const feature*> features;
    };
    struct glyph_cluster;
    struct placed_label;
    struct label_request;

    void place_layer(std::size_t order, const job& j);
    void place_point(const label_request& r, const std::vector<point>& anchors);
    void place_along(const label_request& r, const feature& f);
    void keep(placed_label p, const label_request& r);
    bool fits_canvas(const box& b) const noexcept;
    bool accept(const label_request& r, const std::vector<box>& boxes);
    void draw(const placed_label& p);

    cairo_t* m_cr;
    frame m_frame;
    box m_allowed; // the canvas shrunk by label_margin
    text_shaper& m_shaper;
    collision_index m_index;
    std::vector<job> m_jobs;
    std::vector<placed_label> m_placed;
};

} // namespace onemap::render::detail
