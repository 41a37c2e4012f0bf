"""Regions of one class (connected pixels of equal value), labelled tile by tile and
joined across tile borders, then those under the minimum mapping unit merged into a
neighbour: the largest, or the one whose mean class probabilities are closest.

The first pass writes each pixel's local region id into a temporary raster and keeps, per
region, its size, class and probability sums, the regions it touches and the ones it
continues across a border; the merge runs on that graph (segment.graph, as Segment merges
small segments), and a second pass rewrites the ids as classes. Memory follows the tile
size and the number of regions, not the raster.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..geo.segments import table_budget
from ..segment.graph import union, unique_pairs
from ..segment.merge import merge_small

__all__ = ["RegionGraph", "label_classes", "resolve"]


def _structure(connectivity: int):
    from scipy import ndimage

    return ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)


def label_classes(cls: np.ndarray, connectivity: int) -> tuple[np.ndarray, int]:
    """(labels, count): connected regions of equal non-zero class; -1 where class is 0."""
    from scipy import ndimage

    labels = np.full(cls.shape, -1, np.int64)
    n = 0
    for value in np.unique(cls[cls > 0]):
        lab, k = ndimage.label(cls == value, _structure(connectivity))
        inside = lab > 0
        labels[inside] = lab[inside] - 1 + n
        n += k
    return labels, n


@dataclass
class RegionGraph:
    """What the first pass gathers: per local region its pixel count, class and probability
    sums; pairs of touching regions of different classes; joins of the same class."""

    connectivity: int
    n_classes: int
    count: list = field(default_factory=list)
    cls: list = field(default_factory=list)
    sums: list = field(default_factory=list)
    pairs: list = field(default_factory=list)
    joins: list = field(default_factory=list)
    first: list = field(default_factory=list)  # raster-order index of each region's 1st pixel
    next_id: int = 0
    budget: int | None = None  # bytes for the tables (table_budget when None)

    def _check_size(self, with_sums: bool) -> None:
        """Count, first pixel, class, about two pairs and the probability sums a region,
        held some three times while they are resolved: a noisy gigapixel map of 10^8
        regions needed tens of GB, and the OS ended QGIS."""
        per = 3 * (8 + 8 + 1 + 32 + (8 * self.n_classes if with_sums else 0))
        most = (self.budget or table_budget()) // per
        if self.next_id > most:
            raise InputError("min_region_size", f"the map holds more than {most:,} regions "
                             "(connected pixels of one class), more than this machine's "
                             "memory can resolve (a quarter of it, or 2 GB where that cannot "
                             "be read); refine it a part at a time (clip it first), or "
                             "give segments (SEGMENTED_RASTER) without a minimum mapping "
                             "unit first, then the unit on that smoother map")

    def add_tile(self, cls: np.ndarray, prob: np.ndarray | None, r0: int, c0: int,
                 width: int) -> np.ndarray:
        """Global region ids of a tile's pixels (-1 = NoData), its statistics recorded;
        the tile starts at row ``r0``, column ``c0`` of a raster ``width`` wide."""
        lab, n = label_classes(cls, self.connectivity)
        sel = lab >= 0
        g = np.where(sel, lab + self.next_id, -1)
        self.count.append(np.bincount(lab[sel], minlength=n))
        rr, cc = np.nonzero(sel)
        first = np.full(n, np.iinfo(np.int64).max)
        np.minimum.at(first, lab[sel], (rr + r0).astype(np.int64) * width + cc + c0)
        self.first.append(first)
        value = np.zeros(n, np.uint8)
        value[lab[sel]] = cls[sel]
        self.cls.append(value)
        if prob is not None:
            self.sums.append(np.stack([np.bincount(lab[sel], prob[c][sel], n)
                                       for c in range(self.n_classes)], 1))
        self.pairs.append(_touching(g, self.connectivity))
        self.next_id += n
        self._check_size(prob is not None)
        return g

    def border(self, a_lab: np.ndarray, a_cls: np.ndarray, b_lab: np.ndarray,
               b_cls: np.ndarray) -> None:
        """Pixels ``a`` and ``b`` (same shape) touch across a tile border."""
        ok = (a_lab >= 0) & (b_lab >= 0)
        if not ok.any():
            return
        same = ok & (a_cls == b_cls)
        diff = ok & (a_cls != b_cls)
        if same.any():  # once per pair of regions, not per border pixel (a long border)
            x, y = a_lab[same], b_lab[same]
            self.joins.append(unique_pairs(np.stack([np.minimum(x, y), np.maximum(x, y)], 1)))
        if diff.any():
            x, y = a_lab[diff], b_lab[diff]
            self.pairs.append(unique_pairs(np.stack([np.minimum(x, y), np.maximum(x, y)], 1)))

    def border_line(self, a_lab, a_cls, b_lab, b_cls) -> None:
        """Two lines of pixels facing each other (a's pixel i faces b's pixel i; with
        8-connectivity also b's i-1 and i+1)."""
        for k in ((0,) if self.connectivity == 4 else (0, -1, 1)):
            if k == 0:
                self.border(a_lab, a_cls, b_lab, b_cls)
            elif k > 0:
                self.border(a_lab[:-1], a_cls[:-1], b_lab[1:], b_cls[1:])
            else:
                self.border(a_lab[1:], a_cls[1:], b_lab[:-1], b_cls[:-1])


def _touching(labels: np.ndarray, connectivity: int) -> np.ndarray:
    """Unique (a, b), a < b, of different regions that touch inside a tile."""
    shifts = [(labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])]
    if connectivity == 8:
        shifts += [(labels[:-1, :-1], labels[1:, 1:]), (labels[:-1, 1:], labels[1:, :-1])]
    pairs = []
    for a, c in shifts:
        m = (a != c) & (a >= 0) & (c >= 0)
        pairs.append(np.stack([np.minimum(a[m], c[m]), np.maximum(a[m], c[m])], axis=1))
    return unique_pairs(np.concatenate(pairs)) if pairs else np.zeros((0, 2), np.int64)


