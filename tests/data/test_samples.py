#!/usr/bin/python3
"""Invariant tests for the onemap sample data set (data-samples/).

    /usr/bin/python3 tests/data/test_samples.py [DATA_DIR]

DATA_DIR defaults to the committed sample. Runs with Debian's Python (python3-gdal, python3-shapely
1.8, python3-pyproj, python3-numpy, python3-yaml). Prints one line per test and 'N passed, M failed';
exit status 0 only when every test passed. Expensive parcel checks look at a deterministic subset
when DATA_DIR holds a large (benchmark) parcel set; the determinism test regenerates the data with
the parcel count found in DATA_DIR and the default seed, and compares every file byte for byte.
"""
import hashlib
import json
import math
import os
import re
import struct
import subprocess
import sys
import tempfile
import traceback
import warnings

warnings.filterwarnings('ignore', message='.*STRtree will be changed.*')

import numpy as np  # noqa: E402
import pyproj  # noqa: E402
import yaml  # noqa: E402
from osgeo import gdal  # noqa: E402
from shapely import wkb as shapely_wkb  # noqa: E402
from shapely.geometry import Point  # noqa: E402
from shapely.ops import unary_union  # noqa: E402
from shapely.prepared import prep  # noqa: E402
from shapely.strtree import STRtree  # noqa: E402
from shapely.validation import explain_validity  # noqa: E402

gdal.UseExceptions()

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SAMPLE_DIR = os.path.join(REPO, 'data-samples')
GENERATOR = os.path.join(SAMPLE_DIR, 'generate.py')
DATA = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE_DIR

sys.path.insert(0, SAMPLE_DIR)
from generator.outline import outline_lonlat  # noqa: E402

DEFAULT_SEED = 20240701
VERSIONS = ['2023-01-01', '2024-07-01']
COUNTIES = {'411702': '驿城区', '411721': '西平县', '411722': '上蔡县', '411723': '平舆县', '411724': '正阳县',
            '411725': '确山县', '411726': '泌阳县', '411727': '汝南县', '411728': '遂平县', '411729': '新蔡县'}
BBOX = (113.10, 32.28, 115.22, 33.53)
BBOX_MARGIN = 0.05
AREA_TOL = 1e-10          # deg2, about 1 m2: "exactly shared" edges leave nothing bigger
DLMC = {
    '0101': '水田', '0102': '水浇地', '0103': '旱地', '0201': '果园', '0301': '乔木林地', '0305': '灌木林地',
    '0307': '其他林地', '0404': '其他草地', '05H1': '商业服务业设施用地', '0601': '工业用地', '0602': '采矿用地',
    '0701': '城镇住宅用地', '0702': '农村宅基地', '1003': '公路用地', '1006': '农村道路', '1101': '河流水面',
    '1103': '水库水面', '1104': '坑塘水面', '1107': '沟渠', '1202': '设施农用地',
}
FARMLAND = {'0101', '0102', '0103'}
BROKEN_BOWTIE = '4117029999900001'
BROKEN_RING_ORDER = '4117029999900002'
BROKEN_DUPLICATES = '4117029999900003'
BROKEN_NULL = '4117029999900004'
BROKEN_BSMS = {BROKEN_BOWTIE, BROKEN_RING_ORDER, BROKEN_DUPLICATES, BROKEN_NULL}
BROKEN_LINESTRING = '411702999990001'
MAX_SAMPLE_BYTES = 8 * 1024 * 1024
PARCEL_SUBSET = 20000      # geometry checks on at most this many parcels

TESTS = []


class Failure(Exception):
    pass


def test(name):
    def register(fn):
        TESTS.append((name, fn))
        return fn
    return register


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def path(*parts):
    return os.path.join(DATA, *parts)


_cache = {}


def read(rel, encoding=None):
    """[(fid, attributes, shapely geometry or None)] of a vector file, cached."""
    key = (rel, encoding)
    if key not in _cache:
        opts = ['ENCODING=' + encoding] if encoding else []
        ds = gdal.OpenEx(path(rel), gdal.OF_VECTOR, open_options=opts)
        layer = ds.GetLayer(0)
        rows = []
        for f in layer:
            g = f.GetGeometryRef()
            geom = shapely_wkb.loads(bytes(g.ExportToIsoWkb())) if g is not None else None
            rows.append((f.GetFID(), f.items(), geom))
        _cache[key] = rows
    return _cache[key]


def layer_info(rel, encoding=None):
    opts = ['ENCODING=' + encoding] if encoding else []
    ds = gdal.OpenEx(path(rel), gdal.OF_VECTOR, open_options=opts)
    layer = ds.GetLayer(0)
    return ds, layer


def epsg_of(layer):
    srs = layer.GetSpatialRef()
    check(srs is not None, 'layer has no spatial reference')
    matches = srs.FindMatches()
    check(matches, 'the .prj does not resolve to any EPSG code')
    best, confidence = matches[0]
    return int(best.GetAuthorityCode(None)), confidence


def shp_record(shp, fid):
    """(shape type, [ring point arrays]) of one record, read from the raw .shp/.shx bytes."""
    base = os.path.splitext(shp)[0]
    with open(base + '.shx', 'rb') as fh:
        fh.seek(100 + 8 * fid)
        offset, _ = struct.unpack('>ii', fh.read(8))
    with open(shp, 'rb') as fh:
        fh.seek(offset * 2 + 8)
        shape_type, = struct.unpack('<i', fh.read(4))
        if shape_type == 0:
            return 0, []
        fh.read(32)
        nparts, npoints = struct.unpack('<ii', fh.read(8))
        parts = list(struct.unpack('<%di' % nparts, fh.read(4 * nparts))) + [npoints]
        pts = np.frombuffer(fh.read(16 * npoints), dtype='<f8').reshape(npoints, 2)
        return shape_type, [pts[a:b] for a, b in zip(parts[:-1], parts[1:])]


