"""segment.resolve: local segments joined across tiles, numbered in raster order of their
first pixel, small ones merged into their most similar neighbour."""

import numpy as np
import pytest

from landlearn.core.segment.resolve import resolve
from landlearn.core.segment.stats import SegmentStats


def _stats():
    # four local segments (two tiles); 0 and 2 are one segment cut by a tile border
    count = np.array([5, 1, 4, 6], np.int32)
    means = np.array([10.0, 100.0, 12.0, 98.0])
    sums = (means * count)[:, None]
    return SegmentStats(count, sums, sums, np.array([0, 3, 10, 20], np.int32),
                        np.array([[0, 1], [1, 2], [1, 3], [2, 3]], np.int32),
                        np.array([[0, 2]], np.int64))


@pytest.mark.parametrize("method", ["fast", "joint"])
def test_joins_then_merges_the_single_pixel_into_its_most_similar_neighbour(method, tmp_path):
    stats = _stats()
    final, n = resolve(stats, 2, method, str(tmp_path))
    # {0, 2} (first pixel 0) is 1; the single pixel (mean 100) joins 3 (98), not {0, 2} (~11)
    assert n == 2 and final.tolist() == [1, 2, 1, 2]
    # what the merge needed is gone; what the outputs read waits memory-mapped
    assert stats.pairs is None and stats.joins is None and stats.sums is None
    assert isinstance(stats.count, np.memmap) and stats.count.tolist() == [5, 1, 4, 6]
    stats.release()


def test_without_small_segments_ids_follow_the_first_pixel():
    stats = _stats()
    stats.first = np.array([30, 3, 10, 0], np.int32)  # segment 3 starts the raster
    final, n = resolve(stats, 1, "fast")
    assert n == 3 and final.tolist() == [3, 2, 3, 1]  # {0, 2} starts at pixel 10
