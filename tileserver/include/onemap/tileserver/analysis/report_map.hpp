#pragma once
// The map image of a compliance-review report: a project's red line (polygons in lon/lat)
// drawn over the basemap as a PNG. The basemap comes as 256-px WebMercatorQuad PNG tiles from a
// caller-supplied fetch (the server's own raster tiles); they are composed on a Cairo canvas and
// the red line, a frame border and a scale bar are drawn on top. No Cairo type leaves this file.
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace onemap::tileserver::analysis {

struct lonlat {
    double lon;
    double lat;
};

/// Closed or not; the first ring of a polygon is its exterior, the others its holes.
using ring = std::vector<lonlat>;
using polygon = std::vector<ring>;

/// Fetches one 256-px PNG tile of WebMercatorQuad (z, x, y); returns its PNG bytes, or "" when
/// the tile is empty (nothing is drawn there: the background stays).
using tile_fetch = std::function<std::string(int z, std::uint32_t x, std::uint32_t y)>;

/// What the image shows: `width`×`height` pixels of the Web Mercator world at `zoom`.
struct map_frame {
    int width = 800;
    int height = 600;
    int zoom = 0;
    double min_x = 0; ///< left edge in world pixels at `zoom` (whole pixels)
    double min_y = 0; ///< top edge in world pixels at `zoom` (whole pixels)
};

/// The frame showing `polygons` with a margin of about 15 % on every side: the highest zoom
/// (0..18) at which the polygons' bounding box plus margin fits into width×height pixels,
/// centred on the box. No vertex at all gives zoom 0 centred on the world.
/// \throws input_error when width or height is not positive or a coordinate is not finite.
map_frame frame_for(const std::vector<polygon>& polygons, int width, int height);

/// The report map as PNG bytes: a light background (#f2efe9), the basemap tiles covering the
/// frame of frame_for(), each polygon filled (even-odd) with the red line colour RGB(230, 0, 0)
/// at 15 % opacity and all its rings stroked 3 px, a 1 px dark grey border and a scale bar at
/// the bottom left. A tile that is empty or does not decode is skipped.
/// \throws input_error as frame_for; error when Cairo fails; whatever `fetch` throws.
std::string render_report_map(const std::vector<polygon>& polygons, const tile_fetch& fetch, int width = 800,
                              int height = 600);

/// Where a lon/lat lands in the image of `frame`: pixels, x right, y down.
std::pair<double, double> image_position(const map_frame& frame, lonlat p);

} // namespace onemap::tileserver::analysis
