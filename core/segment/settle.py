"""Single pixels settled inside their tile: the first stage of the staged merge, decided
where the pixels are instead of over every local segment of the raster.

The staged merge's first stage (merge.staged_merge, segments under 2 px) joins every
single-pixel segment to its most similar neighbour, judged on the segments' initial means,
all at once. On a 29 MPix raster 71% of the 3.3M local segments are single pixels, and
carrying them to the merge is most of Segment's memory. Inside a tile most of that stage
is already decided, exactly:

- a single pixel is *decided* in its tile when neither it nor any neighbouring segment
  touches the tile's edge (no join across tiles can change them): it picks the same
  neighbour here as the whole-raster merge would (same means, same tie rule, the lower id
  being the earlier first pixel in raster order);
- the groups these choices join are collapsed into one segment each (count and sums added
  in the order the whole-raster merge adds them), unless a single pixel that decides
  *later* is in the group: then its members stay apart and its single pixels choose again
  over the whole raster, the same way (their choice is in the group, never collapsed);
- a single pixel that decides later (near the tile's edge) would need the initial means of
  neighbours that may now be collapsed: the best of those neighbours is computed here and
  competes with its other neighbours in the whole-raster first stage (``first_stage``).

The segments, their ids and the map are the same as without settling, tiled or not
(tested); the first stage's input shrinks to about the segments it leaves.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .graph import first_of_each, neighbour_pairs, remap_pairs, squared_distance, union
from .merge import closest, segment_means


@dataclass
class Decisions:
    """What tiles decided of the first stage, in one numbering of segments."""
    collapsed: np.ndarray  # segments that are collapsed groups (their means are not initial)
    later: np.ndarray  # single pixels deciding later that have a collapsed neighbour ...
    to: np.ndarray  # ... the closest of those neighbours' groups,
    distance: np.ndarray  # its distance,
    key: np.ndarray  # and its first pixel (index into the area): the tie rule's order

    @classmethod
    def empty(cls) -> Decisions:
        i = np.zeros(0, np.int64)
        return cls(i, i, i, np.zeros(0), i)

    def shifted(self, offset: int) -> Decisions:
        return Decisions(self.collapsed + offset, self.later + offset, self.to + offset,
                         self.distance, self.key)

    def renamed(self, lut: np.ndarray) -> Decisions:
        return Decisions(lut[self.collapsed], lut[self.later], lut[self.to], self.distance,
                         self.key)

    @classmethod
    def joined(cls, parts: list[Decisions]) -> Decisions:
        """The parts end to end; the list is emptied."""
        if not parts:
            return cls.empty()
        out = cls(*(np.concatenate([getattr(p, f.name) for p in parts])
                    for f in fields(cls)))
        parts.clear()
        return out


def settle_singles(count: np.ndarray, sums: np.ndarray, pairs: np.ndarray, touch: np.ndarray,
                   first: np.ndarray) -> tuple[np.ndarray, Decisions] | None:
    """(local segment -> settled segment, decisions in the settled numbering), or None when
    no single pixel is decided in the tile.

    ``count`` (m,) pixels and ``sums`` (m, bands) of the tile's local segments (numbered in
    raster order of their first pixel), ``pairs`` their touching pairs (a < b), ``touch``
    which of them touch the tile's edge, ``first`` their first pixels (index into the area).
    """
    m = len(count)
    single = count == 1
    u, v = pairs[:, 0], pairs[:, 1]
    near = touch.copy()  # touches the edge, or a segment that does
    near[u[touch[v]]] = True
    near[v[touch[u]]] = True
    decided = single & ~near
    if not decided.any():
        return None
    fcount = count.astype(np.float64)
    target = closest(pairs, decided, fcount, sums, "similar")
    a = np.flatnonzero(target >= 0)
    b = target[a].astype(np.int64)
    root = union(m, np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1))
    later = single & ~decided
    left_open = np.zeros(m, bool)  # by root: groups holding a single pixel deciding later
    left_open[root[later]] = True
    settled = np.where(left_open[root], np.arange(m), root)
    keep = settled == np.arange(m)
    lut = (np.cumsum(keep) - 1)[settled]
    size = np.bincount(root, minlength=m)
    grouped = (size[root] > 1) & ~left_open[root]  # members of collapsed groups
    # a later single pixel's closest neighbour among members of collapsed groups
    cu = np.concatenate([u, v])
    cv = np.concatenate([v, u])
    sel = later[cu] & grouped[cv]
    cu, cv = cu[sel], cv[sel]
    d = squared_distance(segment_means(sums, fcount, cu), segment_means(sums, fcount, cv))
    order = np.lexsort((first[cv], d, cu))
    best = order[np.r_[True, cu[order][1:] != cu[order][:-1]]] if len(order) else order
    return lut, Decisions(
        collapsed=np.unique(lut[np.flatnonzero(grouped)]),
        later=lut[cu[best]], to=lut[cv[best]], distance=d[best], key=first[cv[best]])


def first_stage(decisions: Decisions, first: np.ndarray):
    """The first stage (segments under 2 px) over the whole raster for staged_merge, given
    what the tiles decided; ``first`` is each segment's first pixel (its order is the ids'
    order). Single pixels left undecided pick their closest neighbour among the segments
    whose means are still initial, and the tiles' best collapsed neighbour competes."""
    def stage(count, sums, pairs):
        n = len(count)
        small = count < 2
        skip = np.zeros(n, bool)
        skip[decisions.collapsed] = True
        best, best_d = closest(pairs, small, count, sums, "similar", skip, distances=True)
        s, d = decisions.later, decisions.distance
        now = best[s]
        better = small[s] & ((now < 0) | (d < best_d[s]) | (
            (d == best_d[s]) & (decisions.key < first[np.maximum(now, 0)])))
        best[s[better]] = decisions.to[better]
        a = np.flatnonzero(best >= 0)
        b = best[a].astype(np.int64)
        return union(n, np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1))
    return stage


