"""Labels from a classified raster, warped onto the image grid when grids or CRSs differ.

nc_landsat7's strata.tif describes its CRS as EPSG:3358 while the image says EPSG:32119:
the same place, told differently. Tools that demand identical CRS strings refuse the pair;
we warp with nearest neighbour, which is an exact copy when the grids truly coincide.
"""

from __future__ import annotations

import math

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window, from_bounds

from ..errors import InputError
from ..geo.classes import check_class_value, make_classes
from ..geo.gdal_open import open_dataset_or_none
from ..geo.grid import Grid, apply, tile_windows, window_bounds
from ..geo.raster import open_dataset, read_inside, true_int64_bands
from ..progress import Progress, check
from .base import LabelConfig, sidecar_class_names, zero_outside

# Offsets within this fraction of a pixel count as the same grid (float noise in transforms).
_ALIGN_TOL = 1e-6


class RasterLabels:
    def __init__(self, config: LabelConfig, grid: Grid, progress: Progress):
        self.config = config
        self.grid = grid
        self.ds = open_dataset(config.labels, "labels")
        if self.ds.count < 1:
            raise InputError("labels", "the label raster has no band")
        dtype = np.dtype(self.ds.dtypes[0])
        if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
            raise InputError("labels", f"the label raster's type {dtype} cannot hold class values")
        int64 = true_int64_bands(self.ds)
        self._int64 = 1 in int64  # Int64 read as uint64 by rasterio 1.3 (raster.true_int64_bands)
        self.src_nodata = int64[1] if self._int64 else self.ds.nodata
        self._fill = self.src_nodata if self.src_nodata is not None else 0
        if self._int64:  # the fill goes into uint64 buffers: its bit pattern
            self._fill = int(np.int64(self._fill).view(np.uint64))
        self._offset = self._aligned_offset()
        if self._offset is not None and (self.ds.crs is None) != (grid.crs is None):
            progress.warning("The label raster and the image are on the same grid but "
                             f"{'the label raster' if self.ds.crs is None else 'the image'} "
                             "has no CRS: the other's is assumed. Assign it if that is wrong.")
        self.cell_ratio: float | None = None
        if self._offset is None and self._int64:
            raise InputError("labels", "the label raster is Int64 and on another grid than the "
                             "image; this GDAL/rasterio cannot warp Int64 correctly. Convert it "
                             "to Int32 or UInt8 first (class values are 1..255 anyway)")
        if self._offset is None:
            if self.ds.crs is None or grid.crs is None:
                raise InputError("labels", "the label raster and the image are on different grids "
                                 "and one of them has no CRS, so they cannot be aligned; assign "
                                 "the CRS first")
            progress.info(f"Labels are on another grid or CRS ({self.ds.crs.to_string()}); "
                          "warping them onto the image grid with nearest neighbour.")
            # image pixels per label cell (Assess Accuracy warns when it is well above 1)
            self.cell_ratio = self._cell_ratio()
        if not self.overlaps(grid.full_window):
            raise InputError("labels", "the label raster does not overlap the image; check "
                             "that both are where they should be (and their CRS)")
        values = self._scan_values(progress)
        names = {**sidecar_class_names(config.labels, self._category_names()),
                 **config.class_names}
        self.classes = make_classes(values, names, self._colormap(values))

    def _aligned_offset(self) -> tuple[int, int] | None:
        """(col, row) of the image grid's origin in the label raster, if grids coincide."""
        # a side without a CRS (a label raster saved without .prj or .aux.xml) is taken to
        # be in the other's when the grids coincide, as vector labels are (warned)
        same_crs = (self.ds.crs == self.grid.crs) or self.ds.crs is None or self.grid.crs is None
        if not same_crs:
            return None
        st, gt = self.ds.transform, self.grid.transform
        if not np.allclose([st.a, st.b, st.d, st.e], [gt.a, gt.b, gt.d, gt.e],
                           rtol=0, atol=_ALIGN_TOL * abs(gt.a)):
            return None
        col, row = apply(~st, gt.c, gt.f)
        if abs(col - round(col)) > _ALIGN_TOL or abs(row - round(row)) > _ALIGN_TOL:
            return None
        return int(round(col)), int(round(row))

    def overlaps(self, window: Window) -> bool:
        """Whether the label raster's footprint meets ``window`` of the image grid."""
        xmin, ymin, xmax, ymax = window_bounds(self.grid, window)
        lb = tuple(self.ds.bounds)
        if self._offset is None and self.ds.crs and self.grid.crs and self.ds.crs != self.grid.crs:
            try:
                lb = transform_bounds(self.ds.crs, self.grid.crs, *lb, densify_pts=21)
            except Exception:  # noqa: BLE001 - PROJ failures: let the warp decide
                return True
        return lb[0] < xmax and lb[2] > xmin and lb[1] < ymax and lb[3] > ymin

    def holds_labels(self, window: Window) -> bool:
        """Whether ``window`` of the image grid has a labelled pixel (the automatic chip
        size counts these): the footprint alone calls a sparse label raster labelled
        everywhere, e.g. a rasterised OSM layer that covers a scene with 0s."""
        return self.overlaps(window) and bool(self.read(window).any())

    def _scan_values(self, progress: Progress) -> set[int]:
        """Every class value of the label raster where it meets the image, checked once,
        a block at a time: a county's image against a continent's labels reads the
        county's part, not the continent (which could also hold a stray value far away)."""
        found: set[int] = set()
        area = self._image_area()
        for win in tile_windows(area, (1024, 1024)):
            check(progress)
            win = win.intersection(area)
            found.update(np.unique(self._to_classes(self.ds.read(1, window=win), "")).tolist())
        found.discard(0)
        if not found:
            raise InputError("labels", "the label raster holds no class value other than "
                             "0/NoData where it meets the image")
        return found

    def _image_area(self) -> Window:
        """The window of the label raster under the image grid (a pixel wider each side for
        a warp's neighbours), or all of it when the image's bounds cannot be projected."""
        full = Window(0, 0, self.ds.width, self.ds.height)
        if self._offset is not None:
            col, row = self._offset
            want = Window(col, row, self.grid.width, self.grid.height)
        else:
            try:
                bounds = transform_bounds(self.grid.crs, self.ds.crs, *self.grid.bounds,
                                          densify_pts=21)
                want = from_bounds(*bounds, transform=self.ds.transform)
            except Exception:  # noqa: BLE001 - PROJ cannot: the whole raster, as before
                return full
            if not all(map(math.isfinite, (want.col_off, want.row_off, want.width,
                                           want.height))):
                return full
            c0, r0 = math.floor(want.col_off) - 1, math.floor(want.row_off) - 1
            want = Window(c0, r0, math.ceil(want.col_off + want.width) + 1 - c0,
                          math.ceil(want.row_off + want.height) + 1 - r0)
        try:
            return want.intersection(full)
        except Exception:  # noqa: BLE001 - rasterio's WindowError: no overlap
            return full

    def _to_classes(self, arr: np.ndarray, where: str) -> np.ndarray:
        """Map nodata/NaN to 0, check every value is an integer in 0..255, return uint8."""
        arr = np.asarray(arr)
        if self._int64 and arr.dtype == np.uint64:
            arr = arr.view(np.int64)
        nodata = np.zeros(arr.shape, dtype=bool)
        if np.issubdtype(arr.dtype, np.floating):
            nodata |= np.isnan(arr)
        if self.src_nodata is not None and not np.isnan(self.src_nodata):
            nodata |= arr == self.src_nodata
        if arr.dtype == np.uint8 and not nodata.any():
            return arr  # every uint8 is a valid class value
        kept = arr[~nodata]
        if kept.size and (kept.min() < 0 or kept.max() > 255 or (
                np.issubdtype(arr.dtype, np.floating) and np.any(kept != np.round(kept)))):
            vals = np.unique(kept)
            bad = [v for v in vals if v < 0 or v > 255 or v != round(float(v))][0]
            check_class_value(float(bad), "labels", where or "in the label raster")
        return np.where(nodata, 0, arr).astype(np.uint8)

    def _cell_ratio(self) -> float | None:
        """Image pixels per label cell, at the label raster's centre, in the image's CRS."""
        from rasterio.warp import transform_bounds

        t = self.ds.transform
        col, row = self.ds.width // 2, self.ds.height // 2
        x0, y0 = t * (col, row)
        x1, y1 = t * (col + 1, row + 1)
        try:
            left, bottom, right, top = transform_bounds(self.ds.crs, self.grid.crs,
                                                        min(x0, x1), min(y0, y1),
                                                        max(x0, x1), max(y0, y1))
        except Exception:  # noqa: BLE001 - a cell that does not transform: nothing to say
            return None
        gx, gy = abs(self.grid.transform.a), abs(self.grid.transform.e)
        return abs(right - left) * abs(top - bottom) / (gx * gy) if gx and gy else None

    def _category_names(self) -> dict[int, str]:
        return category_names(self.config.labels)

    def _colormap(self, values: set[int]) -> dict[int, tuple[int, int, int]]:
        try:
            cmap = self.ds.colormap(1)
        except ValueError:
            return {}
        return {v: tuple(cmap[v][:3]) for v in values if v in cmap}

    def read(self, window: Window) -> np.ndarray:
        h, w = int(window.height), int(window.width)
        if self._offset is not None:
            col, row = self._offset
            src_win = Window(window.col_off + col, window.row_off + row, w, h)
            arr = np.full((h, w), self._fill, dtype=self.ds.dtypes[0])
            read_inside(self.ds, 1, src_win, arr)
        else:
            arr = np.full((h, w), self._fill, dtype=self.ds.dtypes[0])
            reproject(source=rasterio.band(self.ds, 1), destination=arr,
                      src_nodata=self.src_nodata, dst_nodata=self._fill,
                      dst_transform=self.grid.window_transform(window), dst_crs=self.grid.crs,
                      resampling=Resampling.nearest)
        return zero_outside(self._to_classes(arr, "in the label raster"), window, self.grid)

    def close(self) -> None:
        self.ds.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        # closed when the run ends, not whenever the last reference goes: a label raster
        # left to an error's traceback was freed only by a later garbage collection, and
        # that crashed the interpreter at exit (test_disk_and_signals, run alone)
        self.close()


def category_names(path: str, band: int = 1) -> dict[int, str]:
    """GDAL category names of ``band`` (value -> name), without the empty ones and 0."""
    from osgeo import gdal

    ds = open_dataset_or_none(path, gdal.OF_RASTER)
    if ds is None or not 1 <= band <= ds.RasterCount:
        return {}
    band = ds.GetRasterBand(band)
    # GDAL 3.6's GTiff loads the .aux.xml lazily and GetCategoryNames does not trigger
    # it; GetColorTable does. Without this, names we wrote ourselves read back as None.
    band.GetColorTable()
    names = band.GetCategoryNames() or []
    return {i: n for i, n in enumerate(names) if n and i > 0}
