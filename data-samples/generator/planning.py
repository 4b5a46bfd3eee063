"""Planning layers (三区三线): ecological protection red line, permanent basic farmland, urban
development boundary and the planned land-use zones that partition the city.

Shapes are drawn (buffers, blobs) in metres, but every overlay between layers is done in lon/lat
(EPSG:4490, the delivery CRS): a straight edge in metres is slightly curved in degrees, so layers
that share a boundary only stay exactly adjacent if they are cut against each other in degrees."""
from shapely.geometry import MultiPolygon, Point
from shapely.ops import unary_union
from shapely.prepared import prep

from .common import blob, m2ll, map_geometry, polygons_of, rng_for
from .geography import COUNTIES

M2_PER_DEG2 = 111320.0 * 0.8387 * 110900.0      # at 33N: 1 square degree in m2
HA = 10000.0 / M2_PER_DEG2                     # one hectare in square degrees
M = 1.0 / 100000.0                             # about a metre in degrees (for tolerances)
ZONES = [('01', '生态保护区'), ('02', '生态控制区'), ('03', '农田保护区'), ('04', '城镇发展区'),
         ('05', '乡村发展区'), ('07', '矿产能源发展区')]


def _ll(geom_m):
    """Metres -> lon/lat for polygonal or linear geometry (vertex by vertex)."""
    if geom_m.geom_type == 'GeometryCollection':
        geom_m = MultiPolygon(polygons_of(geom_m))
    return map_geometry(geom_m, m2ll)


def _county_of(geom, counties):
    pt = geom.representative_point()
    for code, name, poly in counties:
        if poly.contains(pt):
            return code, name
    code, name, _ = min(counties, key=lambda c: c[2].distance(pt))
    return code, name


def _merge_slivers(pieces, min_area):
    """Fold pieces smaller than min_area into the neighbour they share the longest border with, so
    the partition keeps covering everything without slivers."""
    pieces = [[code, geom] for code, geom in pieces]
    stuck = set()
    while True:
        small = [i for i, (_, g) in enumerate(pieces) if g.area < min_area and id(g) not in stuck]
        if not small:
            break
        i = min(small, key=lambda k: (pieces[k][1].area, k))
        g = pieces[i][1]
        best, best_len = None, 0.0
        for j, (_, h) in enumerate(pieces):
            if j != i and h.envelope.intersects(g.envelope):
                shared = h.boundary.intersection(g.boundary).length
                if shared > best_len:
                    best, best_len = j, shared
        if best is None:
            if g.area < HA / 10000:          # numerical dust along the outline
                del pieces[i]
            else:
                stuck.add(id(g))
            continue
        pieces[best][1] = unary_union([pieces[best][1], g])
        del pieces[i]
    out = []
    for code, geom in pieces:
        out.extend((code, part) for part in polygons_of(geom))
    return out


