"""Segment's merge: local segments joined across tiles, renumbered in raster order of their
first pixel, and the small ones merged into their most similar neighbour (graph.py)."""

from __future__ import annotations

import numpy as np

from .graph import index_dtype, remap_pairs, union
from .merge import Graph, group_sums, merge_small, staged_merge
from .settle import first_stage
from .stats import SegmentStats


def resolve(stats: SegmentStats, min_size: int, method: str = "fast",
             spill: str | None = None, check=None) -> tuple[np.ndarray, int]:
    """Local id -> final id (1..n, in raster order of each segment's first pixel). Takes
    from ``stats`` what only the merge needs (pairs, joins, decisions, scaled sums), and
    with ``spill`` (a folder) leaves what only the outputs read memory-mapped there.
    ``check``: called between merge stages (Cancel)."""
    n = len(stats.count)
    root = union(n, np.sort(stats.joins, axis=1)) if len(stats.joins) else np.arange(n)
    stats.joins = None
    # a root is its component's smallest member, so the roots are the nodes that are their
    # own root: numbered in order, as np.unique(root, return_inverse=True) would, unsorted
    is_root = root == np.arange(n)
    k = int(np.count_nonzero(is_root))
    idt = index_dtype(n)  # int32 lookups where ids fit: these five arrays live at once
    inverse = (np.cumsum(is_root, dtype=idt) - 1)[root]
    del root, is_root
    first = np.full(k, np.iinfo(stats.first.dtype).max, stats.first.dtype)
    np.minimum.at(first, inverse, stats.first)
    order = np.argsort(first, kind="stable")
    if stats.decisions is not None:
        first.sort()  # each canonical segment's first pixel: first_stage's tie order
    else:
        first = None
    canon = np.empty(k, dtype=idt)
    canon[order] = np.arange(k, dtype=idt)
    del order
    seg = canon[inverse]  # local -> canonical segment (raster order)
    del canon, inverse
    # the canonical graph, each part built once the one before has freed what only it
    # needed (this is the peak of Segment's memory on large rasters); what only the
    # outputs read then waits on disk (``spill``: a folder), and the merge frees the
    # graph it is handed as it goes
    pairs = remap_pairs(stats.pairs, seg, k)
    stats.pairs = None
    stage = None if stats.decisions is None else \
        first_stage(stats.decisions.renamed(seg), first)
    stats.decisions = first = None
    count = np.bincount(seg, stats.count, k)
    sums = group_sums(seg, stats.sums, k)
    stats.sums = None
    if spill:
        stats.spill(spill)
    graph = Graph(count, sums, pairs, stage)
    del count, sums, pairs, stage
    merged = staged_merge(graph, min_size, check) if method == "joint" else \
        merge_small(*graph.take()[:3], min_size, overwrite=True)
    kept, final = np.unique(merged, return_inverse=True)
    # kept roots are canonical ids, already in raster order: final ids follow it
    return final[seg] + 1, len(kept)
