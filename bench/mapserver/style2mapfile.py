#!/usr/bin/python3
"""Writes bench/mapserver/basemap.map.in: the MapServer 8 twin of styles/basemap.json drawn over
the layers and zoom ranges of tileserver/onemap.yaml, for bench/render_bench.sh.

    /usr/bin/python3 bench/mapserver/style2mapfile.py > bench/mapserver/basemap.map.in

MapServer has no zoom expressions, so every zoom-dependent value of the style (line widths,
dash lengths, outline alpha, text sizes) is evaluated at each 256-px tile zoom z (style zoom
z - 1, as onemap and TileServer GL draw) and consecutive zooms that come out the same become
one CLASS with MINSCALEDENOM/MAXSCALEDENOM. A `match` on a property becomes one CLASS per value
(the default last, without an EXPRESSION). Symbol layers become LABELs of the classes of the
same source layer (MapServer places every label after all layers are drawn, as MapLibre does).

Placeholders left for render_bench.sh to fill with sed after the import: @CONNECTION@,
@FONTSET@ and @TABLE_<layer>@ (the current onemap_data table of each layer). Each layer reads
the same generalised copy "<table>__z<z>" as onemap at z <= OVERVIEW_MAX_ZOOM (SCALETOKEN).
"""
import json
import math
import os
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
STYLE = os.path.join(ROOT, 'styles', 'basemap.json')
TILESETS = os.path.join(ROOT, 'tileserver', 'onemap.yaml')
TILESET = 'basemap'
OVERVIEW_MAX_ZOOM = 12    # onemap-import's generalised copies z0..z12 (onemap.layer_version)
MAX_TILE_ZOOM = 22
# The geometry of each source layer in the catalog; polygons unless listed.
LINE_LAYERS = {'river'}
FONT = 'noto-cjk'
# MapServer's scale denominator of a 256-px Web Mercator tile at zoom 0 (72 dpi, metres).
SCALE_Z0 = 2 * 20037508.342789244 / 256 * 39.3701 * 72


def scale(z):
    return SCALE_Z0 / 2 ** z


def parse_color(s):
    s = s.strip()
    if s.startswith('#'):
        h = s[1:]
        if len(h) == 3:
            h = ''.join(c * 2 for c in h)
        return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), 1.0)
    if s.startswith('rgb'):
        parts = [p.strip() for p in s[s.index('(') + 1:s.rindex(')')].split(',')]
        a = float(parts[3]) if len(parts) == 4 else 1.0
        return (int(parts[0]), int(parts[1]), int(parts[2]), a)
    raise ValueError('colour %r' % s)


def lerp(a, b, t):
    if isinstance(a, tuple):
        return tuple(lerp(x, y, t) for x, y in zip(a, b))
    return a + (b - a) * t


def evaluate(expr, zoom, props, kind):
    """The value of a style expression at a style zoom for a feature with `props`."""
    if isinstance(expr, list) and expr and isinstance(expr[0], str):
        op = expr[0]
        if op == 'get':
            return props.get(expr[1])
        if op == 'zoom':
            return zoom
        if op == 'match':
            v = evaluate(expr[1], zoom, props, 'string')
            for i in range(2, len(expr) - 1, 2):
                labels = expr[i] if isinstance(expr[i], list) else [expr[i]]
                if v in labels:
                    return evaluate(expr[i + 1], zoom, props, kind)
            return evaluate(expr[-1], zoom, props, kind)
        if op == 'interpolate':
            assert expr[1] == ['linear'] and expr[2] == ['zoom'], expr
            stops = [(expr[i], expr[i + 1]) for i in range(3, len(expr), 2)]
            if zoom <= stops[0][0]:
                return evaluate(stops[0][1], zoom, props, kind)
            for (z0, v0), (z1, v1) in zip(stops, stops[1:]):
                if zoom <= z1:
                    return lerp(evaluate(v0, zoom, props, kind), evaluate(v1, zoom, props, kind),
                                (zoom - z0) / (z1 - z0))
            return evaluate(stops[-1][1], zoom, props, kind)
        raise ValueError('expression %r' % expr)
    if kind == 'color' and isinstance(expr, str):
        return parse_color(expr)
    return expr