def signed_area(ring):
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]))


def dltb(year, encoding='GBK'):
    return read('natural-resources/dltb_%s.shp' % year, encoding)


def subset(rows):
    if len(rows) <= PARCEL_SUBSET:
        return rows
    step = int(math.ceil(len(rows) / PARCEL_SUBSET))
    return rows[::step]


def grid_levels(version):
    return {lvl: read('grid/%s/%s.shp' % (version, lvl)) for lvl in ('county', 'town', 'village', 'grid')}


# ---------------------------------------------------------------------------------------------
# (1) grid hierarchy: codes, nesting, partition

CODE_FIELD = {'county': 'XZQDM', 'town': 'XZQDM', 'village': 'XZQDM', 'grid': 'WGBM'}
CODE_LEN = {'county': 6, 'town': 9, 'village': 12, 'grid': 15}
PARENT = {'town': 'county', 'village': 'town', 'grid': 'village'}


def _register_grid_tests(version):
    @test('grid %s: codes are 6/9/12/15 digits, unique, and extend their parent code' % version)
    def codes():
        levels = grid_levels(version)
        codes = {}
        for lvl, rows in levels.items():
            field = CODE_FIELD[lvl]
            vals = [a[field] for _, a, _ in rows]
            bad = [v for v in vals if not (isinstance(v, str) and v.isdigit() and len(v) == CODE_LEN[lvl])]
            check(not bad, '%s: %d codes are not %d-digit strings, e.g. %r' % (lvl, len(bad), CODE_LEN[lvl], bad[:3]))
            check(len(set(vals)) == len(vals), '%s: duplicate codes' % lvl)
            codes[lvl] = set(vals)
        check(codes['county'] == set(COUNTIES), 'county codes %s differ from GB/T 2260 %s' % (sorted(codes['county']), sorted(COUNTIES)))
        for lvl, parent in PARENT.items():
            for _, a, _ in levels[lvl]:
                code, sj = a[CODE_FIELD[lvl]], a['SJDM']
                check(sj in codes[parent], '%s %s: parent %s not in %s layer' % (lvl, code, sj, parent))
                check(code.startswith(sj), '%s %s does not start with its parent code %s' % (lvl, code, sj))
        counts = {lvl: len(rows) for lvl, rows in levels.items()}
        check(80 <= counts['town'] <= 110 and 500 <= counts['village'] <= 700 and 2000 <= counts['grid'] <= 2800,
              'unexpected sizes %s (want about 90 towns, 600 villages, 2400 grids)' % counts)

    @test('grid %s: every feature lies in exactly one parent (its SJDM) at every level' % version)
    def nesting():
        levels = grid_levels(version)
        for lvl, parent in PARENT.items():
            parents = levels[parent]
            by_code = {a[CODE_FIELD[parent]]: g for _, a, g in parents}
            geoms = [g for _, _, g in parents]
            codes = [a[CODE_FIELD[parent]] for _, a, _ in parents]
            tree = STRtree(geoms)
            index = {id(g): i for i, g in enumerate(geoms)}
            not_covered = 0
            for _, a, g in levels[lvl]:
                own = by_code[a['SJDM']]
                outside = g.difference(own).area
                check(outside <= AREA_TOL, '%s %s sticks out of its parent %s by %.3g deg2'
                      % (lvl, a[CODE_FIELD[lvl]], a['SJDM'], outside))
                not_covered += not own.covers(g)
                for other in tree.query(g):
                    code = codes[index[id(other)]]
                    if code == a['SJDM']:
                        continue
                    overlap = g.intersection(other).area
                    check(overlap <= AREA_TOL, '%s %s overlaps %s %s (not its parent) by %.3g deg2'
                          % (lvl, a[CODE_FIELD[lvl]], parent, code, overlap))
            check(not_covered == 0, '%d %s features are not covered (GEOS covers) by their parent' % (not_covered, lvl))

    @test('grid %s: each level is a gap-free, overlap-free partition of the city outline' % version)
    def partition():
        levels = grid_levels(version)
        outline = outline_lonlat(DEFAULT_SEED)
        unions = {}
        for lvl, rows in levels.items():
            geoms = [g for _, _, g in rows]
            invalid = [a[CODE_FIELD[lvl]] for _, a, g in rows if not g.is_valid]
            check(not invalid, '%s: invalid geometries %s' % (lvl, invalid[:5]))
            u = unary_union(geoms)
            total = sum(g.area for g in geoms)
            check(abs(total - u.area) <= 1e-9 * u.area, '%s: areas sum to %.9f but their union is %.9f deg2 (overlaps)'
                  % (lvl, total, u.area))
            check(u.geom_type == 'Polygon' and len(u.interiors) == 0,
                  '%s: union is a %s with %d holes (gaps)' % (lvl, u.geom_type, len(getattr(u, 'interiors', []))))
            unions[lvl] = u
        for lvl in ('town', 'village', 'grid'):
            diff = unions[lvl].symmetric_difference(unions['county']).area
            check(diff <= AREA_TOL, '%s union differs from county union by %.3g deg2' % (lvl, diff))
        diff = unions['grid'].symmetric_difference(outline).area
        check(diff <= 1e-6 * outline.area, 'union of grids differs from the city outline by %.3g deg2' % diff)
        check(unions['grid'].area > 1.4, 'the city is implausibly small (%.3f deg2)' % unions['grid'].area)

    @test('grid %s: parent polygons are exactly the union of their children' % version)
    def unions():
        levels = grid_levels(version)
        for lvl, parent in PARENT.items():
            children = {}
            for _, a, g in levels[lvl]:
                children.setdefault(a['SJDM'], []).append(g)
            for _, a, g in levels[parent]:
                code = a[CODE_FIELD[parent]]
                check(code in children, '%s %s has no %s' % (parent, code, lvl))
                diff = unary_union(children[code]).symmetric_difference(g).area
                check(diff <= AREA_TOL, '%s %s differs from the union of its %ss by %.3g deg2' % (parent, code, lvl, diff))


