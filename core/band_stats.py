"""Per-band statistics accumulated chip by chip over valid pixels only.

Training normalises with these (never a fixed /255), so they must describe what the model
will see: the pixels of the exported chips, NoData and edge padding left out. Means and
variances are merged with Chan et al.'s pairwise formula, which stays exact in float64
where a running sum of squares of uint16 reflectances would lose digits.
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
    def __init__(self, band_names: list[str]):
        n = len(band_names)
        self.names = list(band_names)
        self.count = np.zeros(n, dtype=np.int64)
        self.mean = np.zeros(n, dtype=np.float64)
        self.m2 = np.zeros(n, dtype=np.float64)
        self.minimum = np.full(n, np.inf)
        self.maximum = np.full(n, -np.inf)

    def add(self, data: np.ndarray, valid: np.ndarray) -> None:
        """Fold in (bands, rows, cols) ``data`` where ``valid`` (rows, cols) is True."""
        n = int(np.count_nonzero(valid))
        if n == 0:
            return
        x = data[:, valid].astype(np.float64)
        mean = x.mean(axis=1)
        m2 = ((x - mean[:, None]) ** 2).sum(axis=1)
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * (n / total)
        self.m2 += m2 + delta ** 2 * (self.count * n / total)
        self.count = total
        np.minimum(self.minimum, x.min(axis=1), out=self.minimum)
        np.maximum(self.maximum, x.max(axis=1), out=self.maximum)

    def summaries(self) -> list[BandSummary]:
        out = []
        for i, name in enumerate(self.names):
            c = int(self.count[i])
            std = float(np.sqrt(self.m2[i] / c)) if c else 0.0
            out.append(BandSummary(name, c, float(self.minimum[i]) if c else 0.0,
                                   float(self.maximum[i]) if c else 0.0,
                                   float(self.mean[i]) if c else 0.0, std))
        return out
