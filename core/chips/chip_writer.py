"""Writing chip pairs (image + label) off the main thread.

GDAL releases the GIL while it encodes and writes, so a small pool overlaps writing chip n
with reading and rasterizing chip n+1. The queue is bounded: memory stays a few chips deep
whatever the raster size. By default chips are plain uncompressed GeoTIFF like ArcGIS
writes them: training reads each one many times, and decompression would be paid on
every epoch. IMAGE_CHIP_FORMAT PNG or JPEG trades that for disk (chip_formats.py).
"""

from __future__ import annotations

import errno
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

from ..files import free_bytes
from ..geo.classes import ClassInfo, colormap
from .chip_formats import FORMATS, ChipFormat
from .chip_reader import nodata_misses

TIFF = FORMATS["TIFF"]


def write_chip(path: str, data: np.ndarray, crs, transform: Affine, nodata: float | None,
               colormap: dict | None = None, valid: np.ndarray | None = None,
               driver: str = "GTiff", options: dict | None = None) -> None:
    """One chip; with ``valid``, a mask too where NoData alone would not tell the missing
    pixels (a source masked by an alpha band or a mask, padding past its edge): inside a
    GeoTIFF or a JPEG, beside a PNG (``.msk``)."""
    count, height, width = data.shape
    nodata = held_nodata(nodata, data.dtype)
    mask = valid is not None and nodata_misses(data, valid, nodata)
    try:
        # the mask inside the file: GDAL 3.6 would otherwise write a .msk beside the chip
        with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), \
                rasterio.open(path, "w", driver=driver, width=width, height=height,
                              count=count, dtype=data.dtype.name, crs=crs,
                              transform=transform, nodata=nodata, **(options or {})) as ds:
            ds.write(data)
            if colormap:
                ds.write_colormap(1, colormap)
            if mask:
                ds.write_mask(np.where(valid, 255, 0).astype(np.uint8))
    except Exception as exc:  # noqa: BLE001 - narrowed by _gdal_failure
        # a failed create, or (rasterio 1.4) a failed write; no errno either way, and
        # RasterioIOError is not a RasterioError in rasterio 1.3. PNG and JPEG are written
        # on close, where a full disk raises GDAL's own CPLE_AppDefinedError ('libjpeg:
        # Output file write error --- out of disk space?')
        if not _gdal_failure(exc):
            raise
        raise _failed_write(path, data, str(exc)) from exc
    # rasterio 1.3's GDAL reports a failed write (a full disk) on stderr only; an
    # uncompressed chip is at least as large as its pixels, so a shorter file is a failed
    # one (PNG and JPEG are compressed: rasterio writes them whole from memory on close)
    if driver == "GTiff" and os.path.getsize(path) < data.nbytes:
        raise _failed_write(path, data, f"written short: {os.path.getsize(path)} of "
                                        f"{data.nbytes} bytes")
    if driver != "GTiff":
        _read_back(path, data, crs, transform, valid if mask else None, driver == "PNG")


def _read_back(path: str, data: np.ndarray, crs, transform: Affine,
               valid: np.ndarray | None, lossless: bool) -> None:
    """A PNG or JPEG chip decoded whole and compared with what was written: GDAL writes
    them on close and does not report a flush that failed there (a full disk left a small
    chip empty without an error), and their size says nothing. A JPEG cut short decodes
    without an error (libjpeg only warns, and fills the lost rows with grey; its mask,
    kept after the image, is then lost without a word), and a lost or emptied sidecar
    (the `.aux.xml` holding the georeferencing, the `.msk` beside a PNG) leaves a chip
    that reads, wrongly placed or with its missing pixels as data. So: libjpeg's warnings
    are errors here, and the pixels (PNG: exactly), the mask, the CRS and the transform
    must be those written. About a sixth of the export's time on 8-bit RGB
    (bench_chip_formats): decoding to the last row decodes every row before it."""
    why = "the file written cannot be read back whole"
    try:
        with rasterio.Env(GDAL_ERROR_ON_LIBJPEG_WARNING=True), rasterio.open(path) as ds:
            if (ds.count, ds.height, ds.width) != data.shape:
                raise _failed_write(path, data, why)
            pixels = ds.read()
            if lossless and not np.array_equal(pixels, data):
                why = "its pixels read back differ"
            elif valid is not None and not np.array_equal(ds.read_masks(1) > 0, valid):
                why = "its mask read back differs (a lost .msk or a cut JPEG)"
            elif ds.crs != (CRS.from_user_input(crs) if crs else None) or not np.allclose(
                    tuple(ds.transform)[:6], tuple(transform)[:6], rtol=1e-9, atol=1e-9):
                why = "its georeferencing read back differs (a lost .aux.xml)"
            else:
                return
    except Exception as exc:  # noqa: BLE001 - narrowed by _gdal_failure
        if not _gdal_failure(exc):
            raise
    raise _failed_write(path, data, why)


