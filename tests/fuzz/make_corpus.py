#!/usr/bin/python3
"""Writes the seed corpora of tests/fuzz/corpus/<target>/ from the tree's own material: request
lines the http tests send, styles/basemap.json and its expressions, data-samples/manifest.yaml,
attribute bytes of the sample DBFs, and WKB of sample features in the tiles that hold them.
Run with Debian's python (python3-gdal): /usr/bin/python3 tests/fuzz/make_corpus.py. Idempotent:
seeds are named by content."""
import hashlib
import json
import math
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def put(target, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def request(method, target, headers=(), body=""):
    lines = [f"{method} {target} HTTP/1.1", "Host: localhost:8080"] + list(headers)
    return "\r\n".join(lines) + "\r\n\r\n" + body


# ---- requests (tests/http, tests/unit/test_router.cpp) --------------------------------------
TARGETS = [
    "/health", "/stats", "/tiles", "/tiles/basemap.json", "/tiles/dltb.json?datetime=2023-06-30",
    "/tiles/basemap/12/3393/1658.png", "/tiles/basemap/12/3393/1658@2x.png", "/tiles/basemap/12/3345/1648.mvt",
    "/tiles/basemap/CGCS2000Quad/12/3393/830.mvt", "/tiles/admin_county/8/209/103.mvt?datetime=2020-01-01",
    "/tiles/admin_county/8/209/103.mvt?datetime=2024-13-01", "/tiles/admin_county/25/0/0.mvt",
    "/tiles/basemap/12/abc/1658.png", "/tiles/dltb/WorldCRS84Quad/11/3395/1213.png",
    "/locate?lon=114.02&lat=32.98", "/locate?lon=114.05&lat=32.95&boundary=true&crs=gcj02",
    "/locate?lon=114.1&lat=32.9&name=a%26b+c", "/locate?lon=114&lat=33&datetime=2024-01-01T23:59:59%2B08:00",
    "/grids/411727001001", "/grids/411727001001/neighbors?datetime=2023-06-30",
    "/styles/basemap.json", "/styles/..%2Fonemap.json", "/fonts.json",
    "/fonts/Noto%20Sans%20CJK%20SC%20Regular/0-255.pbf", "/fonts/No%20Such%20Font,Noto%20Sans/256-511.pbf",
    "/wmts/1.0.0/WMTSCapabilities.xml", "/wmts?SERVICE=WMTS&REQUEST=GetCapabilities",
    "/wmts/1.0.0/basemap/default/CGCS2000Quad/1/1/0.png", "/wmts/1.0.0/grid/default/2024-07-01/WebMercatorQuad/13/3316/6706.mvt",
    "/ogc", "/ogc/api", "/ogc/conformance", "/ogc/collections", "/ogc/collections/dltb",
    "/ogc/collections/dltb/items?bbox=114.0,32.9,114.2,33.0&limit=10&datetime=2023-01-01/..",
    "/ogc/collections/dltb/items/999", "/ogc/collections/grid/items?wgbm=%ff%fe",
]
for t in TARGETS:
    put("request", request("GET", t))
put("request", request("HEAD", "/tiles/basemap/12/3393/1658.png", ["If-None-Match: \"abc\""]))
put("request", request("GET", "/styles/basemap.json", ["Accept-Encoding: gzip, deflate, br"]))
put("request", request("GET", "/wmts/1.0.0/WMTSCapabilities.xml", ["Host: [::1]:8080"]))
put("request", request("OPTIONS", "/tiles/basemap/1/1/1.png",
                       ["Origin: https://map.example.org", "Access-Control-Request-Method: GET",
                        "Access-Control-Request-Headers: X-Onemap-Key"]))
put("request", request("DELETE", "/health"))
ADMIN = "Authorization: Bearer fuzz-admin-token-0123456789"  # tests/fuzz/route_table.cpp
put("request", request("POST", "/admin/seed", [ADMIN, "Content-Type: application/x-www-form-urlencoded"],
                       "tileset=basemap&bbox=114.0,32.9,114.1,33.0&minzoom=10&maxzoom=12&format=png"))
put("request", request("POST", "/admin/seed?tileset=dltb&bbox=114,32,115,33&minzoom=1&maxzoom=3&tms=CGCS2000Quad",
                       [ADMIN]))
put("request", request("POST", "/admin/seed?tileset=basemap", ["Authorization: Bearer wrong"]))
put("request", request("GET", "/admin/jobs", [ADMIN]))
put("request", request("GET", "/admin/jobs/1", [ADMIN]))
put("request", request("DELETE", "/admin/jobs/1", [ADMIN]))

# ---- WMTS (tests/http/test_wmts_http.cpp, wmts_owslib.py) ---------------------------------
for q in [
    "SERVICE=WMTS&REQUEST=GetCapabilities",
    "service=WMTS&Request=GetCapabilities&AcceptVersions=1.0.0,2.0.0",
    "SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=basemap&STYLE=default&TILEMATRIXSET=CGCS2000Quad"
    "&TILEMATRIX=12&TILEROW=830&TILECOL=3393&FORMAT=image/png",
    "service=WMTS&request=GetTile&version=1.0.0&layer=dltb&style=&tilematrixset=WebMercatorQuad&tilematrix=13"
    "&tilerow=3316&tilecol=6706&format=application/vnd.mapbox-vector-tile&time=2023-06-30",
    "SERVICE=WMTS&REQUEST=GetFeatureInfo&VERSION=1.0.0&LAYER=grid&STYLE=default&TILEMATRIXSET=WebMercatorQuad"
    "&TILEMATRIX=13&TILEROW=3316&TILECOL=6706&FORMAT=image/png&INFOFORMAT=application/json&I=128&J=255",
    "SERVICE=WMTS&REQUEST=GetMap",
]:
    put("wmts", q)
for p in ["/WMTSCapabilities.xml", "/basemap/default/CGCS2000Quad/1/1/0.png",
          "/grid/default/2024-07-01/WebMercatorQuad/13/3316/6706.mvt",
          "/basemap/default/2023-13-45/CGCS2000Quad/1/0/0.png",
          "/basemap/default/CGCS2000Quad/5/0/0/0/999.json", "/grid/default/current/WebMercatorQuad/13/3316/6706/12/200.html"]:
    put("wmts", p)

# ---- OGC API – Features (tests/http/test_features_http.cpp) -------------------------------
for f in [
    "dltb", "dltb/items?limit=10", "dltb/items?bbox=114.0,32.9,114.2,33.0&limit=10000",
    "dltb/items?bbox=114,32,115,33&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/4490",
    "dltb/items?bbox=12700000,3870000,12710000,3880000&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/3857",
    "dltb/items?datetime=2023-01-01/2024-01-01&dlbm=0101&offset=20",
    "dltb/items?datetime=2021-06-30", "dltb/items?datetime=../2022-06-30T12:00:00Z&limit=5",
    "dltb/items?crs=http://www.opengis.net/def/crs/EPSG/0/3857&DLBM=0103",
    "survey_points/items?crs=http://www.opengis.net/def/crs/EPSG/0/3857",
    "grid/items?wgbm=%e6%97%b1&limit=1&f=json", "dltb/items/999", "dltb/items/9223372036854775808",
    "admin_county/items?limit=1&crs=http://www.opengis.net/def/crs/EPSG/0/4490",
]:
    put("features", f)

# ---- dates ---------------------------------------------------------------------------------
for d in ["2023-06-30", "2024-02-29", "2023-02-29", "2024-01-01T23:59:59+08:00", "2024-01-01T25:00:00Z",
          "2016-12-31T23:59:60.123456Z", "2023-06-30t00:00:00z", "2023-06-30T12:00:00", "current", ".."]:
    put("datetime", d)

# ---- styles and expressions ----------------------------------------------------------------
with open(os.path.join(ROOT, "styles", "basemap.json"), encoding="utf-8") as f:
    basemap = f.read()
put("style", basemap)
put("style", json.dumps({"version": 8, "name": "legacy", "sources": {}, "layers": [
    {"id": "bg", "type": "background", "paint": {"background-color": "hsla(40, 30%, 95%, 1)"}},
    {"id": "fill", "type": "fill", "source": "onemap", "source-layer": "dltb",
     "filter": ["all", ["==", "dlbm", "0101"], ["in", "$type", "Polygon"], ["!has", "x"]],
     "paint": {"fill-color": {"property": "dlbm", "type": "categorical",
                              "stops": [["0101", "#ffe"], ["0103", "rgb(1,2,3)"]], "default": "red"},
               "fill-opacity": {"base": 1.5, "stops": [[6, 0.2], [14, 0.9]]}}},
    {"id": "ref", "ref": "fill", "paint": {"fill-outline-color": "#000"}},
    {"id": "river", "type": "line", "source-layer": "river", "minzoom": 6,
     "layout": {"line-cap": "round", "line-join": "bevel"},
     "paint": {"line-width": ["interpolate", ["exponential", 1.4], ["zoom"], 6, 0.5, 16, 6],
               "line-dasharray": [2, 1], "line-color": ["match", ["get", "hldj"], [1, 2], "#24c", "#8af"]}},
    {"id": "pt", "type": "circle", "source-layer": "survey_points",
     "paint": {"circle-radius": ["step", ["zoom"], 2, 12, 4], "circle-stroke-width": 1}},
    {"id": "label", "type": "symbol", "source-layer": "admin_county",
     "layout": {"text-field": "{xzqmc} ({xzqdm})", "text-font": ["Noto Sans CJK SC Regular"],
                "text-size": ["case", [">", ["to-number", ["get", "tbmj"]], 1000], 16, 12],
                "text-anchor": "top", "symbol-placement": "point", "visibility": "visible"},
     "paint": {"text-halo-color": "#fff", "text-halo-width": 1.5}},
    {"id": "hill", "type": "hillshade", "source": "dem"},
]}, ensure_ascii=False))

TYPES = {"any": 0, "boolean": 1, "number": 2, "string": 3, "color": 4, "number_array": 5, "string_array": 6}
NUMBER = {"opacity", "width", "radius", "size", "max-width", "line-height", "padding", "max-angle", "spacing",
          "miter-limit", "blur", "offset"}


def expected_type(prop):
    if prop.endswith("color"):
        return TYPES["color"]
    if prop in ("text-font",):
        return TYPES["string_array"]
    if prop in ("line-dasharray", "text-offset"):
        return TYPES["number_array"]
    if prop in ("text-field",):
        return TYPES["any"]
    if any(prop.endswith(n) for n in NUMBER):
        return TYPES["number"]
    if prop.endswith("antialias") or prop.endswith("overlap") or prop.endswith("placement"):
        return TYPES["boolean"]
    return TYPES["string"]


for layer in json.loads(basemap)["layers"]:
    if "filter" in layer:
        put("expression", bytes([7]) + json.dumps(layer["filter"], ensure_ascii=False).encode())
    for section in ("paint", "layout"):
        for prop, v in layer.get(section, {}).items():
            if isinstance(v, list):
                put("expression", bytes([expected_type(prop)]) + json.dumps(v, ensure_ascii=False).encode())
            elif isinstance(v, dict):
                put("expression", bytes([8 + 10 * expected_type(prop)]) + json.dumps(v, ensure_ascii=False).encode())
for mode, e in [
    (2, ["interpolate", ["linear"], ["zoom"], 0, 1, 22, ["*", 2, ["get", "tbmj"]]]),
    (4, ["interpolate-hcl", ["linear"], ["zoom"], 5, "red", 15, ["to-color", ["get", "c"], "#00ff0080"]]),
    (3, ["let", "n", ["get", "xzqmc"], ["concat", ["upcase", ["var", "n"]], "·", ["to-string", ["id"]]]]),
    (1, ["any", ["in", ["get", "dlbm"], ["literal", ["0101", "0102"]]], ["==", ["geometry-type"], "Point"],
         ["<=", ["length", ["string", ["get", "dlmc"], ""]], 4]]),
    (0, ["coalesce", ["get", "missing"], ["at", 1, ["literal", [1, 2, 3]]], ["index-of", "河", ["get", "hymc"]]]),
    (2, ["%", ["round", ["/", ["ln", ["abs", ["get", "big"]]], ["log2", 8]]], ["max", 1, ["min", 3, ["pi"]]]]),
    (6, ["literal", ["Noto Sans CJK SC Regular", "Noto Sans Regular"]]),
    (5, ["slice", ["literal", [1, 2, 3, 4]], 1, -1]),
]:
    put("expression", bytes([mode]) + json.dumps(e, ensure_ascii=False).encode())
put("expression", bytes([9]) + "{xzqmc}（{xzqdm}）".encode())

# ---- manifests -----------------------------------------------------------------------------
with open(os.path.join(ROOT, "data-samples", "manifest.yaml"), encoding="utf-8") as f:
    put("manifest", f.read())
put("manifest", """layers:
  - file: datum/bj54_points.shp
    layer: datum_bj54
    title: 北京54 控制点
    department: 自然资源和规划局
    theme: other
    srs: EPSG:2435
    towgs84: 15.8,-154.4,-82.3,0,0,0,0
    encoding: "936"
    public: false
    force: true
    accept_loss: true
    allow_outside_area: false
  - file: water/reservoir.shp
    source_layer: reservoir
    layer: reservoir
    theme: water
    valid_from: 2024-02-29
    accept_ballpark: true
""")

# ---- attribute text (sample DBFs: GBK without .cpg, UTF-8 with one) ----------------------
ENCODINGS = ["UTF-8", "GBK", "GB18030", "936", "CP936", "GB2312", "BIG5", "BIG5-HKSCS", "1252", "ISO-8859-1",
             "ISO-8859-5", "CP1251", "KOI8-R", "CP932", "EUC-JP", "EUC-KR", "CP949", "CP1255", "CP1258", "TSCII",
             "UTF8", "65001", "utf-8", "UTF-16", "UTF-16LE", "UCS-2", "UTF-32", "ISO-2022-JP", "UTF-7", "CP037"]


def dbf_strings(path, limit):
    """Character field values of the first records of a DBF, as stored (bytes)."""
    with open(path, "rb") as f:
        head = f.read(32)
        nrec, hlen, rlen = struct.unpack("<IHH", head[4:12])
        fields = []
        while True:
            d = f.read(32)
            if d[0] == 0x0D:
                break
            fields.append((d[:11].split(b"\0")[0], chr(d[11]), d[16]))
        f.seek(hlen)
        out = []
        for _ in range(min(nrec, limit)):
            rec = f.read(rlen)
            pos = 1
            for _, typ, ln in fields:
                v = rec[pos:pos + ln].rstrip(b" ")
                pos += ln
                if typ == "C" and any(b >= 0x80 for b in v):
                    out.append(v)
        return out


for path, enc in [("natural-resources/dltb_2022.dbf", "GBK"), ("water/reservoir.dbf", "UTF-8"),
                  ("water/function_zone.dbf", "UTF-8")]:
    full = os.path.join(ROOT, "data-samples", path)
    if os.path.exists(full):
        for v in dbf_strings(full, 3)[:4]:
            put("text_decoder", bytes([ENCODINGS.index(enc)]) + v)
put("text_decoder", bytes([ENCODINGS.index("BIG5")]) + "臺北市".encode("big5"))
put("text_decoder", bytes([ENCODINGS.index("1252")]) + "Ærøskøbing".encode("cp1252"))
put("text_decoder", b"=cp 936\n" + "驻马店".encode("gbk"))
put("text_decoder", b"=ISO-2022-JP\n" + "亜細亜 JBNTBH".encode("iso2022_jp"))
put("text_decoder", bytes([ENCODINGS.index("CP1258")]) + "Hà Nô\u0323i".encode("cp1258"))

# ---- WKB in the tile that holds it ---------------------------------------------------------
try:
    from osgeo import ogr
except ImportError:
    sys.exit("make_corpus: python3-gdal is needed for the MVT seeds")

SETS = ["WebMercatorQuad", "WorldCRS84Quad", "CGCS2000Quad", "TiandituWebMercatorQuad"]  # core order


def tile_of(tms, z, lon, lat):
    """(byte index of the level, col, row) as fuzz_mvt reads them; levels as the sets define."""
    if tms == 0:  # WebMercatorQuad 0..24
        n = 2 ** z
        x = int((lon + 180) / 360 * n)
        y = int((1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2 * n)
        return z, x, y
    if tms == 2:  # CGCS2000Quad levels 1..18: 2^z x 2^(z-1) tiles over the world
        n = 2 ** z
        return z - 1, int((lon + 180) / 360 * n), int((90 - lat) / 180 * n / 2)
    raise ValueError(tms)


def seed(tms, z, geom):
    env = geom.GetEnvelope()
    lon, lat = (env[0] + env[1]) / 2, (env[2] + env[3]) / 2
    level, col, row = tile_of(tms, z, lon, lat)
    return bytes([tms, level]) + struct.pack("<II", col, row)


for path, n in [("natural-resources/dltb_2022.shp", 3), ("water/river.shp", 2), ("grid/2024-07-01/grid.shp", 1)]:
    ds = ogr.Open(os.path.join(ROOT, "data-samples", path))
    if ds is None:
        continue
    layer = ds.GetLayer(0)
    for i, feat in enumerate(layer):
        if i >= n:
            break
        g = feat.GetGeometryRef()
        if g.GetSpatialReference() is not None and not g.GetSpatialReference().IsGeographic():
            from osgeo import osr
            target = osr.SpatialReference()
            target.ImportFromEPSG(4490)
            target.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
            g.TransformTo(target)
        multi = ogr.ForceToMultiPolygon(g) if "POLYGON" in g.GetGeometryName() else ogr.ForceToMultiLineString(g)
        put("mvt", seed(0, 15, multi) + multi.ExportToWkb(ogr.wkbNDR))
        put("mvt", seed(2, 14, multi) + multi.ExportToIsoWkb(ogr.wkbXDR))
pt = ogr.CreateGeometryFromWkt("MULTIPOINT ((114.02 32.98), (114.03 32.99))")
put("mvt", seed(0, 12, pt) + pt.ExportToWkb(ogr.wkbNDR))
# EWKB with an SRID (as ST_AsEWKB sends it) and a Z coordinate.
ewkb = struct.pack("<BII", 1, 0x20000001 | 0x80000000, 4490) + struct.pack("<ddd", 114.02, 32.98, 80.5)
put("mvt", bytes([0, 12]) + struct.pack("<II", 3393, 1658) + ewkb)
print("make_corpus: seeds in", CORPUS)