def _first_pixels(ids: np.ndarray, sel: np.ndarray, m: int, r0: int, c0: int,
                  width: int) -> np.ndarray:
    """Each local segment's first pixel as an index into the area: ``ids`` are the labels
    of the ``sel`` pixels in raster order."""
    w = sel.shape[1]
    at = first_of_each(ids, m)
    if at is not None:  # numbered in raster order of first pixel, as local_components does
        pos = np.flatnonzero(sel.ravel())[at]
        return (pos // w + r0).astype(np.int64) * width + (pos % w + c0)
    rr, cc = np.nonzero(sel)
    first = np.full(m, np.iinfo(np.int64).max)
    np.minimum.at(first, ids, (rr + r0).astype(np.int64) * width + (cc + c0))
    return first


def tile_segments(lab: np.ndarray, xs: np.ndarray, raw: np.ndarray | None, r0: int, c0: int,
                  width: int, settle: bool):
    """A tile's local segments and their statistics, single pixels settled when ``settle``.

    ``lab`` (h, w) local ids in raster order of first pixel (-1 NoData), ``xs`` the scaled
    bands, ``raw`` the source bands (None when they are the scaled ones); the tile's first
    pixel is at (r0, c0) of an area ``width`` px wide. Returns (labels, count int32, sums,
    raw sums or None, first pixel as an index into the area, touching pairs, Decisions or
    None), all in the settled numbering.
    """
    sel = lab >= 0
    m = int(lab.max(initial=-1)) + 1
    ids = lab[sel]
    count = np.bincount(ids, minlength=m).astype(np.int32)
    sums = np.stack([np.bincount(ids, b[sel], m) for b in xs], 1)
    raw_sums = None if raw is None else np.stack([np.bincount(ids, b[sel], m) for b in raw], 1)
    first = _first_pixels(ids, sel, m, r0, c0, width)
    del ids
    pairs = neighbour_pairs(lab)
    found = None
    if settle and m:
        touch = np.zeros(m, bool)
        for edge in (lab[0], lab[-1], lab[:, 0], lab[:, -1]):
            touch[edge[edge >= 0]] = True
        found = settle_singles(count, sums, pairs, touch, first)
    if found is None:
        return lab, count, sums, raw_sums, first, pairs, None
    lut, decisions = found
    k = int(lut.max()) + 1
    # node statistics added in node order: the sums the whole-raster merge would make
    count = np.bincount(lut, count, k).astype(np.int32)
    sums = np.stack([np.bincount(lut, s, k) for s in sums.T], 1)
    if raw_sums is not None:
        raw_sums = np.stack([np.bincount(lut, s, k) for s in raw_sums.T], 1)
    # a settled segment's first pixel is its lowest member's (``first`` rises with the id)
    lowest = first_of_each(lut, k) if (np.diff(first) > 0).all() else None
    if lowest is not None:
        settled_first = first[lowest]
    else:
        settled_first = np.full(k, np.iinfo(np.int64).max)
        np.minimum.at(settled_first, lut, first)
    lab = np.where(sel, lut[np.maximum(lab, 0)], -1)
    return lab, count, sums, raw_sums, settled_first, remap_pairs(pairs, lut, k), decisions
