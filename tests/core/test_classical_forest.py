"""The random forest's prediction and storage: the sorted walk gives scikit-learn's numbers,
and the trees saved beside the skops file come back identical or are refused."""


import numpy as np
import pytest

from landlearn.core.classical.cv import grouped_folds
from landlearn.core.classical.forest import FastForestProba, fit_forest_with_folds
from landlearn.core.classical.train_classifier import ClassicalConfig
from landlearn.core.classical.trees.forest_store import join_trees, split_trees
from landlearn.core.classical.trees.grower import TreeGrower
from landlearn.core.errors import InputError
from landlearn.core.labels.base import LabelConfig
from landlearn.core.progress import NullProgress
from synthetic import tampered_npz

pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def nc_forest(nc_samples):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    s, pixels = nc_samples
    config = ClassicalConfig("unused.tif", LabelConfig("unused.gpkg"), "unused.dlpk", trees=40)
    scaler = StandardScaler().fit(s.x)
    forest, _, _ = fit_forest_with_folds(config, scaler.transform(s.x), s.y,
                                         grouped_folds(config, s, NullProgress()), NullProgress())
    return Pipeline([("standardscaler", scaler), ("randomforestclassifier", forest)]), pixels


def _same_decisions(fast, ref):
    """Equal probabilities; equal classes wherever the forest's vote is not a tie."""
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-12)
    top = np.sort(ref, axis=1)
    clear = top[:, -1] - top[:, -2] > 1e-9
    assert clear.mean() > 0.9
    np.testing.assert_array_equal(fast.argmax(1)[clear], ref.argmax(1)[clear])


@pytest.mark.parametrize("direct", [True, False], ids=["builder-called-directly", "through-fit"])
def test_trees_grow_as_in_scikit_learns_forest(nc_samples, direct):
    """Same seeds and sample weights: node for node the trees RandomForestClassifier grows,
    whether scikit-learn's tree builder is called directly or through fit."""
    from sklearn.ensemble import RandomForestClassifier

    s, _ = nc_samples
    weight = np.random.default_rng(0).integers(0, 3, len(s.y)).astype(float)
    ref = RandomForestClassifier(6, max_depth=12, random_state=4).fit(s.x, s.y, sample_weight=weight)
    grower = TreeGrower(ref.estimators_[0])
    assert grower.direct, "the pinned scikit-learn is the series the direct call is written for"
    grower.direct = direct
    y_index = np.unique(s.y, return_inverse=True)[1].astype(np.float64)
    ours = grower.grow(s.x.astype(np.float32), y_index, weight,
                       np.array([e.random_state for e in ref.estimators_]))
    for a, b in zip(ours, ref.estimators_):
        np.testing.assert_array_equal(a.tree_.__getstate__()["nodes"], b.tree_.__getstate__()["nodes"])
        np.testing.assert_array_equal(a.tree_.value, b.tree_.value)
        assert a.random_state == b.random_state
        np.testing.assert_array_equal(a.predict_proba(s.x[:20]), b.predict_proba(s.x[:20]))


def test_settings_the_direct_call_does_not_reproduce_go_through_fit(nc_samples):
    from sklearn.tree import DecisionTreeClassifier

    s, _ = nc_samples
    weighted = DecisionTreeClassifier(class_weight="balanced").fit(s.x, s.y)
    grower = TreeGrower(weighted)
    assert not grower.direct
    assert "not the ones the direct call reproduces" in grower.engine


