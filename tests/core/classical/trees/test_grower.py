"""classical.trees.grower: trees grown as RandomForestClassifier grows them, by scikit-learn's
builder called directly or through fit, from the bootstrap the sample weights allow."""

import numpy as np
import pytest

from landlearn.core.classical.trees.grower import TreeGrower

pytest.importorskip("sklearn")


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


@pytest.mark.parametrize("direct", [True, False], ids=["builder-called-directly", "through-fit"])
def test_samples_of_zero_weight_are_never_drawn(direct):
    """Held-out samples get a zero weight: no tree may learn anything from them."""
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3)).astype(np.float32)
    y_index = np.repeat([0.0, 1.0, 2.0], 100)
    x[:, 0] += y_index  # learnable, not separable: trees of many nodes
    weight = np.where(y_index == 2, 0.0, 1.0)  # class 2 is held out
    template = DecisionTreeClassifier(max_features="sqrt").fit(x, y_index.astype(int))
    grower = TreeGrower(template)
    grower.direct = grower.direct and direct
    trees = grower.grow(x, y_index, weight, np.array([1, 2, 3]))
    assert [t.random_state for t in trees] == [1, 2, 3]
    for t in trees:
        assert t.tree_.weighted_n_node_samples[0] == 300  # a bootstrap of n draws
        assert t.tree_.node_count > 9
        assert np.all(t.tree_.value[:, 0, 2] == 0.0)  # not one draw of class 2
        assert not np.any(t.predict(x) == 2)
    # another seed, another bootstrap: other trees
    assert not np.array_equal(trees[0].tree_.threshold, trees[1].tree_.threshold)
