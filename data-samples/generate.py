#!/usr/bin/python3
"""Generate the fictional Zhumadian "one map" sample, as city departments would deliver it.

    /usr/bin/python3 data-samples/generate.py                      # rewrite the committed sample
    /usr/bin/python3 data-samples/generate.py --out DIR [--parcels N] [--seed S]

Needs Debian's Python with python3-gdal, python3-shapely (1.8), python3-pyproj and python3-numpy.
The same seed and parcel count give byte-identical files (on the same GDAL/GEOS/PROJ stack).
Everything except the parcels is independent of --parcels.
"""
import argparse
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import warnings  # noqa: E402

warnings.filterwarnings('ignore', message='.*STRtree will be changed.*')

import numpy as np  # noqa: E402
from osgeo import ogr  # noqa: E402
from shapely.geometry import LineString, Polygon  # noqa: E402

from generator import parcels as parcel_mod  # noqa: E402
from generator.common import (EPSG_GEO, EPSG_GK, EPSG_ZONE38, geod_area, geod_polygon_area, ll2m,  # noqa: E402
                              m2ll, m2zone38, map_geometry, rounder)
from generator.grid import build_hierarchy  # noqa: E402
from generator.landscape import build_landscape  # noqa: E402
from generator.outline import build_outline  # noqa: E402
from generator.planning import build_planning  # noqa: E402
from generator.water import build_water, counties_in_metres  # noqa: E402
from generator.writers import R, S, polygon_wkb, reverse_rings_in_place, write_geojson, write_shapefile  # noqa: E402

DEFAULT_SEED = 20240701
DEFAULT_PARCELS = 2000
OUTPUT_DIRS = ['grid', 'natural-resources', 'water', 'planning']
GRID_VERSIONS = ['2023-01-01', '2024-07-01']

GRID_LAYERS = [
    ('county', 'admin_county', '县级行政区', 'XZQDM',
     [('XZQDM', S, 6, 0), ('XZQMC', S, 40, 0)], lambda r: (r['code'], r['name'])),
    ('town', 'admin_town', '乡级行政区（乡镇、街道）', 'XZQDM',
     [('XZQDM', S, 9, 0), ('XZQMC', S, 40, 0), ('SJDM', S, 6, 0)], lambda r: (r['code'], r['name'], r['parent'])),
    ('village', 'admin_village', '村级行政区（村、社区）', 'XZQDM',
     [('XZQDM', S, 12, 0), ('XZQMC', S, 40, 0), ('SJDM', S, 9, 0)], lambda r: (r['code'], r['name'], r['parent'])),
    ('grid', 'grid', '网格', 'WGBM',
     [('WGBM', S, 15, 0), ('WGMC', S, 60, 0), ('SJDM', S, 12, 0)], lambda r: (r['code'], r['name'], r['parent'])),
]
DLTB_FIELDS = [('BSM', S, 16, 0), ('TBBH', S, 8, 0), ('DLBM', S, 5, 0), ('DLMC', S, 20, 0),
               ('QSDWDM', S, 19, 0), ('QSDWMC', S, 30, 0), ('ZLDWDM', S, 19, 0), ('ZLDWMC', S, 30, 0),
               ('TBMJ', R, 15, 2)]
# Deliberately broken extra features in dltb_2022 (documented in README.md).
BROKEN_BOWTIE = '4117029999900001'
BROKEN_RING_ORDER = '4117029999900002'
BROKEN_DUPLICATES = '4117029999900003'
BROKEN_NULL = '4117029999900004'
BROKEN_LINESTRING_JBNTBH = '411702999990001'


def log(msg, t0=[time.time()]):
    print('[%6.1fs] %s' % (time.time() - t0[0], msg), file=sys.stderr, flush=True)


def wkb_of(geom, fn):
    return map_geometry(geom, fn).wkb


# ---------------------------------------------------------------------------------------------

def write_grids(out, versions):
    counts = {}
    for label in GRID_VERSIONS:
        for key, _layer, _title, _id, fields, values in GRID_LAYERS:
            rows = versions[label][key]
            path = os.path.join(out, 'grid', label, key + '.shp')
            counts[(label, key)] = write_shapefile(
                path, EPSG_GEO, ogr.wkbPolygon, fields, ((values(r), r['poly'].wkb) for r in rows))
    return counts