for _v in VERSIONS:
    _register_grid_tests(_v)


# ---------------------------------------------------------------------------------------------
# (2) the two grid versions

@test('grid versions: 2024-07-01 splits some grids, moves some to a neighbouring village, keeps the rest')
def versions_differ():
    old = {a['WGBM']: (a, g) for _, a, g in read('grid/2023-01-01/grid.shp')}
    new = {a['WGBM']: (a, g) for _, a, g in read('grid/2024-07-01/grid.shp')}
    kept = set(old) & set(new)
    for code in kept:
        (a1, g1), (a2, g2) = old[code], new[code]
        check(a1 == a2, 'grid %s kept its code but changed attributes %s -> %s' % (code, a1, a2))
        check(g1.wkb == g2.wkb, 'grid %s kept its code but its geometry changed' % code)
    retired = sorted(set(old) - kept)
    added = sorted(set(new) - kept)
    check(retired and added, 'the second version has no changed grids')
    added_geoms = [new[c][1] for c in added]
    tree = STRtree(added_geoms)
    index = {id(g): c for g, c in zip(added_geoms, added)}
    splits = moves = 0
    for code in retired:
        a, g = old[code]
        hits = [index[id(h)] for h in tree.query(g) if h.intersection(g).area > 0.01 * g.area]
        if len(hits) == 1 and new[hits[0]][1].equals(g):
            check(new[hits[0]][0]['SJDM'] != a['SJDM'], 'grid %s got a new code but stayed in village %s' % (code, a['SJDM']))
            moves += 1
        elif len(hits) == 2 and unary_union([new[h][1] for h in hits]).symmetric_difference(g).area <= AREA_TOL:
            check(all(new[h][0]['SJDM'] == a['SJDM'] for h in hits), 'split grid %s changed village' % code)
            splits += 1
        else:
            raise Failure('retired grid %s is neither split in two nor moved (matches %s)' % (code, hits))
    check(splits >= 5 and moves >= 10, 'expected about 10 splits and a few dozen moves, got %d and %d' % (splits, moves))
    check(len(added) == 2 * splits + moves, 'added grids (%d) are not explained by %d splits and %d moves'
          % (len(added), splits, moves))
    vold = {a['XZQDM']: g for _, a, g in read('grid/2023-01-01/village.shp')}
    vnew = {a['XZQDM']: g for _, a, g in read('grid/2024-07-01/village.shp')}
    changed = [c for c in vold if vold[c].symmetric_difference(vnew[c]).area > AREA_TOL]
    check(len(changed) >= moves, 'only %d village boundaries changed for %d moved grids' % (len(changed), moves))


# ---------------------------------------------------------------------------------------------
# (3) GBK text

@test('encoding: grid, water and county shapefiles carry a GBK .cpg and read back as Chinese')
def gbk_with_cpg():
    for rel in ['grid/%s/%s.cpg' % (v, l) for v in VERSIONS for l in ('county', 'town', 'village', 'grid')] + \
               ['water/river.cpg', 'water/reservoir.cpg', 'water/function_zone.cpg']:
        with open(path(rel), 'rb') as fh:
            check(fh.read().strip() == b'GBK', '%s does not say GBK' % rel)
    for v in VERSIONS:
        rows = read('grid/%s/county.shp' % v)
        names = {a['XZQDM']: a['XZQMC'] for _, a, _ in rows}
        check(names == COUNTIES, 'county names read as %s' % names)
        _, layer = layer_info('grid/%s/county.shp' % v)
        check(layer.GetMetadata('SHAPEFILE').get('SOURCE_ENCODING') == 'GBK', 'GDAL did not take GBK from the .cpg')
    rivers = {a['HYMC'] for _, a, _ in read('water/river.shp')}
    check({'淮河', '洪河', '汝河'} <= rivers, 'river names read as %s' % sorted(rivers)[:5])
    raw = open(path('grid/2023-01-01/county.dbf'), 'rb').read()
    check('驿城区'.encode('gbk') in raw and '驿城区'.encode('utf-8') not in raw, 'county.dbf text is not GBK bytes')


