"""Land-survey parcels (三调 DLTB): a gap-free tessellation of the city, vectorised with numpy so a
million parcels take minutes.

A jittered square lattice whose edges carry 4 noisy interior points each (shared by the two cells
on either side) gives cells of 20 vertices; cells whose lattice centre lies in the city outline are
kept (the tessellation's outer edge is therefore the lattice's, not the outline's). The lattice
spacing is searched so that exactly N cells are kept. Land classes are a function of position
(hills, towns, hamlets, rivers, reservoirs, highways, smooth noise), sampled at each parcel centre,
so class shares do not depend on N and neighbouring parcels agree."""
import math

import numpy as np
import shapely.vectorized
from shapely.geometry import Point
from shapely.ops import unary_union

from .common import GEOD, ll2m, m2ll, rng_for
from .geography import COUNTIES

JITTER = 0.15          # node jitter, fraction of the spacing (keeps every cell simple)
EDGE_POINTS = 4        # interior points per edge -> 4 corners + 16 = 20 vertices per parcel
DLMC = {
    '0101': '水田', '0102': '水浇地', '0103': '旱地', '0201': '果园', '0301': '乔木林地', '0305': '灌木林地',
    '0307': '其他林地', '0404': '其他草地', '05H1': '商业服务业设施用地', '0601': '工业用地', '0602': '采矿用地',
    '0701': '城镇住宅用地', '0702': '农村宅基地', '1003': '公路用地', '1006': '农村道路', '1101': '河流水面',
    '1103': '水库水面', '1104': '坑塘水面', '1107': '沟渠', '1202': '设施农用地',
}
CODES = list(DLMC)
FARMLAND = ['0101', '0102', '0103']


# ---------------------------------------------------------------------------------------------
# lattice

def _lattice(outline, n_target):
    """Spacing and kept cells such that exactly n_target lattice centres lie in the outline."""
    minx, miny, maxx, maxy = outline.bounds
    s = math.sqrt(outline.area / n_target)
    best = None
    for _ in range(40):
        ox, oy = minx - s, miny - s
        nx = int(math.ceil((maxx - minx) / s)) + 2
        ny = int(math.ceil((maxy - miny) / s)) + 2
        xc = ox + (np.arange(nx) + 0.5) * s
        yc = oy + (np.arange(ny) + 0.5) * s
        X, Y = np.meshgrid(xc, yc)
        inside = shapely.vectorized.contains(outline, X, Y)
        count = int(inside.sum())
        # cells on the edge of the kept set can be dropped to hit n_target exactly
        padded = np.pad(inside, 1)
        interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
        edge = inside & ~interior
        if count >= n_target and count - n_target <= edge.sum() // 3:
            best = (s, ox, oy, nx, ny, inside, edge)
            break
        s *= math.sqrt(count / n_target) * (1.0 - 1e-4 if count < n_target else 1.0)
    if best is None:
        raise RuntimeError('could not fit %d parcels' % n_target)
    s, ox, oy, nx, ny, inside, edge = best
    excess = int(inside.sum()) - n_target
    if excess:
        jj, ii = np.nonzero(edge)
        d = np.array([outline.exterior.distance(Point(ox + (i + 0.5) * s, oy + (j + 0.5) * s))
                      for j, i in zip(jj, ii)])
        drop = np.lexsort((ii, jj, d))[:excess]
        inside[jj[drop], ii[drop]] = False
    return s, ox, oy, nx, ny, inside


def _edge_points(a, b, c1, c2, s):
    """Interior points of edges a->b (arrays [..., 2]) with a smooth sideways wiggle."""
    t = (np.arange(1, EDGE_POINTS + 1) / (EDGE_POINTS + 1))[None, :]
    d = b - a
    length = np.hypot(d[..., 0], d[..., 1])[..., None]
    nx, ny = -d[..., 1:2] / length, d[..., 0:1] / length
    disp = s * (c1[..., None] * np.sin(np.pi * t) + c2[..., None] * np.sin(2 * np.pi * t))
    px = a[..., 0:1] + t * d[..., 0:1] + disp * nx
    py = a[..., 1:2] + t * d[..., 1:2] + disp * ny
    return np.stack([px, py], axis=-1)


