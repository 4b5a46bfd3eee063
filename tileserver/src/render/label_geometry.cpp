#include "label_geometry.hpp"

#include <algorithm>
#include <cmath>

namespace onemap::render::detail {

double ring_area(const ring& r) noexcept
{
    double a = 0;
    for (std::size_t i = 0, j = r.size() - 1; i < r.size(); j = i++) {
        a += (r[j].x - r[i].x) * (r[j].y + r[i].y);
    }
    return a / 2;
}

bool inside_rings(const std::vector<ring>& rings, point p) noexcept
{
    bool inside = false;
    for (const auto& r : rings) {
        for (std::size_t i = 0, j = r.size() - 1; i < r.size(); j = i++) {
            const point& a = r[i];
            const point& b = r[j];
            if ((a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x) {
                inside = !inside;
            }
        }
    }
    return inside;
}

namespace {

// The widest run inside the polygon along the horizontal line y, as (middle, width).
std::pair<point, double> widest_run(const std::vector<ring>& rings, double y)
{
    std::vector<double> xs;
    for (const auto& r : rings) {
        for (std::size_t i = 0, j = r.size() - 1; i < r.size(); j = i++) {
            const point& a = r[i];
            const point& b = r[j];
            if ((a.y > y) != (b.y > y)) {
                xs.push_back(a.x + (y - a.y) * (b.x - a.x) / (b.y - a.y));
            }
        }
    }
    std::sort(xs.begin(), xs.end());
    std::pair<point, double> best{{0, y}, -1};
    for (std::size_t i = 0; i + 1 < xs.size(); i += 2) {
        const double w = xs[i + 1] - xs[i];
        if (w > best.second) {
            best = {{(xs[i] + xs[i + 1]) / 2, y}, w};
        }
    }
    return best;
}

} // namespace

std::optional<point> polygon_label_point(const std::vector<ring>& rings)
{
    const ring* largest = nullptr;
    double largest_area = 0;
    for (const auto& r : rings) {
        if (r.size() < 3) {
            continue;
        }
        const double a = std::abs(ring_area(r));
        if (a > largest_area) {
            largest_area = a;
            largest = &r;
        }
    }
    if (largest == nullptr) {
        return std::nullopt;
    }
    // Area-weighted centroid, relative to the first vertex for precision.
    const point o = largest->front();
    double cx = 0;
    double cy = 0;
    double a2 = 0;
    for (std::size_t i = 0, j = largest->size() - 1; i < largest->size(); j = i++) {
        const double xi = (*largest)[i].x - o.x;
        const double yi = (*largest)[i].y - o.y;
        const double xj = (*largest)[j].x - o.x;
        const double yj = (*largest)[j].y - o.y;
        const double cross = xj * yi - xi * yj;
        a2 += cross;
        cx += (xj + xi) * cross;
        cy += (yj + yi) * cross;
    }
    const point centroid{o.x + cx / (3 * a2), o.y + cy / (3 * a2)};
    if (inside_rings(rings, centroid)) {
        return centroid;
    }
    double min_y = largest->front().y;
    double max_y = min_y;
    for (const auto& p : *largest) {
        min_y = std::min(min_y, p.y);
        max_y = std::max(max_y, p.y);
    }
    std::pair<point, double> best{{}, -1};
    for (const double f : {0.5, 0.375, 0.625, 0.25, 0.75}) {
        auto run = widest_run(rings, min_y + (max_y - min_y) * f);
        if (run.second > best.second) {
            best = run;
        }
    }
    auto through_centroid = widest_run(rings, centroid.y);
    if (through_centroid.second >= best.second * 0.8) {
        best = through_centroid;
    }
    if (best.second <= 0) {
        return std::nullopt;
    }
    return best.first;
}

std::optional<point> line_label_point(const std::vector<ring>& parts)
{
    const ring* longest = nullptr;
    double longest_length = 0;
    for (const auto& p : parts) {
        if (p.size() < 2) {
            continue;
        }
        const polyline_walker w(p);
        if (w.length() > longest_length) {
            longest_length = w.length();
            longest = &p;
        }
    }
    if (longest == nullptr) {
        return std::nullopt;
    }
    const polyline_walker w(*longest);
    return w.at(w.length() / 2);
}

polyline_walker::polyline_walker(const ring& line) : m_line(line)
{
    m_cumulative.reserve(line.size());
    double d = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
        if (i > 0) {
            d += std::hypot(line[i].x - line[i - 1].x, line[i].y - line[i - 1].y);
        }
        m_cumulative.push_back(d);
    }
    m_total = d;
}

std::size_t polyline_walker::segment(double s) const noexcept
{
    // The segment [i, i + 1] with cumulative[i] <= s <= cumulative[i + 1], skipping empty ones.
    const auto it = std::upper_bound(m_cumulative.begin(), m_cumulative.end(), s);
    std::size_t i = it == m_cumulative.begin() ? 0 : static_cast<std::size_t>(it - m_cumulative.begin()) - 1;
    i = std::min(i, m_line.size() >= 2 ? m_line.size() - 2 : 0);
    std::size_t j = i;
    while (j + 2 < m_line.size() && m_cumulative[j + 1] == m_cumulative[j]) {
        ++j;
    }
    if (m_cumulative[j + 1] > m_cumulative[j]) {
        return j;
    }
    while (i > 0 && m_cumulative[i + 1] == m_cumulative[i]) {
        --i;
    }
    return i;
}

point polyline_walker::at(double s) const noexcept
{
    if (m_line.size() < 2) {
        return m_line.empty() ? point{} : m_line.front();
    }
    const std::size_t i = segment(s);
    const double len = m_cumulative[i + 1] - m_cumulative[i];
    const double t = len > 0 ? std::clamp((s - m_cumulative[i]) / len, 0.0, 1.0) : 0.0;
    return {m_line[i].x + (m_line[i + 1].x - m_line[i].x) * t, m_line[i].y + (m_line[i + 1].y - m_line[i].y) * t};
}

double polyline_walker::angle_at(double s) const noexcept
{
    if (m_line.size() < 2) {
        return 0;
    }
    const std::size_t i = segment(s);
    return std::atan2(m_line[i + 1].y - m_line[i].y, m_line[i + 1].x - m_line[i].x);
}

} // namespace onemap::render::detail
