"""Many decision trees summed over many pixels, the pixels sorted first.

Walking a tree costs about one mispredicted branch per level when consecutive pixels take
different paths, and image rows hop between land covers. Sorted by their (quantised)
band values, consecutive pixels follow nearly the same path, which halves the walk of a
fully grown forest (47 -> 23 ns per pixel and tree here). The walk itself is
scikit-learn's Tree.apply, which releases the GIL, so the trees are shared out among
threads, each with its own sums; the sums are put back in the pixels' order. Where numba
is installed, the walk is tree_kernel's compiled one instead (about 2x sooner again), which
sorts by the forest's own threshold codes on the same key bands.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ...runtime.threads import compute_threads
from .kernel import FlatForest, numba_version

ROWS_PER_CHUNK = 32768  # a chunk's running sums stay in the core's cache between trees
KEY_BANDS = 6  # the sort key holds this many bands (63 bits between them)


class TreeSum:
    """sum_i leaf_values[i][leaf of trees[i]], added to all columns (a 2-D table) or to
    column ``columns[i]`` (a 1-D table)."""

    def __init__(self, trees: list, leaf_values: list, columns: list, n_columns: int,
                 band_gain: np.ndarray):
        self.trees, self.values, self.columns = trees, leaf_values, columns
        self.n_columns = n_columns
        # the key leads with the bands whose splits gain most (on nc_landsat7 that sorted
        # 5-25% better than leading with the bands split most often)
        self.key_bands = np.argsort(-np.asarray(band_gain), kind="stable")[:KEY_BANDS]
        self.key_bits = 63 // len(self.key_bands)
        self.flat = FlatForest(trees, leaf_values, columns, n_columns) if numba_version() else None

    @property
    def engine(self) -> str:
        """How the trees are walked, for the log."""
        if self.flat is not None:
            return f"trees walked by compiled code (numba {numba_version()})"
        why = ("LANDLEARN_NO_NUMBA is set" if os.environ.get("LANDLEARN_NO_NUMBA")
               else "numba is not installed")
        return f"trees walked by scikit-learn ({why}; the compiled walk is about 2x sooner)"

    def order(self, x: np.ndarray) -> np.ndarray:
        """A permutation that puts pixels with similar band values next to each other."""
        top = float((1 << self.key_bits) - 1)
        key = np.zeros(len(x), dtype=np.int64)
        for b in self.key_bands:
            col = x[:, b].astype(np.float64)
            lo, span = col.min(), np.ptp(col)
            q = np.nan_to_num((col - lo) * (top / span if np.isfinite(span) and span > 0 else 0.0))
            key <<= self.key_bits
            key |= np.clip(q, 0, top).astype(np.int64)
        return np.argsort(key)

    def _sum(self, x: np.ndarray, which: range) -> np.ndarray:
        out = np.zeros((len(x), self.n_columns))
        buf2 = np.empty((min(ROWS_PER_CHUNK, len(x)), self.n_columns))
        buf1 = np.empty(len(buf2))
        for start in range(0, len(x), ROWS_PER_CHUNK):
            rows, acc = x[start:start + ROWS_PER_CHUNK], out[start:start + ROWS_PER_CHUNK]
            for i in which:
                leaves = self.trees[i].apply(rows)
                column = self.columns[i]
                if column is None:
                    b = buf2[:len(rows)]
                    np.take(self.values[i], leaves, axis=0, out=b)
                    acc += b
                else:
                    b = buf1[:len(rows)]
                    np.take(self.values[i], leaves, out=b)
                    acc[:, column] += b
        return out

    def __call__(self, x32: np.ndarray) -> np.ndarray:
        """(n, n_columns) sums for float32 rows ``x32``, in their order."""
        if not len(x32):
            return np.zeros((0, self.n_columns))
        # NaN is routed by each node's missing-value rule, which only Tree.apply knows
        if self.flat is not None and not np.isnan(x32).any():
            return self.flat(x32, self.key_bands)  # sorts by the forest's own codes
        perm = self.order(x32)
        xs = np.ascontiguousarray(x32[perm])
        n = max(1, min(len(self.trees), compute_threads()))
        with ThreadPoolExecutor(n) as pool:
            total = sum(pool.map(lambda k: self._sum(xs, range(k, len(self.trees), n)),
                                 range(n)))
        out = np.empty((len(xs), self.n_columns))
        out[perm] = total
        return out
