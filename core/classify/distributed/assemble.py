"""The client's side of a distributed run: the blocks' parts copied into the final outputs.

Blocks arrive in any order; each part is read in strips (memory follows the block's width,
never the raster), its block window is written into the output writers, and the classes
are counted. The outputs are the same atomic, verified, styled GeoTIFFs as a one-process
run's, published together at the end, or not at all.
"""

from __future__ import annotations

from contextlib import ExitStack

import numpy as np
import rasterio
from rasterio.errors import RasterioError
from rasterio.windows import Window

from ...geo.commit import commit_together
from ..output import open_writers
from .worker import SKIPPED_TAG, part_paths

STRIP_BYTES = 64 << 20


class DamagedPart(Exception):
    """A block's part file cannot be opened or read (cut short by a crash): not an error of
    the outputs being written."""


class Assembler:
    def __init__(self, config, grid, info, area: Window, staging: str):
        self.config, self.area, self.staging = config, area, staging
        self._stack = ExitStack()
        self.cls, self.conf, self.prob = open_writers(self._stack, config, grid, info)
        self.counts = np.zeros(256, dtype=np.int64)
        self.bands = len(info.class_values)

    def add(self, block) -> int:
        """Copy ``block``'s window from its parts into the outputs; the block's all-NoData
        tiles, as its worker recorded them in the class part."""
        parts = part_paths(self.staging, block.index, self.config)
        writers = {"output": self.cls, "output_confidence": self.conf,
                   "output_probabilities": self.prob}
        c, r, w, h = block.window
        wc, wr = block.work[0], block.work[1]
        per_row = w * (1 + 4 + (4 * self.bands if self.prob is not None else 0))
        step = max(1, min(h, STRIP_BYTES // max(per_row, 1)))
        counts = np.zeros(256, dtype=np.int64)
        with ExitStack() as files:
            try:
                opened = {k: files.enter_context(rasterio.open(p))
                          for k, p in parts.items() if p}
            except (RasterioError, OSError) as exc:
                raise DamagedPart(str(exc)) from exc
            told = opened["output"].tags().get(SKIPPED_TAG, "0")
            if not told.isdigit():
                raise DamagedPart(f"its {SKIPPED_TAG} tag reads {told[:40]!r}, not a count")
            for y in range(0, h, step):
                rows = min(step, h - y)
                src = Window(c - wc, r - wr + y, w, rows)
                dst = Window(c - int(self.area.col_off), r - int(self.area.row_off) + y, w, rows)
                for key, ds in opened.items():
                    try:
                        data = ds.read(window=src)
                    except (RasterioError, OSError) as exc:
                        raise DamagedPart(str(exc)) from exc
                    writers[key].write(data, dst)  # its errors (a full disk) are the run's
                    if key == "output":
                        counts += np.bincount(data.ravel(), minlength=256)
        # counted once the whole block was read: a damaged part stopped half way is
        # computed again and its window written over (engine._resumed)
        self.counts += counts
        return int(told)

    @property
    def class_counts(self) -> dict[int, int]:
        return {int(v): int(self.counts[v]) for v in np.nonzero(self.counts)[0]}

    def commit(self) -> None:
        commit_together([w for w in (self.cls, self.conf, self.prob) if w is not None])
        self._stack.close()

    def abort(self) -> None:
        self._stack.__exit__(RuntimeError, RuntimeError("aborted"), None)
