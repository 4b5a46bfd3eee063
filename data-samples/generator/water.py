"""Water department layers: rivers (lines), reservoirs and ponds (polygons), water-function zones."""
import numpy as np
from shapely.geometry import Point
from shapely.ops import substring
from shapely.prepared import prep

from .common import GEOD, ll2m, m2ll, map_geometry, polygons_of

GRADE_CODE = {'一级': 1, '二级': 2, '三级': 3, '四级': 4}


def _county_at(pt, counties_m):
    for code, name, poly in counties_m:
        if poly.contains(pt):
            return name
    return min(counties_m, key=lambda c: c[2].distance(pt))[1]


def build_water(L, villages_ll, counties_m):
    rivers = []
    codes = {}
    major_serial = 0
    trib_serial = {}
    for r in L['rivers']:
        if r['grade'] != '四级':
            major_serial += 1
            code = 'EA%02d0000' % major_serial
        else:
            target = min((x for x in L['rivers'] if x['grade'] != '四级'),
                         key=lambda x: x['line'].distance(Point(r['line'].coords[-1])))
            parent = codes[target['name']]
            trib_serial[parent] = trib_serial.get(parent, 0) + 1
            code = parent[:4] + '%04d' % trib_serial[parent]
        codes[r['name']] = code
        ll = m2ll(np.asarray(r['line'].coords))
        length = GEOD.line_length(ll[:, 0], ll[:, 1])
        rivers.append(dict(HYDM=code, HYMC=r['name'], HLDJ=r['grade'], CD=round(length, 2), geom=r['line']))

    reservoirs = []
    for r in L['reservoirs']:
        reservoirs.append(dict(SKMC=r['name'], LX=r['kind'], ZKR=r['capacity'], geom=r['poly']))
    vil_prep = [(v['name'], prep(v['poly'])) for v in villages_ll]
    used = set()
    for p in L['ponds']:
        c = m2ll(np.array(p['poly'].centroid.coords[0]))
        name = next((n for n, vp in vil_prep if vp.contains(Point(c))), '无名')
        base = name + '坑塘'
        name, k = base, 1
        while name in used:
            k += 1
            name = '%s%d号' % (base, k)
        used.add(name)
        reservoirs.append(dict(SKMC=name, LX='坑塘', ZKR=p['capacity'], geom=p['poly']))

    zones = []
    taken = None
    names_used = {}

    def add(geom, name, kind, target):
        nonlocal taken
        if taken is not None:
            geom = geom.difference(taken)
        for part in polygons_of(geom, min_area=20000.0):
            if name in names_used:
                names_used[name] += 1
                label = '%s（%d段）' % (name, names_used[name])
            else:
                names_used[name] = 1
                label = name
            zones.append(dict(GNQMC=label, GNQLX=kind, SZMB=target, geom=part))
        taken = geom if taken is None else taken.union(geom)

    outline = L['outline']
    for r in L['reservoirs'][:4]:
        add(r['poly'].buffer(250).intersection(outline), r['name'] + '饮用水水源保护区', '保护区', 'II')
    for r in sorted(L['rivers'], key=lambda r: GRADE_CODE[r['grade']]):
        if r['grade'] == '四级':
            continue
        line = r['line']
        n = 3 if r['grade'] in ('一级', '二级') else 2
        width = {'一级': 450, '二级': 300, '三级': 200}[r['grade']]
        kinds = (['保留区', '开发利用区', '缓冲区'] if n == 3 else ['保护区', '开发利用区'])
        targets = {'保留区': 'III', '保护区': 'II', '开发利用区': 'IV' if r['grade'] == '三级' else 'III', '缓冲区': 'III'}
        for i in range(n):
            reach = substring(line, i / n, (i + 1) / n, normalized=True)
            county = _county_at(reach.interpolate(0.5, normalized=True), counties_m)
            kind = kinds[i]
            add(reach.buffer(width, cap_style=2).intersection(outline), r['name'] + county + kind, kind, targets[kind])
    return rivers, reservoirs, zones


def counties_in_metres(county_rows):
    return [(c['code'], c['name'], map_geometry(c['poly'], ll2m)) for c in county_rows]
