"""segment.first_pass: tiles filtered and cut into local segments whose statistics are
spooled to disk, with the edges and joins across tile borders."""

import numpy as np
import pytest
import rasterio

from landlearn.core.geo.raster import RasterSource
from landlearn.core.progress import NullProgress
from landlearn.core.segment.first_pass import first_pass, join_radius
from landlearn.core.segment.segment_mean_shift import SegmentConfig
from synthetic import write


def test_join_radius_is_half_the_range_radius_fast_and_a_quarter_joint():
    assert join_radius("fast", 16.0) == 8.0 and join_radius("joint", 16.0) == 4.0


def test_tiles_spool_statistics_that_agree_with_the_labels(tmp_path):
    rng = np.random.default_rng(0)
    img = np.zeros((3, 150, 170), np.uint8)
    img[:, :, 85:] = 200  # two flat halves across tile borders, with a little noise
    img = (img + rng.integers(1, 4, img.shape)).astype(np.uint8)
    img[:, 140:, :20] = 0
    path = write(tmp_path / "image.tif", img, nodata=0)
    config = SegmentConfig(path, output=str(tmp_path / "o.tif"), tile_size=64,
                           method="joint", min_segment_size=5)
    labels_path = str(tmp_path / "labels.tif")
    with RasterSource(path) as src:
        offset, scale = np.zeros(3, np.float32), np.ones(3, np.float32)
        stats = first_pass(config, src, src.grid.full_window, offset, scale, 3, 15.0,
                           "compiled", labels_path, NullProgress())
    with rasterio.open(labels_path) as ds:
        lab = ds.read(1)
    n = len(stats.count)
    valid = lab >= 0
    assert not valid[140:, :20].any() and valid.sum() == 150 * 170 - 10 * 20
    assert np.array_equal(np.bincount(lab[valid], minlength=n), stats.count)
    assert stats.raw_sums is stats.sums  # 8-bit bands: one array for both
    assert np.allclose(stats.sums[:, 0] / stats.count, np.bincount(
        lab[valid], img[0][valid].astype(float), n) / stats.count)
    rows, cols = np.divmod(stats.first.astype(np.int64), 170)
    assert np.array_equal(lab[rows, cols], np.arange(n))  # each segment's first pixel
    p = np.asarray(stats.pairs)
    assert (p[:, 0] < p[:, 1]).all() and p.max() < n
    # the flat halves are cut by tile borders (64 px): joins across them were recorded
    assert len(stats.joins) > 0
    for a in (stats.count, stats.sums, stats.first, stats.pairs):
        assert isinstance(a, np.memmap) and not a.flags.writeable
    stats.release()


def test_ahead_keeps_the_order_and_works_one_item_ahead():
    import threading

    from landlearn.core.segment.first_pass import ahead

    started, main = [], threading.get_ident()

    def work(i):
        started.append(i)
        assert threading.get_ident() != main  # in the thread of its own
        return i * i

    got = []
    for value in ahead(work, range(6)):
        got.append(value)
        # while the caller holds item k, item k + 1 is under way, never k + 2
        assert len(started) <= len(got) + 1
    assert got == [0, 1, 4, 9, 16, 25] and started == list(range(6))
    assert list(ahead(work, [])) == []


def test_ahead_raises_at_the_failed_item_and_starts_nothing_after_a_stop():
    from landlearn.core.errors import Cancelled
    from landlearn.core.segment.first_pass import ahead

    started = []

    def work(i):
        started.append(i)
        if i == 2:
            raise ValueError("tile 2 failed")
        return i

    got = []
    with pytest.raises(ValueError, match="tile 2"):
        for value in ahead(work, range(10)):
            got.append(value)
    assert got == [0, 1] and started == [0, 1, 2]

    started.clear()

    def stop():  # asked before each item starts and while the caller waits for one
        if len(got) == 1 and len(started) == 2:  # Cancel pressed once item 1 is under way
            raise Cancelled()

    got = []
    with pytest.raises(Cancelled):
        for value in ahead(lambda i: started.append(i) or i, range(10), stop):
            got.append(value)
    assert got == [0] and started == [0, 1]  # item 2 never started

    # the caller fails while item 1 is under way: close waits for it (it reads the source
    # the caller is about to close), and starts nothing more
    import threading
    import time

    started.clear()
    finished, one = [], threading.Event()

    def slow(i):
        started.append(i)
        if i == 1:
            one.set()
        time.sleep(0.3)
        finished.append(i)
        return i

    tiles = ahead(slow, range(10))
    assert next(tiles) == 0
    assert one.wait(5)  # item 1 has started
    tiles.close()
    assert started == [0, 1] and finished == [0, 1]


def test_a_cancel_during_a_tiles_search_stops_it_before_its_other_spans(tmp_path,
                                                                         monkeypatch):
    """A tile's joint search at a large SPATIAL_DETAIL takes tens of seconds on a few cores,
    and Cancel was heard only after it and the next tile's: the wait for a tile now asks
    for Cancel, and the search starts none of its row spans after. Each span is held back
    here (0.5 s) so that the tile is slow on any machine (8 s in all on 2 cores)."""
    import time

    pytest.importorskip("numba")
    from landlearn.core.errors import Cancelled
    from landlearn.core.segment import joint_shift_jit
    from landlearn.core.segment.segment_mean_shift import segment

    rows4 = joint_shift_jit.rows4
    spans = []

    def slow_rows(*args):
        spans.append(args[-2:])
        time.sleep(0.5)
        return rows4(*args)

    monkeypatch.setattr(joint_shift_jit, "rows4", slow_rows)

    class CancelOnceSearching(NullProgress):
        def is_canceled(self):
            return bool(spans)

    rng = np.random.default_rng(3)
    path = write(tmp_path / "image.tif", rng.integers(0, 255, (3, 200, 200)).astype(np.uint8))
    out = tmp_path / "out"
    out.mkdir()
    config = SegmentConfig(path, output=str(out / "segments.tif"), tile_size=256,
                           method="joint", min_segment_size=5, device="cpu")
    with pytest.raises(Cancelled):
        segment(config, CancelOnceSearching())
    everything = spans.copy()
    spans.clear()
    time.sleep(0.5)  # nothing went on searching after the run returned
    assert not spans and not list(out.iterdir())
    from landlearn.core.runtime.threads import compute_threads

    # of the tile's threads x 8 row spans, those under way when Cancel came were searched
    # (one per thread; a poll late on a loaded machine lets a few more start), not the rest
    assert 0 < len(everything) < 8 * min(compute_threads(), 16) / 2
