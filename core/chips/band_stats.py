"""Per-band statistics accumulated chip by chip over valid pixels only.

Training normalises with these (never a fixed /255), so they must describe what the model
will see: the pixels of the exported chips, NoData and edge padding left out. Means and
variances come from sums of values shifted by a constant near the mean (see BandStats).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
        self.count = 0
        self.shift: np.ndarray | None = None
        self.s1 = np.zeros(n, dtype=np.float64)
        self.s2 = np.zeros(n, dtype=np.float64)
        self.minimum = np.full(n, np.inf)
        self.maximum = np.full(n, -np.inf)

    def add(self, data: np.ndarray, valid: np.ndarray) -> None:
        """Fold in (bands, rows, cols) ``data`` where ``valid`` (rows, cols) is True."""
        n = int(np.count_nonzero(valid))
        if n == 0:
            return
        x = data.reshape(data.shape[0], -1) if n == valid.size else data[:, valid]
        if self.shift is None:
            self.shift = x[:, :4096].mean(axis=1, dtype=np.float64)
        d = x.astype(np.float64)
        d -= self.shift[:, None]
        self.s1 += d.sum(axis=1)
        self.s2 += np.einsum("ij,ij->i", d, d)
        self.count += n
        np.minimum(self.minimum, x.min(axis=1), out=self.minimum)
        np.maximum(self.maximum, x.max(axis=1), out=self.maximum)

    def summaries(self) -> list[BandSummary]:
        c = self.count
        if c == 0:
            return [BandSummary(name, 0, 0.0, 0.0, 0.0, 0.0) for name in self.names]
        m1 = self.s1 / c
        var = np.maximum(self.s2 / c - m1 ** 2, 0.0)
        mean = self.shift + m1
        return [BandSummary(name, c, float(self.minimum[i]), float(self.maximum[i]),
                            float(mean[i]), float(np.sqrt(var[i])))
                for i, name in enumerate(self.names)]
