"""The physical and built landscape every layer draws from, in the working frame (metres):
hills, rivers, reservoirs, ponds, urban areas, hamlets, mining sites and highways."""
import numpy as np
from shapely.geometry import LineString, Point, Polygon
from shapely.ops import nearest_points, unary_union
from shapely.prepared import prep

from .common import blob, ll2m, longest_line, meander, rng_for
from .geography import COUNTIES, HILLS, RESERVOIRS, RIVERS
from .names import NamePool

N_TRIBUTARIES = 28
N_MEDIUM_RESERVOIRS = 4
N_PONDS = 40
N_HAMLETS = 4500
N_MINES = 3
HIGHWAYS = [(0, k) for k in range(1, 10)] + [(1, 8), (1, 2), (2, 3), (3, 9), (9, 4), (4, 5), (5, 6), (7, 3)]


def _random_point_in(poly, rng, avoid=None, tries=1000):
    p = prep(poly)
    minx, miny, maxx, maxy = poly.bounds
    for _ in range(tries):
        q = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if p.contains(q) and (avoid is None or not avoid.contains(q)):
            return q
    raise RuntimeError('no free point found')


def build_landscape(outline, grid_info, seed):
    rng = rng_for(seed, 'landscape')
    names = NamePool(rng_for(seed, 'water-names'))
    L = {'outline': outline}
    inside = prep(outline)
    seat_m = ll2m(np.array([[c[2], c[3]] for c in COUNTIES]))

    hills = Polygon(meander(ll2m(np.array(HILLS)), rng, 0.1, 2000.0, closed=True))
    if not hills.is_valid:
        hills = hills.buffer(0)
    L['hills'] = hills.intersection(outline)

    # built-up areas ---------------------------------------------------------------------------
    urban = []
    for k, c in enumerate(COUNTIES):
        u = blob(seat_m[k], c[5], rng, n=40, roughness=0.22, aspect=rng.uniform(1.0, 1.3))
        urban.append(u.intersection(outline))
    L['county_urban'] = urban                     # index = county index
    cent = grid_info['grid_cent_m']
    county_seats = set(grid_info['seat_grid'])
    town_blobs = []
    for t in grid_info['towns']:
        if t['seed_grid'] in county_seats:
            continue
        town_blobs.append(blob(cent[t['seed_grid']], rng.uniform(550, 900), rng, n=16).intersection(outline))
    L['town_urban'] = town_blobs
    urban_all = unary_union(urban + town_blobs)

    # water ------------------------------------------------------------------------------------
    reservoirs = []
    for name, kind, center, radius, aspect, cap in RESERVOIRS:
        poly = blob(ll2m(np.array(center)), radius, rng, n=64, roughness=0.3, aspect=aspect)
        reservoirs.append(dict(name=name, kind=kind, capacity=cap, poly=poly.intersection(outline)))
    hill_core = L['hills'].buffer(-3000)
    taken = unary_union([r['poly'].buffer(3000) for r in reservoirs] + [urban_all.buffer(2000)])
    for _ in range(N_MEDIUM_RESERVOIRS):
        c = _random_point_in(hill_core, rng, avoid=taken)
        poly = blob((c.x, c.y), rng.uniform(550, 900), rng, n=40, roughness=0.3, aspect=rng.uniform(1.2, 1.8))
        cap = float(round(rng.uniform(1000, 8000), -1))
        reservoirs.append(dict(name=names.reservoir(), kind='中型水库', capacity=cap, poly=poly))
        taken = taken.union(poly.buffer(3000))
    L['reservoirs'] = reservoirs
    res_all = unary_union([r['poly'] for r in reservoirs])

    rivers = []
    for name, grade, half_width, course in RIVERS:
        ctrl = ll2m(np.array(course))
        for _ in range(50):
            line = LineString(meander(ctrl, rng, 0.12, 900.0))
            if line.is_simple:
                break
        line = longest_line(line.intersection(outline))
        rivers.append(dict(name=name, grade=grade, half_width=half_width, line=line))
    majors = list(rivers)
    tries = 0
    while len(rivers) < len(majors) + N_TRIBUTARIES and tries < 2000:
        tries += 1
        start = _random_point_in(outline, rng, avoid=urban_all.union(res_all))
        target = min(majors, key=lambda r: r['line'].distance(start))
        dist = target['line'].distance(start)
        if not 5000 < dist < 22000:
            continue
        end = nearest_points(start, target['line'])[1]
        line = LineString(meander([np.array(start.coords[0]), np.array(end.coords[0])], rng, 0.2, 600.0))
        if not line.is_simple or not inside.contains(Point(line.coords[0])):
            continue
        others = unary_union([r['line'] for r in rivers if r is not target])
        if line.intersects(others) or line.intersects(res_all):
            continue
        if line.intersection(target['line']).geom_type != 'Point':
            continue
        rivers.append(dict(name=names.stream(), grade='四级', half_width=12, line=line))
    L['rivers'] = rivers
    L['river_channels'] = unary_union([r['line'].buffer(r['half_width'], cap_style=2) for r in rivers]).intersection(outline)

    # hamlets, ponds, mines, highways ------------------------------------------------------------
    hamlets = []
    centre_hamlets = []
    busy = prep(unary_union([urban_all, res_all, L['river_channels'].buffer(60)]))
    for v in grid_info['villages']:
        c = cent[v['seed_grid']]
        if busy.contains(Point(c)):
            continue
        centre_hamlets.append(blob(c, rng.uniform(300, 450), rng, n=10))
    hills_p = prep(L['hills'])
    minx, miny, maxx, maxy = outline.bounds
    while len(hamlets) < N_HAMLETS:
        q = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if not inside.contains(q) or busy.contains(q):
            continue
        if hills_p.contains(q) and rng.random() > 0.35:
            continue
        hamlets.append(blob((q.x, q.y), float(np.clip(rng.lognormal(np.log(210), 0.35), 90, 500)), rng, n=12))
    L['centre_hamlets'] = unary_union(centre_hamlets)
    L['hamlets'] = unary_union(hamlets + centre_hamlets).intersection(outline)

    ponds = []
    farmland_core = outline.difference(unary_union([L['hills'], urban_all.buffer(500), res_all.buffer(500)]))
    pond_avoid = unary_union([L['river_channels'].buffer(100), L['hamlets']])
    for _ in range(N_PONDS):
        q = _random_point_in(farmland_core, rng, avoid=pond_avoid)
        poly = blob((q.x, q.y), rng.uniform(40, 110), rng, n=12, roughness=0.25)
        ponds.append(dict(poly=poly, capacity=round(float(rng.uniform(0.5, 6.0)), 2)))
        pond_avoid = pond_avoid.union(poly.buffer(2000))
    L['ponds'] = ponds

    mines = []
    mine_avoid = unary_union([res_all.buffer(2000), L['river_channels'].buffer(500)])
    for _ in range(N_MINES):
        q = _random_point_in(hill_core, rng, avoid=mine_avoid)
        poly = blob((q.x, q.y), rng.uniform(700, 1100), rng, n=16)
        mines.append(poly)
        mine_avoid = mine_avoid.union(poly.buffer(5000))
    L['mines'] = unary_union(mines)

    roads = []
    for a, b in HIGHWAYS:
        line = LineString(meander([seat_m[a], seat_m[b]], rng, 0.05, 2500.0))
        roads.append(line.intersection(outline))
    L['highways'] = unary_union([r.buffer(35, cap_style=2) for r in roads])
    L['urban_all'] = urban_all
    L['reservoirs_all'] = res_all
    L['ponds_all'] = unary_union([p['poly'] for p in ponds])
    return L