@test('encoding: dltb has no .cpg and LDID 0, so only ENCODING=GBK gives Chinese')
def gbk_without_cpg():
    for year in ('2022', '2023'):
        base = path('natural-resources', 'dltb_%s' % year)
        check(not os.path.exists(base + '.cpg'), 'dltb_%s.cpg exists' % year)
        with open(base + '.dbf', 'rb') as fh:
            check(fh.read(30)[29] == 0, 'dltb_%s.dbf LDID byte is not 0' % year)
        plain = dltb(year, encoding=None)
        plain_names = {a['DLMC'] for _, a, _ in plain[:5000]}
        check(not any('旱地' == n or '地' in n for n in plain_names),
              'dltb_%s without ENCODING already reads Chinese: %s' % (year, sorted(plain_names)[:3]))
        _, layer = layer_info('natural-resources/dltb_%s.shp' % year)
        md = layer.GetMetadata('SHAPEFILE')
        check(md.get('SOURCE_ENCODING', '') in ('', 'ISO-8859-1'), 'GDAL detected an encoding: %s' % md)
        gbk = dltb(year)
        names = {a['DLMC'] for _, a, _ in gbk}
        check('旱地' in names, 'dltb_%s with ENCODING=GBK has no 旱地 (got %s)' % (year, sorted(names)[:5]))
        check(names <= set(DLMC.values()), 'unknown DLMC values %s' % sorted(names - set(DLMC.values())))
        raw = open(base + '.dbf', 'rb').read(200000)
        check('旱地'.encode('gbk') in raw, 'dltb_%s.dbf holds no GBK bytes for 旱地' % year)


# ---------------------------------------------------------------------------------------------
# (4) CRSs

@test('crs: dltb is EPSG:4547 with 6-digit eastings around 500000')
def crs_dltb():
    for year in ('2022', '2023'):
        _, layer = layer_info('natural-resources/dltb_%s.shp' % year, 'GBK')
        code, conf = epsg_of(layer)
        check(code == 4547 and conf >= 90, 'dltb_%s .prj resolves to EPSG:%d (confidence %d)' % (year, code, conf))
        minx, maxx, miny, maxy = layer.GetExtent()
        check(300000 < minx and maxx < 700000, 'eastings %.0f..%.0f are not 6-digit around 500000' % (minx, maxx))
        check(3_500_000 < miny and maxy < 3_750_000, 'northings %.0f..%.0f are not at 32-34N' % (miny, maxy))


@test('crs: water layers are EPSG:4526 with zone-prefixed eastings 38xxxxxx')
def crs_water():
    for name in ('river', 'reservoir', 'function_zone'):
        _, layer = layer_info('water/%s.shp' % name)
        code, conf = epsg_of(layer)
        check(code == 4526 and conf >= 90, 'water/%s .prj resolves to EPSG:%d (confidence %d)' % (name, code, conf))
        minx, maxx, miny, maxy = layer.GetExtent()
        check(38_300_000 < minx and maxx < 38_700_000 and str(int(minx)).startswith('38'),
              'water/%s eastings %.0f..%.0f do not start with zone 38' % (name, minx, maxx))


@test('crs: grid layers are EPSG:4490 with lon/lat inside the Zhumadian bbox')
def crs_grid():
    for v in VERSIONS:
        for lvl in ('county', 'town', 'village', 'grid'):
            _, layer = layer_info('grid/%s/%s.shp' % (v, lvl))
            code, conf = epsg_of(layer)
            check(code == 4490 and conf >= 90, 'grid/%s/%s resolves to EPSG:%d' % (v, lvl, code))
            minx, maxx, miny, maxy = layer.GetExtent()
            check(BBOX[0] - BBOX_MARGIN <= minx and maxx <= BBOX[2] + BBOX_MARGIN and
                  BBOX[1] - BBOX_MARGIN <= miny and maxy <= BBOX[3] + BBOX_MARGIN,
                  'grid/%s/%s extent %.3f..%.3f E, %.3f..%.3f N is outside the bbox' % (v, lvl, minx, maxx, miny, maxy))


@test('crs: GeoJSON files declare EPSG:4490 and store lon/lat order')
def crs_geojson():
    for name in ('ecological_redline', 'basic_farmland', 'urban_boundary', 'landuse_zone'):
        with open(path('planning', name + '.geojson'), encoding='utf-8') as fh:
            doc = json.load(fh)
        crs = doc.get('crs', {}).get('properties', {}).get('name', '')
        check(re.fullmatch(r'(urn:ogc:def:crs:)?EPSG:+4490', crs), '%s crs member is %r' % (name, crs))
        check(doc['features'], '%s has no features' % name)
        for feat in doc['features'][:50]:
            coords = feat['geometry']['coordinates']
            while isinstance(coords[0], list):
                coords = coords[0]
            lon, lat = coords
            check(BBOX[0] - BBOX_MARGIN <= lon <= BBOX[2] + BBOX_MARGIN and BBOX[1] - BBOX_MARGIN <= lat <= BBOX[3] + BBOX_MARGIN,
                  '%s: coordinate %s is not lon/lat inside the bbox' % (name, (lon, lat)))


# ---------------------------------------------------------------------------------------------
# (5) deliberately broken features

def _dltb_feature(bsm, year='2022'):
    hits = [(fid, a, g) for fid, a, g in dltb(year) if a['BSM'] == bsm]
    check(len(hits) == 1, 'dltb_%s has %d features with BSM %s' % (year, len(hits), bsm))
    return hits[0]


@test('broken: bow-tie polygon BSM 4117029999900001 is self-intersecting')
def broken_bowtie():
    _, _, g = _dltb_feature(BROKEN_BOWTIE)
    check(g is not None and not g.is_valid, 'the bow-tie is valid')
    check('Self-intersection' in explain_validity(g) or 'Ring Self-intersection' in explain_validity(g),
          'GEOS says %s' % explain_validity(g))


