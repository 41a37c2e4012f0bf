"""Small segments merged into their most similar (or largest) neighbour, a size at a time:
the merge Segment's resolve step, its settled tiles and Refine Classification's minimum
mapping unit share. Ties go to the lower id (a segment's first pixel in raster order), so
tiling does not change the result; compiled loops (graph_jit.py) where numba is there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import graph
from .graph import CHUNK, _check_ids, index_dtype, remap_pairs, squared_distance, union

__all__ = ["Graph", "closest", "group_sums", "merge_small", "segment_means", "staged_merge"]


def merge_small(count: np.ndarray, sums: np.ndarray, pairs: np.ndarray, min_size: int,
                into: str = "similar", overwrite: bool = False, heirs: bool = False):
    """Merge segments smaller than ``min_size`` into their most similar neighbour (or, with
    ``into="largest"``, their largest).

    ``count`` (n,), ``sums`` (n, bands) of each segment; ``pairs`` touching segments.
    Returns the final root of every segment. Rounds repeat until no small segment with a
    neighbour remains; a small segment with no neighbour (an island in NoData) stays.
    ``overwrite``: float64 ``count`` and ``sums`` are worked on in place instead of copied;
    on return each root holds its group's totals.
    ``heirs``: also return, per segment, the original segment whose identity its group
    carries (Refine Classification paints a group in its heir's class). A group that
    reaches the size keeps its heir when small ones merge into it; in a round, the pieces
    that merge into each other (small ones merging mutually, or into a group that is not
    small) pass on the heir of the piece that was largest at the round's start (ties: the
    lower id), so a group built of small pieces does not repaint the one it joins.
    """
    n = len(count)
    root = np.arange(n, dtype=index_dtype(n + 1))
    heir = np.arange(n, dtype=root.dtype) if heirs else None
    count = count.astype(np.float64, copy=not overwrite)
    sums = sums.astype(np.float64, copy=not overwrite)
    pairs = np.asarray(pairs).astype(index_dtype(n), copy=False)  # the caller's: not written
    owned = False
    while True:
        target = closest(pairs, count < min_size, count, sums, into)
        a = np.flatnonzero(target >= 0)
        if len(a) == 0:  # no small segment with a neighbour
            return (root, heir[root]) if heirs else root
        b = target[a]
        a = a.astype(b.dtype)
        del target
        edges = np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1)
        del a, b
        new_root = union(n, edges)
        if heirs:
            _pass_heirs(heir, new_root, count, np.unique(edges))
        del edges
        root = new_root[root]
        _move_totals(new_root, count, sums)
        jit = graph._jit()  # looked up on the module: the tests turn it off there
        if jit is None:
            pairs = remap_pairs(pairs, new_root, n)
        else:  # renamed, duplicates kept (they change no choice; the caller's own remap,
            # or the next stage's, drops them), in place once the array is this merge's
            out = pairs if owned else np.empty_like(pairs)
            pairs, owned = out[:jit.renamed_pairs(pairs, new_root, out)], True


def _move_totals(new_root: np.ndarray, count: np.ndarray, sums: np.ndarray) -> None:
    """Each merged segment's count and sums go to its new root, added in index order; the
    segments emptied by merging no longer count as small (count inf)."""
    jit = graph._jit()  # looked up on the module: the tests turn it off there
    if jit is not None:
        jit.move_totals(new_root, count, sums)
        return
    moved = np.flatnonzero(new_root != np.arange(len(new_root)))
    to = new_root[moved]
    np.add.at(count, to, count[moved])
    np.add.at(sums, to, sums[moved])
    del to
    sums[moved] = 0
    count[moved] = np.inf


def _pass_heirs(heir: np.ndarray, new_root: np.ndarray, count: np.ndarray,
                nodes: np.ndarray) -> None:
    """Each new group's heir: that of its largest merging piece (ties: the lower id)."""
    order = np.lexsort((nodes, -count[nodes], new_root[nodes]))
    nodes = nodes[order]
    groups = new_root[nodes]
    firsts = np.r_[True, groups[1:] != groups[:-1]]
    heir[groups[firsts]] = heir[nodes[firsts]].copy()


def closest(pairs: np.ndarray, small: np.ndarray, count: np.ndarray, sums: np.ndarray,
            into: str, skip: np.ndarray | None = None, distances: bool = False):
    """For each ``small`` segment, its closest (``into="largest"``: largest) neighbour over
    ``pairs``, ties to the lower id; -1 where it has none. A chunk of pairs at a time: each
    chunk's best candidate per segment then competes with the best so far.
    ``skip``: segments never taken as a neighbour; ``distances``: also return the best
    distance of each segment (inf where none)."""
    n = len(count)
    best_d = np.full(n, np.inf)
    best_b = np.full(n, -1, pairs.dtype)
    # means and distances in float64 both ways, whatever the caller's type
    count, sums = np.asarray(count, np.float64), np.asarray(sums, np.float64)
    jit = graph._jit()  # looked up on the module: the tests turn it off there
    if jit is not None:
        _check_ids(pairs, n)
        jit.closest(pairs, small, count, sums,
                    into == "largest", np.zeros(n, bool) if skip is None else skip,
                    best_d, best_b)
        return (best_b, best_d) if distances else best_b
    for s in range(0, len(pairs), CHUNK):
        live = pairs[s:s + CHUNK]
        live = live[small[live[:, 0]] | small[live[:, 1]]]
        u, v = live[:, 0], live[:, 1]
        if into == "largest":
            d = np.concatenate([-count[v], -count[u]])
        else:
            dist = squared_distance(segment_means(sums, count, u), segment_means(sums, count, v))
            d = np.concatenate([dist, dist])
        a = np.concatenate([u, v])
        b = np.concatenate([v, u])
        keep = small[a] if skip is None else small[a] & ~skip[b]
        if not keep.any():
            continue
        a, b, d = a[keep], b[keep], d[keep]
        order = np.lexsort((b, d, a))
        a, b, d = a[order], b[order], d[order]
        firsts = np.r_[True, a[1:] != a[:-1]]
        a, b, d = a[firsts], b[firsts], d[firsts]
        better = (d < best_d[a]) | ((d == best_d[a]) & (b < best_b[a]))
        a, b, d = a[better], b[better], d[better]
        best_d[a] = d
        best_b[a] = b
    return (best_b, best_d) if distances else best_b


