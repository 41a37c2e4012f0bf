"""Per-segment votes gathered block by block: each segment's class, exactly, whatever tiles
it crosses.

A class map votes by pixel counts (majority; a tie goes to the lower class value); a
probabilities raster by summed probabilities (the class with the highest mean
probability). Each block's votes are summed per segment where they are read, and the
blocks' sums are merged only once the pending ones outgrow the last merge: every row is
merged O(log) times over a run, not once per block (a run over 600 blocks and 20 million
segments re-merged them all 600 times). Memory follows the segments times the classes,
not the raster.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..geo.segments import table_budget

__all__ = ["SegmentVotes"]


class SegmentVotes:
    MERGE_ROWS = 1 << 20

    def __init__(self, n_classes: int, budget: int | None = None):
        self.n_classes = n_classes
        # ids and a float64 sum per class a segment; a merge holds them about three times
        self.max_segments = (budget or table_budget()) // (3 * 8 * (n_classes + 1))
        self.ids = np.zeros(0, np.int64)
        self.sums = np.zeros((0, n_classes), np.float64)
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._rows = 0
        self._winners: np.ndarray | None = None

    def add(self, seg: np.ndarray, has: np.ndarray, scores: np.ndarray) -> None:
        """``seg`` (h, w) int64 ids (any value, negative too), ``has`` where there is a
        segment; ``scores`` (n_classes, h, w) probabilities (all 0 where there is no data)."""
        keep = has & (scores.sum(0) > 0)
        if not keep.any():
            return
        ids, inv = np.unique(seg[keep], return_inverse=True)
        self._push(ids, np.stack([np.bincount(inv, scores[c][keep], len(ids))
                                  for c in range(self.n_classes)], 1))

    def add_classes(self, seg: np.ndarray, has: np.ndarray, index: np.ndarray,
                    valid: np.ndarray) -> None:
        """A class map's votes: ``index`` (h, w) each pixel's class index, counted where
        ``has`` and ``valid`` (no one-hot planes: 255 classes of a 1024 px block were 1 GB)."""
        keep = has & valid
        if not keep.any():
            return
        ids, inv = np.unique(seg[keep], return_inverse=True)
        n = self.n_classes
        counts = np.bincount(inv * n + index[keep], minlength=len(ids) * n)
        self._push(ids, counts.reshape(len(ids), n).astype(np.float64))

    def _push(self, ids: np.ndarray, sums: np.ndarray) -> None:
        self._pending.append((ids, sums))
        self._rows += len(ids)
        self._winners = None
        if self._rows > max(self.MERGE_ROWS, len(self.ids)) or \
                len(self.ids) + self._rows > self.max_segments:
            self._merge()
        if len(self.ids) > self.max_segments:
            raise InputError("segmented_raster", f"it holds more than {self.max_segments:,} "
                             f"segments, more than this machine's memory can hold votes of "
                             f"{self.n_classes} classes for (a quarter of it, or 2 GB where "
                             "that cannot be read); segment with a larger MIN_SEGMENT_SIZE, "
                             "or refine a part of the map at a time")

    def _merge(self) -> None:
        if not self._pending:
            return
        ids = np.concatenate([self.ids] + [p[0] for p in self._pending])
        sums = np.concatenate([self.sums] + [p[1] for p in self._pending])
        merged, where = np.unique(ids, return_inverse=True)
        self.sums = np.stack([np.bincount(where, sums[:, c], len(merged))
                              for c in range(self.n_classes)], 1)
        self.ids = merged
        self._pending, self._rows = [], 0

    def winners(self) -> tuple[np.ndarray, np.ndarray]:
        """(segment ids, index of each one's class): the highest sum, ties to the lower
        index (argmax takes the first). Computed once after the last vote."""
        self._merge()
        if self._winners is None:
            self._winners = (self.sums.argmax(1) if len(self.ids)
                             else np.zeros(0, np.int64))
        return self.ids, self._winners

    def lookup(self, seg: np.ndarray, has: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(class index per pixel, whether the pixel's segment voted) for ids ``seg``."""
        ids, win = self.winners()
        if len(ids) == 0:
            return np.zeros(seg.shape, np.int64), np.zeros(seg.shape, bool)
        at = np.clip(np.searchsorted(ids, seg), 0, len(ids) - 1)
        found = has & (ids[at] == seg)
        return win[at], found
