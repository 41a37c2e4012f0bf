"""The compiled tree walk: scikit-learn's leaves for every pixel, including those on a
threshold, and any number of pixels."""

import numpy as np
import pytest

from landlearn.core.classical.trees.kernel import FlatForest, numba_version

pytest.importorskip("sklearn")
pytestmark = pytest.mark.skipif(numba_version() is None, reason="numba is not installed")


def _forest(x, y, **kw):
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(random_state=0, **kw).fit(x, y)
    trees = [e.tree_ for e in forest.estimators_]
    values = [t.value[:, 0, :] / t.value[:, 0, :].sum(axis=1, keepdims=True) for t in trees]
    return forest, trees, values


def _reference(trees, values, x32):
    return sum(v[t.apply(x32)] for t, v in zip(trees, values))


def test_pixels_on_every_threshold_and_just_above_it():
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(800, 4)) * [1e-4, 1.0, 1e5, 3.0]).astype(np.float32)
    y = (x[:, 0] * 1e4 + x[:, 2] / 1e5 + rng.normal(size=800) > 0).astype(int) + \
        (x[:, 1] > 1).astype(int)
    _, trees, values = _forest(x, y, n_estimators=12)
    probe = []
    for t in trees:
        inner = t.children_left != -1
        for f, th in zip(t.feature[inner], t.threshold[inner]):
            below = np.float32(th)  # float32 nearest the float64 threshold: either side of it
            for v in (below, np.nextafter(below, np.float32(np.inf)),
                      np.nextafter(below, np.float32(-np.inf))):
                row = x[rng.integers(len(x))].copy()
                row[f] = v
                probe.append(row)
    probe = np.array(probe, dtype=np.float32)
    assert len(probe) > 1000
    flat = FlatForest(trees, values, [None] * len(trees), 3)
    np.testing.assert_allclose(flat(probe), _reference(trees, values, probe), rtol=0, atol=1e-12)


@pytest.mark.parametrize("n", [1, 7, 8, 9, 4 * 2048 * 2 + 13])
def test_any_number_of_pixels(n):
    """Fewer than eight, not a multiple of eight, and enough to share among threads."""
    rng = np.random.default_rng(n)
    x = rng.normal(size=(500, 3)).astype(np.float32)
    y = np.digitize(x[:, 0] + x[:, 1] * x[:, 2], [-0.5, 0.5])
    _, trees, values = _forest(x, y, n_estimators=9)
    test = rng.normal(size=(n, 3)).astype(np.float32) * 2
    flat = FlatForest(trees, values, [None] * len(trees), 3)
    np.testing.assert_allclose(flat(test), _reference(trees, values, test), rtol=0, atol=1e-12)


def test_one_column_per_tree_as_boosting_uses_it():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(400, 2)).astype(np.float32)
    _, trees, _ = _forest(x, (x[:, 0] > 0).astype(int), n_estimators=6)
    values = [rng.normal(size=t.node_count) for t in trees]  # one number per node
    columns = [0, 2, 1, 2, 0, 1]
    test = rng.normal(size=(300, 2)).astype(np.float32)
    ref = np.zeros((300, 3))
    for t, v, c in zip(trees, values, columns):
        ref[:, c] += v[t.apply(test)]
    np.testing.assert_allclose(FlatForest(trees, values, columns, 3)(test), ref, rtol=0,
                               atol=1e-12)

