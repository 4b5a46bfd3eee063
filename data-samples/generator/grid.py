"""Grid management hierarchy: county -> town/street -> village/community -> grid, in two versions.

The finest level is one planar partition: Voronoi cells of seeded points with noisy edges, noded
together with the city outline and polygonized in one operation, so neighbours share identical
vertices. Parents are unions of children, so nesting is exact and there are no gaps or overlaps.
Coordinates are rounded to 1e-7 degree once, per vertex, which keeps shared vertices identical.
"""
import heapq
import math

import numpy as np
from shapely.geometry import LineString, MultiPoint, Point, Polygon, box
from shapely.ops import polygonize, unary_union, voronoi_diagram
from shapely.prepared import prep
from shapely.strtree import STRtree

from .common import assert_valid, ll2m, m2ll, rng_for
from .geography import COUNTIES
from .names import NamePool

TARGET_GRIDS = 2400
TARGET_TOWNS = 90
GRIDS_PER_VILLAGE = 4.0
STREETS_IN_URBAN_DISTRICT = 5
MOVES_IN_TOWN = 20
MOVES_ACROSS_TOWNS = 4
SPLITS = 10
DEG_DECIMALS = 7


# ---------------------------------------------------------------------------------------------
# The finest partition

def _seed_points(outline, rng, target_grids=TARGET_GRIDS):
    seats = [(ll2m(np.array([c[2], c[3]])), c[5]) for c in COUNTIES]
    pts = []
    urban_area = 0.0
    for k, (seat, radius) in enumerate(seats):
        spacing = 950.0 if k == 0 else 1150.0
        n = int(radius // spacing) + 1
        for iy in range(-n, n + 1):
            for ix in range(-n, n + 1):
                p = seat + np.array([ix, iy]) * spacing + rng.uniform(-0.3, 0.3, 2) * spacing
                if np.hypot(*(p - seat)) <= radius:
                    pts.append(p)
        urban_area += math.pi * radius ** 2
    n_urban = len(pts)
    d = math.sqrt((outline.area - urban_area) / (target_grids - n_urban))
    minx, miny, maxx, maxy = outline.bounds
    for y in np.arange(miny + d / 2, maxy, d):
        for x in np.arange(minx + d / 2, maxx, d):
            p = np.array([x, y]) + rng.uniform(-0.35, 0.35, 2) * d
            if all(np.hypot(*(p - s)) > r + 0.3 * d for s, r in seats):
                pts.append(p)
    pts = np.array(pts)
    inside = np.array([outline.contains(Point(p)) for p in pts])
    return pts[inside]


def _lines_of(geom):
    if geom.geom_type == 'LineString':
        return [geom]
    out = []
    for g in geom.geoms:
        out.extend(_lines_of(g))
    return out


def _perturb_edge(a, b, rng):
    d = b - a
    length = float(np.hypot(*d))
    k = int(min(2, length // 800))
    u1, u2 = rng.uniform(-0.06, 0.06), rng.uniform(-0.025, 0.025)
    if k == 0:
        return np.array([a, b])
    t = np.arange(1, k + 1) / (k + 1)
    n = np.array([-d[1], d[0]]) / length
    disp = length * (u1 * np.sin(np.pi * t) + u2 * np.sin(2 * np.pi * t))
    mid = a + t[:, None] * d + disp[:, None] * n
    return np.vstack([a, mid, b])


def _noisy_edges(outline, seeds, rng):
    env = box(*outline.buffer(20000).bounds)
    vor = voronoi_diagram(MultiPoint([tuple(p) for p in seeds]), envelope=env, edges=True)
    near = prep(outline.buffer(3000))
    edges = [np.asarray(l.coords) for l in _lines_of(vor) if near.intersects(l)]
    noisy = [_perturb_edge(e[0], e[-1], rng) for e in edges]
    # Straighten any perturbed edge that crosses another one anywhere but at a shared end.
    for _ in range(5):
        lines = [LineString(e) for e in noisy]
        tree = STRtree(lines)
        index = {id(g): i for i, g in enumerate(lines)}
        bad = set()
        for i, g in enumerate(lines):
            ends_i = {tuple(noisy[i][0]), tuple(noisy[i][-1])}
            for h in tree.query(g):
                j = index[id(h)]
                if j <= i:
                    continue
                inter = g.intersection(h)
                if inter.is_empty:
                    continue
                ends = ends_i & {tuple(noisy[j][0]), tuple(noisy[j][-1])}
                pts = [tuple(c) for p in getattr(inter, 'geoms', [inter]) for c in p.coords]
                if any(p not in ends for p in pts):
                    bad.update((i, j))
        if not bad:
            break
        for i in bad:
            noisy[i] = np.array([noisy[i][0], noisy[i][-1]])
    return [LineString(e) for e in noisy]


def _faces(outline, seeds, rng):
    lines = _noisy_edges(outline, seeds, rng)
    noded = unary_union(lines + [outline.exterior])
    inside = prep(outline)
    faces = [f for f in polygonize(noded) if inside.contains(f.representative_point())]
    # Pieces of a Voronoi cell cut off by the outline carry no seed: merge each into the
    # neighbour it shares the longest edge with.
    seed_pts = [Point(p) for p in seeds]
    tree = STRtree(seed_pts)
    has_seed = [any(f.contains(p) for p in tree.query(f)) for f in faces]
    keep = [f for f, s in zip(faces, has_seed) if s]
    orphans = sorted([f for f, s in zip(faces, has_seed) if not s], key=lambda f: f.area)
    for f in orphans:
        best, best_len = None, 0.0
        for i, g in enumerate(keep):
            if g.envelope.intersects(f.envelope):
                shared = g.boundary.intersection(f.boundary).length
                if shared > best_len:
                    best, best_len = i, shared
        if best is None:
            raise RuntimeError('isolated face in the grid partition')
        merged = unary_union([keep[best], f])
        if merged.geom_type != 'Polygon':
            raise RuntimeError('merging a cut-off face did not give a polygon')
        keep[best] = merged
    for f in keep:
        if len(f.interiors):
            raise RuntimeError('grid face with a hole')
    return keep


def _round_deg(poly_m):
    ring = np.round(m2ll(np.asarray(poly_m.exterior.coords)), DEG_DECIMALS)
    keep = np.ones(len(ring), dtype=bool)
    keep[1:] = np.any(ring[1:] != ring[:-1], axis=1)
    poly = Polygon(ring[keep])
    assert_valid(poly, 'grid polygon after rounding')
    return poly


def _adjacency(polys):
    """Neighbours by exactly shared segments, with the shared length in metres."""
    seg_owner = {}
    for gi, p in enumerate(polys):
        c = list(p.exterior.coords)
        for a, b in zip(c[:-1], c[1:]):
            key = (a, b) if a < b else (b, a)
            seg_owner.setdefault(key, []).append(gi)
    adj = [dict() for _ in polys]
    for (a, b), owners in seg_owner.items():
        if len(owners) > 2:
            raise RuntimeError('segment shared by more than two grids')
        if len(owners) == 2:
            i, j = owners
            lat = math.radians((a[1] + b[1]) / 2)
            length = math.hypot((b[0] - a[0]) * 111320 * math.cos(lat), (b[1] - a[1]) * 110574)
            adj[i][j] = adj[i].get(j, 0.0) + length
            adj[j][i] = adj[j].get(i, 0.0) + length
    return adj


# ---------------------------------------------------------------------------------------------
# Hierarchy by competitive region growing on the grid adjacency graph (regions stay connected)

def _grow(allowed, seeds, factors, weight, adj):
    owner = {}
    heap = [(0.0, k, s) for k, s in enumerate(seeds)]
    heapq.heapify(heap)
    while heap:
        d, k, n = heapq.heappop(heap)
        if n in owner:
            continue
        owner[n] = k
        for m in sorted(adj[n]):
            if m in allowed and m not in owner:
                heapq.heappush(heap, (d + weight(n, m) * factors[k], k, m))
    if len(owner) != len(allowed):
        raise RuntimeError('region growing did not reach every grid')
    return owner


def _weighted_voronoi_counties(cent, area, seat_m, seat_grid, targets, adj):
    """Counties as an additively weighted Voronoi diagram of the seats (cells are star-shaped
    around their seat, so compact), weights tuned to the target areas; grids left detached by the
    discretisation join the neighbour they share most edge with."""
    w = np.zeros(len(seat_m))
    d2 = np.sqrt(((cent[:, None, :] - seat_m[None, :, :]) ** 2).sum(axis=2))
    best = None
    for it in range(200):
        owner = np.argmin(d2 - w[None, :], axis=1)
        owner[seat_grid] = np.arange(len(seat_m))
        got = np.bincount(owner, weights=area, minlength=len(seat_m))
        err = float(np.abs(np.log(np.maximum(got, 1.0) / targets)).max())
        if best is None or err < best[0]:
            best = (err, owner.copy())
        w += (targets - got) / (2.0 * np.sqrt(targets)) / (1 + it / 50)
    owner = best[1]
    for _ in range(20):
        changed = False
        for k in range(len(seat_m)):
            members = set(np.nonzero(owner == k)[0].tolist())
            seen = {seat_grid[k]}
            stack = [seat_grid[k]]
            while stack:
                g = stack.pop()
                for h in adj[g]:
                    if h in members and h not in seen:
                        seen.add(h)
                        stack.append(h)
            for g in sorted(members - seen):
                shared = {}
                for h, length in adj[g].items():
                    if owner[h] != k:
                        shared[owner[h]] = shared.get(owner[h], 0.0) + length
                if shared:
                    owner[g] = max(sorted(shared), key=lambda c: shared[c])
                    changed = True
        if not changed:
            break
    return owner


def _farthest_seeds(members, cent, first, n, rng, pool=None):
    members = sorted(members)
    pool = sorted(pool) if pool is not None else members
    chosen = [first]
    dist = np.hypot(*(cent[pool] - cent[first]).T)
    while len(chosen) < n:
        order = np.argsort(-dist, kind='stable')[:3]
        pick = pool[int(order[int(rng.integers(len(order)))])]
        if pick in chosen:
            break
        chosen.append(pick)
        dist = np.minimum(dist, np.hypot(*(cent[pool] - cent[pick]).T))
    return chosen


def _lloyd(members, cent, seeds, fixed, iters=8):
    """Move free seeds to the grid nearest the centre of the grids closest to them, so seats sit
    inside their town or village rather than on its edge."""
    members = np.array(sorted(members))
    seeds = list(seeds)
    for _ in range(iters):
        d = np.hypot(*(cent[members][:, None, :] - cent[seeds][None, :, :]).transpose(2, 0, 1))
        lab = np.argmin(d, axis=1)
        new = list(seeds)
        for k in range(fixed, len(seeds)):
            sel = members[lab == k]
            if len(sel) == 0:
                continue
            m = cent[sel].mean(axis=0)
            cand = int(sel[np.argmin(np.hypot(*(cent[sel] - m).T))])
            if cand not in new:
                new[k] = cand
        seeds = new
    return seeds


def _connected(nodes, adj):
    nodes = set(nodes)
    if not nodes:
        return False
    start = min(nodes)
    seen = {start}
    stack = [start]
    while stack:
        n = stack.pop()
        for m in adj[n]:
            if m in nodes and m not in seen:
                seen.add(m)
                stack.append(m)
    return len(seen) == len(nodes)


def build_hierarchy(outline, seed, target_grids=TARGET_GRIDS):
    rng = rng_for(seed, 'grid')
    seeds = _seed_points(outline, rng, target_grids)
    faces_m = _faces(outline, seeds, rng)
    # deterministic order: north to south, west to east
    cent_m0 = np.array([f.centroid.coords[0] for f in faces_m])
    order = np.lexsort((cent_m0[:, 0], -cent_m0[:, 1]))
    faces_m = [faces_m[i] for i in order]
    polys = [_round_deg(f) for f in faces_m]
    cent = np.array([f.centroid.coords[0] for f in faces_m])
    area = np.array([f.area for f in faces_m])
    adj = _adjacency(polys)
    n = len(polys)

    jitter = {}

    def weight_for(level):
        def weight(a, b):
            key = (level, min(a, b), max(a, b))
            if key not in jitter:
                # hash-like deterministic jitter independent of visiting order
                h = (key[1] * 1000003 + key[2] * 7919 + level * 104729) % 1000003
                jitter[key] = 0.75 + 0.5 * ((h * 2654435761) % 4294967296) / 4294967296.0
            return float(np.hypot(*(cent[a] - cent[b]))) * jitter[key]
        return weight

    # counties: a weighted Voronoi partition around the real seats, sized to the target areas
    seat_m = ll2m(np.array([[c[2], c[3]] for c in COUNTIES]))
    seat_grid = [int(np.argmin(np.hypot(*(cent - s).T))) for s in seat_m]
    targets = np.array([c[4] for c in COUNTIES], dtype=float)
    targets = targets / targets.sum() * area.sum()
    county_of = _weighted_voronoi_counties(cent, area, seat_m, seat_grid, targets, adj)

    pool = NamePool(rng_for(seed, 'names'))
    towns = []        # dict(county, seed_grid, kind, name)
    town_of = np.zeros(n, dtype=int)
    for c, (ccode, cname, _, _, _, radius) in enumerate(COUNTIES):
        members = [g for g in range(n) if county_of[g] == c]
        share = area[members].sum() / area.sum()
        n_towns = max(4, int(round(TARGET_TOWNS * share)))
        urban = [g for g in members if np.hypot(*(cent[g] - seat_m[c])) <= radius]
        if c == 0:
            t_seeds = _farthest_seeds(members, cent, seat_grid[c], STREETS_IN_URBAN_DISTRICT, rng, pool=urban)
        else:
            t_seeds = [seat_grid[c]]
        rest = _farthest_seeds(members, cent, t_seeds[0], n_towns, rng)
        for s in rest:
            if len(t_seeds) >= n_towns:
                break
            if s not in t_seeds and all(np.hypot(*(cent[s] - cent[t])) > 4000 for t in t_seeds):
                t_seeds.append(s)
        t_seeds = _lloyd(members, cent, t_seeds, fixed=STREETS_IN_URBAN_DISTRICT if c == 0 else 1)
        tfac = rng.uniform(0.85, 1.2, len(t_seeds))
        owner = _grow(set(members), t_seeds, tfac, weight_for(1), adj)
        base = len(towns)
        for k, s in enumerate(t_seeds):
            if c == 0 and k < STREETS_IN_URBAN_DISTRICT:
                kind = '街道'
            elif k == 0:
                kind = '城关'
            else:
                kind = '镇' if rng.random() < 0.6 else '乡'
            towns.append(dict(county=c, seed_grid=s, kind=kind))
        for g, k in owner.items():
            town_of[g] = base + k

    villages = []     # dict(town, seed_grid, kind)
    village_of = np.zeros(n, dtype=int)
    for t, town in enumerate(towns):
        members = [g for g in range(n) if town_of[g] == t]
        n_vil = max(2, int(round(len(members) / GRIDS_PER_VILLAGE)))
        n_vil = min(n_vil, len(members))
        v_seeds = _farthest_seeds(members, cent, town['seed_grid'], n_vil, rng)
        v_seeds = _lloyd(members, cent, v_seeds, fixed=1)
        vfac = rng.uniform(0.8, 1.25, len(v_seeds))
        owner = _grow(set(members), v_seeds, vfac, weight_for(2), adj)
        base = len(villages)
        c = town['county']
        for k, s in enumerate(v_seeds):
            urban = np.hypot(*(cent[s] - seat_m[c])) <= COUNTIES[c][5]
            kind = '社区' if (urban or k == 0) else '村'
            villages.append(dict(town=t, seed_grid=s, kind=kind))
        for g, k in owner.items():
            village_of[g] = base + k

    # codes and names ------------------------------------------------------------------------
    kind_rank = {'街道': 0, '城关': 1, '镇': 1, '乡': 2}
    for c, (ccode, cname, *_rest) in enumerate(COUNTIES):
        ts = [t for t, town in enumerate(towns) if town['county'] == c]
        ts.sort(key=lambda t: (kind_rank[towns[t]['kind']], towns[t]['kind'] != '城关',
                               -cent[towns[t]['seed_grid']][1], cent[towns[t]['seed_grid']][0]))
        serial = {0: 0, 1: 100, 2: 200}
        for t in ts:
            r = kind_rank[towns[t]['kind']]
            serial[r] += 1
            towns[t]['code'] = ccode + '%03d' % serial[r]
    for t in sorted(range(len(towns)), key=lambda t: towns[t]['code']):
        kind = towns[t]['kind']
        towns[t]['name'] = '城关镇' if kind == '城关' else pool.town(kind)
    for t, town in enumerate(towns):
        vs = [v for v, vil in enumerate(villages) if vil['town'] == t]
        vs.sort(key=lambda v: (villages[v]['kind'] != '社区', -cent[villages[v]['seed_grid']][1],
                               cent[villages[v]['seed_grid']][0]))
        serial = {'社区': 0, '村': 200}
        for v in vs:
            serial[villages[v]['kind']] += 1
            villages[v]['code'] = town['code'] + '%03d' % serial[villages[v]['kind']]
    for v in sorted(range(len(villages)), key=lambda v: villages[v]['code']):
        villages[v]['name'] = pool.community() if villages[v]['kind'] == '社区' else pool.village()

    grid_serial = np.zeros(n, dtype=int)
    next_serial = {}
    for v in range(len(villages)):
        gs = sorted([g for g in range(n) if village_of[g] == v], key=lambda g: (-cent[g][1], cent[g][0]))
        for k, g in enumerate(gs):
            grid_serial[g] = k + 1
        next_serial[v] = len(gs) + 1

    def grid_record(poly, v, serial):
        vil = villages[v]
        return dict(code=vil['code'] + '%03d' % serial, name='%s第%d网格' % (vil['name'], serial),
                    parent=vil['code'], poly=poly, village=v)

    v1_grids = [grid_record(polys[g], village_of[g], grid_serial[g]) for g in range(n)]

    # version 2: moves and splits --------------------------------------------------------------
    crng = rng_for(seed, 'grid-changes')
    protected = set(seat_grid) | {t['seed_grid'] for t in towns} | {v['seed_grid'] for v in villages}
    v2_village = village_of.copy()
    moved = {}
    for across, quota in ((False, MOVES_IN_TOWN), (True, MOVES_ACROSS_TOWNS)):
        done = 0
        for g in crng.permutation(n):
            g = int(g)
            if done >= quota:
                break
            if g in protected or g in moved:
                continue
            v = int(v2_village[g])
            members = [h for h in range(n) if v2_village[h] == v]
            if len(members) < 3 or not _connected([h for h in members if h != g], adj):
                continue
            t = villages[v]['town']
            cands = set()
            for h, shared in adj[g].items():
                w = int(v2_village[h])
                if w == v or shared < 300:
                    continue
                wt = villages[w]['town']
                if not across and wt == t:
                    cands.add(w)
                if across and wt != t and towns[wt]['county'] == towns[t]['county']:
                    cands.add(w)
            if not cands:
                continue
            if across:
                town_members = [h for h in range(n) if villages[v2_village[h]]['town'] == t and h != g]
                if not _connected(town_members, adj):
                    continue
            cands = sorted(cands)
            w = cands[int(crng.integers(len(cands)))]
            v2_village[g] = w
            moved[g] = w
            done += 1

    splits = {}
    big = [g for g in range(n) if g not in moved and g not in protected
           and area[g] > np.median(area) and len(polys[g].exterior.coords) >= 12]
    for g in crng.permutation(big):
        g = int(g)
        if len(splits) >= SPLITS:
            break
        halves = _split(polys[g], crng)
        if halves is not None:
            splits[g] = halves

    v2_grids = []
    for g in range(n):
        if g in moved:
            w = moved[g]
            v2_grids.append(grid_record(polys[g], w, next_serial[w]))
            next_serial[w] += 1
        elif g in splits:
            v = village_of[g]
            for half in splits[g]:
                v2_grids.append(grid_record(half, v, next_serial[v]))
                next_serial[v] += 1
        else:
            v2_grids.append(v1_grids[g])

    versions = {}
    for label, grids in (('2023-01-01', v1_grids), ('2024-07-01', v2_grids)):
        versions[label] = _assemble(grids, villages, towns)
    info = dict(villages=villages, towns=towns, village_of=village_of, grid_cent_m=cent,
                seat_grid=seat_grid, moved=moved, splits=splits, n_grids=n)
    return versions, info


def _split(poly, rng):
    """Cut a grid in two along a noisy path between two of its existing vertices, so the
    neighbours' shared edges are untouched."""
    ring = np.asarray(poly.exterior.coords)[:-1]
    m = len(ring)
    for _ in range(6):
        i = int(rng.integers(m))
        j = (i + m // 2 + int(rng.integers(-1, 2))) % m
        a, b = ring[i], ring[j]
        d = b - a
        length = np.hypot(*d)
        nrm = np.array([-d[1], d[0]]) / length
        mids = [np.round(a + d * t + nrm * length * rng.uniform(-0.06, 0.06), DEG_DECIMALS) for t in (1 / 3, 2 / 3)]
        path = [tuple(a)] + [tuple(p) for p in mids] + [tuple(b)]
        if not poly.contains(LineString(path)):
            continue
        lo, hi = min(i, j), max(i, j)
        if lo == i:
            first = [tuple(p) for p in ring[lo:hi + 1]] + path[::-1][1:-1]
        else:
            first = [tuple(p) for p in ring[lo:hi + 1]] + path[1:-1]
        second = [tuple(p) for p in np.vstack([ring[hi:], ring[:lo + 1]])] + (path[1:-1] if lo == i else path[::-1][1:-1])
        h1, h2 = Polygon(first), Polygon(second)
        if not (h1.is_valid and h2.is_valid):
            continue
        share = h1.area / poly.area
        if not 0.3 < share < 0.7 or abs(h1.area + h2.area - poly.area) > 1e-9 * poly.area:
            continue
        return [h1, h2]
    return None


def _assemble(grids, villages, towns):
    by_village = {}
    for g in grids:
        by_village.setdefault(g['parent'], []).append(g['poly'])
    vil_rows = []
    vil_poly = {}
    for v in sorted(villages, key=lambda v: v['code']):
        u = unary_union(by_village[v['code']])
        _check_polygon(u, 'village %s' % v['code'])
        vil_poly[v['code']] = u
        vil_rows.append(dict(code=v['code'], name=v['name'], parent=towns[v['town']]['code'], poly=u))
    town_rows = []
    town_poly = {}
    for t in sorted(towns, key=lambda t: t['code']):
        u = unary_union([r['poly'] for r in vil_rows if r['parent'] == t['code']])
        _check_polygon(u, 'town %s' % t['code'])
        town_poly[t['code']] = u
        town_rows.append(dict(code=t['code'], name=t['name'], parent=COUNTIES[t['county']][0], poly=u))
    county_rows = []
    for ccode, cname, *_rest in COUNTIES:
        u = unary_union([r['poly'] for r in town_rows if r['parent'] == ccode])
        _check_polygon(u, 'county %s' % ccode)
        county_rows.append(dict(code=ccode, name=cname, poly=u))
    return dict(county=county_rows, town=town_rows, village=vil_rows,
                grid=sorted(grids, key=lambda g: g['code']))


def _check_polygon(geom, what):
    assert_valid(geom, what)
    if geom.geom_type != 'Polygon':
        raise RuntimeError('%s is a %s, expected one polygon' % (what, geom.geom_type))
