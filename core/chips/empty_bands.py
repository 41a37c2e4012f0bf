"""Pooling the band statistics of several chip folders, and leaving out bands that hold no
valid pixel in any chip.

An EnMAP L2A scene carries six bad bands filled with NoData (water vapour absorption):
exported whole, its chips hold them too. Such a band has no mean or spread to normalise
by and nothing to learn from; refusing the folder made a user re-export without them
(BAND_INDEXES, by number, 218 of 224), so training now leaves them out, says which, and
records the raster's bands the model reads (source_bands), as an export with BAND_INDEXES
does: Classify Pixels then reads the other bands of the same raster.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from .chip_reader import PARAM


def kept_bands(weights: np.ndarray, names: Sequence[str], progress=None) -> list[int]:
    """The 0-based bands with valid pixels (``weights``: each band's valid pixels over all
    folders); the others named in a warning. None left: refused."""
    empty = [int(b) for b in np.flatnonzero(~(np.asarray(weights) > 0))]
    if len(empty) == len(names):
        raise InputError(PARAM, "the chips hold no valid pixel in any band (all NoData); "
                         "export them from an area of the raster that holds data")
    if empty and progress is not None:
        listed = ", ".join(names[b] for b in empty[:8]) + (", ..." if len(empty) > 8 else "")
        progress.warning(f"{len(empty)} band(s) hold no valid pixel in any chip (all NoData: "
                         f"{listed}); the model is trained without them and reads the other "
                         f"{len(names) - len(empty)} bands of the raster")
    return [b for b in range(len(names)) if b not in set(empty)]


def pooled_stats(weights: np.ndarray, parts, kept: Sequence[int]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(mean, std, minimum, maximum) of the ``kept`` bands over the folders ``parts`` (each
    with per-band mean, std, minimum and maximum), each folder weighted per band by its
    valid pixels (``weights``, (folders, bands)): the moments of the pooled pixels."""
    w = np.asarray(weights, np.float64)[:, kept]
    total = w.sum(0)
    means = np.stack([np.asarray(p.mean, np.float64)[kept] for p in parts])
    mean = (w * means).sum(0) / total
    spread = np.stack([np.asarray(p.std, np.float64)[kept] for p in parts])
    var = (w * (spread ** 2 + (means - mean) ** 2)).sum(0) / total
    # a band's min and max from the folders where it has pixels (an all-NoData band's
    # summary is 0, 0)
    lows = np.stack([np.asarray(p.minimum, np.float64)[kept] for p in parts])
    highs = np.stack([np.asarray(p.maximum, np.float64)[kept] for p in parts])
    minimum = np.where(w > 0, lows, np.inf).min(0)
    maximum = np.where(w > 0, highs, -np.inf).max(0)
    return mean, np.sqrt(var), minimum, maximum
