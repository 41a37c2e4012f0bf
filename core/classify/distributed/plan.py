"""How a distributed run cuts the map: blocks of whole tiles, and how many workers.

A block is a window of the classified area whose origin lies on the single-process tile
grid (a multiple of the tile core from the area's corner), so a worker that streams the
block's tiles runs exactly the tiles the one-process run would, and the map comes out the
same. With BLEND=weighted a pixel near a block edge is also reached by tiles of the
neighbouring blocks; the worker then streams a work window grown by enough whole cores to
hold every such tile (in the same raster order, so the blended sums are the same too), and
only the block's own window is kept.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from rasterio.windows import Window

from ...errors import InputError

DEFAULT_BLOCK_SIZE = 4096


@dataclass(frozen=True)
class Block:
    """One unit of distributed work, in raster pixel coordinates."""

    index: int
    window: tuple[int, int, int, int]  # col_off, row_off, width, height: what it delivers
    work: tuple[int, int, int, int]  # what its tiles cover (the window, or more when weighted)

    @property
    def win(self) -> Window:
        return Window(*self.window)

    @property
    def work_win(self) -> Window:
        return Window(*self.work)

    def describe(self) -> str:
        c, r, w, h = self.window
        return f"block {self.index} (columns {c}..{c + w - 1}, rows {r}..{r + h - 1})"


def block_side(block_size: int, core: int) -> int:
    """BLOCK_SIZE rounded down to whole tile cores (at least one)."""
    return max(core, block_size // core * core)


def _balanced(length: int, side: int, core: int) -> int:
    """The block side along one axis: no more blocks than ``side`` needs, but of even size
    (whole cores), so the last block is not a sliver that leaves a worker idle."""
    n = math.ceil(length / side)
    return min(side, math.ceil(math.ceil(length / n) / core) * core)


def plan_blocks(area: Window, core: int, pad: int, block_size: int, weighted: bool) -> list[Block]:
    side = block_side(block_size, core)
    halo = math.ceil(pad / core) * core if weighted and pad else 0
    a_c, a_r = int(area.col_off), int(area.row_off)
    a_w, a_h = int(area.width), int(area.height)
    sx, sy = _balanced(a_w, side, core), _balanced(a_h, side, core)
    blocks = []
    for r in range(0, a_h, sy):
        for c in range(0, a_w, sx):
            w, h = min(sx, a_w - c), min(sy, a_h - r)
            wc0, wr0 = max(0, c - halo), max(0, r - halo)
            wc1, wr1 = min(a_w, c + w + halo), min(a_h, r + h + halo)
            blocks.append(Block(len(blocks), (a_c + c, a_r + r, w, h),
                                (a_c + wc0, a_r + wr0, wc1 - wc0, wr1 - wr0)))
    return blocks


MAX_LOCAL_WORKERS = 1024  # worker processes started on one machine, at most


def usable_cores() -> int:
    """The cores this process may use: Dask's count (CPU affinity and container or cgroup
    quotas, as a SLURM job of 8 of 128 cores has them) where Dask is installed, else the
    affinity; os.cpu_count() counts every core of the machine."""
    try:
        from dask.system import cpu_count

        return max(1, int(cpu_count()))
    except ImportError:
        pass
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def parse_factor(value: str | int | None, cores: int | None = None) -> int:
    """PARALLEL_PROCESSING_FACTOR as ArcGIS takes it: a number of worker processes, or a
    percentage of the cores this process may use ("50%"); empty = 1 (the one-process
    engine)."""
    if value is None or str(value).strip() == "":
        return 1
    text = str(value).strip()
    cores = cores or usable_cores()
    try:
        if text.endswith("%"):
            share = float(text[:-1])
            if not 0 < share <= 1000:
                raise ValueError
            return max(1, math.floor(cores * share / 100 + 1e-9))
        number = float(text)
        if number != int(number) or not 1 <= number <= MAX_LOCAL_WORKERS:
            raise ValueError
        return int(number)
    except (ValueError, OverflowError):  # 'inf' and '1e999' overflow int()
        raise InputError("parallel_processing_factor", f"'{value}' is not a number of worker "
                         f"processes (e.g. 4, at most {MAX_LOCAL_WORKERS}) or a share of the "
                         "cores (e.g. 50%); leave it empty for one process") from None
