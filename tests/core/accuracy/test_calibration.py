"""accuracy.calibration: temperature scaling recovers a known over-confidence, keeps every
argmax, and the calibration error measures the gap it closes."""

import re

import numpy as np
import pytest

from landlearn.core.accuracy.calibration import (
    MIN_SAMPLES,
    apply_temperature,
    expected_calibration_error,
    fit_calibration,
    fit_temperature,
    reliability,
)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _overconfident(n=20000, classes=5, sharpen=2.5, seed=0):
    """Labels drawn from softmax(z); the 'model' says softmax(sharpen * z): a temperature
    of ``sharpen`` makes it honest again."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, (n, classes))
    truth = np.array([rng.choice(classes, p=p) for p in _softmax(z)])
    return _softmax(sharpen * z), truth


def test_tempering_is_softmax_of_the_logits_over_t_and_keeps_the_argmax():
    z = np.random.default_rng(1).normal(0, 3, (4, 6, 5, 5)).astype(np.float32)
    p = _softmax(z.transpose(0, 2, 3, 1).reshape(-1, 6)).reshape(4, 5, 5, 6).transpose(0, 3, 1, 2)
    for t in (0.3, 1.7, 8.0):
        want = _softmax((z / t).transpose(0, 2, 3, 1).reshape(-1, 6))
        got = apply_temperature(p, t)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got.transpose(0, 2, 3, 1).reshape(-1, 6), want, atol=1e-5)
        np.testing.assert_array_equal(got.argmax(1), p.argmax(1))
    assert apply_temperature(p, 1.0) is not None
    np.testing.assert_array_equal(apply_temperature(p, 1.0), p.astype(np.float32))


def test_zeros_stay_zero_and_unclassified_pixels_stay_empty():
    p = np.array([[0.0, 0.25, 0.75], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]], np.float32)
    out = apply_temperature(p, 2.0, axis=1)
    assert np.isfinite(out).all()
    assert out[0, 0] == 0 and out[0, 2] > out[0, 1] > 0
    np.testing.assert_allclose(out[0].sum(), 1.0, atol=1e-6)
    np.testing.assert_array_equal(out[1], 0)  # a pixel outside the valid mask
    np.testing.assert_array_equal(out[2], [1, 0, 0])


def test_the_fitted_temperature_is_the_known_over_confidence():
    prob, truth = _overconfident(sharpen=2.5)
    assert fit_temperature(prob, truth) == pytest.approx(2.5, rel=0.06)
    under, truth_u = _overconfident(sharpen=0.5, seed=3)
    assert fit_temperature(under, truth_u) == pytest.approx(0.5, rel=0.06)


def test_calibration_closes_the_gap_and_is_scored_on_held_out_halves():
    prob, truth = _overconfident(sharpen=3.0)
    cal = fit_calibration(prob, truth, "validation pixels", seed=0)
    assert cal.samples == len(truth) and cal.fitted_on == "validation pixels"
    assert cal.ece_before > 0.1 and cal.ece_after < 0.02
    assert cal.ece_before == pytest.approx(expected_calibration_error(prob, truth))
    assert re.fullmatch(rf"confidence calibrated on {len(truth)} validation pixels: "
                        r"temperature 2\.9\d\d, expected calibration error 0\.2\d\d -> "
                        r"0\.0\d\d \(after: cross-fitted on halves\)", cal.line()), cal.line()
    block = cal.to_json()
    assert block["method"] == "temperature" and block["temperature"] == pytest.approx(3.0, 0.06)
    assert sum(block["reliability_before"]["counts"]) == len(truth)
    # a model that is already honest keeps T close to 1 and its small error
    honest, truth_h = _overconfident(sharpen=1.0, seed=5)
    cal_h = fit_calibration(honest, truth_h, "validation pixels")
    assert cal_h.temperature == pytest.approx(1.0, abs=0.06)
    assert cal_h.ece_after < 0.02 and cal_h.ece_before < 0.02


def test_a_temperature_that_does_not_transfer_between_chips_is_not_applied():
    """Two validation chips, one over-confident (T 3), one under-confident (T 0.4): halves
    through the pixels mix both and see a gain; halves by chip fit T on one and score it
    on the other, where it hurts, so the scores stay raw and the line says why."""
    over, t_over = _overconfident(n=4000, sharpen=3.0, seed=1)
    under, t_under = _overconfident(n=4000, sharpen=0.4, seed=2)
    prob, truth = np.concatenate([over, under]), np.concatenate([t_over, t_under])
    chips = np.repeat([7, 9], 4000)
    mixed = fit_calibration(prob, truth, "validation pixels", seed=0)
    assert not mixed.kept_raw and mixed.temperature != 1.0
    by_chip = fit_calibration(prob, truth, "validation pixels", seed=0, groups=chips)
    assert by_chip.kept_raw and by_chip.temperature == 1.0
    assert by_chip.ece_after >= by_chip.ece_before
    assert by_chip.line().startswith("confidence left raw: a temperature fitted on half of "
                                     "8000 validation pixels did not lower")
    assert by_chip.to_json()["kept_raw"] is True and by_chip.to_json()["temperature"] == 1.0
    # groups that all agree still calibrate (whole chips per half, T transfers)
    same = fit_calibration(over, t_over, "validation pixels", groups=np.arange(4000) // 500)
    assert not same.kept_raw and same.temperature == pytest.approx(3.0, rel=0.1)


def test_vote_shares_with_zeros_for_the_true_class_are_calibrated_not_flattened():
    """A forest of few trees gives the true class 0 votes now and then: its log-likelihood
    is infinite whatever T is, so the fit must not chase it (it used to give T ~ 9 and a
    worse error after than before)."""
    rng = np.random.default_rng(2)
    n, classes, trees = 6000, 4, 8
    truth = rng.integers(0, classes, n)
    skill = rng.uniform(0.0, 0.9, n)  # chance that a tree votes for the true class
    votes = np.zeros((n, classes))
    for _ in range(trees):
        right = rng.random(n) < skill
        pick = np.where(right, truth, rng.integers(0, classes, n))
        votes[np.arange(n), pick] += 1
    prob = votes / trees
    assert (prob[np.arange(n), truth] == 0).mean() > 0.01
    cal = fit_calibration(prob, truth, "out-of-fold samples")
    # measured: ECE 0.157 -> 0.034 at T 0.45; the log-likelihood fit with a floor under
    # the zeros gave T 1.78 and 0.250 after
    assert 0.3 < cal.temperature < 0.7
    assert cal.ece_before > 0.1 and cal.ece_after < 0.05


def test_too_few_held_out_predictions_fit_nothing():
    prob, truth = _overconfident(n=MIN_SAMPLES - 1)
    assert fit_calibration(prob, truth, "x") is None


def test_reliability_bins_count_confidence_and_accuracy():
    prob = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45], [0.45, 0.55]])
    truth = np.array([0, 1, 0, 0])
    rel = reliability(prob, truth, bins=10)
    assert rel.counts[9] == 2 and rel.counts[5] == 2 and sum(rel.counts) == 4
    assert rel.accuracy[9] == pytest.approx(0.5) and rel.confidence[9] == pytest.approx(0.95)
    assert rel.accuracy[5] == pytest.approx(0.5) and rel.confidence[5] == pytest.approx(0.55)
    # |0.5 - 0.95| on half the pixels, |0.5 - 0.55| on the other half
    assert rel.ece == pytest.approx(0.5 * 0.45 + 0.5 * 0.05)


def test_the_halves_of_grouped_predictions_hold_about_as_many_each():
    """Groups of 600, 300, 200 and 100 predictions: 600 against the other three, whatever
    the seed (split by group count, 600 + 300 against 300 happened, and with one large
    and a few small blocks T was fitted on a handful of pixels)."""
    from landlearn.core.accuracy.calibration import _halves

    groups = np.repeat([4, 1, 3, 2], [600, 300, 200, 100])
    for seed in range(6):
        half = _halves(len(groups), groups, seed)
        assert half.sum() == 600
        for g in (1, 2, 3, 4):  # whole groups
            assert len(set(half[groups == g].tolist())) == 1