def matches(flt, props):
    """A layer filter (legacy "in" or expression "any"/"==") for a feature with `props`."""
    if flt is None:
        return True
    op = flt[0]
    if op == 'in' and isinstance(flt[1], str):
        return props.get(flt[1]) in flt[2:]
    if op == 'any':
        return any(matches(f, props) for f in flt[1:])
    if op == '==':
        return evaluate(flt[1], 0, props, 'string') == flt[2]
    raise ValueError('filter %r' % flt)


def match_keys(expr, out):
    """Property names and their values a `match`/filter distinguishes."""
    if isinstance(expr, dict):
        for e in expr.values():
            match_keys(e, out)
    elif isinstance(expr, list) and expr:
        if expr[0] == 'match' and isinstance(expr[1], list) and expr[1][0] == 'get':
            for i in range(2, len(expr) - 1, 2):
                labels = expr[i] if isinstance(expr[i], list) else [expr[i]]
                out.setdefault(expr[1][1], []).extend(labels)
        elif expr[0] == 'in' and isinstance(expr[1], str):
            out.setdefault(expr[1], []).extend(expr[2:])
        elif expr[0] == '==' and isinstance(expr[1], list) and expr[1][0] == 'get':
            out.setdefault(expr[1][1], []).append(expr[2])
        for e in expr:
            match_keys(e, out)
    return out


def color(c):
    return '%d %d %d' % (round(c[0]), round(c[1]), round(c[2]))


def opacity(a):
    return int(round(a * 100))


def num(v):
    return ('%.2f' % v).rstrip('0').rstrip('.')


def style_blocks(layer, zoom, props):
    """MapServer STYLE blocks for one non-symbol style layer."""
    paint, layout = layer.get('paint', {}), layer.get('layout', {})
    out = []
    if layer['type'] == 'fill':
        c = evaluate(paint.get('fill-color', '#000000'), zoom, props, 'color')
        a = c[3] * evaluate(paint.get('fill-opacity', 1), zoom, props, 'number')
        out.append('STYLE COLOR %s OPACITY %d END' % (color(c), opacity(a)))
        if 'fill-outline-color' in paint:
            o = evaluate(paint['fill-outline-color'], zoom, props, 'color')
            out.append('STYLE OUTLINECOLOR %s WIDTH 1 OPACITY %d END' % (color(o), opacity(o[3])))
    elif layer['type'] == 'line':
        c = evaluate(paint.get('line-color', '#000000'), zoom, props, 'color')
        w = evaluate(paint.get('line-width', 1), zoom, props, 'number')
        a = c[3] * evaluate(paint.get('line-opacity', 1), zoom, props, 'number')
        key = 'OUTLINECOLOR' if layer['source-layer'] not in LINE_LAYERS else 'COLOR'
        s = 'STYLE %s %s WIDTH %s OPACITY %d' % (key, color(c), num(w), opacity(a))
        s += ' LINECAP %s LINEJOIN %s' % (layout.get('line-cap', 'butt').upper(),
                                          layout.get('line-join', 'miter').upper())
        dash = paint.get('line-dasharray')
        if dash:  # MapLibre dashes are in line widths, MapServer's in pixels
            s += ' PATTERN %s END' % ' '.join(num(d * w) for d in dash)
        out.append(s + ' END')
    else:
        raise ValueError('layer type %s (%s)' % (layer['type'], layer['id']))
    return out


