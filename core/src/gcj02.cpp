#include "onemap/core/gcj02.hpp"

#include <cmath>

namespace onemap::core {

namespace {

constexpr double PI = 3.14159265358979323846;
constexpr double KRASOVSKY_A = 6378245.0;
constexpr double KRASOVSKY_EE = 0.00669342162296594323;

bool outside_china(lonlat p) noexcept
{
    return p.lon < 72.004 || p.lon > 137.8347 || p.lat < 0.8293 || p.lat > 55.8271;
}

double offset_lat(double x, double y) noexcept
{
    double r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * std::sqrt(std::fabs(x));
    r += (20.0 * std::sin(6.0 * x * PI) + 20.0 * std::sin(2.0 * x * PI)) * 2.0 / 3.0;
    r += (20.0 * std::sin(y * PI) + 40.0 * std::sin(y / 3.0 * PI)) * 2.0 / 3.0;
    r += (160.0 * std::sin(y / 12.0 * PI) + 320.0 * std::sin(y * PI / 30.0)) * 2.0 / 3.0;
    return r;
}

double offset_lon(double x, double y) noexcept
{
    double r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * std::sqrt(std::fabs(x));
    r += (20.0 * std::sin(6.0 * x * PI) + 20.0 * std::sin(2.0 * x * PI)) * 2.0 / 3.0;
    r += (20.0 * std::sin(x * PI) + 40.0 * std::sin(x / 3.0 * PI)) * 2.0 / 3.0;
    r += (150.0 * std::sin(x / 12.0 * PI) + 300.0 * std::sin(x / 30.0 * PI)) * 2.0 / 3.0;
    return r;
}

} // namespace

lonlat wgs84_to_gcj02(lonlat p) noexcept
{
    if (outside_china(p)) {
        return p;
    }
    double dlat = offset_lat(p.lon - 105.0, p.lat - 35.0);
    double dlon = offset_lon(p.lon - 105.0, p.lat - 35.0);
    const double rad = p.lat / 180.0 * PI;
    double magic = std::sin(rad);
    magic = 1 - KRASOVSKY_EE * magic * magic;
    const double sqrt_magic = std::sqrt(magic);
    dlat = (dlat * 180.0) / ((KRASOVSKY_A * (1 - KRASOVSKY_EE)) / (magic * sqrt_magic) * PI);
    dlon = (dlon * 180.0) / (KRASOVSKY_A / sqrt_magic * std::cos(rad) * PI);
    return lonlat{p.lon + dlon, p.lat + dlat};
}

lonlat gcj02_to_wgs84(lonlat p) noexcept
{
    lonlat w = p;
    for (int i = 0; i < 30; ++i) {
        const lonlat g = wgs84_to_gcj02(w);
        const double dx = g.lon - p.lon;
        const double dy = g.lat - p.lat;
        w.lon -= dx;
        w.lat -= dy;
        if (std::fabs(dx) < 1e-10 && std::fabs(dy) < 1e-10) {
            break;
        }
    }
    return w;
}

} // namespace onemap::core