@test('broken: BSM 4117029999900002 has a counter-clockwise exterior and clockwise hole in the raw .shp')
def broken_ring_order():
    fid, _, g = _dltb_feature(BROKEN_RING_ORDER)
    shape_type, rings = shp_record(path('natural-resources', 'dltb_2022.shp'), fid)
    check(shape_type == 5 and len(rings) == 2, 'record is type %d with %d rings' % (shape_type, len(rings)))
    check(signed_area(rings[0]) > 0, 'exterior ring is clockwise (correct), expected counter-clockwise')
    check(signed_area(rings[1]) < 0, 'hole is counter-clockwise (correct), expected clockwise')
    check(abs(signed_area(rings[0])) > abs(signed_area(rings[1])), 'the first ring is not the larger one')
    # every normal record is written the right way round
    for fid2, a, _ in subset(dltb('2022'))[:500]:
        if a['BSM'] in BROKEN_BSMS:
            continue
        _, r = shp_record(path('natural-resources', 'dltb_2022.shp'), fid2)
        check(signed_area(r[0]) < 0, 'parcel %s has a counter-clockwise exterior too' % a['BSM'])


@test('broken: BSM 4117029999900003 has a run of duplicate consecutive vertices')
def broken_duplicates():
    fid, _, _ = _dltb_feature(BROKEN_DUPLICATES)
    _, rings = shp_record(path('natural-resources', 'dltb_2022.shp'), fid)
    pts = rings[0]
    dups = int(np.sum(np.all(pts[1:] == pts[:-1], axis=1)))
    check(dups >= 2, 'only %d repeated consecutive vertices' % dups)
    clean = 0
    for fid2, a, _ in subset(dltb('2022'))[:500]:
        if a['BSM'] in BROKEN_BSMS:
            continue
        _, r = shp_record(path('natural-resources', 'dltb_2022.shp'), fid2)
        clean += int(np.sum(np.all(r[0][1:] == r[0][:-1], axis=1))) == 0
    check(clean >= 495, 'duplicate vertices are not limited to the broken feature')


@test('broken: BSM 4117029999900004 has an empty (null) geometry')
def broken_null():
    fid, _, g = _dltb_feature(BROKEN_NULL)
    check(g is None, 'geometry is not null')
    shape_type, _ = shp_record(path('natural-resources', 'dltb_2022.shp'), fid)
    check(shape_type == 0, 'raw .shp record type is %d, not 0 (null shape)' % shape_type)
    nulls = [a['BSM'] for _, a, g in dltb('2022') if g is None]
    check(nulls == [BROKEN_NULL], 'null geometries: %s' % nulls[:5])


@test('broken: basic_farmland.geojson has exactly one LineString (JBNTBH 411702999990001)')
def broken_linestring():
    with open(path('planning', 'basic_farmland.geojson'), encoding='utf-8') as fh:
        feats = json.load(fh)['features']
    kinds = {}
    for f in feats:
        kinds.setdefault(f['geometry']['type'], []).append(f['properties']['JBNTBH'])
    check(kinds.get('LineString') == [BROKEN_LINESTRING], 'LineStrings: %s' % kinds.get('LineString'))
    check(set(kinds) == {'Polygon', 'LineString'}, 'geometry types %s' % sorted(kinds))


@test('broken: the broken features exist only where documented; everything else is valid')
def rest_is_valid():
    for year in ('2022', '2023'):
        bad = []
        for _, a, g in subset(dltb(year)):
            if a['BSM'] in BROKEN_BSMS:
                check(year == '2022', 'broken feature %s also in dltb_2023' % a['BSM'])
                continue
            if g is None or g.geom_type != 'Polygon' or not g.is_valid:
                bad.append(a['BSM'])
        check(not bad, 'dltb_%s: invalid parcels %s' % (year, bad[:5]))
    present = {a['BSM'] for _, a, _ in dltb('2022')} & BROKEN_BSMS
    check(present == BROKEN_BSMS, 'dltb_2022 lacks broken features %s' % sorted(BROKEN_BSMS - present))
    for rel in ['water/reservoir.shp', 'water/function_zone.shp'] + \
               ['planning/%s.geojson' % n for n in ('ecological_redline', 'urban_boundary', 'landuse_zone')]:
        bad = [fid for fid, _, g in read(rel) if g is None or g.geom_type not in ('Polygon', 'MultiPolygon') or not g.is_valid]
        check(not bad, '%s: invalid or non-polygon features %s' % (rel, bad[:5]))
    bad = [a['JBNTBH'] for _, a, g in read('planning/basic_farmland.geojson')
           if a['JBNTBH'] != BROKEN_LINESTRING and (g.geom_type != 'Polygon' or not g.is_valid)]
    check(not bad, 'basic_farmland: invalid polygons %s' % bad[:5])
    bad = [fid for fid, _, g in read('water/river.shp') if g is None or g.geom_type != 'LineString' or not g.is_simple]
    check(not bad, 'river: non-simple or non-line features %s' % bad)


# ---------------------------------------------------------------------------------------------
# parcels, water and planning content