def test_a_folds_trees_never_see_its_held_out_polygons(nc_samples):
    """Changing the held-out pixels of fold 0 leaves its trees as they were, and its
    out-of-fold predictions are its own trees' vote."""
    from sklearn.ensemble import RandomForestClassifier

    s, _ = nc_samples
    config = ClassicalConfig("unused.tif", LabelConfig("unused.gpkg"), "unused.dlpk", trees=10)
    folds = grouped_folds(config, s, NullProgress())
    forest, pred, tested = fit_forest_with_folds(config, s.x, s.y, folds, NullProgress())
    assert isinstance(forest, RandomForestClassifier) and len(forest.estimators_) == 10
    test0 = folds[0][1]
    x = s.x.copy()
    x[test0] = np.random.default_rng(1).normal(size=x[test0].shape) * 100
    again, _, _ = fit_forest_with_folds(config, x, s.y, folds, NullProgress())
    per_fold = 10 // len(folds)
    for a, b in zip(forest.estimators_[:per_fold], again.estimators_[:per_fold]):
        np.testing.assert_array_equal(a.tree_.threshold, b.tree_.threshold)
    assert not all(np.array_equal(a.tree_.threshold, b.tree_.threshold)
                   for a, b in zip(forest.estimators_[per_fold:], again.estimators_[per_fold:]))
    own = sum(t.predict_proba(s.x[test0].astype(np.float32)) for t in forest.estimators_[:per_fold])
    assert tested[test0].all()
    np.testing.assert_array_equal(pred[test0], forest.classes_[own.argmax(1)])
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


def test_trees_stored_apart_come_back_identical(nc_forest):
    import skops.io as sio

    model, pixels = nc_forest
    n = len(model[-1].estimators_)
    light, data = split_trees(model)
    assert len(model[-1].estimators_) == n  # the trained model is untouched
    assert len(light[-1].estimators_) == 1 and not hasattr(light[-1].estimators_[0], "tree_")
    blob = sio.dumps(light)
    assert len(blob) < len(sio.dumps(model)) / 10
    back = join_trees(sio.loads(blob, trusted=sio.get_untrusted_types(data=blob)), data, "m")
    for a, b in zip(back[-1].estimators_, model[-1].estimators_):
        sa, sb = a.tree_.__getstate__(), b.tree_.__getstate__()
        assert sa["max_depth"] == sb["max_depth"] and sa["node_count"] == sb["node_count"]
        np.testing.assert_array_equal(sa["nodes"], sb["nodes"])
        np.testing.assert_array_equal(sa["values"], sb["values"])
    sample = pixels[::40]
    # scikit-learn sums its trees in whatever order its threads finish: last-bit noise
    np.testing.assert_allclose(back.predict_proba(sample), model.predict_proba(sample),
                               rtol=0, atol=1e-15)
    np.testing.assert_array_equal(back[-1].feature_importances_, model[-1].feature_importances_)
    assert [e.random_state for e in back[-1].estimators_] == \
        [e.random_state for e in model[-1].estimators_]
    assert split_trees(model[0]) == (model[0], None)  # not a forest: nothing to split


def test_damaged_trees_are_refused(nc_forest):
    import skops.io as sio

    model, _ = nc_forest
    light, data = split_trees(model)
    blob = sio.dumps(light)

    def load(trees):
        return join_trees(sio.loads(blob, trusted=sio.get_untrusted_types(data=blob)), trees,
                          "m.dlpk")

    def loop(nodes):
        nodes = nodes.copy()
        inner = np.flatnonzero(nodes["left_child"] > 0)[3]
        nodes["left_child"][inner] = 0  # back to the root: a walk that never ends
        return nodes

    def outside(nodes):
        nodes = nodes.copy()
        nodes["right_child"][np.flatnonzero(nodes["right_child"] > 0)[0]] = 10 ** 6
        return nodes

    def bad_feature(nodes):
        nodes = nodes.copy()
        nodes["feature"][0] = 5
        return nodes

    for change in (dict(nodes=loop), dict(nodes=outside), dict(nodes=bad_feature),
                   dict(node_counts=lambda c: c[:-1]), dict(values=lambda v: v[:-1])):
        with pytest.raises(InputError, match="^MODEL: 'm.dlpk': the forest's trees are damaged"):
            load(tampered_npz(data, **change))
    packed = tampered_npz(data, nodes=lambda n: np.array(n.tolist(), dtype=[
        (name, n.dtype.fields[name][0]) for name in n.dtype.names]))
    with pytest.raises(InputError, match="another tree layout"):
        load(packed)
    with pytest.raises(InputError, match="cannot be read"):
        load(b"not a numpy file")
