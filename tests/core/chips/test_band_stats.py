"""Band statistics accumulated chip by chip over valid pixels only, equal to numpy's over
the same pixels, also for data far from zero."""

import numpy as np
import pytest

from landlearn.core.chips.band_stats import BandStats, BandSummary


def test_chip_by_chip_equals_numpy_over_the_valid_pixels():
    rng = np.random.default_rng(3)
    stats = BandStats(["red", "nir", "swir"])
    pixels = []
    for _ in range(7):
        data = rng.normal([[[100.0]], [[2000.0]], [[-5.0]]], [[[10.0]], [[300.0]], [[1.0]]],
                          (3, 32, 48)).astype(np.float32)
        valid = rng.random((32, 48)) > 0.3
        stats.add(data, valid)
        pixels.append(data[:, valid].astype(np.float64))
    stats.add(np.full((3, 8, 8), 1e9, np.float32), np.zeros((8, 8), bool))  # no valid pixel: no-op
    full = np.ones((32, 48), bool)
    last = rng.normal(50, 5, (3, 32, 48))
    stats.add(last, full)  # an all-valid chip (no masking copy)
    pixels.append(last.reshape(3, -1))
    allv = np.concatenate(pixels, axis=1)
    summaries = stats.summaries()
    assert [s.name for s in summaries] == ["red", "nir", "swir"]
    assert [s.count for s in summaries] == [allv.shape[1]] * 3 == [stats.count] * 3
    np.testing.assert_allclose([s.mean for s in summaries], allv.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose([s.std for s in summaries], allv.std(axis=1), rtol=1e-9)
    assert [s.minimum for s in summaries] == allv.min(axis=1).tolist()
    assert [s.maximum for s in summaries] == allv.max(axis=1).tolist()


def test_no_cancellation_far_from_zero():
    """Values near 1e9 with a spread of 1: naive sums of squares would lose the variance."""
    rng = np.random.default_rng(0)
    stats = BandStats(["b"])
    values = []
    for _ in range(5):
        chip = 1e9 + rng.normal(0, 1, (1, 64, 64))
        stats.add(chip, np.ones((64, 64), bool))
        values.append(chip.ravel())
    allv = np.concatenate(values)
    (s,) = stats.summaries()
    assert s.std == pytest.approx(allv.std(), rel=1e-6) and 0.9 < s.std < 1.1
    assert s.mean == pytest.approx(allv.mean(), rel=1e-15)


def test_empty_statistics_and_the_esri_forms():
    assert BandStats(["a", "b"]).summaries() == [BandSummary("a", 0, 0.0, 0.0, 0.0, 0.0),
                                                 BandSummary("b", 0, 0.0, 0.0, 0.0, 0.0)]
    s = BandSummary("Band_1", 10, 1.0, 9.0, 4.0, 2.0)
    assert s.to_esri() == {"BandName": "Band_1", "Min": 1.0, "Max": 9.0, "Mean": 4.0, "StdDev": 2.0}
    # M2, the sum of squared deviations, is what Esri's accumulated state keeps
    assert s.to_state() == {"Min": 1.0, "Max": 9.0, "M1": 4.0, "M2": 40.0, "Num": 10}


def test_one_bands_own_nodata_is_left_out_of_that_band_only():
    """A pixel is valid while any band has data: band 2's -9999 (a thermal band ending
    earlier) inside valid pixels became its minimum and dragged its mean. Each band's
    figures now leave its own NoData (and NaN) out; the pixel still counts for the rest."""
    rng = np.random.default_rng(5)
    data = rng.normal(100, 10, (2, 3, 40, 40)).astype(np.float32)  # 2 chips, 3 bands
    data[:, 1, :10] = -9999  # band 2 NoData on a quarter of each chip
    data[1, 2, 5, 5] = np.nan  # a NaN in band 3
    valid = np.ones((40, 40), bool)
    stats = BandStats(["a", "b", "c"])
    for chip in data:
        stats.add(chip, valid, [-9999.0, -9999.0, -9999.0])
    a, b, c = stats.summaries()
    assert stats.count == 2 * 1600 and (a.count, b.count, c.count) == (3200, 2400, 3199)
    kept_b = data[:, 1, 10:]
    assert b.minimum > 0 and b.mean == pytest.approx(kept_b.mean(dtype=np.float64), rel=1e-9)
    assert b.std == pytest.approx(kept_b.std(dtype=np.float64), rel=1e-6)
    kept_c = data[:, 2][~np.isnan(data[:, 2])]
    assert c.mean == pytest.approx(kept_c.mean(dtype=np.float64), rel=1e-9)
    assert a.mean == pytest.approx(data[:, 0].mean(dtype=np.float64), rel=1e-9)