def label_block(layer, zoom, props):
    paint, layout = layer.get('paint', {}), layer.get('layout', {})
    field = layout['text-field']
    assert field[0] == 'get', field
    size = evaluate(layout.get('text-size', 16), zoom, props, 'number')
    c = evaluate(paint.get('text-color', '#000000'), zoom, props, 'color')
    halo = evaluate(paint.get('text-halo-width', 0), zoom, props, 'number')
    # MapServer draws SIZE s at s * 96/72 pixels, in whole s (fontcache.c); MapLibre's are pixels.
    lines = ['LABEL', '  TEXT "[%s]"' % field[1], '  FONT "%s"' % FONT, '  SIZE %d' % round(size * 72 / 96),
             '  COLOR %s' % color(c)]
    if halo > 0:
        h = evaluate(paint.get('text-halo-color', 'rgba(0,0,0,0)'), zoom, props, 'color')
        lines += ['  OUTLINECOLOR %s' % color(h), '  OUTLINEWIDTH %d' % max(1, round(halo))]
    if layout.get('symbol-placement') == 'line':
        lines += ['  ANGLE FOLLOW', '  REPEATDISTANCE %s' % num(layout.get('symbol-spacing', 250))]
    else:
        lines += ['  POSITION CC']
    lines += ['  PARTIALS FALSE', 'END']
    return lines


def visible(layer, member, zoom):
    """Whether a style layer draws at a style zoom, given its tileset member's zoom range."""
    z = math.floor(zoom + 1e-9)   # onemap's member_zoom
    if not (member['minzoom'] <= z <= member['maxzoom']):
        return False
    return layer.get('minzoom', 0) <= zoom < layer.get('maxzoom', 24)


def scale_range(z0, z1):
    """MINSCALEDENOM/MAXSCALEDENOM for tile zooms z0..z1, boundaries half a zoom away."""
    out = []
    if z0 > 0:
        out.append('MAXSCALEDENOM %.0f' % scale(z0 - 0.5))
    if z1 < MAX_TILE_ZOOM:
        out.append('MINSCALEDENOM %.0f' % scale(z1 + 0.5))
    return out


def mapserver_layer(name, geometry_layers, label_layers, member, indent):
    keys = {}
    for l in geometry_layers + label_layers:
        match_keys(l.get('paint'), keys)
        match_keys(l.get('layout'), keys)
        match_keys(l.get('filter'), keys)
    assert len(keys) <= 1, (name, keys)
    key = next(iter(keys), None)
    values = list(dict.fromkeys(keys[key])) if key else []
    categories = [(v, {key: v}) for v in values] + [(None, {})]
    classes = []
    for value, props in categories:
        # Every STYLE/LABEL this category draws at some zoom, in drawing order, with the tile
        # zooms it is drawn at; each run of zooms becomes one block with its own scale range.
        items = {}
        for tz in range(0, MAX_TILE_ZOOM + 1):
            zoom = tz - 1.0
            body = []
            for l in geometry_layers:
                if visible(l, member, zoom):
                    body += [(s,) for s in style_blocks(l, zoom, props)]
            for l in label_layers:
                if visible(l, member, zoom) and matches(l.get('filter'), props):
                    body.append(tuple(label_block(l, zoom, props)))
            for item in body:
                items.setdefault(item, []).append(tz)
        if not items:
            continue
        zooms = sorted({z for zs in items.values() for z in zs})
        c = ['CLASS', '  NAME "%s"' % (value if value is not None else 'other')]
        if value is not None:
            c.append('  EXPRESSION "%s"' % value)
        c += ['  ' + s for s in scale_range(zooms[0], zooms[-1])]
        for item, zs in items.items():
            runs = []
            for z in zs:
                if runs and runs[-1][1] == z - 1:
                    runs[-1][1] = z
                else:
                    runs.append([z, z])
            for z0, z1 in runs:
                limits = ' '.join(scale_range(z0, z1)) if (z0, z1) != (zooms[0], zooms[-1]) else ''
                if len(item) == 1:   # a one-line STYLE
                    c.append('  ' + (item[0].replace('STYLE ', 'STYLE %s ' % limits, 1) if limits else item[0]))
                else:                # a LABEL block
                    c.append('  ' + item[0])
                    if limits:
                        c.append('    ' + limits)
                    c += ['  ' + s for s in item[1:]]
        c.append('END')
        classes.append((zooms[0], zooms[-1], c))
    if not classes:
        return []
    zmin, zmax = min(c[0] for c in classes), max(c[1] for c in classes)
    src = geometry_layers[0]['source-layer'] if geometry_layers else label_layers[0]['source-layer']
    out = ['LAYER',
           '  NAME "%s"' % name,
           '  TYPE %s' % ('LINE' if src in LINE_LAYERS else 'POLYGON'),
           '  STATUS ON',
           '  CONNECTIONTYPE POSTGIS',
           '  CONNECTION "@CONNECTION@"',
           '  PROCESSING "CLOSE_CONNECTION=DEFER"',
           '  DATA "geom from onemap_data.@TABLE_%s@%%gen%% using unique fid using srid=4490"' % src,
           '  SCALETOKEN',
           '    NAME "%gen%"',
           '    VALUES',
           '      "0" ""']
    out += ['      "%.0f" "__z%d"' % (scale(z + 0.5), z) for z in range(OVERVIEW_MAX_ZOOM, -1, -1)]
    out += ['    END', '  END', '  PROJECTION "EPSG:4490" END']
    if key:
        out.append('  CLASSITEM "%s"' % key)
    out += ['  ' + s for s in scale_range(zmin, zmax)]
    for _, _, c in classes:
        out += ['  ' + s for s in c]
    out.append('END')
    return [indent + s for s in out]