def build_rings(outline, n_target, seed):
    rng = rng_for(seed, 'parcel-lattice')
    s, ox, oy, nx, ny, inside = _lattice(outline, n_target)
    node = np.empty((ny + 1, nx + 1, 2))
    node[..., 0] = ox + np.arange(nx + 1)[None, :] * s
    node[..., 1] = oy + np.arange(ny + 1)[:, None] * s
    node += rng.uniform(-JITTER, JITTER, node.shape) * s
    h = _edge_points(node[:, :-1], node[:, 1:], rng.uniform(-0.04, 0.04, (ny + 1, nx)),
                     rng.uniform(-0.015, 0.015, (ny + 1, nx)), s)          # (ny+1, nx, 4, 2)
    v = _edge_points(node[:-1, :], node[1:, :], rng.uniform(-0.04, 0.04, (ny, nx + 1)),
                     rng.uniform(-0.015, 0.015, (ny, nx + 1)), s)          # (ny, nx+1, 4, 2)
    jj, ii = np.nonzero(inside)
    order = np.lexsort((ii, -jj))          # north to south, west to east
    jj, ii = jj[order], ii[order]
    parts = [node[jj, ii][:, None], h[jj, ii], node[jj, ii + 1][:, None], v[jj, ii + 1],
             node[jj + 1, ii + 1][:, None], h[jj + 1, ii][:, ::-1], node[jj + 1, ii][:, None],
             v[jj, ii][:, ::-1], node[jj, ii][:, None]]
    ccw = np.concatenate(parts, axis=1)
    rings = np.round(ccw[:, ::-1], 3)       # shapefile exterior rings are clockwise
    corners = np.stack([node[jj, ii], node[jj, ii + 1], node[jj + 1, ii + 1], node[jj + 1, ii]], axis=1)
    centre = corners.mean(axis=1)
    lattice_centre = np.stack([ox + (ii + 0.5) * s, oy + (jj + 0.5) * s], axis=-1)
    return dict(rings=rings, centre=centre, lattice_centre=lattice_centre, ii=ii, jj=jj, spacing=s, ox=ox, oy=oy)


# ---------------------------------------------------------------------------------------------
# land classes

class _Noise:
    """Smooth value noise over the city, mapped to roughly uniform [0, 1)."""

    def __init__(self, rng, bounds, cell):
        self.minx, self.miny = bounds[0] - cell, bounds[1] - cell
        self.cell = cell
        nx = int((bounds[2] - bounds[0]) / cell) + 4
        ny = int((bounds[3] - bounds[1]) / cell) + 4
        self.v = rng.random((ny, nx))
        ref = self._raw(rng.uniform(bounds[0], bounds[2], 20000), rng.uniform(bounds[1], bounds[3], 20000))
        self.ref = np.sort(ref)

    def _raw(self, x, y):
        gx = (x - self.minx) / self.cell
        gy = (y - self.miny) / self.cell
        ix = np.clip(np.floor(gx).astype(int), 0, self.v.shape[1] - 2)
        iy = np.clip(np.floor(gy).astype(int), 0, self.v.shape[0] - 2)
        fx, fy = gx - ix, gy - iy
        fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
        v = self.v
        top = v[iy, ix] * (1 - fx) + v[iy, ix + 1] * fx
        bot = v[iy + 1, ix] * (1 - fx) + v[iy + 1, ix + 1] * fx
        return top * (1 - fy) + bot * fy

    def __call__(self, x, y):
        return np.interp(self._raw(x, y), self.ref, np.linspace(0, 1, len(self.ref)))


def _pick(u, table):
    """table: list of (cumulative threshold, code); returns code indices."""
    out = np.full(len(u), CODES.index(table[-1][1]), dtype=np.int16)
    for thr, code in reversed(table[:-1]):
        out[u < thr] = CODES.index(code)
    return out


