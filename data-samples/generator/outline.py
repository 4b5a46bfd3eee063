"""The fictional city outline: hand-placed control points roughly shaped like Zhumadian plus seeded
midpoint-displacement noise. It is NOT the real administrative boundary (none was available)."""
import numpy as np
from shapely.geometry import Polygon

from .common import assert_valid, ll2m, m2ll, meander, rng_for
from .geography import OUTLINE


def build_outline(seed):
    """City outline in the working frame (EPSG:4547 metres)."""
    rng = rng_for(seed, 'outline')
    ctrl = ll2m(np.array(OUTLINE))
    for _ in range(50):
        ring = meander(ctrl, rng, rel_amp=0.12, min_len=1200.0, closed=True)
        poly = Polygon(ring)
        if poly.is_valid:
            return poly
    raise RuntimeError('could not draw a simple outline')


def outline_lonlat(seed):
    """The same outline in EPSG:4490 lon/lat (unrounded); used by the invariant tests."""
    poly = build_outline(seed)
    return Polygon(m2ll(np.asarray(poly.exterior.coords)))


def check_outline(poly):
    assert_valid(poly, 'city outline')