def main():
    style = json.load(open(STYLE, encoding='utf-8'))
    tileset = next(t for t in yaml.safe_load(open(TILESETS, encoding='utf-8'))['tilesets']
                   if t['name'] == TILESET)
    members = {m['layer']: {'minzoom': m.get('minzoom', 0), 'maxzoom': m.get('maxzoom', 22)}
               for m in tileset['layers']}
    layers = style['layers']
    background = next((l for l in layers if l['type'] == 'background'), None)
    bg = parse_color(background['paint']['background-color']) if background else (255, 255, 255, 1)

    # Runs of adjacent non-symbol layers of one source layer draw as one MapServer LAYER; the
    # symbol layers of a source layer go with its last run.
    runs = []
    for l in layers:
        if l['type'] in ('background', 'symbol'):
            continue
        if l.get('source-layer') not in members:
            continue
        if runs and runs[-1][0] == l['source-layer']:
            runs[-1][1].append(l)
        else:
            runs.append((l['source-layer'], [l]))
    last_run = {src: i for i, (src, _) in enumerate(runs)}
    labels = {}
    for l in layers:
        if l['type'] == 'symbol' and l.get('source-layer') in members:
            labels.setdefault(l['source-layer'], []).append(l)

    out = ['# Generated by bench/mapserver/style2mapfile.py from styles/basemap.json and',
           '# tileserver/onemap.yaml; do not edit. bench/render_bench.sh fills the @...@ fields.',
           'MAP',
           '  NAME "basemap"',
           '  SIZE 256 256',
           '  MAXSIZE 4096',
           '  UNITS METERS',
           '  EXTENT 12590000 3790000 12830000 3970000',
           '  IMAGECOLOR %s' % color(bg),
           '  FONTSET "@FONTSET@"',
           '  PROJECTION "EPSG:3857" END',
           '  OUTPUTFORMAT',
           '    NAME "png"',
           '    DRIVER AGG/PNG',
           '    MIMETYPE "image/png"',
           '    IMAGEMODE RGBA',
           '    TRANSPARENT OFF',   # paint IMAGECOLOR (RGBA is transparent by default)
           '    EXTENSION "png"',
           '  END',
           '  WEB',
           '    METADATA',
           '      "tile_metatile_level" "@METATILE_LEVEL@"',
           '    END',
           '  END']
    for i, (src, run) in enumerate(runs):
        name = '-'.join(l['id'] for l in run)
        lab = labels.get(src, []) if last_run[src] == i else []
        out += mapserver_layer(name, run, lab, members[src], '  ')
    out.append('END')
    sys.stdout.write('\n'.join(out) + '\n')


if __name__ == '__main__':
    main()
