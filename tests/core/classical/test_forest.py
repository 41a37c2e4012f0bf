"""The random forest: its trees spread over grouped folds never see their held-out polygons,
and the sorted walk gives scikit-learn's numbers."""

import numpy as np
import pytest

from landlearn.core.classical.cv import grouped_folds
from landlearn.core.classical.forest import FastForestProba, fit_forest_with_folds
from landlearn.core.classical.train_classifier import ClassicalConfig
from landlearn.core.labels.base import LabelConfig
from landlearn.core.progress import NullProgress

pytest.importorskip("sklearn")


def _config(**kw):
    return ClassicalConfig("unused.tif", LabelConfig("unused.gpkg"), "unused.dlpk", **kw)


def _same_decisions(fast, ref):
    """Equal probabilities; equal classes wherever the forest's vote is not a tie."""
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-12)
    top = np.sort(ref, axis=1)
    clear = top[:, -1] - top[:, -2] > 1e-9
    assert clear.mean() > 0.9
    np.testing.assert_array_equal(fast.argmax(1)[clear], ref.argmax(1)[clear])


def test_a_folds_trees_never_see_its_held_out_polygons(nc_samples):
    """Changing the held-out pixels of fold 0 leaves its trees as they were, and its
    out-of-fold predictions are its own trees' vote."""
    from sklearn.ensemble import RandomForestClassifier

    s, _ = nc_samples
    config = ClassicalConfig("unused.tif", LabelConfig("unused.gpkg"), "unused.dlpk", trees=10)
    folds = grouped_folds(config, s, NullProgress())
    forest, pred, tested, proba = fit_forest_with_folds(config, s.x, s.y, folds, NullProgress())
    assert isinstance(forest, RandomForestClassifier) and len(forest.estimators_) == 10
    test0 = folds[0][1]
    x = s.x.copy()
    x[test0] = np.random.default_rng(1).normal(size=x[test0].shape) * 100
    again, _, _, _ = fit_forest_with_folds(config, x, s.y, folds, NullProgress())
    per_fold = 10 // len(folds)
    for a, b in zip(forest.estimators_[:per_fold], again.estimators_[:per_fold]):
        np.testing.assert_array_equal(a.tree_.threshold, b.tree_.threshold)
    assert not all(np.array_equal(a.tree_.threshold, b.tree_.threshold)
                   for a, b in zip(forest.estimators_[per_fold:], again.estimators_[per_fold:]))
    own = sum(t.predict_proba(s.x[test0].astype(np.float32)) for t in forest.estimators_[:per_fold])
    assert tested[test0].all()
    np.testing.assert_array_equal(pred[test0], forest.classes_[own.argmax(1)])
    # the probabilities the calibration is fitted on are those trees' vote shares
    np.testing.assert_allclose(proba[test0], own / per_fold, atol=1e-12)
    np.testing.assert_allclose(proba[tested].sum(1), 1.0)
    np.testing.assert_allclose(forest.predict_proba(s.x[:50]).sum(1), 1.0)


def test_sorted_forest_walk_equals_scikit_learn_on_a_landsat_scene(nc_forest, tree_engine):
    model, pixels = nc_forest
    assert FastForestProba.supports(model)
    fast = FastForestProba(model)
    assert (fast.walk.flat is not None) == (tree_engine == "compiled")
    assert ("compiled code (numba" if tree_engine == "compiled" else "LANDLEARN_NO_NUMBA is set") \
        in fast.walk.engine
    out = fast(pixels)
    assert out.shape == (len(pixels), 7)
    _same_decisions(out, model.predict_proba(pixels))
    # the order really groups similar pixels: neighbours in it differ less than in the image
    xs = model[0].transform(pixels).astype(np.float32)
    perm = fast.walk.order(xs)
    assert np.array_equal(np.sort(perm), np.arange(len(pixels)))
    step = lambda a: np.abs(np.diff(a, axis=0)).sum(axis=1).mean()  # noqa: E731
    assert step(xs[perm]) < 0.5 * step(xs)


def test_sorted_forest_walk_on_awkward_features(tree_engine):
    """A constant band, more bands than the sort key holds, huge values, two classes, a
    forest without a scaler, and no pixels at all."""
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(2)
    x = rng.normal(size=(600, 9)) * np.logspace(-3, 6, 9)
    x[:, 4] = 7.0
    y = (x[:, 0] + x[:, 8] * 1e-6 > 0).astype(int) * 5 + 3
    forest = RandomForestClassifier(30, random_state=0).fit(x, y)
    test = rng.normal(size=(5000, 9)) * np.logspace(-3, 6, 9) * 3
    test[:7, 2] = [1e30, -1e30, 0, 1e-30, 3e38, -3e38, 1]
    test[:, 4] = 7.0
    fast = FastForestProba(forest)
    with np.errstate(all="raise"):
        out = fast(test)
    _same_decisions(out, forest.predict_proba(test))
    assert fast(test[:0]).shape == (0, 2)


def test_forest_validation_never_sees_the_held_out_polygons():
    """Each polygon a tight cluster with a random class: nothing generalises from one polygon
    to another, so honest grouped validation is near chance, while the forest itself
    recalls its training pixels perfectly."""
    from landlearn.core.classical.samples import Samples
    from landlearn.core.geo.classes import ClassInfo

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(60, 4)) * 10
    labels = np.tile([1, 2, 3, 4], 15)
    rng.shuffle(labels)
    groups = np.repeat(np.arange(60), 30)
    x = centres[groups] + rng.normal(size=(len(groups), 4)) * 0.05
    y = labels[groups]
    s = Samples(x, y, groups, [ClassInfo(v, f"c{v}", (0, 0, 0)) for v in (1, 2, 3, 4)],
                ["b"] * 4, [1, 2, 3, 4], 4, "float64", (1.0, 1.0), None, {}, "polygon")
    config = _config(trees=50, cv_folds=5)
    folds = grouped_folds(config, s, NullProgress())
    forest, pred, tested, proba = fit_forest_with_folds(config, x, y, folds, NullProgress())
    assert tested.all() and (pred == y).mean() < 0.45
    assert len(forest.estimators_) == 50 and forest.n_estimators == 50
    assert (forest.predict(x) == y).mean() > 0.99
    # and the same forest without grouping would have reported memory as accuracy
    from sklearn.model_selection import KFold

    random_folds = list(KFold(5, shuffle=True, random_state=0).split(x))
    _, leaky, _, _ = fit_forest_with_folds(config, x, y, random_folds, NullProgress())
    assert (leaky == y).mean() > 0.95
