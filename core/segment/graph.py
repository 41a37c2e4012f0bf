"""Segments as a graph: connected components of similar filtered pixels, the edges
between segments, and union-find over them (merge.py merges the small ones).

Everything is vectorised over edge lists (numpy + scipy.sparse.csgraph), so the cost
follows the number of pixels once and then the number of segments. Ties are broken by a
segment's first pixel in raster order, so the result does not depend on how the raster
was tiled. Where numba is installed the same functions run as compiled loops
(graph_jit.py: union-find and one scan per edge instead of sorts), with the same results.
"""

from __future__ import annotations

import numpy as np

from ..classical.trees.kernel import numba_version
from ..errors import InputError

# pairs handled at a time where a whole edge list would need several temporary copies
CHUNK = 1 << 18


def _jit():
    """graph_jit where numba is installed (and LANDLEARN_NO_NUMBA unset), else None."""
    if numba_version() is None:
        return None
    from . import graph_jit

    return graph_jit


def squared_distance(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    """Squared distance of ``a`` and ``b`` over their band ``axis``, summed band by band in
    band order, as graph_jit sums it (numpy's own sum pairs terms past 7 bands, and along
    the band axis whenever it is the one the reduction walks)."""
    t = np.moveaxis(a - b, axis, 0)
    d = t[0] * t[0]
    for k in range(1, len(t)):
        d += t[k] * t[k]
    return d


def _check_ids(ids: np.ndarray, n: int) -> None:
    """Ids the compiled loops index with lie in 0..n-1: they check no bounds, where numpy
    raised (a caller's bug, not bad input)."""
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= n):
        raise ValueError(f"ids {int(ids.min())}..{int(ids.max())} outside 0..{n - 1}")


def index_dtype(n: int) -> np.dtype:
    """int32 for ids below 2**31 (edge lists of half the memory), else int64."""
    return np.dtype(np.int32 if n < 2**31 else np.int64)


def local_components(filtered: np.ndarray, valid: np.ndarray, threshold: float) -> np.ndarray:
    """4-connected components of valid pixels whose filtered values differ by < threshold.

    Returns int64 labels 0..n-1 (invalid pixels get -1).
    """
    jit = _jit()
    if jit is not None and filtered.dtype in (np.float32, np.float64):
        # compared in the values' own type, as numpy compares an array with a float
        return jit.components(np.ascontiguousarray(filtered), np.ascontiguousarray(valid, bool),
                              filtered.dtype.type(threshold * threshold))
    b, h, w = filtered.shape
    idx = np.arange(h * w, dtype=index_dtype(h * w)).reshape(h, w)
    t2 = threshold * threshold
    rows, cols = [], []
    for a, c, fa, fc, va, vc in (
            (idx[:, :-1], idx[:, 1:], filtered[:, :, :-1], filtered[:, :, 1:],
             valid[:, :-1], valid[:, 1:]),
            (idx[:-1, :], idx[1:, :], filtered[:, :-1, :], filtered[:, 1:, :],
             valid[:-1, :], valid[1:, :])):
        keep = (squared_distance(fa, fc, 0) < t2) & va & vc
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
    """Unique rows of an (n, 2) array of non-negative ints (a 1D unique on a packed key),
    sorted; int32 when ``pairs`` is, else int64."""
    dtype = np.int32 if pairs.dtype == np.int32 else np.int64
    if len(pairs) == 0:
        return pairs.reshape(0, 2).astype(dtype)
    base = int(pairs.max()) + 1
    _check_packable(base)
    key = pairs[:, 0].astype(np.int64)
    key *= base
    key += pairs[:, 1].astype(np.int64, copy=False)
    return _unpack(key, base, dtype)


def remap_pairs(pairs: np.ndarray, lut: np.ndarray, n: int) -> np.ndarray:
    """The unique pairs (a, b), a < b, of ``lut[pairs]`` with a != b: the edges once nodes
    are renamed (merged) by ``lut`` into ids below ``n``; built a chunk at a time."""
    _check_packable(n)
    jit = _jit()
    if jit is not None:
        pairs, lut = np.asarray(pairs), np.asarray(lut)
        _check_ids(pairs, len(lut))
        _check_ids(lut, n)
        return jit.remap_pairs(pairs, lut, int(n), np.zeros(0, index_dtype(n)))
    key = np.empty(len(pairs), np.int64)
    for s in range(0, len(pairs), CHUNK):
        p = lut[pairs[s:s + CHUNK]]
        lo = np.minimum(p[:, 0], p[:, 1]).astype(np.int64)
        hi = np.maximum(p[:, 0], p[:, 1])
        k = lo * n + hi
        k[lo == hi] = -1  # a self-pair: dropped below
        key[s:s + len(k)] = k
    return _unpack(key, n, index_dtype(n))


