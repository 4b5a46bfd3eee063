"""Shared helpers: coordinate frames, seeded random streams, noisy lines and blobs.

All geometry is built in one metric frame, EPSG:4547 (CGCS2000 3-degree Gauss-Krueger, central
meridian 114E, false easting 500000), which is centred on Zhumadian. Layers delivered in other CRSs
are transformed vertex by vertex, so vertices shared in the metric frame stay shared after output.
"""
import zlib

import numpy as np
import pyproj
from shapely.geometry import LineString, MultiPolygon, Polygon
from shapely.validation import explain_validity

EPSG_GEO = 4490    # CGCS2000 geographic
EPSG_GK = 4547     # CGCS2000 3-degree GK, CM 114E, x0 = 500000 (the working frame)
EPSG_ZONE38 = 4526  # CGCS2000 3-degree GK zone 38, x0 = 38500000

_LL2M = pyproj.Transformer.from_crs(EPSG_GEO, EPSG_GK, always_xy=True)
_M2LL = pyproj.Transformer.from_crs(EPSG_GK, EPSG_GEO, always_xy=True)
_M2Z38 = pyproj.Transformer.from_crs(EPSG_GK, EPSG_ZONE38, always_xy=True)

GEOD = pyproj.Geod(ellps='GRS80')


def rng_for(seed, stream):
    """An independent random stream per component, so changing one part (e.g. the parcel count)
    never shifts the random numbers another part sees."""
    return np.random.default_rng([int(seed), zlib.crc32(stream.encode('ascii'))])


def _apply(transformer, xy):
    xy = np.asarray(xy, dtype=float)
    x, y = transformer.transform(xy[..., 0], xy[..., 1])
    return np.stack([np.asarray(x), np.asarray(y)], axis=-1)


def ll2m(xy):
    return _apply(_LL2M, xy)


def m2ll(xy):
    return _apply(_M2LL, xy)


def m2zone38(xy):
    return _apply(_M2Z38, xy)


def map_geometry(geom, fn):
    """Apply a vectorised coordinate function to every ring/line of a shapely geometry."""
    t = geom.geom_type
    if t == 'Polygon':
        return Polygon(fn(np.asarray(geom.exterior.coords)),
                       [fn(np.asarray(r.coords)) for r in geom.interiors])
    if t == 'MultiPolygon':
        return MultiPolygon([map_geometry(p, fn) for p in geom.geoms])
    if t == 'LineString':
        return LineString(fn(np.asarray(geom.coords)))
    raise ValueError('unsupported geometry type %s' % t)


def rounder(decimals):
    return lambda a: np.round(a, decimals)


def polygons_of(geom, min_area=0.0):
    """The polygon parts of any geometry, in a deterministic order."""
    if geom.is_empty:
        return []
    t = geom.geom_type
    if t == 'Polygon':
        return [geom] if geom.area > min_area else []
    if t in ('MultiPolygon', 'GeometryCollection'):
        out = []
        for g in geom.geoms:
            out.extend(polygons_of(g, min_area))
        return out
    return []


def longest_line(geom):
    if geom.geom_type == 'LineString':
        return geom
    parts = [g for g in getattr(geom, 'geoms', []) if g.geom_type == 'LineString']
    return max(parts, key=lambda g: g.length) if parts else None


def meander(points, rng, rel_amp, min_len, closed=False):
    """Midpoint displacement: every segment longer than min_len gets a midpoint pushed sideways by
    up to rel_amp of its length, recursively. Gives natural-looking boundaries and river courses."""
    pts = [np.asarray(p, dtype=float) for p in points]
    if closed:
        pts = pts + [pts[0]]
    out = [pts[0]]

    def subdiv(a, b, depth):
        d = b - a
        length = float(np.hypot(d[0], d[1]))
        if length <= min_len or depth > 12:
            out.append(b)
            return
        n = np.array([-d[1], d[0]]) / length
        m = (a + b) / 2 + n * rng.uniform(-rel_amp, rel_amp) * length
        subdiv(a, m, depth + 1)
        subdiv(m, b, depth + 1)

    for a, b in zip(pts[:-1], pts[1:]):
        subdiv(a, b, 0)
    arr = np.array(out)
    return arr[:-1] if closed else arr


def blob(center, radius, rng, n=24, roughness=0.18, aspect=1.0, angle=None):
    """A noisy closed shape around center: a rotated ellipse with a few random harmonics."""
    theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = np.ones(n)
    for h in (2, 3, 5):
        r += rng.uniform(-roughness, roughness) / (h / 2) * np.cos(h * theta + rng.uniform(0, 2 * np.pi))
    r = np.clip(r, 0.45, None) * radius
    if angle is None:
        angle = rng.uniform(0, np.pi)
    x = r * np.cos(theta) * aspect
    y = r * np.sin(theta) / aspect
    ca, sa = np.cos(angle), np.sin(angle)
    pts = np.stack([center[0] + ca * x - sa * y, center[1] + sa * x + ca * y], axis=-1)
    poly = Polygon(pts)
    if not poly.is_valid:
        poly = poly.buffer(0)
    return poly


def assert_valid(geom, what):
    if not geom.is_valid:
        raise RuntimeError('%s is invalid: %s' % (what, explain_validity(geom)))


def geod_area(lonlat_ring):
    area, _ = GEOD.polygon_area_perimeter(lonlat_ring[:, 0], lonlat_ring[:, 1])
    return abs(area)


def geod_polygon_area(poly_ll):
    """Ellipsoidal area (m2) of a lon/lat shapely polygon or multipolygon, holes subtracted."""
    total = 0.0
    for p in polygons_of(poly_ll):
        total += geod_area(np.asarray(p.exterior.coords))
        for r in p.interiors:
            total -= geod_area(np.asarray(r.coords))
    return total