def broken_dltb_features(version):
    """Four extra parcels with classic defects, a few km south-east of the city centre."""
    base = ll2m(np.array([114.10, 32.93]))
    feats = []

    def square(x, y, size):
        return np.array([(x, y), (x, y + size), (x + size, y + size), (x + size, y), (x, y)])

    x0, y0 = base
    bowtie = np.array([(x0, y0), (x0 + 250, y0 + 250), (x0 + 250, y0), (x0, y0 + 250), (x0, y0)])
    tri_a = np.array([(x0, y0), (x0 + 125, y0 + 125), (x0, y0 + 250), (x0, y0)])
    tri_b = np.array([(x0 + 125, y0 + 125), (x0 + 250, y0 + 250), (x0 + 250, y0), (x0 + 125, y0 + 125)])
    feats.append((BROKEN_BOWTIE, Polygon(bowtie), geod_area(m2ll(tri_a)) + geod_area(m2ll(tri_b))))
    outer, hole = square(x0 + 600, y0, 300), square(x0 + 700, y0 + 100, 100)
    ring_poly = Polygon(outer, [hole])
    feats.append((BROKEN_RING_ORDER, ring_poly, geod_area(m2ll(outer)) - geod_area(m2ll(hole))))
    ang = np.linspace(0, 2 * np.pi, 9)[:-1]
    octagon = np.stack([x0 + 1300 + 150 * np.cos(ang), y0 + 150 + 150 * np.sin(ang)], axis=-1)
    dup = np.vstack([octagon[:3], np.repeat(octagon[3:4], 4, axis=0), octagon[4:], octagon[:1]])
    feats.append((BROKEN_DUPLICATES, dup, geod_area(m2ll(np.vstack([octagon, octagon[:1]])))))
    feats.append((BROKEN_NULL, None, 2500.0))
    centre = m2ll(np.array([[x0 + 600, y0 + 150]]))
    v = parcel_mod.locate_villages(centre, version)[0]
    vil = version['village'][v]
    rows = []
    for k, (bsm, geom, area) in enumerate(feats):
        if geom is None:
            wkb = None
        elif isinstance(geom, np.ndarray):
            wkb = polygon_wkb(np.round(geom, 3))      # keep the duplicate run verbatim
        else:
            wkb = map_geometry(geom, rounder(3)).wkb
        values = (bsm, '9999900%d' % (k + 1), '0103', '旱地', vil['code'] + '0000000', vil['name'],
                  vil['code'] + '0000000', vil['name'], round(area, 2))
        rows.append((values, wkb))
    return rows


def write_dltb(out, n_parcels, outline, L, versions, info, seed):
    v1 = versions['2023-01-01']
    P = parcel_mod.build_rings(outline, n_parcels, seed)
    log('parcels: %d rings, spacing %.1f m' % (len(P['rings']), P['spacing']))
    c22, c23 = parcel_mod.classify(P, L, info, seed)
    log('parcels: classified')
    centre_ll = m2ll(P['centre'])
    vidx = parcel_mod.locate_villages(centre_ll, v1)
    log('parcels: villages located')
    bsm, tbbh = parcel_mod.identifiers(vidx, v1['village'])
    area = parcel_mod.ellipsoidal_areas(P['rings'])
    log('parcels: ellipsoidal areas')
    vcode = [v['code'] + '0000000' for v in v1['village']]
    vname = [v['name'] for v in v1['village']]
    codes = parcel_mod.CODES
    names = [parcel_mod.DLMC[c] for c in codes]
    rings = P['rings']
    broken = broken_dltb_features(v1)
    paths = {}
    for year, cls in (('2022', c22), ('2023', c23)):
        def feats():
            for k in range(len(rings)):
                c, v = int(cls[k]), int(vidx[k])
                yield ((bsm[k], str(tbbh[k]), codes[c], names[c], vcode[v], vname[v], vcode[v], vname[v],
                        float(area[k])), polygon_wkb(rings[k]))
            if year == '2022':
                yield from broken
        path = os.path.join(out, 'natural-resources', 'dltb_%s.shp' % year)
        write_shapefile(path, EPSG_GK, ogr.wkbPolygon, DLTB_FIELDS, feats(), cpg=False)
        paths[year] = path
        log('parcels: wrote %s' % os.path.basename(path))
    reverse_rings_in_place(paths['2022'], len(rings) + 1)
    return dict(parcels=len(rings), changed=int((c22 != c23).sum()), classes22=c22, classes23=c23)


