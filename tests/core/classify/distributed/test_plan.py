"""Blocks of whole tiles on the one-process tile grid, and the worker count."""

import numpy as np
import pytest
from rasterio.windows import Window

from landlearn.core.classify.distributed.plan import block_side, parse_factor, plan_blocks
from landlearn.core.errors import InputError


def _cover(blocks, area, key="window"):
    counts = np.zeros((int(area.height), int(area.width)), dtype=int)
    for b in blocks:
        c, r, w, h = getattr(b, key)
        counts[r - int(area.row_off):r - int(area.row_off) + h,
               c - int(area.col_off):c - int(area.col_off) + w] += 1
    return counts


def test_blocks_cover_the_area_once_from_the_tile_grid():
    area = Window(100, 50, 1000, 700)
    blocks = plan_blocks(area, core=96, pad=16, block_size=400, weighted=False)
    assert block_side(400, 96) == 384
    assert (_cover(blocks, area) == 1).all()
    for b in blocks:
        assert (b.window[0] - 100) % 96 == 0 and (b.window[1] - 50) % 96 == 0
        assert b.work == b.window  # centre blending needs no neighbour's tiles
    assert [b.index for b in blocks] == list(range(len(blocks))) and len(blocks) == 6
    assert blocks[1].describe() == "block 1 (columns 484..867, rows 50..433)"


def test_weighted_blocks_reach_every_tile_that_touches_them():
    area = Window(0, 0, 1000, 700)
    # padding 40 over cores of 32: tiles two cores away still reach a block's edge
    blocks = plan_blocks(area, core=32, pad=40, block_size=256, weighted=True)
    for b in blocks:
        c, r, w, h = b.window
        wc, wr, ww, wh = b.work
        assert wc == max(0, c - 64) and wr == max(0, r - 64)
        assert wc + ww == min(1000, c + w + 64) and wr + wh == min(700, r + h + 64)
        assert wc % 32 == 0 and wr % 32 == 0  # still the one-process tile grid


def test_a_block_is_at_least_one_tile_core():
    assert block_side(256, 448) == 448


def test_blocks_are_even_rather_than_ending_in_a_sliver():
    blocks = plan_blocks(Window(0, 0, 2048, 2048), core=192, pad=32, block_size=1024,
                         weighted=False)
    assert sorted({b.window[2] for b in blocks}) == [512, 768]  # not 960, 960 and 128
    assert len(blocks) == 9


@pytest.mark.parametrize("value, cores, workers", [("", 8, 1), (None, 8, 1), ("1", 8, 1),
                                                   ("4", 2, 4), (" 50% ", 8, 4), ("10%", 4, 1),
                                                   ("100%", 6, 6), (3, 2, 3)])
def test_the_factor_is_a_count_or_a_share_of_the_cores(value, cores, workers):
    assert parse_factor(value, cores) == workers


@pytest.mark.parametrize("value", ["abc", "0", "-2", "1.5", "0%", "%", "inf", "1e999", "nan",
                                   "5000"])
def test_a_bad_factor_says_what_it_takes(value):
    with pytest.raises(InputError, match=r"^PARALLEL_PROCESSING_FACTOR: .* \(e.g. 4, at most "
                                         r"1024\) .* \(e.g. 50%\)"):
        parse_factor(value, 4)


def test_a_share_counts_the_cores_this_process_may_use(monkeypatch):
    """A SLURM job given 2 of 64 cores: 50% is one worker, not 32 (each a model copy)."""
    import os
    import sys

    from landlearn.core.classify.distributed import plan

    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setitem(sys.modules, "dask.system", None)  # the fallback without Dask
    assert plan.usable_cores() == 2 and parse_factor("50%") == 1
