#!/usr/bin/python3
"""Makes the damaged-file corpus of tests/data/damaged/ (and the datum test files of
tests/data/datum/) from the committed samples. Run with Debian's python3 (python3-gdal):

    /usr/bin/python3 tests/data/damaged/make_damaged.py            # rewrite the committed corpus
    /usr/bin/python3 tests/data/damaged/make_damaged.py --big DIR  # the 1M-vertex polygon, into DIR

Each case is described, with its expected outcome, in cases.json next to this script; the db
test tests/db/test_import_damaged.cpp runs every one.
"""
import math
import os
import shutil
import struct
import sys

from osgeo import ogr, osr

ogr.UseExceptions()
osr.UseExceptions()

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
SAMPLE = os.path.join(ROOT, "data-samples", "water", "reservoir")  # 48 polygons, EPSG:4526, GBK
PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def fresh(case):
    d = os.path.join(HERE, case)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def copy_sample(case):
    d = fresh(case)
    for ext in PARTS:
        shutil.copy(SAMPLE + ext, os.path.join(d, "reservoir" + ext))
    return os.path.join(d, "reservoir")


def patch(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def dbf_header(path):
    with open(path, "rb") as f:
        head = f.read(32)
    records, header_len, record_len = struct.unpack("<IHH", head[4:12])
    return records, header_len, record_len


def shx_from_other_file():
    """The .shx of another file with the same layer name: its first 10 features only."""
    base = copy_sample("shx_from_other_file")
    tmp = os.path.join(HERE, "_tmp_other")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    src = ogr.Open(SAMPLE + ".shp")
    layer = src.GetLayer(0)
    drv = ogr.GetDriverByName("ESRI Shapefile")
    out = drv.CreateDataSource(tmp)
    other = out.CreateLayer("reservoir", layer.GetSpatialRef(), layer.GetGeomType())
    other.CreateField(ogr.FieldDefn("N", ogr.OFTInteger))
    for i, feat in enumerate(layer):
        if i >= 10:
            break
        f = ogr.Feature(other.GetLayerDefn())
        f.SetField("N", i)
        # a slightly different file: every second vertex of each ring dropped
        g = feat.GetGeometryRef().Clone()
        f.SetGeometry(g.Simplify(50.0) if g.Simplify(50.0) is not None else g)
        other.CreateFeature(f)
    out = None
    shutil.copy(os.path.join(tmp, "reservoir.shx"), base + ".shx")
    shutil.rmtree(tmp)


def dbf_zero_bytes():
    base = copy_sample("dbf_zero_bytes")
    open(base + ".dbf", "wb").close()


def dbf_record_count():
    """The .dbf header declares 30 records while the file holds all 48."""
    base = copy_sample("dbf_record_count")
    patch(base + ".dbf", 4, struct.pack("<I", 30))


def dbf_field_descriptor():
    """The second field descriptor is overwritten with garbage."""
    base = copy_sample("dbf_field_descriptor")
    patch(base + ".dbf", 32 + 32, bytes([0x01, 0x02, 0x03, 0x04] * 8))


def dbf_header_length():
    """The header length says 33: the header would end before its field descriptors."""
    base = copy_sample("dbf_header_length")
    patch(base + ".dbf", 8, struct.pack("<H", 33))


def dbf_fewer_records():
    """A consistent .dbf of 40 records beside a .shp and .shx of 48."""
    base = copy_sample("dbf_fewer_records")
    records, header_len, record_len = dbf_header(base + ".dbf")
    with open(base + ".dbf", "rb") as f:
        data = f.read()
    keep = 40
    data = data[:4] + struct.pack("<I", keep) + data[8:header_len + keep * record_len] + b"\x1a"
    with open(base + ".dbf", "wb") as f:
        f.write(data)


def shp_more_records():
    """.shx and .dbf agree on 47 records but the .shp holds 48 (last index entry and record cut)."""
    base = copy_sample("shx_dbf_short")
    with open(base + ".shx", "rb") as f:
        shx = f.read()
    shx = shx[:-8]
    shx = shx[:24] + struct.pack(">I", len(shx) // 2) + shx[28:]
    with open(base + ".shx", "wb") as f:
        f.write(shx)
    records, header_len, record_len = dbf_header(base + ".dbf")
    with open(base + ".dbf", "rb") as f:
        data = f.read()
    data = data[:4] + struct.pack("<I", records - 1) + data[8:header_len + (records - 1) * record_len] + b"\x1a"
    with open(base + ".dbf", "wb") as f:
        f.write(data)


def garbage_prj():
    base = copy_sample("garbage_prj")
    with open(base + ".prj", "w") as f:
        f.write("this is not a coordinate system, it is a scanned fax cover sheet\n")


def write_polygons(case, name, epsg, rings, fields=True):
    """A shapefile of one polygon per ring list, written by OGR (coordinates as given)."""
    d = fresh(case)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    drv = ogr.GetDriverByName("ESRI Shapefile")
    ds = drv.CreateDataSource(d)
    layer = ds.CreateLayer(name, srs, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("NAME", ogr.OFTString))
    for label, ring in rings:
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetField("NAME", label)
        r = ogr.Geometry(ogr.wkbLinearRing)
        for x, y in ring:
            r.AddPoint_2D(x, y)
        p = ogr.Geometry(ogr.wkbPolygon)
        p.AddGeometry(r)
        f.SetGeometry(p)
        layer.CreateFeature(f)
    ds = None
    return os.path.join(d, name)


def square(x, y, size):
    return [(x, y), (x, y + size), (x + size, y + size), (x + size, y), (x, y)]


NAN_PLACEHOLDER = 114.00123456789


def coordinates():
    """EPSG:4490 polygons: one good, then 1e308, latitude 95, NaN, longitude 200."""
    write_polygons("coordinates", "coords", 4490, [
        ("good", square(114.0, 33.0, 0.01)),
        ("huge", [(114.0, 33.0), (1e308, 1e308), (114.01, 33.0), (114.0, 33.0)]),
        ("lat95", square(114.0, 94.99, 0.02)),
        ("nan", [(114.0, 33.0), (NAN_PLACEHOLDER, 33.005), (114.01, 33.0), (114.0, 33.0)]),
        ("lon200", square(200.0, 33.0, 0.01)),
    ])
    # OGR refuses to write NaN: put it into the .shp's bytes afterwards.
    shp = os.path.join(HERE, "coordinates", "coords.shp")
    with open(shp, "rb") as f:
        data = f.read()
    placeholder = struct.pack("<d", NAN_PLACEHOLDER)
    assert data.count(placeholder) == 1
    data = data.replace(placeholder, struct.pack("<d", float("nan")))
    with open(shp, "wb") as f:
        f.write(data)


def coordinates_projected():
    """EPSG:4547 (CGCS2000 GK CM 114E) with one polygon whose eastings PROJ cannot invert."""
    write_polygons("coordinates_projected", "coords_gk", 4547, [
        ("good", square(500000.0, 3650000.0, 100.0)),
        ("far", square(500000.0, 9.9e15, 100.0)),
    ])


def write_points(folder, name, epsg, points):
    d = os.path.join(ROOT, "tests", "data", "datum")
    os.makedirs(d, exist_ok=True)
    for ext in PARTS:
        p = os.path.join(d, name + ext)
        if os.path.exists(p):
            os.remove(p)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    ds = ogr.GetDriverByName("ESRI Shapefile").CreateDataSource(d)
    layer = ds.CreateLayer(name, srs, ogr.wkbPoint)
    layer.CreateField(ogr.FieldDefn("NAME", ogr.OFTString))
    for label, x, y in points:
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetField("NAME", label)
        g = ogr.Geometry(ogr.wkbPoint)
        g.AddPoint_2D(x, y)
        f.SetGeometry(g)
        layer.CreateFeature(f)
    ds = None


def datum_files():
    # x = longitude/easting in every file (OGR writes shapefiles in GIS order).
    write_points("datum", "nad27_nc", 4267, [
        ("raleigh", -78.6382, 35.7796), ("charlotte", -80.8431, 35.2271), ("asheville", -82.5515, 35.5951)])
    write_points("datum", "osgb36_scot", 27700, [
        ("edinburgh", 325900.0, 673900.0), ("glasgow", 259000.0, 665500.0), ("aberdeen", 394200.0, 806300.0)])
    # Beijing 1954 / 3-degree Gauss-Kruger CM 114E, around Zhumadian (Henan)
    write_points("datum", "beijing1954_gk", 2435, [
        ("zhumadian", 502300.0, 3649800.0), ("xiping", 486000.0, 3688000.0), ("runan", 521000.0, 3653000.0)])


def big_polygon(folder, vertices=1_000_000):
    """One polygon of `vertices` vertices (a circle of 10 km) in EPSG:4490: ~16 MB, made at test time."""
    os.makedirs(folder, exist_ok=True)
    ring = []
    for i in range(vertices):
        a = 2 * math.pi * i / vertices
        ring.append((114.0 + 0.1 * math.cos(a), 33.0 + 0.1 * math.sin(a)))
    ring.append(ring[0])
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4490)
    path = os.path.join(folder, "big.shp")
    if os.path.exists(path):
        ogr.GetDriverByName("ESRI Shapefile").DeleteDataSource(path)
    ds = ogr.GetDriverByName("ESRI Shapefile").CreateDataSource(path)
    layer = ds.CreateLayer("big", srs, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("NAME", ogr.OFTString))
    r = ogr.Geometry(ogr.wkbLinearRing)
    for x, y in ring:
        r.AddPoint_2D(x, y)
    p = ogr.Geometry(ogr.wkbPolygon)
    p.AddGeometry(r)
    f = ogr.Feature(layer.GetLayerDefn())
    f.SetField("NAME", "circle")
    f.SetGeometry(p)
    layer.CreateFeature(f)
    ds = None
    return path


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--big":
        print(big_polygon(sys.argv[2]))
        return
    shx_from_other_file()
    dbf_zero_bytes()
    dbf_record_count()
    dbf_field_descriptor()
    dbf_header_length()
    dbf_fewer_records()
    shp_more_records()
    garbage_prj()
    coordinates()
    coordinates_projected()
    datum_files()


if __name__ == "__main__":
    main()
