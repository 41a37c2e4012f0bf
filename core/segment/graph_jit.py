"""Segment's graph work compiled for the CPU (imported only where numba is installed): the
same results as graph.py's numpy, integer for integer and bit for bit, in one pass over
pixels or edges instead of sorts.

Why: on a 29 MPix raster, once the mean-shift search runs on a GPU, the grouping and the
merge were all that was left: 18-20 s of single-threaded numpy, mostly sorting edge lists
(to make pairs unique, to pick each small segment's closest neighbour) and scipy's
connected components. Union-find, a scan per edge and a per-node de-duplication do the
same in linear time.

What keeps the results equal:
- components and unions join with the smaller index as root, so a component's root is its
  first pixel (node) in raster order, as scipy's numbering by lowest node gives;
- distances are summed band by band in band order (graph.squared_distance) and the
  pixels' grouping distance is float32 throughout, as the numpy expressions compute them;
- the closest neighbour is the smallest (distance, id), whatever order edges come in;
- totals are added in ascending node order, as np.add.at adds them;
- unique pairs come out sorted by (a, b), as the numpy path's sort leaves them.
"""

import numba
import numpy as np


@numba.njit(nogil=True, cache=True, inline="always")
def _find(parent, i):
    """Root of ``i``, halving the path on the way."""
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@numba.njit(nogil=True, cache=True, inline="always")
def _join(parent, a, b):
    """One set of a's and b's, rooted at the smaller root."""
    ra = _find(parent, a)
    rb = _find(parent, b)
    if ra < rb:
        parent[rb] = ra
    elif rb < ra:
        parent[ra] = rb


