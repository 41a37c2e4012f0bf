"""Per-band statistics accumulated chip by chip over valid pixels only.

Training normalises with these (never a fixed /255), so they must describe what the model
will see: the pixels of the exported chips, NoData and edge padding left out. Means and
variances come from sums of values shifted by a constant near the mean (see BandStats).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..geo.raster import band_nodata


@dataclass
class BandSummary:
    name: str
    count: int
    minimum: float
    maximum: float
    mean: float
    std: float

    def to_esri(self) -> dict:
        """The AllTilesStats form of an Esri .emd."""
        return {"BandName": self.name, "Min": self.minimum, "Max": self.maximum,
                "Mean": self.mean, "StdDev": self.std}

    def to_state(self) -> dict:
        """The BandStatsState form of esri_accumulated_stats.json (M2 = sum of squared deviations)."""
        return {"Min": self.minimum, "Max": self.maximum, "M1": self.mean,
                "M2": self.std ** 2 * self.count, "Num": self.count}


class BandStats:
    """Sums of shifted values per band, so chips combine by plain addition.

    Values are shifted by a per-band constant near the mean (taken from the first chip)
    before squaring: variance = E[(x-K)^2] - E[x-K]^2 then has no catastrophic cancellation
    for data far from zero, and one float64 pass per chip is all it costs.
    """

    def __init__(self, band_names: list[str]):
        n = len(band_names)
        self.names = list(band_names)
        self.count = 0  # valid pixels (any band has data)
        self.kept = np.zeros(n, dtype=np.int64)  # per band: its own NoData left out
        self.shift: np.ndarray | None = None
        self.s1 = np.zeros(n, dtype=np.float64)
        self.s2 = np.zeros(n, dtype=np.float64)
        self.minimum = np.full(n, np.inf)
        self.maximum = np.full(n, -np.inf)

    def add(self, data: np.ndarray, valid: np.ndarray,
            nodata: Sequence[float | None] | None = None) -> None:
        """Fold in (bands, rows, cols) ``data`` where ``valid`` (rows, cols) is True.

        ``nodata``: each band's NoData value. A pixel is valid while any band has data
        (raster.RasterSource), so one band's NoData inside valid pixels (a Landsat stack
        whose thermal band ends earlier) is left out of that band's figures only: counted,
        its -9999 became the band's minimum and dragged its mean and spread. NaN is never
        counted."""
        n = int(np.count_nonzero(valid))
        if n == 0:
            return
        x = data.reshape(data.shape[0], -1) if n == valid.size else data[:, valid]
        holes = _holes(x, nodata)
        self.count += n
        if self.shift is None:
            head = x[:, :4096].astype(np.float64)
            if holes is not None:
                head[holes[:, :4096]] = np.nan
            with warnings.catch_warnings():  # a band all NoData in the first chip: shift 0
                warnings.simplefilter("ignore", RuntimeWarning)
                self.shift = np.nan_to_num(np.nanmean(head, axis=1))
        if holes is None:
            self._fold(slice(None), x)
            return
        for b in range(x.shape[0]):
            kept = x[b:b + 1, ~holes[b]]
            if kept.size:
                self._fold(slice(b, b + 1), kept)

    def _fold(self, bands: slice, x: np.ndarray) -> None:
        d = x.astype(np.float64)
        d -= self.shift[bands, None]
        self.s1[bands] += d.sum(axis=1)
        self.s2[bands] += np.einsum("ij,ij->i", d, d)
        self.kept[bands] += x.shape[1]
        self.minimum[bands] = np.minimum(self.minimum[bands], x.min(axis=1))
        self.maximum[bands] = np.maximum(self.maximum[bands], x.max(axis=1))

    def summaries(self) -> list[BandSummary]:
        out = []
        for i, name in enumerate(self.names):
            c = int(self.kept[i])
            if c == 0:
                out.append(BandSummary(name, 0, 0.0, 0.0, 0.0, 0.0))
                continue
            m1 = self.s1[i] / c
            var = max(self.s2[i] / c - m1 ** 2, 0.0)
            out.append(BandSummary(name, c, float(self.minimum[i]), float(self.maximum[i]),
                                   float(self.shift[i] + m1), float(np.sqrt(var))))
        return out


def _holes(x: np.ndarray, nodata: Sequence[float | None] | None) -> np.ndarray | None:
    """(bands, n) True where a band holds its own NoData (or NaN, or +-inf); None where none
    does."""
    holes = band_nodata(x, nodata)
    if np.issubdtype(x.dtype, np.floating):
        nan = ~np.isfinite(x)
        if nan.any():
            holes = nan if holes is None else holes | nan
    return holes
