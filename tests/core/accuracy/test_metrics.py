"""Accuracy from a confusion matrix: every number checked against a hand computation."""

import numpy as np
import pytest

from landlearn.core.accuracy.metrics import Accuracy, confusion_matrix


def test_metrics_on_a_hand_checked_matrix():
    truth = np.array([0, 0, 0, 1, 1, 2, -1])
    pred = np.array([0, 0, 1, 1, 2, 2, 0])
    cm = confusion_matrix(truth, pred, 3)
    np.testing.assert_array_equal(cm, [[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    acc = Accuracy(cm, ["a", "b", "c"])
    assert acc.overall == pytest.approx(4 / 6)
    pe = (2 * 3 + 2 * 2 + 2 * 1) / 36
    assert acc.kappa == pytest.approx((4 / 6 - pe) / (1 - pe))
    np.testing.assert_allclose(acc.precision, [1, 0.5, 0.5])
    np.testing.assert_allclose(acc.recall, [2 / 3, 0.5, 1])
    np.testing.assert_allclose(acc.iou, [2 / 3, 1 / 3, 0.5])


def test_means_count_a_class_the_map_paints_but_skip_one_in_neither():
    # class "c" is never in the reference but the map paints it once: it scores 0 and
    # counts in the means (scikit-learn's rule: before, it was left out and a map painting
    # a class that is not there got a higher macro F1 for it)
    cm = np.array([[5, 1, 1], [2, 3, 0], [0, 0, 0]])
    acc = Accuracy(cm, ["a", "b", "c"])
    assert acc.total == 12 and acc.overall == pytest.approx(8 / 12)
    np.testing.assert_array_equal(acc.support, [7, 5, 0])
    np.testing.assert_allclose(acc.precision, [5 / 7, 3 / 4, 0])
    np.testing.assert_allclose(acc.recall, [5 / 7, 3 / 5, np.nan])  # no reference: undefined
    np.testing.assert_allclose(acc.f1, [5 / 7, 2 / 3, 0])
    np.testing.assert_allclose(acc.iou, [5 / 9, 1 / 2, 0])
    assert acc.macro_f1 == pytest.approx((5 / 7 + 2 / 3 + 0) / 3)
    assert acc.mean_iou == pytest.approx((5 / 9 + 1 / 2 + 0) / 3)
    # expected agreement (7*7 + 5*4 + 0*1) / 12^2
    assert acc.kappa == pytest.approx((8 / 12 - 69 / 144) / (1 - 69 / 144))
    # a class in neither the reference nor the map is left out
    quiet = Accuracy(np.array([[5, 1, 0], [2, 3, 0], [0, 0, 0]]), ["a", "b", "c"])
    assert quiet.macro_f1 == pytest.approx((10 / 13 + 2 / 3) / 2)


def test_empty_and_single_class_matrices_say_undefined_where_it_is():
    """Means stay numbers (0 on nothing); kappa, user's and producer's accuracy with no
    denominator are undefined (NaN; n/a in tables, null in JSON), not 0: a perfect water
    mask scored on water points read kappa 0.000, "no better than chance"."""
    empty = Accuracy(np.zeros((2, 2), dtype=np.int64), ["a", "b"])
    assert (empty.overall, empty.mean_iou, empty.macro_f1) == (0.0, 0.0, 0.0)
    assert np.isnan(empty.kappa) and np.isnan(empty.precision).all()
    # classes in neither the reference nor the map: not measured (n/a, null), not 0.000,
    # which read as a class missed entirely (sweep, stop 69)
    assert np.isnan(empty.f1).all() and np.isnan(empty.iou).all()
    one = Accuracy(np.array([[4, 0], [0, 0]]), ["a", "b"])
    assert one.overall == 1.0 and np.isnan(one.kappa)  # chance agreement is 1: undefined
    assert one.mean_iou == one.macro_f1 == 1.0
    assert one.precision[0] == 1.0 and np.isnan(one.precision[1]) and np.isnan(one.recall[1])
    data = one.to_json()
    assert data["kappa"] is None and data["per_class"]["b"]["precision"] is None
    assert data["per_class"]["b"]["f1"] is None and data["per_class"]["b"]["iou"] is None
    assert data["per_class"]["a"]["iou"] == 1.0
    import json

    json.dumps(data, allow_nan=False)  # strict JSON
    assert "kappa n/a" in one.table() and " n/a " in one.table()
    # a class the map paints that the reference lacks: recall undefined, precision 0
    painted = Accuracy(np.array([[3, 1], [0, 0]]), ["a", "b"])
    assert painted.precision[1] == 0.0 and np.isnan(painted.recall[1])
    assert painted.macro_f1 == pytest.approx((6 / 7 + 0) / 2)  # scikit-learn's rule
    assert painted.f1[1] == 0.0 and painted.iou[1] == 0.0  # measured, and missed


def test_a_prediction_outside_the_classes_is_refused():
    with pytest.raises(ValueError, match="predicted index 3 is outside the 3 classes"):
        confusion_matrix(np.array([0, 1]), np.array([1, 3]), 3)
    with pytest.raises(ValueError, match="predicted index -1"):
        confusion_matrix(np.array([2]), np.array([-1]), 3)
    # a truth outside is skipped whatever its prediction
    assert confusion_matrix(np.array([5]), np.array([9]), 3).sum() == 0


def test_confusion_matrix_skips_truths_outside_the_classes():
    truth = np.array([[0, 1], [2, 5]])  # 5 is no class of 3; -1 (ignored) neither
    pred = np.array([[0, 2], [2, 0]])
    np.testing.assert_array_equal(confusion_matrix(truth, pred, 3),
                                  [[1, 0, 0], [0, 0, 1], [0, 0, 1]])
    assert confusion_matrix(np.array([-1, -1]), np.array([0, 1]), 2).sum() == 0


def test_json_and_table_carry_the_same_numbers():
    cm = np.array([[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    acc = Accuracy(cm, ["water", "forest", "urban"])
    data = acc.to_json()
    assert data["confusion_matrix"] == cm.tolist() and data["pixels"] == 6
    assert data["classes"] == ["water", "forest", "urban"]
    assert data["overall_accuracy"] == pytest.approx(4 / 6) and data["kappa"] == acc.kappa
    assert data["per_class"]["water"] == pytest.approx(
        {"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "iou": 2 / 3, "support": 3})
    assert data["per_class"]["urban"]["support"] == 1
    lines = acc.table().splitlines()
    assert lines[0].split() == ["class", "precision", "recall", "F1", "IoU", "pixels"]
    assert lines[1].split() == ["water", "1.000", "0.667", "0.800", "0.667", "3"]
    assert lines[-1].startswith("overall accuracy 0.667, kappa ")


def test_kappa_of_two_national_maps_does_not_overflow():
    """Class totals of 5e9 pixels: their products pass int64's 9.2e18."""
    big = Accuracy(np.array([[4_000_000_000, 1_000_000_000],
                             [1_000_000_000, 4_000_000_000]]), ["a", "b"])
    assert big.kappa == pytest.approx(0.6)
