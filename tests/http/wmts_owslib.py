#!/usr/bin/python3
"""OWSLib (Debian python3-owslib) as a WMTS client of onemap-server.

Usage: wmts_owslib.py BASE_URL WATER_LON WATER_LAT DRY_LON DRY_LAT RESERVOIR_NAME

Reads the capabilities, computes from the parsed TileMatrixSet (scale denominator, top-left
corner, tile size) which tile and pixel hold each point on the Web Mercator and on the
CGCS2000 grid, fetches the PNG tiles with gettile (KVP), decodes them with GDAL and checks the
reservoir pixel is water-blue and the dry-land pixel is not; then follows the FeatureInfo
ResourceURL template OWSLib parsed and expects the reservoir's name. Exit status 0 = all good.
"""
import json
import math
import sys
import urllib.request

from osgeo import gdal
from owslib.wmts import WebMapTileService

METERS_PER_DEGREE = 2 * math.pi * 6378137 / 360
PIXEL = 0.00028
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def tile_and_pixel(tms, matrix_id, lon, lat):
    m = tms.tilematrix[matrix_id]
    crs = tms.crs
    if crs.endswith("::4490") or crs.endswith("::4326"):
        # EPSG geographic CRSs: the corner is written latitude first.
        origin_lat, origin_lon = m.topleftcorner
        res = m.scaledenominator * PIXEL / METERS_PER_DEGREE
        x, y, ox, oy = lon, lat, origin_lon, origin_lat
    else:
        ox, oy = m.topleftcorner
        res = m.scaledenominator * PIXEL
        x = math.radians(lon) * 6378137
        y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * 6378137
    px = (x - ox) / res
    py = (oy - y) / res
    col, row = int(px // m.tilewidth), int(py // m.tileheight)
    return col, row, int(px - col * m.tilewidth), int(py - row * m.tileheight)


def rgb_at(png, i, j):
    path = "/vsimem/tile.png"
    gdal.FileFromMemBuffer(path, png)
    ds = gdal.Open(path)
    table = ds.GetRasterBand(1).GetColorTable() if ds.RasterCount == 1 else None
    if table is not None:  # a palette PNG: the entry of the pixel's index
        pixel = list(table.GetColorEntry(ds.GetRasterBand(1).ReadRaster(i, j, 1, 1)[0])[:3])
    else:
        pixel = [ds.GetRasterBand(b).ReadRaster(i, j, 1, 1)[0] for b in (1, 2, 3)]
    ds = None
    gdal.Unlink(path)
    return pixel


def main():
    base, lon, lat, dry_lon, dry_lat, name = sys.argv[1], *map(float, sys.argv[2:6]), sys.argv[6]
    wmts = WebMapTileService(base + "/wmts?SERVICE=WMTS&REQUEST=GetCapabilities")
    check(wmts.identification.type == "OGC WMTS", "service type OGC WMTS")
    check("basemap" in wmts.contents, "layer basemap listed")
    check("reservoir" in wmts.contents, "layer reservoir listed")
    layer = wmts.contents["basemap"]
    check("image/png" in layer.formats, "basemap offers image/png")
    check(set(layer.tilematrixsetlinks) >= {"WebMercatorQuad", "CGCS2000Quad", "WorldCRS84Quad",
                                            "TiandituWebMercatorQuad"}, "basemap links every matrix set")
    cgcs = wmts.tilematrixsets["CGCS2000Quad"]
    check(cgcs.crs == "urn:ogc:def:crs:EPSG::4490", "CGCS2000Quad CRS is urn:ogc:def:crs:EPSG::4490")
    check(cgcs.tilematrix["1"].topleftcorner == (90.0, -180.0), "CGCS2000Quad corner is 90 -180")
    check((cgcs.tilematrix["1"].matrixwidth, cgcs.tilematrix["1"].matrixheight) == (2, 1), "level 1 is 2 x 1")

    for tms_id, matrix in (("WebMercatorQuad", "13"), ("CGCS2000Quad", "13")):
        tms = wmts.tilematrixsets[tms_id]
        for (plon, plat), want_water in (((lon, lat), True), ((dry_lon, dry_lat), False)):
            col, row, i, j = tile_and_pixel(tms, matrix, plon, plat)
            png = wmts.gettile(layer="basemap", style="default", tilematrixset=tms_id, tilematrix=matrix,
                               row=row, column=col, format="image/png").read()
            check(png[:8] == b"\x89PNG\r\n\x1a\n", f"{tms_id} {matrix}/{row}/{col} is a PNG")
            r, g, b = rgb_at(png, i, j)
            water = b > r + 60 and b > g + 20
            check(water == want_water,
                  f"{tms_id} pixel ({i},{j}) at {plon:.5f},{plat:.5f} is {'water' if want_water else 'not water'}: "
                  f"rgb {r},{g},{b}")

    # FeatureInfo through the RESTful template OWSLib parsed.
    templates = [u for u in layer.resourceURLs if u["resourceType"] == "FeatureInfo"
                 and u["format"] == "application/json"]
    check(len(templates) == 1, "one JSON FeatureInfo template")
    col, row, i, j = tile_and_pixel(wmts.tilematrixsets["WebMercatorQuad"], "13", lon, lat)
    url = (templates[0]["template"].replace("{Style}", "default").replace("{time}", "current")
           .replace("{TileMatrixSet}", "WebMercatorQuad").replace("{TileMatrix}", "13")
           .replace("{TileRow}", str(row)).replace("{TileCol}", str(col)).replace("{J}", str(j))
           .replace("{I}", str(i)))
    doc = json.load(urllib.request.urlopen(url))
    names = [f["properties"].get("skmc") for f in doc["features"] if f.get("layer") == "reservoir"]
    check(name in names, f"feature info at the reservoir names {name}: {names}")

    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