def classify(P, L, grid_info, seed):
    n = len(P['centre'])
    x, y = P['centre'][:, 0], P['centre'][:, 1]
    bounds = L['outline'].bounds
    nrng = rng_for(seed, 'landclass-noise')
    noise_a = _Noise(nrng, bounds, 5000.0)
    noise_b = _Noise(nrng, bounds, 2500.0)
    noise_c = _Noise(nrng, bounds, 1200.0)
    road_off = nrng.uniform(0, 4500, 2)
    rng = rng_for(seed, 'parcel-classes')
    u = rng.random((n, 3))

    zone = np.ones(n, dtype=np.int8)
    layers = [(2, L['hills']), (3, L['hamlets']), (4, unary_union(L['town_urban'])),
              (5, unary_union(L['county_urban'])), (6, L['mines']), (7, L['highways']),
              (8, L['river_channels']), (9, L['reservoirs_all']), (10, L['ponds_all'])]
    for code, geom in layers:
        zone[shapely.vectorized.contains(geom, x, y)] = code

    lonlat = m2ll(P['centre'])
    lat, lon = lonlat[:, 1], lonlat[:, 0]
    cls = np.full(n, CODES.index('0103'), dtype=np.int16)

    # farmland: paddy in the south (正阳, 新蔡, southern 确山), irrigated land in the north
    m = zone == 1
    p_paddy = 0.03 + 0.67 * np.clip((32.80 - lat) / 0.18, 0, 1) + 0.2 * ((lon > 114.8) & (lat < 32.9))
    na, nb, nc = noise_a(x, y), noise_b(x, y), noise_c(x, y)
    farm = np.where(na < p_paddy, CODES.index('0101'),
                    np.where((nb < 0.3) & (lat > 33.15), CODES.index('0102'), CODES.index('0103')))
    farm = np.where(nc > 0.985, CODES.index('0201'), farm)
    farm = np.where(u[:, 0] < 0.02, CODES.index('1104'), farm)
    farm = np.where((u[:, 0] >= 0.02) & (u[:, 0] < 0.028), CODES.index('1202'), farm)
    farm = np.where((u[:, 0] >= 0.028) & (u[:, 0] < 0.036), CODES.index('1107'), farm)
    s = P['spacing']
    left = P['ox'] + P['ii'] * s
    bottom = P['oy'] + P['jj'] * s
    band = ((np.floor((left - road_off[0]) / 4500) != np.floor((left + s - road_off[0]) / 4500)) |
            (np.floor((bottom - road_off[1]) / 4500) != np.floor((bottom + s - road_off[1]) / 4500)))
    farm = np.where(band & (u[:, 1] < min(1.0, 70.0 / s)), CODES.index('1006'), farm)
    cls[m] = farm[m]

    hill_table = [(0.45, '0301'), (0.62, '0307'), (0.72, '0305'), (0.78, '0404'), (0.80, '0201'), (1.0, '0103')]
    hill = _pick(nb, hill_table)
    hill = np.where(u[:, 0] < 0.01, CODES.index('1104'), hill)
    cls[zone == 2] = hill[zone == 2]
    hamlet = _pick(u[:, 0], [(0.86, '0702'), (0.90, '1104'), (0.92, '05H1'), (1.0, '0103')])
    cls[zone == 3] = hamlet[zone == 3]
    town = _pick(nc, [(0.40, '0701'), (0.60, '0702'), (0.78, '05H1'), (0.90, '0601'), (1.0, '0103')])
    cls[zone == 4] = town[zone == 4]
    city = _pick(nc, [(0.45, '0701'), (0.66, '05H1'), (0.88, '0601'), (0.93, '0702'), (1.0, '0701')])
    cls[zone == 5] = city[zone == 5]
    cls[zone == 6] = np.where(u[zone == 6, 0] < 0.85, CODES.index('0602'), CODES.index('0301'))
    cls[zone == 7] = np.where(u[zone == 7, 0] < 0.92, CODES.index('1003'), CODES.index('0103'))
    cls[zone == 8] = CODES.index('1101')
    cls[zone == 9] = CODES.index('1103')
    cls[zone == 10] = CODES.index('1104')

    # 2023: about 3 % of parcels change class
    c23 = cls.copy()
    crng = rng_for(seed, 'parcel-changes')
    farm_idx = np.nonzero(np.isin(cls, [CODES.index(c) for c in FARMLAND]))[0]
    seat_m = ll2m(np.array([[c[2], c[3]] for c in COUNTIES]))
    centres = [(seat_m[k], COUNTIES[k][5] + 2000.0) for k in range(len(COUNTIES))]
    county_seats = set(grid_info['seat_grid'])
    for t in grid_info['towns']:
        if t['seed_grid'] not in county_seats:
            centres.append((grid_info['grid_cent_m'][t['seed_grid']], 1500.0))
    score = np.full(len(farm_idx), np.inf)
    for c, scale in centres:
        score = np.minimum(score, np.hypot(x[farm_idx] - c[0], y[farm_idx] - c[1]) / scale)
    score *= 0.7 + 0.6 * crng.random(len(farm_idx))
    n_build = int(round(0.018 * n))
    build = farm_idx[np.argsort(score, kind='stable')[:n_build]]
    c23[build] = _pick(crng.random(len(build)), [(0.4, '0601'), (0.7, '0701'), (0.9, '05H1'), (1.0, '0702')])
    rest = np.setdiff1d(farm_idx, build)
    ponds = crng.choice(rest, size=min(len(rest), int(round(0.006 * n))), replace=False)
    c23[ponds] = CODES.index('1104')
    forest_codes = [CODES.index(c) for c in ('0301', '0307')]
    forest_idx = np.nonzero((zone == 2) & (np.isin(cls, forest_codes) | (cls == CODES.index('0103'))))[0]
    k = min(len(forest_idx), int(round(0.004 * n)))
    if k:
        f = crng.choice(forest_idx, size=k, replace=False)
        c23[f] = np.where(cls[f] == CODES.index('0301'), CODES.index('0307'), CODES.index('0301'))
    homestead = np.nonzero(cls == CODES.index('0702'))[0]
    k = min(len(homestead), int(round(0.002 * n)))
    if k:
        c23[crng.choice(homestead, size=k, replace=False)] = CODES.index('0103')
    return cls, c23