def build_planning(L, versions, grid_info, seed):
    """All output geometries are lon/lat (EPSG:4490)."""
    rng = rng_for(seed, 'planning')
    v1 = versions['2023-01-01']
    counties = [(c['code'], c['name'], c['poly']) for c in v1['county']]
    outline = unary_union([c['poly'] for c in v1['county']])
    hills = _ll(L['hills']).intersection(outline)
    out = {}

    # ecological protection red line -----------------------------------------------------------
    red = []
    core = L['hills'].buffer(-2500)
    blobs = []
    for _ in range(16):
        minx, miny, maxx, maxy = core.bounds
        while True:
            q = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
            if core.contains(q):
                break
        blobs.append(blob((q.x, q.y), rng.uniform(5000, 9000), rng, n=32, roughness=0.25, aspect=rng.uniform(1.0, 1.5)))
    hill_red = _ll(unary_union(blobs).simplify(20)).intersection(hills)
    serial = {}
    for part in polygons_of(hill_red, min_area=100 * HA):
        code, cname = _county_of(part, counties)
        range_name = '桐柏山' if part.centroid.y < 32.75 else '伏牛山'
        kind = '水源涵养' if rng.random() < 0.6 else '水土保持'
        key = cname + range_name + kind
        serial[key] = serial.get(key, 0) + 1
        red.append(dict(STHXMC='%s%s%s生态保护红线（%d号片区）' % (cname, range_name, kind, serial[key]), LX=kind, geom=part))
    taken = hill_red
    for r in L['reservoirs'][:4]:
        g = _ll(r['poly'].buffer(700).simplify(20)).intersection(outline).difference(taken)
        for part in polygons_of(g, min_area=50 * HA):
            red.append(dict(STHXMC=r['name'] + '水源涵养生态保护红线', LX='水源涵养', geom=part))
        taken = taken.union(g)
    huai = next(r for r in L['rivers'] if r['name'] == '淮河')
    g = _ll(huai['line'].buffer(350).simplify(20)).intersection(outline).difference(taken)
    for k, part in enumerate(polygons_of(g, min_area=50 * HA)):
        red.append(dict(STHXMC='淮河湿地生物多样性维护生态保护红线（%d段）' % (k + 1), LX='生物多样性维护', geom=part))
    out['ecological_redline'] = red
    red_all = unary_union([r['geom'] for r in red])

    # urban development boundary ---------------------------------------------------------------
    ub = []
    for k, c in enumerate(COUNTIES):
        g = _ll(L['county_urban'][k].buffer(700, resolution=4).simplify(25)).intersection(outline).difference(red_all)
        g = max(polygons_of(g), key=lambda p: p.area)
        ub.append(dict(CZKFBJMC=c[1] + '城镇开发边界', XZQDM=c[0], geom=g))
    out['urban_boundary'] = ub
    ub_all = unary_union([u['geom'] for u in ub])

    # permanent basic farmland -----------------------------------------------------------------
    grids = [g['poly'] for g in v1['grid']]
    general = unary_union([grids[i] for i in sorted(rng.choice(len(grids), size=len(grids) // 8, replace=False))])
    excluded_m = unary_union([
        L['mines'].buffer(300, resolution=2), L['river_channels'].buffer(60, resolution=2),
        L['reservoirs_all'].buffer(100, resolution=2), L['ponds_all'].buffer(30, resolution=2),
        unary_union(L['town_urban']).buffer(250, resolution=2), L['centre_hamlets'],
        L['highways'].buffer(60, resolution=2)]).simplify(25)
    excluded = unary_union([_ll(excluded_m), ub_all, red_all, hills, general])
    farm = outline.difference(excluded)
    farm_p = prep(farm)
    bf = []
    for t in v1['town']:
        if not farm_p.intersects(t['poly']):
            continue
        pieces = polygons_of(t['poly'].intersection(farm), min_area=5 * HA)
        for k, piece in enumerate(sorted(pieces, key=lambda p: (-p.centroid.y, p.centroid.x))):
            bf.append(dict(JBNTBH='%s%04d' % (t['code'], k + 1), geom=piece))
    out['basic_farmland'] = bf
    bf_all = unary_union([b['geom'] for b in bf])

    # planned land-use zones: a partition of the city, by priority -----------------------------
    majors = unary_union([r['line'] for r in L['rivers'] if r['grade'] != '四级'])
    mines = _ll(L['mines'].buffer(300, resolution=2).simplify(25)).intersection(outline)
    control = unary_union([hills, _ll(unary_union([majors.buffer(200, resolution=2),
                                                   L['reservoirs_all'].buffer(200, resolution=2)]).simplify(60))])
    order = [('01', red_all), ('04', ub_all), ('07', mines), ('02', control.intersection(outline)),
             ('03', bf_all.simplify(60 * M))]
    done = None
    zone_geoms = {}
    for code, g in order:
        g = g if done is None else g.difference(done)
        zone_geoms[code] = g
        done = g if done is None else done.union(g)
    zone_geoms['05'] = outline.difference(done)
    names = dict(ZONES)
    lz = []
    for ccode, cname, cpoly in counties:
        pieces = []
        for code, _ in ZONES:
            pieces.extend([code, p] for p in polygons_of(zone_geoms[code].intersection(cpoly)))
        for code, part in _merge_slivers(pieces, 2 * HA):
            lz.append(dict(GHFQDM=code, GHFQMC=names[code], XZQDM=ccode, geom=part))
    out['landuse_zone'] = lz
    return out