def resolve(graph: RegionGraph, min_size: float, into: str) -> np.ndarray:
    """The final class of every local region after merging regions under ``min_size``
    pixels into their chosen neighbour: a merged group takes the class of the group the
    small ones merged into (its heir, segment.merge.merge_small), so a group of small
    pieces that reached the unit is not repainted by a larger piece joining it later."""
    n = graph.next_id
    if n == 0:
        return np.zeros(0, np.uint8)
    count = np.concatenate(graph.count).astype(np.float64)
    cls = np.concatenate(graph.cls)
    sums = (np.concatenate(graph.sums) if graph.sums else np.zeros((n, 1)))
    joins = np.concatenate(graph.joins) if graph.joins else np.zeros((0, 2), np.int64)
    root = union(n, np.sort(joins, axis=1)) if len(joins) else np.arange(n)
    regions, joined = np.unique(root, return_inverse=True)
    k = len(regions)
    # regions numbered in raster order of their first pixel, so that ties (equal sizes or
    # distances) go the same way whatever the tiling
    first = np.full(k, np.iinfo(np.int64).max)
    np.minimum.at(first, joined, np.concatenate(graph.first))
    canon = np.empty(k, np.int64)
    canon[np.argsort(first, kind="stable")] = np.arange(k)
    region = canon[joined]
    r_count = np.bincount(region, count, k)
    r_cls = np.zeros(k, np.uint8)
    r_cls[region] = cls
    r_sums = np.stack([np.bincount(region, sums[:, c], k) for c in range(sums.shape[1])], 1)
    pairs = np.concatenate(graph.pairs) if graph.pairs else np.zeros((0, 2), np.int64)
    pairs = np.sort(region[pairs], axis=1) if len(pairs) else pairs.reshape(0, 2)
    pairs = unique_pairs(pairs[pairs[:, 0] != pairs[:, 1]]) if len(pairs) else pairs
    _group, heir = merge_small(r_count, r_sums, pairs, min_size, into, heirs=True)
    return r_cls[heir][region]
