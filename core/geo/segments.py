"""Segmented rasters (segment ids) read beside an image: Segment's output, or any integer
raster on the same grid, for Refine Classification and object-based classification.

A pixel belongs to no segment where the raster's NoData mask says so. Ids are read as
int64: any integer id is its own segment (a uint64 id above 2**63 becomes a negative
one, still distinct).
"""

from __future__ import annotations

import math
import os

import numpy as np
from rasterio.windows import Window

from ..errors import InputError
from .grid import Grid, crs_name, same_transform
from .raster import open_dataset

__all__ = ["open_segments", "read_segments", "read_segments_halo", "table_budget"]


def open_segments(path: str, grid: Grid, parameter: str = "segmented_raster",
                  image: str = "INPUT_RASTER", progress=None):
    """The open segmented raster, refused unless it holds integers on ``grid``; with
    ``progress``, a warning when it declares no NoData (see ``_undeclared``)."""
    ds = open_dataset(path, parameter)
    if ds.count != 1:
        # Segment's OUTPUT (mean colours) and ArcGIS's segmented raster are RGB images: band
        # 1 read as ids made one 'segment' of every patch with the same red mean
        count = ds.count
        ds.close()
        raise InputError(parameter, f"'{path}' has {count} bands; segment ids are one band. "
                         "Give Segment's OUTPUT_SEGMENT_IDS (its OUTPUT holds the segments' "
                         "mean colours), or any one-band integer raster of ids")
    same = (ds.width, ds.height) == (grid.width, grid.height) and \
        same_transform(grid.transform, ds.transform) and ds.crs == grid.crs
    if not same or np.dtype(ds.dtypes[0]).kind not in "iu":
        if (ds.width, ds.height) != (grid.width, grid.height):
            what = (f"a grid other than {image}'s: {ds.width} x {ds.height} px against "
                    f"{grid.width} x {grid.height}")
        elif not same:
            differs = [name for name, ok in (
                ("origin", (ds.transform.c, ds.transform.f) == (grid.transform.c,
                                                                 grid.transform.f)),
                ("cell size", (ds.transform.a, ds.transform.e) == (grid.transform.a,
                                                                   grid.transform.e)),
                ("CRS", ds.crs == grid.crs)) if not ok] or ["rotation"]
            what = (f"a grid other than {image}'s: its {' and '.join(differs)} "
                    + ("differs" if len(differs) == 1 else "differ"))
            if "CRS" in differs:  # which two: the same place in another CRS, or a wrong one
                what += (f" ({crs_name(ds.crs)} against {crs_name(grid.crs)}; where both "
                         "are the same place, Assign Projection fixes the ids' CRS)")
        else:
            what = f"{ds.dtypes[0]} values"
        ds.close()
        raise InputError(parameter, f"'{path}' has {what}; give integer segment ids on "
                         f"{image}'s grid (Segment on the same raster, or align it with "
                         "Align Rasters / gdalwarp, nearest neighbour)")
    if progress is not None and _undeclared(ds) and _zero_in(ds):
        progress.warning(f"{parameter.upper()} '{path}' holds 0 and declares no NoData value: "
                         "every id, 0 included, is taken as a segment. If 0 marks pixels "
                         "outside any segment (gdal_rasterize without -a_nodata), set it as "
                         "the raster's NoData (Segment's ids have NoData 0), or that "
                         "background becomes one segment with one class.")
    return ds


def _undeclared(ds) -> bool:
    """No NoData value and no mask: Segment writes 0 = NoData, but a raster of parcels
    burnt by another tool often leaves its background 0 with nothing declared."""
    from rasterio.enums import MaskFlags

    return ds.nodata is None and MaskFlags.all_valid in ds.mask_flag_enums[0]


ZERO_CHECK_PIXELS = 1 << 22  # read whole below this; else ZERO_CHECK_BLOCKS spread over it
ZERO_CHECK_BLOCKS = 256  # of 256 x 256 int32: 64 MB read, a fraction of one pass


