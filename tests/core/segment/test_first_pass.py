"""segment.first_pass: tiles filtered and cut into local segments whose statistics are
spooled to disk, with the edges and joins across tile borders."""

import numpy as np
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
