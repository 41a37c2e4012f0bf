"""segment.stats: the arrays only the outputs read wait on disk while the merge runs."""

import numpy as np

from landlearn.core.segment.stats import SegmentStats


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
