"""Whether training folders can be pooled into one network's training: the same bands in
the same order (refused otherwise), and the same cell size and number type (warned).

``first`` and ``other`` are training_data's folder descriptions (path, bands,
source_bands, source_band_count, cell, crs, dtype).
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import InputError
from ..geo.grid import crs_units
from .chip_reader import PARAM

__all__ = ["same_bands", "same_pixels"]


def _band_key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name).casefold()


def _generic(bands: list[str]) -> bool:
    """Band names that say nothing (Band_1, 'Band 1': what a raster naming none gets)."""
    return all(re.fullmatch(r"band\d+", _band_key(b)) for b in bands)


def same_pixels(first, other, progress) -> None:
    """Folders pooled at another cell size (a 10 m and a 30 m export) or number type (uint16
    counts beside float reflectance) train one network on two scales: said, as the
    package records the first folder's cell size and type (Classify Pixels checks rasters
    against those)."""
    if progress is None:
        return
    if first.cell and other.cell and first.cell[0] > 0 and \
            crs_units(first.crs) == crs_units(other.crs) and \
            abs(other.cell[0] / first.cell[0] - 1) > 0.01:
        progress.warning(f"'{other.path}' has cells of {other.cell[0]:g}, '{first.path}' "
                         f"{first.cell[0]:g}: objects are larger in one than in the other, "
                         f"and the model records {first.cell[0]:g}; export the folders at "
                         "one CELL_SIZE")
    kinds = {np.dtype(f.dtype).kind == "f" for f in (first, other)}
    if len(kinds) > 1:
        progress.warning(f"'{other.path}' holds {other.dtype} chips, '{first.path}' "
                         f"{first.dtype}: integer counts and floating-point values (e.g. "
                         "reflectance x 10000 and reflectance) share one set of band "
                         "statistics; export the folders from rasters on one scale")


def same_bands(first, other, progress) -> None:
    """Folders pooled must hold the same bands in the same order: (4,3,2) beside (1,2,3)
    would teach a network one band from two others. Refused when the same names come in
    another order, or when the exported raster bands (SourceBands, of rasters with as many
    bands) differ; names that
    merely differ (one raster named its bands, the other not; 'B4' and 'SR_B4') are only
    warned about."""
    a, b = [_band_key(n) for n in first.bands], [_band_key(n) for n in other.bands]
    reordered = a != b and sorted(a) == sorted(b) and not _generic(first.bands)
    # raster bands compared only between rasters of one layout (band 2..4 of a 6-band
    # raster may well be band 1..3 of a 3-band one)
    sources = (first.source_bands is not None and other.source_bands is not None
               and first.source_band_count == other.source_band_count
               and list(first.source_bands) != list(other.source_bands))
    if reordered or sources:
        what = (f"the bands {other.bands[:6]} against {first.bands[:6]}" if reordered else
                f"the raster's bands {other.source_bands[:6]} against {first.source_bands[:6]}")
        raise InputError(PARAM, f"'{other.path}' holds {what} in '{first.path}'; export all "
                         "folders with the same bands in the same order")
    if a != b and not (_generic(first.bands) or _generic(other.bands)) and progress is not None:
        progress.warning(f"'{other.path}' names its bands {other.bands[:6]}, "
                         f"'{first.path}' {first.bands[:6]}: pooled band by band in this "
                         "order; check that they are the same bands")
