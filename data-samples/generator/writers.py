"""Writers for the delivery formats, set up so output is byte-for-byte reproducible."""
import os
import struct

import numpy as np
from osgeo import gdal, ogr, osr
from shapely.geometry.polygon import orient

gdal.UseExceptions()

DBF_DATE = '2024-07-01'
S, R = ogr.OFTString, ogr.OFTReal


def _srs(epsg):
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def _create_fields(layer, fields):
    for name, kind, width, precision in fields:
        fd = ogr.FieldDefn(name, kind)
        if width:
            fd.SetWidth(width)
        if precision:
            fd.SetPrecision(precision)
        layer.CreateField(fd)


def write_shapefile(path, epsg, geom_type, fields, features, cpg=True):
    """features: iterable of (values tuple, WKB bytes or None). Text is written as GBK. With
    cpg=False the .cpg is removed and the DBF language-driver byte zeroed, as many departments
    deliver it: a reader must then be told the encoding."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    drv = ogr.GetDriverByName('ESRI Shapefile')
    if os.path.exists(path):
        drv.DeleteDataSource(path)
    ds = drv.CreateDataSource(path)
    name = os.path.splitext(os.path.basename(path))[0]
    layer = ds.CreateLayer(name, _srs(epsg), geom_type,
                           ['ENCODING=GBK', 'DBF_DATE_LAST_UPDATE=' + DBF_DATE, 'SPATIAL_INDEX=NO'])
    _create_fields(layer, fields)
    defn = layer.GetLayerDefn()
    count = 0
    for values, wkb in features:
        f = ogr.Feature(defn)
        for i, v in enumerate(values):
            f.SetField(i, v)
        if wkb is not None:
            f.SetGeometryDirectly(ogr.CreateGeometryFromWkb(wkb))
        layer.CreateFeature(f)
        count += 1
    ds = None
    base = os.path.splitext(path)[0]
    if not cpg:
        os.remove(base + '.cpg')
        with open(base + '.dbf', 'r+b') as fh:
            fh.seek(29)
            fh.write(b'\x00')
    return count


def write_geojson(path, layer_name, fields, features):
    """features: iterable of (values tuple, shapely geometry in lon/lat)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path):
        os.remove(path)
    ds = ogr.GetDriverByName('GeoJSON').CreateDataSource(path)
    layer = ds.CreateLayer(layer_name, _srs(4490), ogr.wkbPolygon,
                           ['RFC7946=NO', 'COORDINATE_PRECISION=7', 'WRITE_BBOX=NO'])
    _create_fields(layer, fields)
    defn = layer.GetLayerDefn()
    count = 0
    for values, geom in features:
        f = ogr.Feature(defn)
        for i, v in enumerate(values):
            f.SetField(i, v)
        if geom.geom_type == 'Polygon':
            geom = orient(geom, 1.0)
        f.SetGeometryDirectly(ogr.CreateGeometryFromWkb(geom.wkb))
        layer.CreateFeature(f)
        count += 1
    ds = None
    return count


def polygon_wkb(ring):
    """WKB of a one-ring polygon from an (n, 2) float array."""
    return struct.pack('<BIII', 1, 3, 1, len(ring)) + np.ascontiguousarray(ring, dtype='<f8').tobytes()


def reverse_rings_in_place(shp_path, fid):
    """Reverse the point order of every ring of one polygon record in a .shp, leaving the rest of
    the file untouched (GDAL's writer always emits clockwise exteriors; this makes it wrong)."""
    base = os.path.splitext(shp_path)[0]
    with open(base + '.shx', 'rb') as fh:
        fh.seek(100 + 8 * fid)
        offset_words, _ = struct.unpack('>ii', fh.read(8))
    with open(shp_path, 'r+b') as fh:
        pos = offset_words * 2 + 8
        fh.seek(pos)
        shape_type, = struct.unpack('<i', fh.read(4))
        if shape_type != 5:
            raise RuntimeError('record %d is not a polygon' % fid)
        fh.seek(pos + 4 + 32)
        nparts, npoints = struct.unpack('<ii', fh.read(8))
        parts = list(struct.unpack('<%di' % nparts, fh.read(4 * nparts))) + [npoints]
        pts_pos = fh.tell()
        pts = np.frombuffer(fh.read(16 * npoints), dtype='<f8').reshape(npoints, 2).copy()
        for a, b in zip(parts[:-1], parts[1:]):
            pts[a:b] = pts[a:b][::-1]
        fh.seek(pts_pos)
        fh.write(pts.astype('<f8').tobytes())