def _check_packable(base: int) -> None:
    """A pair packs as a * base + b in int64 only while base**2 fits: past 3.04e9 ids the
    keys wrapped and distinct pairs became one."""
    if base > MAX_PACKED_BASE:
        # counted before any merge, so MIN_SEGMENT_SIZE cannot help; coarser detail
        # (fewer first-pass regions) or a smaller area can
        raise InputError("input_raster", f"{base:,} regions before merging are more "
                         "than LandLearn can pair up (3,037,000,499); process smaller areas "
                         "(EXTENT, or clip the raster into parts), or for Segment lower "
                         "SPECTRAL_DETAIL (fewer, larger first regions)")


MAX_PACKED_BASE = 3_037_000_499  # floor(sqrt(2**63 - 1))


def _unpack(key: np.ndarray, base: int, dtype) -> np.ndarray:
    """Sorted unique non-negative ``key`` (a * base + b; sorted in place) as (a, b) rows."""
    key.sort()
    keep = key >= 0
    keep[1:] &= key[1:] != key[:-1]
    out = np.empty((int(np.count_nonzero(keep)), 2), dtype)
    j = 0
    for s in range(0, len(key), CHUNK):
        k = key[s:s + CHUNK][keep[s:s + CHUNK]]
        out[j:j + len(k), 0] = k // base
        out[j:j + len(k), 1] = k % base
        j += len(k)
    return out


def neighbour_pairs(labels: np.ndarray) -> np.ndarray:
    """Unique (a, b) pairs, a < b, of different labels that touch (4-connected)."""
    jit = _jit()
    if jit is not None:
        # int32 pairs of int32 labels, as unique_pairs makes them
        dtype = np.int32 if labels.dtype == np.int32 else np.int64
        return jit.neighbour_pairs(np.ascontiguousarray(labels, dtype),
                                   int(labels.max(initial=-1)) + 1, np.zeros(0, dtype))
    pairs = []
    for a, c in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        m = (a != c) & (a >= 0) & (c >= 0)
        pairs.append(np.stack([np.minimum(a[m], c[m]), np.maximum(a[m], c[m])], axis=1))
    return unique_pairs(np.concatenate(pairs))


def union(n: int, pairs: np.ndarray) -> np.ndarray:
    """Root of each of ``n`` nodes after joining ``pairs``: the smallest member's index
    (int32 where ids fit)."""
    if len(pairs) == 0:
        return np.arange(n, dtype=index_dtype(n + 1))
    jit = _jit()
    if jit is not None:
        root = np.empty(n, index_dtype(n + 1))
        _check_ids(np.asarray(pairs), n)
        jit.union(n, np.asarray(pairs), root)
        return root
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])),
                       shape=(n, n))
    k, comp = connected_components(graph, directed=False)
    first = first_of_each(comp, k)  # scipy numbers components by their lowest node
    if first is None:  # not in that order (another scipy): the smallest member found anyway
        first = np.full(k, n, dtype=index_dtype(n + 1))
        np.minimum.at(first, comp, np.arange(n, dtype=first.dtype))
    return first.astype(index_dtype(n + 1), copy=False)[comp]


def first_of_each(labels: np.ndarray, k: int) -> np.ndarray | None:
    """Where each of the labels 0..k-1 first occurs in ``labels``, when they are numbered in
    the order they first occur (components, local segments); None when they are not.
    Why: np.minimum.at over every pixel or node, the obvious way, is a slow loop in numpy
    1.24 (1.3 s of tile_segments and 0.9 s of the merges on a 29 MPix raster); a running
    maximum finds the same places at array speed."""
    if len(labels) == 0:
        return np.zeros(0, np.intp) if k == 0 else None
    if labels.min() < 0:  # not labels 0..k-1
        return None
    new = np.empty(len(labels), bool)
    new[0] = True
    np.greater(labels[1:], np.maximum.accumulate(labels)[:-1], out=new[1:])
    at = np.flatnonzero(new)
    if len(at) != k or not np.array_equal(labels[at], np.arange(k)):
        return None
    return at
