#include "sample_points.hpp"

#include "tempdb.hpp"

#include <cmath>
#include <cstdio>

namespace onemap::test {

tile_xy tile_of(int z, double lon, double lat)
{
    const double r = lat * M_PI / 180.0;
    const double n = std::ldexp(1.0, z);
    return {static_cast<long long>((lon + 180.0) / 360.0 * n),
            static_cast<long long>((1.0 - std::log(std::tan(r) + 1.0 / std::cos(r)) / M_PI) / 2.0 * n)};
}

std::string xyz(int z, double lon, double lat)
{
    const tile_xy t = tile_of(z, lon, lat);
    return std::to_string(z) + "/" + std::to_string(t.x) + "/" + std::to_string(t.y);
}

lonlat point_of(const std::string& sql)
{
    const auto text = query_value("SELECT ST_X(p) || ' ' || ST_Y(p) FROM (" + sql + ") AS q(p)");
    lonlat p;
    std::sscanf(text.c_str(), "%lf %lf", &p.lon, &p.lat);
    return p;
}

lonlat reservoir_point()
{
    return point_of("SELECT ST_PointOnSurface(ST_Difference(geom, ST_Buffer(ST_Centroid(geom), 0.01))) "
                    "FROM onemap_data.reservoir__v1 ORDER BY ST_Area(geom) DESC LIMIT 1");
}

std::string reservoir_name()
{
    return query_value("SELECT skmc FROM onemap_data.reservoir__v1 ORDER BY ST_Area(geom) DESC LIMIT 1");
}

lonlat redline_point()
{
    return point_of("SELECT ST_PointN(ST_ExteriorRing(ST_GeometryN(geom, 1)), 1) FROM "
                    "onemap_data.ecological_redline__v1 ORDER BY ST_Area(geom) DESC LIMIT 1");
}

lonlat dry_point()
{
    return point_of(
        "SELECT ST_PointOnSurface(d.geom) FROM onemap_data.dltb__v2 d WHERE d.dlbm LIKE '01%' "
        "AND NOT EXISTS (SELECT 1 FROM onemap_data.reservoir__v1 r WHERE ST_DWithin(r.geom, d.geom, 0.02)) "
        "AND NOT EXISTS (SELECT 1 FROM onemap_data.river__v1 r WHERE ST_DWithin(r.geom, d.geom, 0.02)) "
        "AND NOT EXISTS (SELECT 1 FROM onemap_data.ecological_redline__v1 r WHERE ST_DWithin(r.geom, d.geom, 0.02)) "
        "AND NOT EXISTS (SELECT 1 FROM onemap_data.urban_boundary__v1 r "
        "WHERE ST_DWithin(ST_Boundary(r.geom), d.geom, 0.02)) ORDER BY d.fid LIMIT 1");
}

} // namespace onemap::test
