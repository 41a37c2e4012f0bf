"""Bands that hold no value at all, for the message when a raster reads as all NoData.

A pixel is NoData where any band is NaN (a model cannot take NaN; RasterSource): one band
that is NaN everywhere (a sensor's bad band, a failed index computed as 0 / 0) makes the
whole raster NoData, and Export Training Data said "every pixel is NoData" while the user
could see the image. The bands to leave out (BANDS) are named instead. Judged on a few
dozen small windows spread over the raster: bounded time at any size.
"""

from __future__ import annotations

import numpy as np
from rasterio.windows import Window

from .raster import open_dataset

__all__ = ["all_nodata_words", "bands_without_values"]


def bands_without_values(path: str, bands, windows: int = 36, size: int = 64) -> list[int]:
    """The ``bands`` (1-based) of ``path`` that hold no finite value (NaN or +-inf) in any
    of ``windows`` windows spread over it: such a band makes every pixel NoData. A band
    of its NoData value everywhere does not (a pixel is NoData by value only where every
    band is), and integer bands always hold values. Empty when none is to blame."""
    with open_dataset(path) as ds:
        floats = [b for b in bands if np.dtype(ds.dtypes[b - 1]).kind == "f"]
        if not floats:
            return []
        width, height = ds.width, ds.height
        rows = max(1, min(int(windows ** 0.5), -(-height // size)))
        cols = max(1, min(windows // rows, -(-width // size)))
        w, h = min(size, width), min(size, height)
        empty = set(floats)
        for j in range(rows):
            for i in range(cols):
                box = Window(int((width - w) * (i + 0.5) / cols),
                             int((height - h) * (j + 0.5) / rows), w, h)
                # band by band: rasterio 1.3 refuses to read bands of several types at once
                for b in list(empty):
                    if np.isfinite(ds.read(b, window=box)).any():
                        empty.discard(b)
                if not empty:
                    return []
    if len(empty) == len(set(bands)):
        return []  # nothing holds a value: the raster is empty, no band is to blame
    return [int(b) for b in bands if b in empty]


def all_nodata_words(source, said: str, fix: str = "leave them out with BANDS",
                     empty: list[int] | None = None) -> str:
    """``said`` (that a RasterSource reads as all NoData), with the bands to blame named
    and ``fix``, where some band holds no finite value at all (``empty``: those bands when
    the caller has sampled them already, so the raster is not read twice)."""
    if empty is None:
        empty = bands_without_values(source.path, source.bands)
    if not empty:
        return said + "; check the raster's NoData value and EXTENT"
    return (f"{said}: band(s) {empty[:8]} hold no value (NaN everywhere), and a pixel is "
            f"NoData where any band is NaN; {fix}")
