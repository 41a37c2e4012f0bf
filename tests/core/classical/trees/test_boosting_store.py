"""Gradient boosting's trees saved beside the skops file come back identical, and damaged
ones are refused before anything follows their indices."""


import numpy as np
import numpy.lib.recfunctions  # noqa: F401  (np.lib.recfunctions)
import pytest

from landlearn.core.classical.train_classifier import _drop_generators
from landlearn.core.classical.trees.boosting_store import join_predictors, split_predictors
from landlearn.core.errors import InputError
from synthetic import tampered_npz

pytest.importorskip("skops")


@pytest.fixture(scope="module")
def nc_boosting(nc_samples):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    s, pixels = nc_samples
    model = make_pipeline(StandardScaler(), HistGradientBoostingClassifier(
        max_iter=15, random_state=0)).fit(s.x, s.y)
    _drop_generators(model)  # as train_classical does before skops sees the model
    return model, pixels


def _load(blob: bytes):
    import skops.io as sio

    return sio.loads(blob, trusted=sio.get_untrusted_types(data=blob))


def test_predictors_stored_apart_come_back_identical(nc_boosting):
    import skops.io as sio

    model, pixels = nc_boosting
    boost = model[-1]
    light, data = split_predictors(model)
    assert len(boost._predictors) == boost.n_iter_  # the trained model is untouched
    assert light[-1]._predictors == []
    blob = sio.dumps(light)
    assert len(blob) < len(sio.dumps(model)) / 5
    back = join_predictors(_load(blob), data, "m")
    pairs = [(a, b) for ra, rb in zip(back[-1]._predictors, boost._predictors)
             for a, b in zip(ra, rb)]
    assert len(pairs) == boost.n_iter_ * boost.n_trees_per_iteration_ == 15 * 7
    for a, b in pairs:
        assert a.nodes.dtype == b.nodes.dtype
        np.testing.assert_array_equal(a.nodes, b.nodes)
        np.testing.assert_array_equal(a.binned_left_cat_bitsets, b.binned_left_cat_bitsets)
        np.testing.assert_array_equal(a.raw_left_cat_bitsets, b.raw_left_cat_bitsets)
    np.testing.assert_array_equal(back.predict_proba(pixels[::20]),
                                  model.predict_proba(pixels[::20]))
    assert split_predictors(model[0]) == (model[0], None)  # not boosting: nothing to split


def _set(field, pick, value):
    def change(nodes):
        nodes = nodes.copy()
        inner = np.flatnonzero(nodes["is_leaf"] == 0)
        nodes[field][inner[pick]] = value
        return nodes
    return change


def test_damaged_predictors_are_refused(nc_boosting):
    import skops.io as sio

    model, _ = nc_boosting
    light, data = split_predictors(model)
    blob = sio.dumps(light)
    damaged = [dict(nodes=_set("left", 3, 0)),  # back to the root: a walk that never ends
               dict(nodes=_set("right", 0, 10 ** 6)),  # outside its tree
               dict(nodes=_set("feature_idx", 1, 5)),  # a band the model does not have
               dict(nodes=_set("value", 0, np.nan)),
               dict(node_counts=lambda c: c[:-1]),
               dict(node_counts=lambda c: c.astype(np.float64)),
               dict(shape=lambda s: s + [0, 1]),
               dict(shape=lambda s: s * [2, 1]),
               dict(shape=lambda s: np.array([np.nan, 1.0])),  # int(nan): a raw ValueError
               dict(binned_bitsets=lambda b: np.array(0, b.dtype))]  # 0-d: len() raised
    for change in damaged:
        with pytest.raises(InputError, match="^MODEL: 'm.dlpk': the boosting trees are damaged"):
            join_predictors(_load(blob), tampered_npz(data, **change), "m.dlpk")
    # another scikit-learn's layout: one field fewer
    older = tampered_npz(data, nodes=lambda n: np.lib.recfunctions.repack_fields(
        n[[k for k in n.dtype.names if k != "gain"]]))
    with pytest.raises(InputError, match="another tree layout"):
        join_predictors(_load(blob), older, "m.dlpk")
    with pytest.raises(InputError, match="cannot be read"):
        join_predictors(_load(blob), b"not a numpy file", "m.dlpk")
    with pytest.raises(InputError, match="no gradient boosting model without trees"):
        join_predictors(model, data, "m.dlpk")
