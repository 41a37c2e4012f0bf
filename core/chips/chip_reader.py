"""Reading one chip pair: the image's pixels with the pixels that hold no data, and the labels.

A chip's missing pixels are told three ways, as Classify Pixels tells them on the raster it
maps: non-finite values, the chip's NoData value on every band, or the chip's internal mask
(written by Export Training Data where the source's NoData cannot say it: an alpha band or a
mask, padding past the raster's edge without a NoData value). Training must see the same
pixels as missing as the map will, or it learns from fill values the map never shows it.
"""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager

import numpy as np
import rasterio
from rasterio.enums import MaskFlags

from ..errors import InputError

PARAM = "training_data"


# what chips are: Export Training Data's formats and ArcGIS's (chip_listing.CHIP_SUFFIXES)
CHIP_DRIVERS = ("GTiff", "PNG", "JPEG", "MRF")


def _check_self_contained(ds, path: str) -> None:
    """A chip is an image of its own: not a VRT (or any format that reads other files)
    dressed as a .tif, whose sources were /etc/passwd or a raster outside the folder (its
    bytes trained on and drawn into the report), or a FIFO that hung the read (an
    adversarial sweep, stop 68). Checked before any pixel is read: the driver, and every
    file GDAL reads for it (an MRF's data and index, a .msk, a .aux.xml) a plain file in
    the chip's own folder."""
    if ds.driver not in CHIP_DRIVERS:
        raise InputError(PARAM, f"the chip '{path}' is a {ds.driver} dataset, not a GeoTIFF, "
                         "PNG, JPEG or MRF image; a chip that reads other files is not read. "
                         "Export the training data again")
    folder = os.path.dirname(os.path.realpath(path))
    for f in (ds.files or [])[1:]:
        real = os.path.realpath(f)
        try:
            mode = os.stat(real).st_mode
        except OSError:
            mode = 0
        if os.path.dirname(real) != folder or not stat.S_ISREG(mode):
            raise InputError(PARAM, f"the chip '{path}' reads '{f}', which is not a plain file "
                             "beside it; a chip that reads other files is not read. Export "
                             "the training data again")


@contextmanager
def open_chip(path: str):
    """A chip opened for reading; a damaged or unreadable one is named, not a traceback."""
    try:
        ds = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(PARAM, f"the chip '{path}' cannot be read ({str(exc)[:160]}); export "
                         "the training data again or remove that chip from map.txt") from None
    try:
        _check_self_contained(ds, path)
        yield ds
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(PARAM, f"the chip '{path}' is damaged ({str(exc)[:160]}); export the "
                         "training data again or remove that chip from map.txt") from None
    finally:
        ds.close()


def _check_size(ds, path: str, bands: int, tile: tuple[int, int], label: bool) -> None:
    """The size is checked before the pixels are read: a chip of another size in a folder
    from elsewhere would otherwise be read whole."""
    want = (bands, tile[1], tile[0])
    if (ds.count, ds.height, ds.width) == want or (
            label and ds.count >= 1 and (ds.height, ds.width) == want[1:]):
        return
    raise InputError(PARAM, f"the chip '{path}' holds {ds.count} band(s) of {ds.width} x "
                     f"{ds.height} px; this training data has {want[0]} band(s) of "
                     f"{tile[0]} x {tile[1]} px")


def read_label_chip(path: str, tile: tuple[int, int]) -> np.ndarray:
    """The (h, w) class values of a label chip (its first band)."""
    with open_chip(path) as ds:
        _check_size(ds, path, 1, tile, label=True)
        return ds.read(1)


def read_image_chip(path: str, bands: int, tile: tuple[int, int], picked=None,
                    all_nan: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(pixels (bands, h, w), missing (h, w) bool) of an image chip; ``picked``: only these
    0-based bands, read and judged missing on their own (a band left out of training,
    all NaN, made every pixel missing when judged with the rest). ``all_nan``: a float
    pixel is missing only where every band is NaN or infinite (band statistics, which
    leave each band's own NaN out, so that an all-NaN band is found empty, not every
    pixel missing); else where any band is, as Classify Pixels reads rasters."""
    with open_chip(path) as ds:
        _check_size(ds, path, bands, tile, label=False)
        data = ds.read() if picked is None else ds.read([int(b) + 1 for b in picked])
        return data, _missing(ds, data, all_nan)


def _missing(ds, data: np.ndarray, all_nan: bool = False) -> np.ndarray:
    missing = np.zeros(data.shape[1:], dtype=bool)
    if np.issubdtype(data.dtype, np.floating):
        finite = np.isfinite(data)
        missing |= ~finite.any(axis=0) if all_nan else ~finite.all(axis=0)
    nodata = ds.nodata
    if nodata is not None and not np.isnan(nodata):
        missing |= np.all(data == nodata, axis=0)
    flags = ds.mask_flag_enums[0]
    if MaskFlags.per_dataset in flags and MaskFlags.nodata not in flags:
        missing |= ds.read_masks(1) == 0  # an internal mask (or an alpha band)
    return missing


def nodata_misses(data: np.ndarray, valid: np.ndarray, nodata: float | None) -> bool:
    """Whether a chip written with ``nodata`` alone would show a pixel ``valid`` calls
    missing as data: then the chip needs its own mask."""
    if valid.all():
        return False
    told = np.zeros(valid.shape, dtype=bool)
    if np.issubdtype(data.dtype, np.floating):
        told |= ~np.isfinite(data).all(axis=0)
    if nodata is not None and not np.isnan(nodata):
        told |= np.all(data == nodata, axis=0)
    return bool((~valid & ~told).any())
