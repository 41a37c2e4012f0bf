"""Segments as a graph: connected components of similar filtered pixels, then small
segments merged into their most similar neighbour.

Everything is vectorised over edge lists (numpy + scipy.sparse.csgraph), so the cost
follows the number of pixels once and then the number of segments. Ties are broken by a
segment's first pixel in raster order, so the result does not depend on how the raster
was tiled.
"""

from __future__ import annotations

import numpy as np


def local_components(filtered: np.ndarray, valid: np.ndarray, threshold: float) -> np.ndarray:
    """4-connected components of valid pixels whose filtered values differ by < threshold.

    Returns int64 labels 0..n-1 (invalid pixels get -1).
    """
    b, h, w = filtered.shape
    idx = np.arange(h * w).reshape(h, w)
    t2 = threshold * threshold
    rows, cols = [], []
    for a, c, fa, fc, va, vc in (
            (idx[:, :-1], idx[:, 1:], filtered[:, :, :-1], filtered[:, :, 1:],
             valid[:, :-1], valid[:, 1:]),
            (idx[:-1, :], idx[1:, :], filtered[:, :-1, :], filtered[:, 1:, :],
             valid[:-1, :], valid[1:, :])):
        d = ((fa - fc) ** 2).sum(0)
        keep = (d < t2) & va & vc
        rows.append(a[keep])
        cols.append(c[keep])
    r, c = np.concatenate(rows), np.concatenate(cols)
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(r), dtype=np.int8), (r, c)), shape=(h * w, h * w))
    n_comp, labels = connected_components(graph, directed=False)
    labels = labels.reshape(h, w).astype(np.int64)
    # scipy numbers components by their lowest node, i.e. in raster order of first pixel;
    # compacting away the (isolated) invalid pixels keeps that order
    used = np.zeros(n_comp, dtype=bool)
    used[labels[valid]] = True
    lut = np.cumsum(used) - 1
    return np.where(valid, lut[labels], -1)


def unique_pairs(pairs: np.ndarray) -> np.ndarray:
    """Unique rows of an (n, 2) array of non-negative ints (a 1D unique on a packed key)."""
    if len(pairs) == 0:
        return pairs.reshape(0, 2).astype(np.int64)
    pairs = pairs.astype(np.int64)
    base = int(pairs.max()) + 1
    key = np.unique(pairs[:, 0] * base + pairs[:, 1])
    return np.stack([key // base, key % base], axis=1)


def neighbour_pairs(labels: np.ndarray) -> np.ndarray:
    """Unique (a, b) pairs, a < b, of different labels that touch (4-connected)."""
    pairs = []
    for a, c in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        m = (a != c) & (a >= 0) & (c >= 0)
        pairs.append(np.stack([np.minimum(a[m], c[m]), np.maximum(a[m], c[m])], axis=1))
    return unique_pairs(np.concatenate(pairs))


def union(n: int, pairs: np.ndarray) -> np.ndarray:
    """Root of each of ``n`` nodes after joining ``pairs``: the smallest member's index."""
    if len(pairs) == 0:
        return np.arange(n)
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])),
                       shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    first = np.full(comp.max() + 1, n, dtype=np.int64)
    np.minimum.at(first, comp, np.arange(n))
    return first[comp]


def merge_small(count: np.ndarray, sums: np.ndarray, pairs: np.ndarray, min_size: int,
                into: str = "similar") -> np.ndarray:
    """Merge segments smaller than ``min_size`` into their most similar neighbour (or, with
    ``into="largest"``, their largest).

    ``count`` (n,), ``sums`` (n, bands) of each segment; ``pairs`` touching segments.
    Returns the final root of every segment. Rounds repeat until no small segment with a
    neighbour remains; a small segment with no neighbour (an island in NoData) stays.
    """
    n = len(count)
    root = np.arange(n)
    count = count.astype(np.float64).copy()
    sums = sums.astype(np.float64).copy()
    pairs = pairs.copy()
    while True:
        small = count < min_size
        live = pairs[small[pairs[:, 0]] | small[pairs[:, 1]]] if len(pairs) else pairs
        if len(live) == 0:
            return root
        a = np.concatenate([live[:, 0], live[:, 1]])
        b = np.concatenate([live[:, 1], live[:, 0]])
        if into == "largest":
            d = -count[b]
        else:
            mean = sums / np.maximum(count, 1)[:, None]
            dist = ((mean[live[:, 0]] - mean[live[:, 1]]) ** 2).sum(1)
            d = np.concatenate([dist, dist])
        # each small segment picks its closest (largest) neighbour, ties: the lower id
        keep = small[a]
        a, b, d = a[keep], b[keep], d[keep]
        order = np.lexsort((b, d, a))
        a, b = a[order], b[order]
        firsts = np.r_[True, a[1:] != a[:-1]]
        chosen = np.stack([a[firsts], b[firsts]], axis=1)
        new_root = union(n, np.sort(chosen, axis=1))
        root = new_root[root]
        np.add.at(count, new_root, np.where(new_root != np.arange(n), count, 0))
        np.add.at(sums, new_root, np.where((new_root != np.arange(n))[:, None], sums, 0))
        merged = new_root != np.arange(n)
        count[merged] = 0
        sums[merged] = 0
        pairs = np.sort(new_root[pairs], axis=1)
        pairs = unique_pairs(pairs[pairs[:, 0] != pairs[:, 1]])
        # segments emptied by merging no longer count as small
        count[merged] = np.inf


def staged_merge(count: np.ndarray, sums: np.ndarray, pairs: np.ndarray, min_size: int
                 ) -> np.ndarray:
    """merge_small in rounds of doubling size (segments under 2 px first, then under 4, 8,
    ... up to ``min_size``), close to Orfeo ToolBox's merging by increasing size: the
    smallest pieces settle before larger small segments pick their neighbours, which keeps
    more of the small-but-real segments apart than one round at ``min_size``."""
    n = len(count)
    root = np.arange(n)
    size = 2
    while True:
        size = min(size, min_size)
        c = np.bincount(root, count, n)
        s = np.stack([np.bincount(root, sums[:, b], n) for b in range(sums.shape[1])], 1)
        p = np.sort(root[pairs], axis=1) if len(pairs) else pairs
        p = unique_pairs(p[p[:, 0] != p[:, 1]]) if len(p) else p.reshape(0, 2)
        root = merge_small(c, s, p, size)[root]
        if size >= min_size:
            return root
        size *= 2
