"""Class-balanced chip sampling: which chips an epoch repeats, and that its length is fixed."""

import numpy as np
import pytest

from landlearn.core.deep.sampling import epoch_length, epoch_order, repeat_factors, sampling_factors


def _chips() -> np.ndarray:
    """20 chips, 4 classes: 0 and 1 everywhere, 2 in two chips, 3 in one."""
    per_chip = np.zeros((20, 4), dtype=np.int64)
    per_chip[:, 0] = 500
    per_chip[::2, 1] = 100
    per_chip[3, 2] = per_chip[7, 2] = 5
    per_chip[11, 3] = 1
    return per_chip


def test_rare_classes_chips_are_repeated_by_the_square_root_rule():
    f = repeat_factors(_chips())
    # t = 1/4; class 2 in 10% of chips: sqrt(0.25 / 0.1); class 3 in 5%: sqrt(0.25 / 0.05)
    assert f[3] == pytest.approx(np.sqrt(2.5)) and f[7] == pytest.approx(np.sqrt(2.5))
    assert f[11] == pytest.approx(np.sqrt(5.0))
    common = np.setdiff1d(np.arange(20), [3, 7, 11])
    assert np.all(f[common] == 1.0)  # classes 0 and 1 hold at least their even share


def test_a_chip_takes_its_rarest_class_factor():
    per_chip = _chips()
    per_chip[3, 3] = 2  # chip 3 now also holds class 3 (2 chips: sqrt(0.25 / 0.1))
    f = repeat_factors(per_chip)
    assert f[3] == pytest.approx(np.sqrt(2.5)) and f[11] == pytest.approx(np.sqrt(2.5))


def test_no_rare_class_means_every_chip_once():
    per_chip = np.ones((6, 3), dtype=np.int64)
    f = repeat_factors(per_chip)
    assert np.all(f == 1.0)
    order = epoch_order(list(range(10, 16)), f, np.random.default_rng(0))
    assert sorted(order) == list(range(10, 16))


def test_an_epoch_holds_every_chip_and_the_rare_ones_more_often():
    per_chip = _chips()
    f = repeat_factors(per_chip)
    train = list(range(100, 120))
    n = epoch_length(train, f)
    assert n == round(f.sum())
    seen = np.zeros(20)
    for seed in range(200):
        order = epoch_order(train, f, np.random.default_rng(seed))
        assert len(order) == n  # the schedule's step count holds every epoch
        assert set(order) == set(train)  # each chip at least once
        seen += np.bincount(np.asarray(order) - 100, minlength=20)
    mean = seen / 200
    # the whole parts are exact; the fractions share the draws left by rounding the total
    assert np.all(mean[[0, 1, 2, 4, 19]] == 1.0)
    assert 2.0 <= mean[11] <= f[11] and 1.0 < mean[3] <= f[3] and mean[11] > mean[3]


def test_uniform_is_a_permutation_as_before():
    """"uniform" draws exactly what training drew before balanced sampling existed."""
    train = [4, 9, 1, 7]
    a = epoch_order(train, None, np.random.default_rng(5))
    b = np.random.default_rng(5).permutation(train)
    assert list(a) == list(b) and epoch_length(train, None) == 4


def test_the_log_line_names_the_rare_classes():
    factors, line = sampling_factors("balanced", _chips(), ["a", "b", "c", "d"])
    assert factors is not None and "d (5% of chips), c (10% of chips)" in line
    assert f"{round(factors.sum())} chip draws per epoch for 20 training chips" in line
    assert sampling_factors("uniform", _chips(), ["a", "b", "c", "d"]) == (None, "")
