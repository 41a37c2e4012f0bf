"""What Segment's first pass gathers about each local segment (tile by tile), and what of it
waits on disk while the merge runs."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .settle import Decisions

# read again only by the outputs (mean colour, polygons' attributes, MAX_SEGMENT_SIZE's cut)
OUTPUT_ONLY = ("count", "raw_sums", "first")


@dataclass
class SegmentStats:
    count: np.ndarray  # pixels of each local segment
    sums: np.ndarray | None  # scaled values, for similarity (None once the merge has them)
    raw_sums: np.ndarray  # source values, for the mean colour and the polygons' attributes
    # (the same array as sums where the scaling is the identity)
    first: np.ndarray  # first pixel (raster order) of each local segment
    pairs: np.ndarray | None  # touching local segments
    joins: np.ndarray | None  # local segments to join across tile borders
    decisions: Decisions | None = None  # the first merge stage, as far as tiles decided it

    def spill(self, folder: str) -> None:
        """Move the arrays only the outputs read to memory-mapped files in ``folder`` for the
        merge, which reads none of them: on a 29 MPix raster they were ~60 MB of the
        merge's peak, the peak of the whole run. ``release`` before ``folder`` goes."""
        for name in OUTPUT_ONLY:
            path = os.path.join(folder, f"stats_{name}.npy")
            np.save(path, getattr(self, name))
            setattr(self, name, np.load(path, mmap_mode="r"))

    def release(self) -> None:
        """Drop every array (memory-mapped files close, so their folder can be removed)."""
        for name in ("count", "sums", "raw_sums", "first", "pairs", "joins", "decisions"):
            setattr(self, name, None)
