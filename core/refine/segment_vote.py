"""Per-segment votes gathered block by block: each segment's class, exactly, whatever tiles
it crosses.

A class map votes by pixel counts (majority; a tie goes to the lower class value); a
probabilities raster by summed probabilities (the class with the highest mean
probability). Memory follows the number of (segment, class) pairs, not the raster.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SegmentVotes"]


class SegmentVotes:
    def __init__(self, n_classes: int):
        self.n_classes = n_classes
        self.ids = np.zeros(0, np.int64)
        self.sums = np.zeros((0, n_classes), np.float64)

    def add(self, seg: np.ndarray, has: np.ndarray, scores: np.ndarray) -> None:
        """``seg`` (h, w) int64 ids (any value, negative too), ``has`` where there is a
        segment; ``scores`` (n_classes, h, w) votes (one-hot for a class map, probabilities
        otherwise; all 0 where there is no data)."""
        keep = has & (scores.sum(0) > 0)
        if not keep.any():
            return
        ids, inv = np.unique(seg[keep], return_inverse=True)
        sums = np.stack([np.bincount(inv, scores[c][keep], len(ids))
                         for c in range(self.n_classes)], 1)
        all_ids = np.concatenate([self.ids, ids])
        merged, where = np.unique(all_ids, return_inverse=True)
        total = np.zeros((len(merged), self.n_classes))
        np.add.at(total, where, np.concatenate([self.sums, sums]))
        self.ids, self.sums = merged, total

    def winners(self) -> tuple[np.ndarray, np.ndarray]:
        """(segment ids, index of each one's class): the highest sum, ties to the lower
        index (argmax takes the first)."""
        if len(self.ids) == 0:
            return self.ids, np.zeros(0, np.int64)
        return self.ids, self.sums.argmax(1)

    def lookup(self, seg: np.ndarray, has: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(class index per pixel, whether the pixel's segment voted) for ids ``seg``."""
        ids, win = self.winners()
        if len(ids) == 0:
            return np.zeros(seg.shape, np.int64), np.zeros(seg.shape, bool)
        at = np.clip(np.searchsorted(ids, seg), 0, len(ids) - 1)
        found = has & (ids[at] == seg)
        return win[at], found
