"""Neighbourhood features for pixel classifiers: each band's mean (and standard deviation)
over square windows around the pixel, beside the pixel's own values.

Why: a pixel classifier sees one pixel's spectrum; a window's mean tells it what surrounds
the pixel (a dark pixel in a forest is shade, in a town a roof), and the window's spread
tells smooth fields from textured towns. On nc_landsat7 (BENCHMARKS.md) this lifted a
random forest's wall-to-wall accuracy more than any forest setting did.

Exactness: a window's sum is added up from shifted slices in a fixed order, never from a
running sum, so a pixel gets bit-for-bit the same feature whichever tile or training
window it was computed in (the tiles' padding must hold the widest window's half, which
Classify Pixels sees to). NoData pixels (every band NoData) and pixels outside the raster
are left out of a window: the mean is over the window's valid pixels (a window with none
gives 0). One band's own NoData value in a pixel other bands hold data for counts as a
value, as it does in the pixel's own features (a random forest learns it as such).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..model_package.schema import MAX_WINDOW, MAX_WINDOWS, NEIGHBOURHOOD_STATISTICS

__all__ = ["MAX_WINDOW", "STATISTICS", "Neighbourhood", "parse_sizes"]

# MAX_WINDOW (63 px: a 31 px halo around every tile), MAX_WINDOWS and the statistics are
# the package schema's, which holds a package to the same limits
STATISTICS = NEIGHBOURHOOD_STATISTICS
# the features one strip of rows computes at once, in float64 values (bounded memory for
# hyperspectral rasters: 224 bands x 7 features x a 512 px tile would be 3 GB in one go)
STRIP_VALUES = 1 << 23


def parse_sizes(text: str | None, parameter: str = "neighbourhood_sizes") -> tuple[int, ...]:
    """'3, 7,15' -> (3, 7, 15); empty -> (). Odd sizes of 3..MAX_WINDOW px, distinct."""
    if text is None or not str(text).strip():
        return ()
    sizes = []
    for part in str(text).replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            size = int(part)
        except ValueError:
            raise InputError(parameter, f"'{part}' is not a window size; give odd numbers of "
                             "pixels separated by commas, e.g. 3,7,15") from None
        if size < 3 or size > MAX_WINDOW or size % 2 == 0:
            raise InputError(parameter, f"{size} is not an odd window size of 3..{MAX_WINDOW} "
                             "pixels; a window is centred on its pixel, e.g. 3,7,15")
        sizes.append(size)
    if len(set(sizes)) != len(sizes):
        raise InputError(parameter, f"{','.join(map(str, sizes))} repeats a window size")
    if len(sizes) > MAX_WINDOWS:
        raise InputError(parameter, f"{len(sizes)} window sizes; use at most {MAX_WINDOWS}")
    return tuple(sorted(sizes))


@dataclass(frozen=True)
class Neighbourhood:
    """Window sizes (odd, px) and the statistics per window (``mean`` or ``mean_std``)."""

    sizes: tuple[int, ...] = ()
    statistics: str = "mean_std"

    def __post_init__(self):
        if self.statistics not in STATISTICS:
            raise InputError("neighbourhood_statistics", f"'{self.statistics}' is not one of "
                             f"{', '.join(STATISTICS)}")

    @property
    def halo(self) -> int:
        """Pixels each side a feature looks beyond its pixel."""
        return max(self.sizes) // 2 if self.sizes else 0

    @property
    def per_window(self) -> int:
        return 2 if self.statistics == "mean_std" else 1

    def feature_count(self, bands: int) -> int:
        return bands * (1 + self.per_window * len(self.sizes))

    def feature_names(self, band_names: list[str]) -> list[str]:
        names = list(band_names)
        for size in self.sizes:
            names += [f"{b} mean {size}x{size}" for b in band_names]
            if self.per_window == 2:
                names += [f"{b} std {size}x{size}" for b in band_names]
        return names

    def to_json(self) -> dict:
        return {"sizes": list(self.sizes), "statistics": self.statistics}

    def features(self, data: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """(bands, h, w) values and (h, w) validity -> (features, h, w) float64: the bands,
        then per window each band's mean [and standard deviation] over its valid pixels.
        Exact for pixels at least ``halo`` from the block's edge (anything beyond a block
        counts as outside the raster)."""
        x = np.where(valid[None], data.astype(np.float64), 0.0)
        if not np.isfinite(x).all():  # NaN or inf the validity mask did not catch
            x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        out = [x]
        ones = valid.astype(np.float64)
        for size in self.sizes:
            count = _window_sum(ones[None], size)[0]
            n = np.maximum(count, 1.0)
            mean = _window_sum(x, size) / n
            out.append(mean)
            if self.per_window == 2:
                square = _window_sum(x * x, size) / n
                out.append(np.sqrt(np.maximum(square - mean * mean, 0.0)))
        return np.concatenate(out)

    def pixel_features(self, data: np.ndarray, valid: np.ndarray, keep: np.ndarray
                       ) -> np.ndarray:
        """(n, features) of the block's ``keep`` pixels, in row-major order: the same
        numbers as ``features(data, valid)[:, keep].T``."""
        parts = [f for _, _, f in self.strips(data, valid, keep)]
        if not parts:
            return np.zeros((0, self.feature_count(data.shape[0])))
        return np.concatenate(parts)

    def strips(self, data: np.ndarray, valid: np.ndarray, keep: np.ndarray):
        """(first row, end row, (n, features) of that strip's ``keep`` pixels) per strip of
        rows holding a kept pixel; each strip reads ``halo`` rows beyond it, so its numbers
        equal the whole block's, and memory follows the strip (STRIP_VALUES), not the
        block."""
        h = self.halo
        rows, cols = keep.shape
        step = max(1, STRIP_VALUES // max(1, self.feature_count(data.shape[0]) * cols))
        for r0 in range(0, rows, step):
            r1 = min(rows, r0 + step)
            sel = keep[r0:r1]
            if not sel.any():
                continue
            a, b = max(0, r0 - h), min(rows, r1 + h)
            f = self.features(data[:, a:b], valid[a:b])
            yield r0, r1, f[:, r0 - a:r1 - a][:, sel].T


def _window_sum(x: np.ndarray, size: int) -> np.ndarray:
    """(c, h, w) -> (c, h, w): each pixel's sum over the size x size window centred on it,
    with zeros beyond the edges, added in a fixed order (see the module's docstring)."""
    r = size // 2
    c, h, w = x.shape
    padded = np.zeros((c, h + 2 * r, w + 2 * r))
    padded[:, r:r + h, r:r + w] = x
    cols = np.zeros((c, h + 2 * r, w))
    for d in range(size):
        cols += padded[:, :, d:d + w]
    out = np.zeros((c, h, w))
    for d in range(size):
        out += cols[:, d:d + h]
    return out