def write_water(out, rivers, reservoirs, zones):
    z38 = rounder(3)
    fn = lambda a: z38(m2zone38(a))  # noqa: E731
    write_shapefile(os.path.join(out, 'water', 'river.shp'), EPSG_ZONE38, ogr.wkbLineString,
                    [('HYDM', S, 10, 0), ('HYMC', S, 40, 0), ('HLDJ', S, 10, 0), ('CD', R, 14, 2)],
                    (((r['HYDM'], r['HYMC'], r['HLDJ'], r['CD']), wkb_of(r['geom'], fn)) for r in rivers))
    write_shapefile(os.path.join(out, 'water', 'reservoir.shp'), EPSG_ZONE38, ogr.wkbPolygon,
                    [('SKMC', S, 60, 0), ('LX', S, 20, 0), ('ZKR', R, 14, 2)],
                    (((r['SKMC'], r['LX'], r['ZKR']), wkb_of(r['geom'], fn)) for r in reservoirs))
    write_shapefile(os.path.join(out, 'water', 'function_zone.shp'), EPSG_ZONE38, ogr.wkbPolygon,
                    [('GNQMC', S, 100, 0), ('GNQLX', S, 20, 0), ('SZMB', S, 4, 0)],
                    (((z['GNQMC'], z['GNQLX'], z['SZMB']), wkb_of(z['geom'], fn)) for z in zones))


def lonlat_7(geom):
    """Round lon/lat to the 1e-7 degree the GeoJSON files carry, checked valid after rounding."""
    g = map_geometry(geom, rounder(7))
    if not g.is_valid:
        g = map_geometry(g.buffer(0), rounder(7))
    if not g.is_valid or g.is_empty:
        raise RuntimeError('planning polygon invalid after rounding')
    return g


def write_planning(out, P):
    d = os.path.join(out, 'planning')
    to_ll = lonlat_7
    write_geojson(os.path.join(d, 'ecological_redline.geojson'), 'ecological_redline',
                  [('STHXMC', S, 0, 0), ('LX', S, 0, 0)],
                  (((r['STHXMC'], r['LX']), to_ll(r['geom'])) for r in P['ecological_redline']))
    farmland = []
    for b in P['basic_farmland']:
        g = to_ll(b['geom'])
        farmland.append(((b['JBNTBH'], round(geod_polygon_area(g), 2)), g))
    # the deliberately wrong geometry type: a LineString in the polygon layer
    line = LineString([(114.12, 32.935), (114.13, 32.94), (114.14, 32.938)])
    farmland.append(((BROKEN_LINESTRING_JBNTBH, 0.0), line))
    write_geojson(os.path.join(d, 'basic_farmland.geojson'), 'basic_farmland',
                  [('JBNTBH', S, 0, 0), ('MJ', R, 0, 0)], farmland)
    write_geojson(os.path.join(d, 'urban_boundary.geojson'), 'urban_boundary',
                  [('CZKFBJMC', S, 0, 0), ('XZQDM', S, 0, 0)],
                  (((u['CZKFBJMC'], u['XZQDM']), to_ll(u['geom'])) for u in P['urban_boundary']))
    write_geojson(os.path.join(d, 'landuse_zone.geojson'), 'landuse_zone',
                  [('GHFQDM', S, 0, 0), ('GHFQMC', S, 0, 0), ('XZQDM', S, 0, 0)],
                  (((z['GHFQDM'], z['GHFQMC'], z['XZQDM']), to_ll(z['geom'])) for z in P['landuse_zone']))


MANIFEST_HEAD = '''# onemap import manifest for the committed sample
# Written by data-samples/generate.py; every path is relative to this file.
layers:
'''