@test('dltb: BSM/TBBH/QSDWDM/ZLDWDM are well formed, BSM unique and stable between years')
def dltb_fields():
    villages = {a['XZQDM']: a['XZQMC'] for _, a, _ in read('grid/2023-01-01/village.shp')}
    rows = {}
    for year in ('2022', '2023'):
        seen = set()
        tbbh = set()
        for _, a, _ in dltb(year):
            b = a['BSM']
            check(len(b) == 16 and b.isdigit() and b[:6] in COUNTIES, 'bad BSM %r' % b)
            check(b not in seen, 'duplicate BSM %s in %s' % (b, year))
            seen.add(b)
            check(len(a['QSDWDM']) == 19 and a['QSDWDM'].endswith('0000000') and a['QSDWDM'][:12] in villages,
                  'bad QSDWDM %r' % a['QSDWDM'])
            check(a['QSDWMC'] == villages[a['QSDWDM'][:12]], 'QSDWMC %s is not the name of %s' % (a['QSDWMC'], a['QSDWDM']))
            check(a['ZLDWDM'] == a['QSDWDM'] and a['ZLDWMC'] == a['QSDWMC'], 'ZLDW differs from QSDW for %s' % b)
            check(b[:6] == a['QSDWDM'][:6] or b in BROKEN_BSMS, 'BSM %s county differs from village %s' % (b, a['QSDWDM']))
            check(DLMC.get(a['DLBM']) == a['DLMC'], 'DLBM %s with DLMC %s' % (a['DLBM'], a['DLMC']))
            key = (a['QSDWDM'], a['TBBH'])
            check(a['TBBH'].isdigit() and key not in tbbh, 'TBBH %s repeats in %s' % (a['TBBH'], a['QSDWDM']))
            tbbh.add(key)
        rows[year] = seen
    check(rows['2022'] - BROKEN_BSMS == rows['2023'], 'the BSM sets of 2022 and 2023 differ')
    g22 = {a['BSM']: g for _, a, g in subset(dltb('2022'))}
    for _, a, g in subset(dltb('2023')):
        if a['BSM'] in g22:
            check(g22[a['BSM']].wkb == g.wkb, 'parcel %s geometry differs between years' % a['BSM'])


@test('dltb: TBMJ is the GRS80 ellipsoidal area of the parcel to 0.01 m2')
def dltb_area():
    geod = pyproj.Geod(ellps='GRS80')
    tr = pyproj.Transformer.from_crs(4547, 4490, always_xy=True)
    worst = 0.0
    for _, a, g in subset(dltb('2022')):
        if a['BSM'] in BROKEN_BSMS:
            continue
        x, y = np.asarray(g.exterior.coords).T
        lon, lat = tr.transform(x, y)
        area = abs(geod.polygon_area_perimeter(lon, lat)[0])
        worst = max(worst, abs(area - a['TBMJ']))
    check(worst <= 0.0051, 'TBMJ differs from the ellipsoidal area by up to %.4f m2' % worst)


@test('dltb: parcels tessellate without overlaps or holes and have about 20 vertices')
def dltb_tessellation():
    rows = [(a, g) for _, a, g in dltb('2023')]
    check(len(rows) >= 10, 'too few parcels')
    nverts = np.array([len(g.exterior.coords) - 1 for _, g in subset(rows)])
    check(np.all((nverts >= 16) & (nverts <= 24)), 'vertex counts range %d..%d' % (nverts.min(), nverts.max()))
    if len(rows) <= PARCEL_SUBSET:
        geoms = [g for _, g in rows]
        u = unary_union(geoms)
        total = sum(g.area for g in geoms)
        check(abs(total - u.area) <= 1e-6 * total, 'parcel areas sum to %.0f but cover %.0f m2 (overlaps)' % (total, u.area))
        holes = sum(len(p.interiors) for p in getattr(u, 'geoms', [u]))
        check(holes == 0, 'the parcel tessellation has %d holes' % holes)
        outline = outline_lonlat(DEFAULT_SEED)
        tr = pyproj.Transformer.from_crs(4490, 4547, always_xy=True)
        x, y = tr.transform(*np.asarray(outline.exterior.coords).T)
        from shapely.geometry import Polygon
        o = Polygon(np.stack([x, y], axis=-1))
        check(abs(u.area - o.area) < 0.02 * o.area, 'parcels cover %.0f km2, the city %.0f km2' % (u.area / 1e6, o.area / 1e6))


@test('dltb: land classes are plausible and about 3% change between 2022 and 2023')
def dltb_classes():
    c22 = {a['BSM']: (a['DLBM'], a['TBMJ']) for _, a, _ in dltb('2022') if a['BSM'] not in BROKEN_BSMS}
    c23 = {a['BSM']: a['DLBM'] for _, a, _ in dltb('2023')}
    total = sum(t for _, t in c22.values())
    share = {}
    for code, area in c22.values():
        share[code] = share.get(code, 0.0) + area / total
    farmland = sum(share.get(c, 0) for c in FARMLAND)
    check(farmland > 0.5, 'farmland is only %.1f%% of the area' % (100 * farmland))
    check(share.get('0103', 0) > share.get('0101', 0) > 0, 'dry land should dominate paddy: %s' % share)
    for code in ('0301', '0702', '0701', '1103'):
        check(share.get(code, 0) > 0.002, 'class %s is (almost) missing: %.3f%%' % (code, 100 * share.get(code, 0)))
    changed = [(c22[b][0], c23[b]) for b in c22 if c22[b][0] != c23[b]]
    rate = len(changed) / len(c22)
    check(0.02 <= rate <= 0.04, '%.2f%% of parcels changed class' % (100 * rate))
    to_built = sum(1 for a, b in changed if a in FARMLAND and b in ('0601', '0701', '05H1', '0702'))
    check(to_built > len(changed) / 3, 'only %d of %d changes are farmland to construction' % (to_built, len(changed)))


@test('dltb: parcel centres lie in the village named by QSDWDM')
def dltb_villages():
    villages = {a['XZQDM']: prep(g) for _, a, g in read('grid/2023-01-01/village.shp')}
    tr = pyproj.Transformer.from_crs(4547, 4490, always_xy=True)
    rows = [(a, g) for _, a, g in subset(dltb('2023'))]
    c = np.array([g.centroid.coords[0] for _, g in rows])
    lon, lat = tr.transform(c[:, 0], c[:, 1])
    miss = sum(not villages[a['QSDWDM'][:12]].contains(Point(x, y)) for (a, _), x, y in zip(rows, lon, lat))
    check(miss <= 0.03 * len(rows), '%d of %d parcel centres are outside their QSDWDM village' % (miss, len(rows)))


