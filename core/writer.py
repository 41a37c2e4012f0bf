"""Atomic, tiled, compressed GeoTIFF output with a colour table and class names.

Everything is written under temporary names in the destination folder and renamed into
place only when the whole raster is done, so a failure or a cancel leaves no result at all
(and an older result at the same path stays intact until the new one is complete).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np
import rasterio
from rasterio.windows import Window

from .classes import ClassInfo, colormap
from .errors import InputError
from .files import ensure_writable_folder, temporary_sibling
from .grid import Grid
from .qml import paletted_style

BLOCK = 256


class GeoTiffWriter:
    """Write windows into a new GeoTIFF on ``grid``; ``commit()`` publishes it.

    Use as a context manager: leaving the block normally commits, an exception aborts
    and removes every temporary file.
    """

    def __init__(self, path: str | os.PathLike, grid: Grid, count: int, dtype,
                 nodata: float | None = None, classes: Sequence[ClassInfo] | None = None,
                 band_names: Sequence[str] | None = None, tags: dict | None = None,
                 parameter: str = "output"):
        self.path = os.fspath(path)
        if not self.path.lower().endswith((".tif", ".tiff")):
            raise InputError(parameter, f"'{self.path}' is not a GeoTIFF path; use a .tif name")
        ensure_writable_folder(self.path, parameter)
        self.classes = list(classes or [])
        self._tmp = temporary_sibling(self.path, ".tif")
        dtype = np.dtype(dtype)
        small = grid.width < BLOCK or grid.height < BLOCK
        profile = dict(
            driver="GTiff", width=grid.width, height=grid.height, count=count, dtype=dtype.name,
            crs=grid.crs, transform=grid.transform, nodata=nodata, compress="deflate",
            tiled=not small, BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS",
        )
        if not small:
            profile.update(blockxsize=BLOCK, blockysize=BLOCK)
        if np.issubdtype(dtype, np.integer):
            profile["predictor"] = 2
        elif np.issubdtype(dtype, np.floating):
            profile["predictor"] = 3
        self.dtype = dtype
        self._ds = rasterio.open(self._tmp, "w", **profile)
        if band_names:
            for i, name in enumerate(band_names, start=1):
                self._ds.set_band_description(i, name)
        if self.classes:
            self._ds.update_tags(LANDLEARN_CLASSES=json.dumps([c.to_esri() for c in self.classes]))
            # before any pixel: GTiff cannot switch to a palette once blocks are on disk
            self._ds.write_colormap(1, colormap(self.classes))
        if tags:
            self._ds.update_tags(**{k: str(v) for k, v in tags.items()})
        self._done = False

    def write(self, data: np.ndarray, window: Window) -> None:
        """Write (bands, rows, cols) or (rows, cols) data at ``window`` (inside the grid)."""
        if data.ndim == 2:
            data = data[None]
        self._ds.write(data.astype(self.dtype, copy=False), window=window)

    def commit(self) -> str:
        self._ds.close()
        staged = [(self._tmp, self.path)]
        if self.classes:
            staged += self._write_class_sidecars()
        stale = f"{self.path}.aux.xml"
        if os.path.exists(stale) and stale not in [d for _, d in staged]:
            os.remove(stale)
        # Sidecars first, the raster last: once the .tif exists, its styling is in place.
        for src, dst in reversed(staged):
            os.replace(src, dst)
        self._done = True
        return self.path

    def _write_class_sidecars(self) -> list[tuple[str, str]]:
        """GDAL category names (in the .aux.xml PAM) and a QGIS .qml; staged, not renamed."""
        from osgeo import gdal

        names = [""] * (max(c.value for c in self.classes) + 1)
        for c in self.classes:
            names[c.value] = c.name
        ds = gdal.Open(self._tmp, gdal.GA_Update)
        ds.GetRasterBand(1).SetCategoryNames(names)
        ds = None
        staged = []
        if os.path.exists(self._tmp + ".aux.xml"):
            staged.append((self._tmp + ".aux.xml", self.path + ".aux.xml"))
        qml_tmp = self._tmp[:-4] + ".qml"
        with open(qml_tmp, "w", encoding="utf-8") as fh:
            fh.write(paletted_style(self.classes))
        staged.append((qml_tmp, os.path.splitext(self.path)[0] + ".qml"))
        return staged

    def abort(self) -> None:
        if not self._ds.closed:
            self._ds.close()
        for p in (self._tmp, self._tmp + ".aux.xml", self._tmp[:-4] + ".qml"):
            if os.path.exists(p):
                os.remove(p)
        self._done = True

    def __enter__(self) -> GeoTiffWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._done:
            return
        if exc_type is None:
            self.commit()
        else:
            self.abort()