def group_sums(group: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """(k, bands) float64 sums of ``values`` (n, bands) rows by ``group`` (n,) in 0..k-1,
    each added in row order as np.bincount does; filled a band at a time, so that one
    band's temporary lives beside the result, not every band's."""
    out = np.empty((k, values.shape[1]), np.float64)
    for b in range(values.shape[1]):
        out[:, b] = np.bincount(group, values[:, b], k)
    return out


def segment_means(sums: np.ndarray, count: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Mean values of segments ``idx`` (each row as in sums / max(count, 1) of them all)."""
    return sums[idx] / np.maximum(count[idx], 1)[:, None]


@dataclass
class Graph:
    """Segments handed over to staged_merge, which empties this holder: an array passed as
    an argument stays alive until the call returns, one taken from here is freed as soon as
    the merge has replaced it (the merge's first stage halves the graph, so keeping the
    original beside it set the peak of Segment's memory). Float64 arrays are worked on in
    place."""

    count: np.ndarray | None  # (n,) pixels of each segment
    sums: np.ndarray | None  # (n, bands) value sums
    pairs: np.ndarray | None  # touching segments
    first_stage: Callable | None = None  # the stage under 2 px, as far as decided (settle.py)

    def take(self) -> tuple:
        got = (self.count, self.sums, self.pairs, self.first_stage)
        self.count = self.sums = self.pairs = self.first_stage = None
        return got


def staged_merge(graph: Graph, min_size: int, check: Callable[[], None] | None = None
                 ) -> np.ndarray:
    """merge_small one size at a time (segments of 1 px first, then 2, 3, ... up to
    ``min_size`` - 1), as Orfeo ToolBox merges small regions by increasing size: the
    smallest pieces settle before larger small segments pick their neighbours, which keeps
    more of the small-but-real segments apart than one round at ``min_size``. (Rounds of
    doubling size, 2, 4, 8, ..., were measured too: at OTB's segment count their
    under-segmentation error was 0.001-0.003 worse on nb_aerial and nc, for 35% less
    merging time; BENCHMARKS.md, Segment.)
    ``graph.first_stage(count, sums, pairs)``: the roots of the stage under 2 px, where part
    of it was decided before (settle.py); by default merge_small's. ``check``: called
    between stages (Cancel). A stage that merges nothing is followed by the size just above
    the smallest segment that has a neighbour, not the next size: the stages between would
    merge nothing either (MIN_SEGMENT_SIZE 10^7 was 10^7 stages)."""
    # each stage works on the segments left by the previous one (compacted), not on every
    # local segment again: on a 29 MPix raster that was 3.3M nodes per stage
    c, s, p, first_stage = graph.take()
    idt = index_dtype(len(c))
    ids = np.arange(len(c), dtype=idt)  # each compact node's smallest original member
    root = np.arange(len(c), dtype=idt)  # original node -> compact node
    c = np.asarray(c, np.float64)
    s = np.asarray(s, np.float64)
    size = 2
    while True:
        size = min(size, min_size)
        settled = size == 2 and first_stage is not None
        if settled:
            r = first_stage(c, s, p)
            first_stage = None
        else:  # merge_small leaves each group's totals on its root (copying c, s, p was
            # the largest share of the peak)
            r = merge_small(c, s, p, size, overwrite=True)
        keep = r == np.arange(len(c))
        if not keep.all():  # else nothing merged: the graph stays as it is
            lut = (np.cumsum(keep) - 1).astype(idt)[r]
            del r
            k = int(np.count_nonzero(keep))
            if settled:
                c = np.bincount(lut, c, k)
                s = group_sums(lut, s, k)
            else:
                c, s = c[keep], s[keep]
            p = remap_pairs(p, lut, k)
            root = lut[root]
            ids = ids[keep]  # a kept root is its group's smallest member, ids stay sorted
            del lut
        merged = not keep.all()
        del keep  # none of the round's arrays alive beside the next round's
        if size >= min_size:
            return ids[root]
        if check is not None:
            check()
        if not merged and len(p):
            # every segment with a neighbour has >= size px: sizes up to its smallest
            # count merge nothing
            smallest = min(c[p[:, 0]].min(), c[p[:, 1]].min())
            size = max(size, int(min(smallest, min_size - 1)))
        elif not merged:
            return ids[root]  # no segment has a neighbour: nothing can merge any more
        size += 1
