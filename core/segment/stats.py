"""What Segment's first pass gathers about each local segment (tile by tile), and what of it
waits on disk while the merge runs.

The first pass appends each tile's statistics to files (``StatsSpool``) instead of keeping
them in lists: on a 29 MPix raster they were ~130 MB, held between every tile's temporary
arrays (glibc's heap could not give those back around them) and doubled for a moment when
the lists were joined. Read back memory-mapped, a part costs memory only while the merge
reads it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

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
        """Leave the arrays only the outputs read on disk in ``folder`` for the merge, which
        reads none of them: on a 29 MPix raster they were ~60 MB of the merge's peak, the
        peak of the whole run. An array already memory-mapped is mapped afresh (the pages
        the numbering read stop counting); ``release`` before ``folder`` goes."""
        for name in OUTPUT_ONLY:
            a = getattr(self, name)
            if isinstance(a, np.memmap) and a.filename:
                setattr(self, name, _map(a.filename, a.dtype, a.shape))
                continue
            path = os.path.join(folder, f"stats_{name}.npy")
            np.save(path, a)
            setattr(self, name, np.load(path, mmap_mode="r"))

    def release(self) -> None:
        """Drop every array (memory-mapped files close, so their folder can be removed)."""
        for name in ("count", "sums", "raw_sums", "first", "pairs", "joins", "decisions"):
            setattr(self, name, None)


class StatsSpool:
    """A tile's statistics appended to raw files in ``folder`` as the first pass goes, read
    back by ``finish`` as read-only memory maps (a context manager: files close on error)."""

    def __init__(self, folder: str, bands: int, index: np.dtype, raw: bool, settle: bool):
        self._columns = {
            "count": _Column(folder, "count", np.int32),
            "sums": _Column(folder, "sums", np.float64, bands),
            "first": _Column(folder, "first", index),
            "pairs": _Column(folder, "pairs", index, 2),
            "joins": _Column(folder, "joins", np.int64, 2),
        }
        if raw:
            self._columns["raw_sums"] = _Column(folder, "raw_sums", np.float64, bands)
        self._decisions = None
        if settle:
            types = {"distance": np.float64}
            self._decisions = {f.name: _Column(folder, f"decisions_{f.name}",
                                               types.get(f.name, np.int64))
                               for f in fields(Decisions)}

    def add(self, **parts: np.ndarray) -> None:
        for name, a in parts.items():
            self._columns[name].add(a)

    def add_decisions(self, decisions: Decisions) -> None:
        for name, column in self._decisions.items():
            column.add(getattr(decisions, name))

    def finish(self) -> SegmentStats:
        c = {name: column.finish() for name, column in self._columns.items()}
        decisions = None
        if self._decisions is not None:
            decisions = Decisions(**{n: col.finish() for n, col in self._decisions.items()})
        return SegmentStats(c["count"], c["sums"], c.get("raw_sums", c["sums"]), c["first"],
                            c["pairs"], c["joins"], decisions)

    def __enter__(self) -> StatsSpool:
        return self

    def __exit__(self, kind, *exc) -> None:
        failed = None
        for column in self._all():
            try:
                column.close()
            except OSError as exc:
                failed = failed or exc
        if failed is not None and kind is None:  # else the error on its way out says more
            raise failed

    def _all(self):
        return list(self._columns.values()) + list((self._decisions or {}).values())


class _Column:
    """Rows of one dtype and width appended to ``folder``/``name``.bin."""

    def __init__(self, folder: str, name: str, dtype, width: int | None = None):
        self.path = os.path.join(folder, f"{name}.bin")
        self.dtype = np.dtype(dtype)
        self.tail = () if width is None else (width,)
        self.rows = 0
        self._fh = open(self.path, "wb")

    def add(self, a: np.ndarray) -> None:
        a = np.ascontiguousarray(a, self.dtype)
        if a.shape[1:] != self.tail:
            raise ValueError(f"{self.path}: rows of shape {a.shape[1:]}, not {self.tail}")
        self._fh.write(a.data)  # a full disk raises OSError(ENOSPC); tofile would not say
        self.rows += len(a)

    def finish(self) -> np.ndarray:
        self.close()
        return _map(self.path, self.dtype, (self.rows, *self.tail))

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def _map(path: str, dtype, shape: tuple) -> np.ndarray:
    """``path`` read-only as an array of ``shape`` (an empty array for no rows: mmap cannot
    map an empty file)."""
    if not shape[0]:
        return np.zeros(shape, dtype)
    return np.memmap(path, dtype, "r", shape=shape)