def manifest_entries():
    entries = []
    for label in GRID_VERSIONS:
        for key, layer, title, id_field, _f, _v in GRID_LAYERS:
            entries.append(dict(file='grid/%s/%s.shp' % (label, key), layer=layer, title=title,
                                department='网格化管理中心', theme='grid', valid_from=label, id_field=id_field))
    for year, valid in (('2022', '2022-12-31'), ('2023', '2023-12-31')):
        entries.append(dict(file='natural-resources/dltb_%s.shp' % year, layer='dltb', title='地类图斑（三调）',
                            department='自然资源和规划局', theme='natural-resource', encoding='GBK',
                            valid_from=valid, id_field='BSM', class_field='DLBM'))
    water = [('river.shp', 'river', '河流', None), ('reservoir.shp', 'reservoir', '水库及坑塘', None),
             ('function_zone.shp', 'water_function_zone', '水功能区', None)]
    for f, layer, title, idf in water:
        entries.append(dict(file='water/' + f, layer=layer, title=title, department='水利局', theme='water',
                            valid_from='2023-01-01', id_field=idf))
    planning = [('ecological_redline', '生态保护红线', None), ('basic_farmland', '永久基本农田', 'JBNTBH'),
                ('urban_boundary', '城镇开发边界', 'XZQDM'), ('landuse_zone', '国土空间规划分区', None)]
    for layer, title, idf in planning:
        entries.append(dict(file='planning/%s.geojson' % layer, layer=layer, title=title,
                            department='自然资源和规划局', theme='planning', valid_from='2023-01-01', id_field=idf))
    return entries


def write_manifest(out):
    lines = [MANIFEST_HEAD]
    for e in manifest_entries():
        lines.append('  - file: %s\n' % e['file'])
        for key in ('layer', 'title', 'department', 'theme', 'encoding', 'valid_from', 'id_field', 'class_field'):
            if e.get(key):
                note = {'encoding': '          # this file has no .cpg',
                        'class_field': '      # low zooms: parcels too small to see merged by land class'}.get(key, '')
                lines.append('    %s: %s%s\n' % (key, e[key], note))
    with open(os.path.join(out, 'manifest.yaml'), 'w', encoding='utf-8', newline='\n') as fh:
        fh.write(''.join(lines))


# ---------------------------------------------------------------------------------------------

def generate(out, n_parcels=DEFAULT_PARCELS, seed=DEFAULT_SEED, n_grids=None):
    os.makedirs(out, exist_ok=True)
    for d in OUTPUT_DIRS:
        shutil.rmtree(os.path.join(out, d), ignore_errors=True)
    outline = build_outline(seed)
    versions, info = (build_hierarchy(outline, seed) if n_grids is None
                      else build_hierarchy(outline, seed, n_grids))
    log('grid hierarchy: %d grids, %d villages, %d towns; %d grids moved, %d split in 2024-07-01' % (
        info['n_grids'], len(info['villages']), len(info['towns']), len(info['moved']), len(info['splits'])))
    L = build_landscape(outline, info, seed)
    log('landscape')
    counties_m = counties_in_metres(versions['2023-01-01']['county'])
    rivers, reservoirs, zones = build_water(L, versions['2023-01-01']['village'], counties_m)
    planning = build_planning(L, versions, info, seed)
    log('water and planning layers')
    write_grids(out, versions)
    write_water(out, rivers, reservoirs, zones)
    write_planning(out, planning)
    log('wrote grid, water and planning files')
    stats = write_dltb(out, n_parcels, outline, L, versions, info, seed)
    write_manifest(out)
    log('done: %d parcels, %d changed class in 2023' % (stats['parcels'], stats['changed']))
    return stats


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=HERE, help='output directory (default: the committed sample, %(default)s)')
    ap.add_argument('--parcels', type=int, default=DEFAULT_PARCELS, help='number of land parcels (default %(default)s)')
    ap.add_argument('--seed', type=int, default=DEFAULT_SEED, help='random seed (default %(default)s)')
    ap.add_argument('--grids', type=int, default=None,
                    help='about how many grids (default: the committed sample\'s ~2,400); for benchmarks')
    args = ap.parse_args(argv)
    if args.parcels < 10:
        ap.error('--parcels must be at least 10')
    generate(os.path.abspath(args.out), args.parcels, args.seed, args.grids)
    return 0


if __name__ == '__main__':
    sys.exit(main())