def _zero_in(ds) -> bool:
    """Whether the id 0 (gdal_rasterize's background) shows: in the whole raster when it
    is small, else in up to ZERO_CHECK_BLOCKS of its blocks spread evenly over it, a
    bounded read (a background between parcels is spread over the raster and shows in
    them; a thin strip of it between sampled blocks can go unseen). Parcels covering every
    pixel (ids from 1 on) are then not warned about."""
    if ds.width * ds.height <= ZERO_CHECK_PIXELS:
        return bool((ds.read(1) == 0).any())
    bh, bw = ds.block_shapes[0]
    rows, cols = -(-ds.height // bh), -(-ds.width // bw)
    n = ZERO_CHECK_BLOCKS
    n_r = min(rows, n, max(1, math.ceil((n * rows / cols) ** 0.5)))
    n_c = min(cols, max(1, n // n_r))
    for r, c in ((int(r), int(c)) for r in np.linspace(0, rows - 1, n_r).round()
                 for c in np.linspace(0, cols - 1, n_c).round()):
        win = Window(c * bw, r * bh, min(bw, ds.width - c * bw), min(bh, ds.height - r * bh))
        if (ds.read(1, window=win) == 0).any():
            return True
    return False


def read_segments(ds, win: Window) -> tuple[np.ndarray, np.ndarray]:
    """(segment ids as int64, where there is a segment) of a window inside the raster."""
    arr = ds.read(1, window=win, masked=True)
    return np.asarray(arr.filled(0)).astype(np.int64), ~np.ma.getmaskarray(arr)


def read_segments_halo(ds, win: Window, inside: Window) -> tuple[np.ndarray, np.ndarray]:
    """``win`` grown by one pixel on every side, as (ids, has); the ring outside ``inside``
    (the raster, or the area being classified) counts as no segment."""
    r0, c0 = int(win.row_off) - 1, int(win.col_off) - 1
    h, w = int(win.height) + 2, int(win.width) + 2
    ids = np.zeros((h, w), np.int64)
    has = np.zeros((h, w), bool)
    ir0, ic0 = max(r0, int(inside.row_off)), max(c0, int(inside.col_off))
    ir1 = min(r0 + h, int(inside.row_off + inside.height))
    ic1 = min(c0 + w, int(inside.col_off + inside.width))
    if ir1 > ir0 and ic1 > ic0:
        part, ok = read_segments(ds, Window(ic0, ir0, ic1 - ic0, ir1 - ir0))
        ids[ir0 - r0:ir1 - r0, ic0 - c0:ic1 - c0] = part
        has[ir0 - r0:ir1 - r0, ic0 - c0:ic1 - c0] = ok
    return ids, has


def table_budget() -> int:
    """Bytes a per-segment table may take (object features, Refine's votes): a quarter of
    the machine's memory (2 GB where it cannot be told). Such tables grow with the
    segments, not the tile: a raster of 10^9 pixels cut into segments of a few pixels would
    fill the memory and end QGIS."""
    total = physical_memory()
    return total // 4 if total else 2 << 30


def physical_memory() -> int | None:
    """The machine's memory in bytes: sysconf on Linux and macOS, GlobalMemoryStatusEx on
    Windows (which has no sysconf: every Windows machine was held to the 2 GB fallback)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        pass
    try:
        import ctypes

        class _Status(ctypes.Structure):
            _fields_ = [("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
                        ("ullTotalPhys", ctypes.c_ulonglong), ("ullAvailPhys", ctypes.c_ulonglong),
                        ("ullTotalPageFile", ctypes.c_ulonglong),
                        ("ullAvailPageFile", ctypes.c_ulonglong),
                        ("ullTotalVirtual", ctypes.c_ulonglong),
                        ("ullAvailVirtual", ctypes.c_ulonglong),
                        ("ullAvailExtendedVirtual", ctypes.c_ulonglong)]

        status = _Status()
        status.dwLength = ctypes.sizeof(_Status)
        if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):
            return int(status.ullTotalPhys)
    except (AttributeError, OSError):  # neither sysconf nor windll
        pass
    return None
