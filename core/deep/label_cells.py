"""Labelled pixels of overlapping chips, each counted once: what VALIDATION_PERCENT measures.

The chips of one folder come from one label raster, so a map pixel has the same label in
every chip that covers it. Each chip's labelled pixels are summed over cells of f x f
pixels, f the largest size that divides the chip size and every chip's offset from the
folder's origin (the stride, for an export on a grid): every chip that covers a cell then
covers it whole and counts it the same, and the labelled pixels of any set of chips are the
sum over their distinct cells. Chips from different grids in one folder, strides under an
eighth of a chip or that do not divide it are counted on a coarser grid, where a cell that
no chip covers whole counts by its best-covered chip: an estimate, never high. Chips of
one folder with different pixel sizes (an ArcGIS export from rasters of several
resolutions) are counted on a grid per pixel size. Chips without georeferencing are one
cell each. Given the class count, each cell also holds its pixels per class, so that the
split can hold out a validation area whose classes resemble the labels' (split.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..chips.training_data import Chip

__all__ = ["MAX_CELLS", "LabelCells", "chip_cells", "label_cells"]

# cells per chip side squared: 8 x 8 (9 x 9 where chips lie off the cells' grid); a
# quarter-chip stride needs 4 x 4, an eighth 8 x 8
MAX_CELLS = 64


@dataclass(frozen=True)
class LabelCells:
    keys: list[np.ndarray]  # per chip: int64 ids of the cells it covers
    counts: list[np.ndarray]  # per chip: its labelled pixels in each of those cells
    # per chip, when counted by class: (cells, classes) pixels of each class in each cell
    classes: list[np.ndarray] | None = None

    def of(self, i: int):
        """(cell id, labelled pixels) pairs of chip ``i``."""
        return zip(self.keys[i].tolist(), self.counts[i].tolist())

    def total(self) -> float:
        """Labelled pixels of all chips together, each cell counted once."""
        if not self.keys:
            return 0.0
        key, count = np.concatenate(self.keys), np.concatenate(self.counts)
        order = np.lexsort((count, key))  # by cell, then count: each cell's last is its max
        key, count = key[order], count[order]
        last = np.r_[key[1:] != key[:-1], True]
        return float(count[last].sum())

    def class_totals(self) -> np.ndarray | None:
        """Labelled pixels of each class in all chips together (each cell counted once, by
        its best-covered chip as in ``total``); None when not counted by class."""
        if self.classes is None:
            return None
        if not self.keys:
            return np.zeros(0)
        key, count = np.concatenate(self.keys), np.concatenate(self.counts)
        order = np.lexsort((count, key))
        last = np.r_[key[order][1:] != key[order][:-1], True]
        return np.concatenate(self.classes)[order][last].sum(axis=0)


def chip_cells(n: int) -> LabelCells:
    """Each chip one cell of weight 1: the split counted in chips."""
    return LabelCells([np.array([i], np.int64) for i in range(n)],
                      [np.ones(1, np.float64) for _ in range(n)])


def label_cells(chips: Sequence[Chip], labelled: Callable[[int], np.ndarray],
                n_classes: int = 0) -> LabelCells:
    """The cells of every chip; ``labelled(i)``: chip i's (h, w) bool mask of pixels with a
    class to learn or, with ``n_classes``, its (h, w) class indices (a value outside
    0..n_classes-1: no class), then counted per class too."""
    keys: list = [None] * len(chips)
    counts: list = [None] * len(chips)
    per_class: list | None = [None] * len(chips) if n_classes else None

    def cell_counts(label: np.ndarray, cell: np.ndarray, n: int) -> np.ndarray:
        """(n,) labelled pixels of each cell or, by class, (n, n_classes)."""
        if not n_classes:
            return np.bincount(cell, label.ravel().astype(np.float64), n)
        cls = label.ravel().astype(np.int64)
        ok = (cls >= 0) & (cls < n_classes)
        return np.bincount(cell[ok] * n_classes + cls[ok],
                           minlength=n * n_classes).reshape(n, n_classes).astype(np.float64)

    base = 0
    # a grid per folder and chip footprint (one tile size per folder: a footprint of other
    # size is another pixel size); chips without georeferencing alone
    groups: dict[tuple, list[int]] = {}
    for i, chip in enumerate(chips):
        b = chip.bounds
        groups.setdefault(("plain", i) if b is None else
                          (chip.folder, f"{b[2] - b[0]:.6g}", f"{b[3] - b[1]:.6g}"), []).append(i)
    for members in groups.values():
        first = labelled(members[0])  # masks are read one at a time, never all at once
        if chips[members[0]].bounds is None:  # one cell per chip
            keys[members[0]] = np.array([base], np.int64)
            n = cell_counts(first, np.zeros(first.size, np.int64), 1)
            counts[members[0]] = n.sum(axis=1) if n_classes else n
            if per_class is not None:
                per_class[members[0]] = n
            base += 1
            continue
        h, w = first.shape
        b0 = chips[members[0]].bounds
        px, py = (b0[2] - b0[0]) / w, (b0[3] - b0[1]) / h
        x0 = min(chips[i].bounds[0] for i in members)
        y0 = max(chips[i].bounds[3] for i in members)
        raw = {i: ((y0 - chips[i].bounds[3]) / py, (chips[i].bounds[0] - x0) / px)
               for i in members}
        off = {i: (round(r), round(c)) for i, (r, c) in raw.items()}
        aligned = all(abs(r - off[i][0]) < 0.01 and abs(c - off[i][1]) < 0.01
                      for i, (r, c) in raw.items())
        f = math.gcd(h, w, *(v for o in off.values() for v in o)) if aligned else 1
        f = max(f, math.ceil(max(h, w) / math.isqrt(MAX_CELLS)))
        rows = max(o[0] for o in off.values()) // f + h // f + 2
        cols = max(o[1] for o in off.values()) // f + w // f + 2
        for i in members:
            mask = first if i == members[0] else labelled(i)
            oy, ox = off[i]
            rr = (oy + np.arange(h)) // f
            cc = (ox + np.arange(w)) // f
            r0, c0 = int(rr[0]), int(cc[0])
            nr, nc = int(rr[-1]) - r0 + 1, int(cc[-1]) - c0 + 1
            local = ((rr - r0)[:, None] * nc + (cc - c0)[None, :]).ravel()
            n = cell_counts(mask, local, nr * nc)
            grid = (np.arange(nr)[:, None] + r0) * cols + (np.arange(nc)[None, :] + c0)
            keys[i] = base + grid.ravel().astype(np.int64)
            counts[i] = n.sum(axis=1) if n_classes else n
            if per_class is not None:
                per_class[i] = n
        base += rows * cols
    return LabelCells(keys, counts, per_class)