@test('water: named rivers, the four big reservoirs and function zones are present and consistent')
def water_content():
    rivers = {a['HYMC']: (a, g) for _, a, g in read('water/river.shp')}
    for name in ('淮河', '洪河', '汝河', '小洪河', '北汝河', '臻头河', '练江河'):
        check(name in rivers, 'river %s missing' % name)
    check(rivers['淮河'][0]['HLDJ'] == '一级', '淮河 grade is %s' % rivers['淮河'][0]['HLDJ'])
    check(len(rivers) >= 20, 'only %d rivers' % len(rivers))
    geod = pyproj.Geod(ellps='GRS80')
    tr = pyproj.Transformer.from_crs(4526, 4490, always_xy=True)
    for name, (a, g) in rivers.items():
        lon, lat = tr.transform(*np.asarray(g.coords).T)
        length = geod.line_length(lon, lat)
        check(abs(length - a['CD']) < 1.0, '%s CD %.2f but the line is %.2f m long' % (name, a['CD'], length))
    res = {a['SKMC']: a for _, a, _ in read('water/reservoir.shp')}
    for name in ('宿鸭湖水库', '板桥水库', '薄山水库', '宋家场水库'):
        check(name in res and res[name]['LX'] == '大型水库', 'reservoir %s missing or not 大型水库' % name)
    kinds = {a['LX'] for a in res.values()}
    check({'大型水库', '中型水库', '坑塘'} <= kinds, 'reservoir types %s' % kinds)
    zones = read('water/function_zone.shp')
    check({a['GNQLX'] for _, a, _ in zones} >= {'保护区', '开发利用区', '保留区'}, 'function zone types missing')
    check({a['SZMB'] for _, a, _ in zones} <= {'I', 'II', 'III', 'IV', 'V'}, 'bad SZMB values')
    u = unary_union([g for _, _, g in zones])
    check(abs(u.area - sum(g.area for _, _, g in zones)) < 1.0, 'water function zones overlap')


@test('planning: the three control lines do not overlap and match the parcels plausibly')
def planning_overlay():
    red = unary_union([g for _, _, g in read('planning/ecological_redline.geojson')])
    ub = unary_union([g for _, _, g in read('planning/urban_boundary.geojson')])
    bf_rows = [(a, g) for _, a, g in read('planning/basic_farmland.geojson') if g.geom_type == 'Polygon']
    bf = unary_union([g for _, g in bf_rows])
    check(red.intersection(ub).area < 1e-8, 'urban development boundary overlaps the ecological red line')
    check(red.intersection(bf).area < 1e-8, 'basic farmland overlaps the ecological red line')
    check(ub.intersection(bf).area < 1e-8, 'basic farmland overlaps the urban development boundary')
    codes = [a['XZQDM'] for _, a, _ in read('planning/urban_boundary.geojson')]
    check(sorted(codes) == sorted(COUNTIES), 'urban boundaries per county: %s' % codes)
    ids = [a['JBNTBH'] for a, _ in bf_rows]
    check(len(set(ids)) == len(ids) and all(i.isdigit() for i in ids), 'JBNTBH values are not unique digit strings')
    tr = pyproj.Transformer.from_crs(4547, 4490, always_xy=True)
    rows = [(a, g) for _, a, g in subset(dltb('2022')) if g is not None and a['BSM'] not in BROKEN_BSMS]
    c = np.array([g.centroid.coords[0] for _, g in rows])
    lon, lat = tr.transform(c[:, 0], c[:, 1])
    bf_p, ub_p, red_p = prep(bf), prep(ub), prep(red)
    farm = [bf_p.contains(Point(x, y)) for (a, _), x, y in zip(rows, lon, lat) if a['DLBM'] in FARMLAND]
    check(np.mean(farm) > 0.6, 'only %.0f%% of farmland parcels are in basic farmland' % (100 * np.mean(farm)))
    built = [ub_p.contains(Point(x, y)) for (a, _), x, y in zip(rows, lon, lat) if a['DLBM'] in ('0601', '05H1', '0701')]
    check(built and np.mean(built) > 0.3, 'only %.0f%% of urban construction parcels are inside the urban boundary'
          % (100 * np.mean(built or [0])))
    forest = [red_p.contains(Point(x, y)) for (a, _), x, y in zip(rows, lon, lat) if a['DLBM'] in ('0301', '0305', '0307')]
    check(forest and np.mean(forest) > 0.2, 'only %.0f%% of forest parcels are in the red line' % (100 * np.mean(forest or [0])))


@test('planning: land-use zones partition the city (no gaps, no overlaps)')
def landuse_partition():
    rows = read('planning/landuse_zone.geojson')
    geoms = [g for _, _, g in rows]
    u = unary_union(geoms)
    total = sum(g.area for g in geoms)
    outline = outline_lonlat(DEFAULT_SEED)
    check(abs(total - u.area) <= 1e-6 * u.area, 'zones overlap: sum %.6f vs union %.6f deg2' % (total, u.area))
    check(u.symmetric_difference(outline).area <= 1e-5 * outline.area, 'zones do not cover the city outline')
    kinds = {a['GHFQMC'] for _, a, _ in rows}
    check({'生态保护区', '农田保护区', '城镇发展区', '乡村发展区'} <= kinds, 'zone types %s' % kinds)


# ---------------------------------------------------------------------------------------------
# manifest, README, size, determinism