def held_nodata(nodata: float | None, dtype: np.dtype) -> float | None:
    """The NoData value a chip of ``dtype`` can hold, else None (its mask then tells the
    missing pixels): 0.5 on uint8 read back from a PNG as 0, and -9999 or 300 on uint8 made
    rasterio refuse the chip ('beyond the valid range'), a traceback."""
    if nodata is None or not np.issubdtype(dtype, np.integer):
        return nodata
    info = np.iinfo(dtype)
    if not (np.isfinite(nodata) and float(nodata).is_integer() and info.min <= nodata <= info.max):
        return None
    return nodata


def _gdal_failure(exc: BaseException) -> bool:
    """rasterio's own errors and GDAL's (``CPLE_*``, whose base class is private)."""
    kinds = type(exc).__mro__
    return isinstance(exc, (rasterio.errors.RasterioError, rasterio.errors.RasterioIOError)) \
        or any(k.__name__.startswith("CPLE_") for k in kinds)


def _failed_write(path: str, data: np.ndarray, why: str) -> OSError:
    """ENOSPC when the disk is (nearly) full, so callers report 'disk full'; EIO otherwise."""
    full = (free_bytes(path) or 0) < 2 * data.nbytes + (1 << 20)
    return OSError(errno.ENOSPC if full else errno.EIO, f"the chip '{path}' failed ({why})")


def _valid_by_nodata(image: np.ndarray, nodata: float | None) -> np.ndarray | None:
    """The pixels a chip given without its validity holds data in, told by ``nodata``
    (what a lossy chip's mask must keep, having no NoData value of its own)."""
    if nodata is None or np.isnan(nodata):
        return None
    return ~np.all(image == nodata, axis=0)


class ChipWriter:
    """Writes (image, label) chip pairs with a bounded number of writes in flight."""

    def __init__(self, folder: str, crs, image_nodata: float | None, classes: list[ClassInfo],
                 workers: int = 2, depth: int = 8, fmt: ChipFormat = TIFF):
        self.images = os.path.join(folder, "images")
        self.labels = os.path.join(folder, "labels")
        os.makedirs(self.images, exist_ok=True)
        os.makedirs(self.labels, exist_ok=True)
        self.crs = crs
        # a lossy chip keeps no NoData value: its mask alone tells missing pixels
        self.nodata = image_nodata if fmt.nodata_kept else None
        self._source_nodata = image_nodata
        self.fmt = fmt
        self.cmap = colormap(classes)
        self.depth = depth
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chips")
        self._pending: deque[Future] = deque()

    def submit(self, name: str, image: np.ndarray, label: np.ndarray, transform: Affine,
               valid: np.ndarray | None = None, label_name: str | None = None) -> None:
        """Write the pair as ``images/<name>`` and ``labels/<label_name or name>``."""
        while len(self._pending) >= self.depth:
            self._pending.popleft().result()  # re-raises a failed write here
        if valid is None and not self.fmt.nodata_kept:
            valid = _valid_by_nodata(image, self._source_nodata)
        self._pending.append(self._pool.submit(self._write, name, label_name or name, image,
                                               label, transform, valid))

    def _write(self, name: str, label_name: str, image: np.ndarray, label: np.ndarray,
               transform: Affine, valid: np.ndarray | None) -> None:
        fmt = self.fmt
        write_chip(os.path.join(self.images, name), image, self.crs, transform, self.nodata,
                   valid=valid, driver=fmt.driver, options=dict(fmt.options))
        write_chip(os.path.join(self.labels, label_name), label[None], self.crs, transform, 0,
                   self.cmap, driver=fmt.label_driver)

    def close(self, wait_errors: bool = True) -> None:
        """Finish every pending write; re-raise the first failure unless we are unwinding."""
        try:
            while self._pending:
                fut = self._pending.popleft()
                if wait_errors:
                    fut.result()
                else:
                    fut.exception()
        finally:
            self._pool.shutdown(wait=True)
