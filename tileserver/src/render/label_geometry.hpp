#pragma once
// Where labels go on a geometry: anchor points for point placement and a walker that gives
// positions and directions by distance along a line for line placement.
#include "onemap/render/renderer.hpp"

#include <optional>
#include <vector>

namespace onemap::render::detail {

using ring = std::vector<point>;

/// Signed area by the shoelace formula (positive for clockwise rings on a y-down canvas).
double ring_area(const ring& r) noexcept;

/// Inside by the even-odd rule over all rings (holes excluded).
bool inside_rings(const std::vector<ring>& rings, point p) noexcept;

/// A point inside the polygon for its label: the centroid of the largest ring when it lies
/// inside, else the middle of the widest horizontal run through it; nullopt for no area.
std::optional<point> polygon_label_point(const std::vector<ring>& rings);

/// The middle (by length) of the longest part; nullopt for no part with length.
std::optional<point> line_label_point(const std::vector<ring>& parts);

/// Positions along one polyline by distance from its start.
class polyline_walker {
public:
    explicit polyline_walker(const ring& line);

    double length() const noexcept { return m_total; }
    /// \pre 0 <= s <= length()
    point at(double s) const noexcept;
    /// Direction (radians, canvas y down) of the segment holding s.
    double angle_at(double s) const noexcept;

private:
    std::size_t segment(double s) const noexcept;

    const ring& m_line;
    std::vector<double> m_cumulative; // distance at each vertex
    double m_total = 0;
};

} // namespace onemap::render::detail
