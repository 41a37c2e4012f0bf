"""The trees of a forest (or of gradient boosting) walked by compiled code, eight pixels at
a time.

scikit-learn's Tree.apply walks one pixel down one tree: each level waits for the node
it just loaded (about 8 cycles here), so a fully grown forest costs ~23 ns per pixel and
tree even on sorted pixels. Walking eight pixels side by side keeps eight independent
chains of loads in flight, and the leaf values are added in the same pass instead of
through an array of leaf ids; on nc_landsat7 that halves the walk (BENCHMARKS.md).

Band values become integer codes first: code = how many of the forest's thresholds on that
band lie below the value. ``x <= threshold`` is then exactly ``code <= index of the
threshold`` (the comparison scikit-learn makes, float32 value against float64 threshold,
happens once, in np.searchsorted), and a code is two bytes instead of four.

numba compiles the walk on first use and caches it on disk; without numba (an optional
package) TreeSum keeps scikit-learn's walk and says so.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ...runtime.threads import compute_threads

BLOCK = 2048  # pixels per block: their sums stay in the core's cache while every tree passes


def numba_version() -> str | None:
    """numba's version when it can be imported, else None (the walk stays scikit-learn's)."""
    if os.environ.get("LANDLEARN_NO_NUMBA"):
        return None
    try:
        import numba
    except ImportError:
        return None
    return str(numba.__version__)


class FlatForest:
    """The trees as flat arrays for the compiled walk, built once per loaded model.

    Leaves point to themselves (and their threshold sends every code left), so a pixel
    that has reached its leaf waits there while its seven neighbours finish.
    """

    def __init__(self, trees: list, leaf_values: list, columns: list, n_columns: int):
        counts = [t.node_count for t in trees]
        offsets = np.concatenate([[0], np.cumsum(counts)])
        n = int(offsets[-1])
        self.n_columns = n_columns
        left = np.concatenate([t.children_left for t in trees])
        right = np.concatenate([t.children_right for t in trees])
        feature = np.concatenate([t.feature for t in trees])
        thresholds = np.concatenate([t.threshold for t in trees])
        base = np.repeat(offsets[:-1], counts)
        leaf = left == -1
        ids = np.arange(n)
        self.is_leaf = leaf.astype(np.uint8)
        self.child = np.empty(2 * n, dtype=np.uint32 if n < 2**32 else np.uint64)
        self.child[0::2] = np.where(leaf, ids, left + base)
        self.child[1::2] = np.where(leaf, ids, right + base)
        self.feature = np.where(leaf, 0, feature).astype(np.uint32)
        # the splits' features only: a leaf's is unused (scikit-learn's -2)
        self.n_features = int(feature[~leaf].max()) + 1 if (~leaf).any() else 1
        # each band's thresholds, sorted; a node keeps the index of its own among them
        self.cuts = []
        code = np.zeros(n, dtype=np.int64)
        for f in range(self.n_features):
            on_f = ~leaf & (feature == f)
            cuts = np.unique(thresholds[on_f])
            self.cuts.append(cuts)
            code[on_f] = np.searchsorted(cuts, thresholds[on_f])
        widest = max(len(c) for c in self.cuts) + 1
        self.code_dtype = np.uint16 if widest < 2**16 else np.uint32
        self.threshold = np.where(leaf, np.iinfo(self.code_dtype).max, code).astype(
            self.code_dtype)
        # leaf values: one row per leaf; a 2-D table feeds every column, a 1-D one the
        # column its tree names
        two_d = columns[0] is None
        rows = [np.asarray(v)[lf] for v, lf in zip(leaf_values, np.split(leaf, offsets[1:-1]))]
        self.table = np.ascontiguousarray(np.concatenate(rows).reshape(-1, n_columns if two_d
                                                                         else 1), np.float64)
        self.leaf_row = np.zeros(n, dtype=np.uint32)
        self.leaf_row[leaf] = np.arange(int(leaf.sum()))
        self.columns = np.array([-1 if c is None else int(c) for c in columns], dtype=np.int64)
        self.roots = offsets[:-1].astype(np.uint64)

    def codes(self, x32: np.ndarray, out: np.ndarray) -> None:
        """Fills ``out`` (n, features): how many of a band's thresholds are below the value."""
        for f in range(self.n_features):
            out[:, f] = np.searchsorted(self.cuts[f], x32[:, f].astype(np.float64))

    def order(self, codes: np.ndarray, key_bands) -> np.ndarray:
        """A permutation that puts pixels with the same codes on the key bands together:
        pixels with equal codes follow the same path down every tree, so sorted, eight
        neighbours walk alike and the branches are predicted."""
        bands = [int(b) for b in key_bands if b < self.n_features] or [0]
        bits = 63 // len(bands)
        key = np.zeros(len(codes), dtype=np.int64)
        for b in bands:
            # a band with more codes than its bits keeps their leading bits
            drop = max(0, len(self.cuts[b]).bit_length() - bits)
            key <<= bits
            key |= (codes[:, b] >> drop).astype(np.int64)
        return np.argsort(key)

    def __call__(self, x32: np.ndarray, key_bands=None) -> np.ndarray:
        """(n, n_columns) sums over the trees for float32 rows without NaN, in their order;
        the walk takes them sorted by their codes on ``key_bands`` (default: every band)."""
        from .kernel_jit import walk

        n = len(x32)
        out = np.zeros((n, self.n_columns))
        if not n:
            return out
        codes = np.empty((n, self.n_features), dtype=self.code_dtype)
        workers = max(1, min(compute_threads(), n // (4 * BLOCK)))
        bounds = [n * k // workers for k in range(workers + 1)]
        # each thread fills its own rows of ``codes``, then of ``out`` (searchsorted and
        # the walk release the GIL)
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda k: self.codes(x32[bounds[k]:bounds[k + 1]],
                                               codes[bounds[k]:bounds[k + 1]]), range(workers)))
            perm = self.order(codes, range(self.n_features) if key_bands is None else key_bands)
            args = (codes, self.n_features, perm, self.roots, self.feature, self.threshold,
                    self.child, self.is_leaf, self.leaf_row, self.columns, self.table, out, BLOCK)
            list(pool.map(lambda k: walk(*args, bounds[k], bounds[k + 1]), range(workers)))
        return out
