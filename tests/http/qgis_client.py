#!/usr/bin/python3
"""QGIS (Debian python3-qgis, headless) as a client of onemap-server.

Usage: qgis_client.py BASE_URL WATER_LON WATER_LAT DRY_LON DRY_LAT RESERVOIRS

- WMTS: the basemap through QGIS's WMS/WMTS provider from the CGCS2000 (EPSG:4490) and the
  Web Mercator matrix sets, rendered by QGIS's own map renderer around a reservoir point and a
  dry-land point: the reservoir pixel is water-blue, the dry one is not, on both grids.
- OGC API – Features: the reservoir collection through QGIS's OAPIF provider has RESERVOIRS
  features with their Chinese names, and a bbox request returns the reservoir under the point.
Exit status 0 = all checks passed.
"""
import os
import sys
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="onemap-qgis-")  # Qt wants it private (0700)

from qgis.core import (QgsApplication, QgsCoordinateReferenceSystem, QgsFeatureRequest,  # noqa: E402
                       QgsMapRendererSequentialJob, QgsMapSettings, QgsPointXY, QgsRasterLayer, QgsRectangle,
                       QgsVectorLayer, QgsCoordinateTransform, QgsProject)
from qgis.PyQt.QtCore import QSize  # noqa: E402
from qgis.PyQt.QtGui import QColor  # noqa: E402

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def render(layer, crs, lon, lat, half_width_deg):
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(crs)
    settings.setOutputSize(QSize(200, 200))
    settings.setOutputDpi(96)
    to_crs = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:4490"), crs, QgsProject.instance())
    sw = to_crs.transform(QgsPointXY(lon - half_width_deg, lat - half_width_deg))
    ne = to_crs.transform(QgsPointXY(lon + half_width_deg, lat + half_width_deg))
    settings.setExtent(QgsRectangle(sw, ne))
    settings.setBackgroundColor(QColor(0, 0, 0, 0))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    # The point is at the centre of the extent; look at a 5 x 5 block there.
    cx, cy = image.width() // 2, image.height() // 2
    water = 0
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            c = QColor(image.pixel(cx + dx, cy + dy))
            water += c.blue() > c.red() + 60 and c.blue() > c.green() + 20
    return water


def main():
    base, lon, lat, dry_lon, dry_lat, reservoirs = (sys.argv[1], *map(float, sys.argv[2:6]), int(sys.argv[6]))
    app = QgsApplication([], False)
    app.initQgis()
    try:
        for tms, crs in (("CGCS2000Quad", "EPSG:4490"), ("WebMercatorQuad", "EPSG:3857")):
            uri = (f"contextualWMSLegend=0&crs={crs}&dpiMode=7&format=image/png&layers=basemap&styles=default"
                   f"&tileMatrixSet={tms}&url={base}/wmts/1.0.0/WMTSCapabilities.xml")
            layer = QgsRasterLayer(uri, "basemap " + tms, "wms")
            check(layer.isValid(), f"QGIS opens the WMTS basemap on {tms}")
            if not layer.isValid():
                continue
            target = QgsCoordinateReferenceSystem(crs)
            check(render(layer, target, lon, lat, 0.004) >= 20, f"{tms}: the reservoir renders water-blue")
            check(render(layer, target, dry_lon, dry_lat, 0.004) == 0, f"{tms}: dry land has no water")

        uri = f"url='{base}/ogc' typename='reservoir'"
        layer = QgsVectorLayer(uri, "reservoir", "OAPIF")
        check(layer.isValid(), "QGIS opens the reservoir collection through OAPIF")
        if layer.isValid():
            features = list(layer.getFeatures())
            check(len(features) == reservoirs, f"OAPIF: {len(features)} reservoirs, PostGIS has {reservoirs}")
            names = [f["skmc"] for f in features]
            check(any(n and any("\u4e00" <= ch <= "\u9fff" for ch in n) for n in names), "OAPIF: Chinese names")
            request = QgsFeatureRequest().setFilterRect(QgsRectangle(lon - 1e-4, lat - 1e-4, lon + 1e-4, lat + 1e-4))
            hits = [f for f in layer.getFeatures(request) if f.geometry().contains(QgsPointXY(lon, lat))]
            check(len(hits) == 1, f"OAPIF bbox request: {len(hits)} reservoir(s) contain the point")
    except Exception as e:  # a client error is a failed check, not a pass
        check(False, f"{type(e).__name__}: {e}")
    finally:
        # QGIS 3.22's teardown (exitQgis with providers alive) can crash after every check has
        # run; the verdict is already known, so leave without it.
        print(f"{len(failures)} check(s) failed" if failures else "all checks passed", flush=True)
        os._exit(1 if failures else 0)


if __name__ == "__main__":
    main()