def data_files():
    out = []
    for root, dirs, files in os.walk(DATA):
        rel_root = os.path.relpath(root, DATA)
        if rel_root.split(os.sep)[0] in ('generator', '__pycache__'):
            continue
        for f in files:
            rel = os.path.normpath(os.path.join(rel_root, f))
            if rel in ('README.md', 'generate.py', '.gitignore') or '__pycache__' in rel:
                continue
            out.append(rel)
    return sorted(out)


@test('manifest: one well-formed entry per delivered file, ids are integer-valued and unique')
def manifest():
    with open(path('manifest.yaml'), encoding='utf-8') as fh:
        doc = yaml.safe_load(fh)
    entries = doc['layers']
    files = [e['file'] for e in entries]
    delivered = sorted(f for f in data_files() if f.endswith(('.shp', '.geojson')))
    check(sorted(files) == delivered, 'manifest files %s != delivered %s' % (sorted(set(files) ^ set(delivered)), ''))
    layers = {}
    for e in entries:
        for key in ('file', 'layer', 'title', 'department', 'theme', 'valid_from'):
            check(e.get(key), '%s: missing %s' % (e.get('file'), key))
        check(re.fullmatch(r'[a-z][a-z0-9_]*', e['layer']), 'layer name %r is not lowercase ascii' % e['layer'])
        check(e['theme'] in ('grid', 'natural-resource', 'water', 'planning'), 'theme %r' % e['theme'])
        check(re.fullmatch(r'\d{4}-\d{2}-\d{2}', str(e['valid_from'])), 'valid_from %r' % e['valid_from'])
        layers.setdefault(e['layer'], []).append(str(e['valid_from']))
        has_cpg = os.path.exists(path(os.path.splitext(e['file'])[0] + '.cpg'))
        if e['file'].endswith('.shp') and not has_cpg:
            check(e.get('encoding') == 'GBK', '%s has no .cpg but the manifest gives no encoding' % e['file'])
        else:
            check('encoding' not in e, '%s: encoding given where the file declares it' % e['file'])
        if e.get('id_field'):
            enc = e.get('encoding')
            vals = [a.get(e['id_field']) for _, a, _ in read(e['file'], enc)]
            check(all(isinstance(v, str) and v.isdigit() for v in vals), '%s: %s is not integer-valued' % (e['file'], e['id_field']))
            check(len(set(vals)) == len(vals), '%s: %s is not unique' % (e['file'], e['id_field']))
            check(max(int(v) for v in vals) < 2 ** 63, '%s: %s does not fit 64 bits' % (e['file'], e['id_field']))
    expected = {'admin_county': VERSIONS, 'admin_town': VERSIONS, 'admin_village': VERSIONS, 'grid': VERSIONS,
                'dltb': ['2022-12-31', '2023-12-31'], 'river': ['2023-01-01'], 'reservoir': ['2023-01-01'],
                'water_function_zone': ['2023-01-01'], 'ecological_redline': ['2023-01-01'],
                'basic_farmland': ['2023-01-01'], 'urban_boundary': ['2023-01-01'], 'landuse_zone': ['2023-01-01']}
    check({k: sorted(v) for k, v in layers.items()} == expected, 'layers/versions %s' % layers)


@test('readme: documents every delivered file and every broken feature')
def readme():
    readme_path = os.path.join(SAMPLE_DIR, 'README.md')
    check(os.path.exists(readme_path), 'data-samples/README.md is missing')
    text = open(readme_path, encoding='utf-8').read()
    for f in data_files():
        if f.endswith(('.shp', '.geojson', '.yaml')):
            check(f in text, 'README does not mention %s' % f)
    for ident in sorted(BROKEN_BSMS) + [BROKEN_LINESTRING]:
        check(ident in text, 'README does not list broken feature %s' % ident)


@test('size: the committed sample stays under 8 MB')
def size():
    total = 0
    for root, _, files in os.walk(SAMPLE_DIR):
        if '__pycache__' in root:
            continue
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    check(total < MAX_SAMPLE_BYTES, 'data-samples/ is %.2f MB' % (total / 2 ** 20))


def sha256(p):
    h = hashlib.sha256()
    with open(p, 'rb') as fh:
        for block in iter(lambda: fh.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


@test('determinism: the generator reproduces every file byte for byte')
def determinism():
    n = len(dltb('2023', encoding=None))
    with tempfile.TemporaryDirectory(prefix='onemap-samples-') as tmp:
        proc = subprocess.run([sys.executable, GENERATOR, '--out', tmp, '--parcels', str(n), '--seed', str(DEFAULT_SEED)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        check(proc.returncode == 0, 'generator failed:\n' + proc.stdout.decode('utf-8', 'replace')[-2000:])
        made = []
        for root, _, files in os.walk(tmp):
            made.extend(os.path.relpath(os.path.join(root, f), tmp) for f in files)
        made = sorted(made)
        have = data_files()
        check(made == have, 'file lists differ: only generated %s, only in data %s'
              % (sorted(set(made) - set(have)), sorted(set(have) - set(made))))
        differ = [f for f in made if sha256(os.path.join(tmp, f)) != sha256(path(f))]
        check(not differ, 'files differ from a fresh run: %s' % differ)


def main():
    print('data: %s' % DATA)
    passed = failed = 0
    for name, fn in TESTS:
        try:
            fn()
        except Failure as e:
            failed += 1
            print('FAIL %s\n     %s' % (name, e))
        except Exception:
            failed += 1
            print('FAIL %s (error)\n%s' % (name, traceback.format_exc()))
        else:
            passed += 1
            print('PASS %s' % name)
        sys.stdout.flush()
    print('%d passed, %d failed' % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
