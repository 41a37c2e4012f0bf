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


def bands_without_values(path: str, bands, nodata, windows: int = 36, size: int = 64
                         ) -> list[int]:
    """The ``bands`` (1-based) of ``path`` that hold no finite value other than their own
    ``nodata`` (one per band, None for none) in any of ``windows`` windows spread over it;
    empty when every band holds one, or when none does (then no band is to blame)."""
    with open_dataset(path) as ds:
        width, height = ds.width, ds.height
        rows = max(1, min(int(windows ** 0.5), -(-height // size)))
        cols = max(1, min(windows // rows, -(-width // size)))
        w, h = min(size, width), min(size, height)
        seen = np.zeros(len(bands), bool)
        for j in range(rows):
            for i in range(cols):
                box = Window(int((width - w) * (i + 0.5) / cols),
                             int((height - h) * (j + 0.5) / rows), w, h)
                data = ds.read(list(bands), window=box)
                for k, (band, nd) in enumerate(zip(data, nodata)):
                    if seen[k]:
                        continue
                    ok = np.isfinite(band) if band.dtype.kind == "f" else np.ones(band.shape, bool)
                    if nd is not None and not np.isnan(nd):
                        ok &= band != nd
                    seen[k] = bool(ok.any())
                if seen.all():
                    return []
    if not seen.any():
        return []
    return [int(b) for b, s in zip(bands, seen) if not s]


def all_nodata_words(source, said: str) -> str:
    """``said`` (that a RasterSource reads as all NoData), with the bands to blame named
    and the fix, where some band holds no value at all."""
    empty = bands_without_values(source.path, source.bands, source.nodata)
    if not empty:
        return said + "; check the raster's NoData value and EXTENT"
    return (f"{said}: band(s) {empty[:8]} hold no value (NaN, or their NoData everywhere) and "
            "a pixel is NoData where any band is; leave them out with BANDS")