# ---------------------------------------------------------------------------------------------
# ownership, identifiers, areas

def locate_villages(lonlat, version):
    """Index into version['village'] of the village containing each point (exact, vectorised by
    descending county -> town -> village)."""
    n = len(lonlat)
    x, y = lonlat[:, 0], lonlat[:, 1]
    out = np.full(n, -1, dtype=np.int32)
    vil_index = {v['code']: k for k, v in enumerate(version['village'])}
    towns_of = {}
    for t in version['town']:
        towns_of.setdefault(t['parent'], []).append(t)
    vils_of = {}
    for v in version['village']:
        vils_of.setdefault(v['parent'], []).append(v)

    def descend(idx, items, visit):
        for it in items:
            minx, miny, maxx, maxy = it['poly'].bounds
            sel = idx[(x[idx] >= minx) & (x[idx] <= maxx) & (y[idx] >= miny) & (y[idx] <= maxy)]
            if len(sel):
                hit = sel[shapely.vectorized.contains(it['poly'], x[sel], y[sel])]
                if len(hit):
                    visit(it, hit)
                    idx = np.setdiff1d(idx, hit, assume_unique=True)
        return idx

    def in_village(v, hit):
        out[hit] = vil_index[v['code']]

    def in_town(t, hit):
        descend(hit, vils_of[t['code']], in_village)

    def in_county(c, hit):
        descend(hit, towns_of[c['code']], in_town)

    descend(np.arange(n), version['county'], in_county)
    for k in np.nonzero(out < 0)[0]:
        p = Point(x[k], y[k])
        out[k] = min(range(len(version['village'])), key=lambda v: version['village'][v]['poly'].distance(p))
    return out


def ellipsoidal_areas(rings_m):
    ll = m2ll(rings_m)
    area = np.empty(len(ll))
    for k in range(len(ll)):
        a, _ = GEOD.polygon_area_perimeter(ll[k, :, 0], ll[k, :, 1])
        area[k] = abs(a)
    return np.round(area, 2)


def identifiers(village_idx, villages):
    """BSM (county code + 10-digit serial) and TBBH (serial within the village), both following
    the parcel order (north to south, west to east)."""
    n = len(village_idx)
    vcodes = np.array([v['code'] for v in villages])
    county = np.array([c[:6] for c in vcodes])[village_idx]
    bsm = np.empty(n, dtype=object)
    tbbh = np.empty(n, dtype=np.int64)
    for c in np.unique(county):
        idx = np.nonzero(county == c)[0]
        for k, i in enumerate(idx):
            bsm[i] = '%s%010d' % (c, k + 1)
    order = np.argsort(village_idx, kind='stable')
    sorted_v = village_idx[order]
    starts = np.r_[0, np.nonzero(np.diff(sorted_v))[0] + 1]
    rank = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    tbbh[order] = rank + 1
    return bsm, tbbh
