"""classical.trees.walk: TreeSum adds the trees' leaf values over sorted pixels, whichever walk
runs (numba's or scikit-learn's), and leaves NaN to scikit-learn."""

import numpy as np
import pytest

from landlearn.core.classical.trees.kernel import numba_version
from landlearn.core.classical.trees.walk import KEY_BANDS, TreeSum

pytest.importorskip("sklearn")


def _forest(x, y, **kw):
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(random_state=0, **kw).fit(x, y)
    trees = [e.tree_ for e in forest.estimators_]
    values = [t.value[:, 0, :] / t.value[:, 0, :].sum(axis=1, keepdims=True) for t in trees]
    return forest, trees, values


def _reference(trees, values, x32):
    return sum(v[t.apply(x32)] for t, v in zip(trees, values))


@pytest.mark.skipif(numba_version() is None, reason="numba is not installed")
def test_nan_pixels_are_walked_by_scikit_learn():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(400, 3)).astype(np.float32)
    forest, trees, values = _forest(x, (x[:, 0] + x[:, 1] > 0).astype(int), n_estimators=8)
    walk = TreeSum(trees, values, [None] * len(trees), 2, forest.feature_importances_)
    assert walk.flat is not None and "numba" in walk.engine
    test = rng.normal(size=(100, 3)).astype(np.float32)
    test[::7, 1] = np.nan
    np.testing.assert_allclose(walk(test), _reference(trees, values, test), rtol=0, atol=1e-12)


def test_sums_over_all_columns_or_one_column_per_tree(tree_engine):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 4)).astype(np.float32)
    y = np.digitize(x[:, 0] + 0.5 * x[:, 3], [-0.5, 0.5])
    forest, trees, values = _forest(x, y, n_estimators=7)
    walk = TreeSum(trees, values, [None] * 7, 3, forest.feature_importances_)
    assert (walk.flat is not None) == (tree_engine == "compiled")
    test = (rng.normal(size=(3001, 4)) * 2).astype(np.float32)
    np.testing.assert_allclose(walk(test), _reference(trees, values, test), rtol=0, atol=1e-12)
    # one number per node, each tree feeding its own column (as gradient boosting does)
    node_values = [rng.normal(size=t.node_count) for t in trees]
    columns = [0, 1, 2, 1, 0, 4, 4]
    ref = np.zeros((len(test), 5))
    for t, v, c in zip(trees, node_values, columns):
        ref[:, c] += v[t.apply(test)]
    one = TreeSum(trees, node_values, columns, 5, np.ones(4))
    np.testing.assert_allclose(one(test), ref, rtol=0, atol=1e-12)
    assert walk(test[:0]).shape == (0, 3)


def test_engine_says_which_walk_runs(monkeypatch):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(100, 2)).astype(np.float32)
    forest, trees, values = _forest(x, (x[:, 0] > 0).astype(int), n_estimators=3)
    monkeypatch.setenv("LANDLEARN_NO_NUMBA", "1")
    walk = TreeSum(trees, values, [None] * 3, 2, forest.feature_importances_)
    assert walk.flat is None
    assert walk.engine.startswith("trees walked by scikit-learn (LANDLEARN_NO_NUMBA is set")


def test_the_key_leads_with_the_bands_that_gain_most_and_sorts_by_them():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 2)).astype(np.float32)
    _, trees, values = _forest(x, (x[:, 0] > 0).astype(int), n_estimators=2)
    gain = np.array([0.1, 0.5, 0.0, 0.2, 0.05, 0.05, 0.0, 0.1])
    walk = TreeSum(trees, values, [None] * 2, 2, gain)
    assert list(walk.key_bands) == [1, 3, 0, 7, 4, 5][:KEY_BANDS]  # ties keep band order
    assert walk.key_bits == 63 // KEY_BANDS
    # pixels come out ordered by the leading band, then the next
    lead = rng.integers(0, 4, 1000).astype(np.float32)
    second = rng.integers(0, 3, 1000).astype(np.float32)
    pixels = rng.normal(size=(1000, 8)).astype(np.float32)
    pixels[:, 1], pixels[:, 3] = lead, second
    pixels[:, 0] = 5.0  # a constant band: no division by its zero span
    perm = walk.order(pixels)
    assert np.array_equal(np.sort(perm), np.arange(1000))
    assert np.all(np.diff(pixels[perm, 1]) >= 0)
    for v in range(4):
        run = pixels[perm, 3][pixels[perm, 1] == v]
        assert np.all(np.diff(run) >= 0)
