#pragma once
// Raster rendering of a MapLibre GL style (v8) to PNG with Cairo, Pango/HarfBuzz and libpng.
// The same style file web apps load for vector tiles (styles/basemap.json) is parsed once and
// drawn here for WMTS/XYZ PNG tiles. Geometry arrives already projected into canvas pixels;
// the server fetches it (tileserver/src/raster_service.cpp) for a metatile, renders once and
// cuts the image into tiles, so labels are placed once per metatile and never cut.
#include "onemap/core/mvt.hpp"

#include <nlohmann/json_fwd.hpp>

#include "onemap/core/error.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace onemap::render {

/// A style that cannot be drawn (core/error.hpp): the message names the layer id and the property.
using style_error = onemap::style_error;

struct point {
    double x = 0; ///< canvas device pixels, left to right
    double y = 0; ///< canvas device pixels, top to bottom
};

/// One feature of a source layer, projected into canvas device pixels.
struct feature {
    core::mvt::geom_type type = core::mvt::geom_type::unknown;
    std::uint64_t id = 0;
    /// point: one part per point (one vertex each); linestring: one part per line;
    /// polygon: every ring of every polygon (filled with the even-odd rule).
    std::vector<std::vector<point>> parts;
    std::vector<std::pair<std::string, core::mvt::value>> properties;
    /// Where a point-placed label goes, computed on the whole (unclipped) geometry so that
    /// neighbouring metatiles agree; nullopt = the renderer picks (first point / mid-line /
    /// centroid of the largest ring).
    std::optional<point> label_anchor;
    /// Read only for its label (its shapes cannot reach the drawn window): fill, line and
    /// circle layers skip it; `parts` may hold no more than its anchor.
    bool label_only = false;
};

struct source_layer {
    std::string name; ///< MVT layer name = the style's "source-layer"
    std::vector<feature> features;
};

/// A parsed MapLibre GL style. Immutable after parsing; shared by every rendering thread.
class style {
public:
    /// Valid v8 layer types the renderer does not draw (raster, hillshade, fill-extrusion,
    /// heatmap, color-relief, sky) are skipped; unknown property names are ignored.
    /// \throws style_error for an unknown layer type, an unsupported expression operator or a
    /// malformed value of a drawn property; the message names the layer id and the property.
    static std::shared_ptr<const style> parse(const nlohmann::json& doc);
    static std::shared_ptr<const style> load(const std::string& path);

    virtual ~style() = default;
    const std::string& name() const noexcept { return m_name; }
    /// True when some layer visible at `zoom` reads this source layer (minzoom/maxzoom and
    /// visibility respected): the server fetches only those.
    virtual bool uses(const std::string& source_layer, double zoom) const = 0;
    /// Every source layer the style reads, at any zoom.
    virtual std::vector<std::string> source_layers() const = 0;

protected:
    std::string m_name;
};

/// What one render call draws.
struct frame {
    int width = 256;          ///< canvas size in device pixels
    int height = 256;
    double zoom = 0;          ///< style zoom (MapLibre zoom: 512-px world at zoom 0)
    double pixel_ratio = 1;   ///< device pixels per CSS pixel (2 for @2x tiles): widths,
                              ///< text sizes, dashes and halos scale by it
    /// Labels are placed only where their box lies entirely inside this margin-shrunk canvas,
    /// so a label never crosses the canvas edge (and so never a metatile edge).
    int label_margin = 0;
    /// The part of the canvas drawn (device pixels; width 0 = all of it): draw() returns an
    /// image of this size. Labels are still placed over the whole canvas, so a window of a
    /// metatile shows exactly the pixels the whole metatile would have there; features that
    /// cannot reach the window may be left out of the data, except those of symbol layers.
    int window_x = 0;
    int window_y = 0;
    int window_width = 0;
    int window_height = 0;
};

/// An RGBA image (premultiplied ARGB32 as Cairo keeps it).
class image {
public:
    image(int width, int height);
    ~image();
    image(image&&) noexcept;
    image& operator=(image&&) noexcept;
    image(const image&) = delete;
    image& operator=(const image&) = delete;

    int width() const noexcept;
    int height() const noexcept;
    /// PNG bytes (libpng through Cairo) of the rectangle x,y,w,h of this image.
    std::string png(int x, int y, int w, int h) const;
    /// Straight (non-premultiplied) RGBA of one pixel, for tests.
    std::uint32_t rgba(int x, int y) const;
    /// Internal: the cairo_surface_t*.
    void* surface() const noexcept { return m_surface; }

private:
    void* m_surface = nullptr;
};

/// Draws the style's layers in order (background, fill, line, circle, symbol) over the
/// features given. Thread-safe: any number of threads may render concurrently.
image draw(const style& s, const frame& f, const std::vector<source_layer>& data);

} // namespace onemap::render
