"""segment.stats: the first pass spools its statistics to files; the arrays only the
outputs read wait on disk while the merge runs."""

import numpy as np
import pytest

from landlearn.core.segment.settle import Decisions
from landlearn.core.segment.stats import SegmentStats, StatsSpool


def test_spill_moves_the_output_only_arrays_to_disk_and_release_closes_them(tmp_path):
    count = np.array([3.0, 1.0, 2.0])
    raw = np.arange(9, dtype=np.float64).reshape(3, 3)
    first = np.array([0, 5, 7], np.int32)
    stats = SegmentStats(count.copy(), None, raw.copy(), first.copy(), None, None)
    stats.spill(str(tmp_path))
    for got, expect in ((stats.count, count), (stats.raw_sums, raw), (stats.first, first)):
        assert isinstance(got, np.memmap) and not got.flags.writeable
        assert got.dtype == expect.dtype and np.array_equal(got, expect)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "stats_count.npy", "stats_first.npy", "stats_raw_sums.npy"]
    stats.release()
    assert stats.count is None and stats.raw_sums is None and stats.first is None


def _decisions(offset):
    i = np.array([1, 2], np.int64) + offset
    return Decisions(i, i[:1], i[1:], np.array([0.5]), np.array([7], np.int64))


def test_spool_appends_each_tile_to_files_and_reads_them_back_mapped(tmp_path):
    with StatsSpool(str(tmp_path), 2, np.dtype(np.int32), raw=False, settle=True) as spool:
        for t in range(2):  # two tiles
            spool.add(count=np.array([1, 4]) + t, sums=np.full((2, 2), t + 0.5),
                      first=np.array([3, 9]) + 10 * t, pairs=np.array([[0, 1]]) + 2 * t)
            spool.add_decisions(_decisions(2 * t))
        spool.add(joins=np.array([[1, 2]]))
        stats = spool.finish()
    assert np.array_equal(stats.count, [1, 4, 2, 5]) and stats.count.dtype == np.int32
    assert np.array_equal(stats.sums, [[0.5, 0.5]] * 2 + [[1.5, 1.5]] * 2)
    assert stats.raw_sums is stats.sums  # 8-bit bands: one array for both
    assert np.array_equal(stats.first, [3, 9, 13, 19]) and stats.first.dtype == np.int32
    assert np.array_equal(stats.pairs, [[0, 1], [2, 3]]) and stats.pairs.dtype == np.int32
    assert np.array_equal(stats.joins, [[1, 2]]) and stats.joins.dtype == np.int64
    assert np.array_equal(stats.decisions.collapsed, [1, 2, 3, 4])
    assert np.array_equal(stats.decisions.to, [2, 4])
    assert np.array_equal(stats.decisions.distance, [0.5, 0.5])
    for a in (stats.count, stats.sums, stats.pairs, stats.decisions.key):
        assert isinstance(a, np.memmap) and not a.flags.writeable
    stats.release()


def test_spool_with_source_sums_and_no_rows(tmp_path):
    with StatsSpool(str(tmp_path), 3, np.dtype(np.int64), raw=True, settle=False) as spool:
        spool.add(count=np.array([2]), sums=np.ones((1, 3)), first=np.array([0]),
                  pairs=np.zeros((0, 2)))
        spool.add(raw_sums=np.full((1, 3), 200.0))
        stats = spool.finish()
    assert np.array_equal(stats.raw_sums, [[200.0] * 3]) and stats.raw_sums is not stats.sums
    assert stats.pairs.shape == (0, 2) and stats.joins.shape == (0, 2)  # nothing to map
    assert stats.decisions is None and stats.first.dtype == np.int64


def test_spool_closes_its_files_on_error_and_refuses_rows_of_the_wrong_width(tmp_path):
    with pytest.raises(ValueError, match="sums"):
        with StatsSpool(str(tmp_path), 3, np.dtype(np.int32), raw=False, settle=False) as sp:
            sp.add(sums=np.ones((1, 2)))
    assert all(c._fh.closed for c in sp._all())


def test_spill_maps_a_spooled_array_afresh_without_copying_it(tmp_path):
    with StatsSpool(str(tmp_path), 1, np.dtype(np.int32), raw=False, settle=False) as spool:
        spool.add(count=np.array([5, 6]), sums=np.ones((2, 1)), first=np.array([0, 1]),
                  pairs=np.zeros((0, 2)))
        stats = spool.finish()
    before = stats.count
    stats.sums = None  # the merge has them
    stats.spill(str(tmp_path))
    assert stats.count is not before and isinstance(stats.count, np.memmap)
    assert np.array_equal(stats.count, [5, 6]) and np.array_equal(stats.raw_sums, [[1.0]] * 2)
    assert not list(tmp_path.glob("*.npy"))  # nothing written again
    stats.release()