@numba.njit(nogil=True, cache=True)
def components(f, valid, t2):
    """graph.local_components: (H, W) int64 labels numbered in raster order of their first
    pixel, -1 where not valid. ``f`` (C, H, W) float32, ``t2`` the float32 squared
    threshold (numpy compares a float32 array with a float in float32)."""
    c, h, w = f.shape
    parent = np.arange(h * w)
    for y in range(h):
        for x in range(w):
            if not valid[y, x]:
                continue
            i = y * w + x
            if x + 1 < w and valid[y, x + 1]:
                d = (f[0, y, x] - f[0, y, x + 1]) * (f[0, y, x] - f[0, y, x + 1])
                for k in range(1, c):
                    t = f[k, y, x] - f[k, y, x + 1]
                    d += t * t
                if d < t2:
                    _join(parent, i, i + 1)
            if y + 1 < h and valid[y + 1, x]:
                d = (f[0, y, x] - f[0, y + 1, x]) * (f[0, y, x] - f[0, y + 1, x])
                for k in range(1, c):
                    t = f[k, y, x] - f[k, y + 1, x]
                    d += t * t
                if d < t2:
                    _join(parent, i, i + w)
    labels = np.empty((h, w), np.int64)
    flat = labels.reshape(h * w)
    m = 0
    for i in range(h * w):
        if not valid[i // w, i % w]:
            flat[i] = -1
            continue
        r = _find(parent, i)
        if r == i:  # the component's first pixel: the next id
            flat[i] = m
            m += 1
        else:
            flat[i] = flat[r]
    return labels


@numba.njit(nogil=True, cache=True)
def _room(start, out_dtype_sample):
    """After the counting scan (node a's partners counted at ``start[a + 1]``, n + 2
    entries): the counts turned into ends, so that placing each partner at
    ``--start[a + 1]`` leaves node a's partners in ``part[start[a + 1]:start[a + 2]]``
    (the last entry stays the total); returns room for them all."""
    for a in range(1, len(start)):
        start[a] += start[a - 1]
    return np.empty(start[-1], out_dtype_sample.dtype)


@numba.njit(nogil=True, cache=True, inline="always")
def _note(fill, start, part, a, b):
    """The pair (a, b), a != b, counted under its smaller id (first scan) or placed."""
    lo = min(a, b)
    if fill:
        start[lo + 1] -= 1
        part[start[lo + 1]] = max(a, b)
    else:
        start[lo + 1] += 1


@numba.njit(nogil=True, cache=True)
def _unique_sorted(start, part, out_dtype_sample):
    """Unique (a, b) rows sorted by a then b, given node a's partners b in
    ``part[start[a + 1]:start[a + 2]]``. Each node's partners are de-duplicated in place
    (a stamp per partner; the write never passes the read), sorted, and copied out once,
    to an array of exactly the pairs left: the merge's edge list is its largest array."""
    n = len(start) - 2
    seen = np.full(n, -1, out_dtype_sample.dtype)
    w = 0
    for a in range(n):
        begin = w
        for j in range(start[a + 1], start[a + 2]):
            b = part[j]
            if seen[b] != a:
                seen[b] = a
                part[w] = b
                w += 1
        start[a] = begin  # node a's unique partners: part[start[a]:start[a + 1]] below
        if w - begin > 32:
            part[begin:w].sort()
        else:  # a few partners, the usual case: sorted in place, nothing allocated
            for i in range(begin + 1, w):
                b = part[i]
                j = i - 1
                while j >= begin and part[j] > b:
                    part[j + 1] = part[j]
                    j -= 1
                part[j + 1] = b
    start[n] = w
    out = np.empty((w, 2), out_dtype_sample.dtype)
    for a in range(n):
        for j in range(start[a], start[a + 1]):
            out[j, 0] = a
            out[j, 1] = part[j]
    return out


@numba.njit(nogil=True, cache=True)
def neighbour_pairs(labels, n, out_dtype_sample):
    """graph.neighbour_pairs of labels 0..n-1 (-1 none): the pixels scanned twice, to
    count each smaller label's partners, then to place them."""
    h, w = labels.shape
    start = np.zeros(n + 2, np.int64)
    part = np.empty(0, out_dtype_sample.dtype)
    for fill in range(2):
        if fill:
            part = _room(start, out_dtype_sample)
        for y in range(h):
            for x in range(w):
                a = labels[y, x]
                if a < 0:
                    continue
                for b in (labels[y, x + 1] if x + 1 < w else -1,
                          labels[y + 1, x] if y + 1 < h else -1):
                    if b >= 0 and b != a:
                        _note(fill, start, part, a, b)
    return _unique_sorted(start, part, out_dtype_sample)


@numba.njit(nogil=True, cache=True)
def remap_pairs(pairs, lut, n, out_dtype_sample):
    """graph.remap_pairs: the unique pairs (a, b), a < b, of lut[pairs], a != b; the pairs
    read twice rather than renamed into a copy."""
    start = np.zeros(n + 2, np.int64)
    part = np.empty(0, out_dtype_sample.dtype)
    for fill in range(2):
        if fill:
            part = _room(start, out_dtype_sample)
        for j in range(len(pairs)):
            a = lut[pairs[j, 0]]
            b = lut[pairs[j, 1]]
            if a != b:
                _note(fill, start, part, a, b)
    return _unique_sorted(start, part, out_dtype_sample)


@numba.njit(nogil=True, cache=True)
def renamed_pairs(pairs, lut, out):
    """How many pairs (a, b), a < b, of lut[pairs] with a != b were written to ``out``
    (which may be ``pairs`` itself: the write never passes the read), duplicates kept:
    between a merge's rounds, where only the closest neighbour is asked for (the smallest
    (distance, id) is the same over a pair seen twice), one pass instead of remap_pairs'
    two and its de-duplication."""
    k = 0
    for j in range(len(pairs)):
        a = lut[pairs[j, 0]]
        b = lut[pairs[j, 1]]
        if a != b:
            out[k, 0] = min(a, b)
            out[k, 1] = max(a, b)
            k += 1
    return k


@numba.njit(nogil=True, cache=True)
def closest(pairs, small, count, sums, largest, skip, best_d, best_b):
    """graph.closest into ``best_d`` (inf) and ``best_b`` (-1): per small segment the
    smallest (distance, id) over its neighbours not in ``skip``; the distance between
    means summed band by band in band order, or (``largest``) minus the neighbour's count."""
    bands = sums.shape[1]
    for j in range(len(pairs)):
        u = pairs[j, 0]
        v = pairs[j, 1]
        su = small[u] and not skip[v]
        sv = small[v] and not skip[u]
        if not (su or sv):
            continue
        if largest:
            du = -count[v]
            dv = -count[u]
        else:
            nu = max(count[u], 1.0)
            nv = max(count[v], 1.0)
            t = sums[u, 0] / nu - sums[v, 0] / nv
            du = t * t
            for k in range(1, bands):
                t = sums[u, k] / nu - sums[v, k] / nv
                du += t * t
            dv = du
        if su and (du < best_d[u] or (du == best_d[u] and v < best_b[u])):
            best_d[u] = du
            best_b[u] = v
        if sv and (dv < best_d[v] or (dv == best_d[v] and u < best_b[v])):
            best_d[v] = dv
            best_b[v] = u


@numba.njit(nogil=True, cache=True)
def union(n, pairs, root):
    """graph.union into ``root`` (n,): each node's smallest fellow member."""
    for i in range(n):
        root[i] = i
    for j in range(len(pairs)):
        _join(root, pairs[j, 0], pairs[j, 1])
    for i in range(n):
        root[i] = root[root[i]]  # roots are smaller: already final when i is reached


@numba.njit(nogil=True, cache=True)
def move_totals(new_root, count, sums):
    """Each merged node's count and sums added to its new root in node order (as np.add.at
    adds them); the node emptied (count inf: no longer small)."""
    for i in range(len(new_root)):
        r = new_root[i]
        if r != i:
            count[r] += count[i]
            count[i] = np.inf
            for k in range(sums.shape[1]):
                sums[r, k] += sums[i, k]
                sums[i, k] = 0.0
