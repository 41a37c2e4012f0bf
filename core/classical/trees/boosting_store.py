"""Gradient boosting's trees as a handful of numpy arrays beside the skops file.

A 7-class model of 100 iterations holds 700 TreePredictors; skops writes each one's three
arrays as .npy members and reads them back one by one, parsing every header: 0.5 s to
load, more than walking the trees over a whole Landsat scene. As for the random forest
(classical_forest_store), the skops file keeps the model without its predictors, and
their node and bitset arrays go, concatenated, into one .npz read without pickle. Loading
checks that every split points forward inside its own tree and at a real band or bitset
before scikit-learn or the compiled walk follows those indices.
"""

from __future__ import annotations

import copy
import io
import zipfile
import zlib

import numpy as np

from ...errors import InputError
from .forest_store import with_last_step

PREDICTORS_FILE = "boosting_trees.npz"


def boosting_of(model):
    from sklearn.ensemble import HistGradientBoostingClassifier

    last = model.steps[-1][1] if hasattr(model, "steps") else model
    if isinstance(last, HistGradientBoostingClassifier) and getattr(last, "_predictors", None):
        return last
    return None


def _pack(arrays: list, dtype, width: tuple = ()) -> np.ndarray:
    # filled rather than np.concatenate'd, so the records keep scikit-learn's own layout
    out = np.empty((sum(len(a) for a in arrays), *width), dtype=dtype)
    at = 0
    for a in arrays:
        out[at:at + len(a)] = a
        at += len(a)
    return out


def split_predictors(model):
    """(model to give skops, bytes of the predictors' .npz or None when it is not gradient
    boosting). ``model`` itself is left as it is."""
    boost = boosting_of(model)
    if boost is None:
        return model, None
    flat = [p for iteration in boost._predictors for p in iteration]
    nodes = [p.nodes for p in flat]
    binned = [p.binned_left_cat_bitsets for p in flat]
    raw = [p.raw_left_cat_bitsets for p in flat]
    buf = io.BytesIO()
    np.savez(buf, nodes=_pack(nodes, nodes[0].dtype),
             node_counts=np.array([len(a) for a in nodes], dtype=np.int64),
             binned_bitsets=_pack(binned, binned[0].dtype, binned[0].shape[1:]),
             raw_bitsets=_pack(raw, raw[0].dtype, raw[0].shape[1:]),
             bitset_counts=np.array([len(a) for a in binned], dtype=np.int64),
             shape=np.array([len(boost._predictors), len(boost._predictors[0])], dtype=np.int64))
    slim = copy.copy(boost)
    slim._predictors = []
    return with_last_step(model, slim), buf.getvalue()


def join_predictors(model, data: bytes, where: str):
    """Put the predictors of ``data`` (from split_predictors) back into ``model``."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

    last = model.steps[-1][1] if hasattr(model, "steps") else model
    if not isinstance(last, HistGradientBoostingClassifier) or getattr(last, "_predictors", 1):
        raise InputError("model", f"'{where}' has a boosting trees file but no gradient "
                         "boosting model without trees to put them in")
    try:
        arrays = np.load(io.BytesIO(data), allow_pickle=False)
        nodes, counts = arrays["nodes"], arrays["node_counts"]
        binned, raw = arrays["binned_bitsets"], arrays["raw_bitsets"]
        bit_counts, shape = arrays["bitset_counts"], arrays["shape"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise InputError("model", f"'{where}': the boosting trees cannot be read ({exc})") from None
    if not all(isinstance(a, np.ndarray) and a.ndim >= 1
               for a in (nodes, counts, binned, raw, bit_counts, shape)):
        # a member without .npy comes back as bytes; a 0-d array has no len()
        raise InputError("model", f"'{where}': the boosting trees are damaged (a member is "
                         "not a numpy array of rows); train the model again")
    if nodes.dtype != PREDICTOR_RECORD_DTYPE:
        raise InputError("model", f"'{where}': its trees were saved by a scikit-learn with "
                         "another tree layout; train the model again with this one")
    _check(nodes, counts, binned, raw, bit_counts, shape, last, where)
    n_iter, k = (int(v) for v in shape)
    node_at = np.concatenate([[0], np.cumsum(counts)])
    bit_at = np.concatenate([[0], np.cumsum(bit_counts)])
    predictors = []
    for i in range(n_iter):
        row = []
        for j in range(i * k, (i + 1) * k):
            a, b = int(bit_at[j]), int(bit_at[j + 1])
            row.append(TreePredictor(nodes[node_at[j]:node_at[j + 1]], binned[a:b], raw[a:b]))
        predictors.append(row)
    last._predictors = predictors
    return model


def _check(nodes, counts, binned, raw, bit_counts, shape, boost, where):
    def bad(why):
        return InputError("model", f"'{where}': the boosting trees are damaged ({why}); "
                          "train the model again")

    # (the model without its predictors counts no iterations: n_iter_ is their number)
    if shape.shape != (2,) or not np.issubdtype(shape.dtype, np.integer) or nodes.ndim != 1 or \
            int(shape[0]) < 1 or int(shape[1]) != boost.n_trees_per_iteration_:
        raise bad(f"iterations x trees {shape.tolist()}, for "
                  f"{boost.n_trees_per_iteration_} trees per iteration")
    n_trees = int(shape[0]) * int(shape[1])
    # whole counts no larger than the arrays, so their sums cannot wrap round
    if counts.shape != (n_trees,) or bit_counts.shape != (n_trees,) or \
            not np.issubdtype(counts.dtype, np.integer) or \
            not np.issubdtype(bit_counts.dtype, np.integer) or (counts < 1).any() or \
            (bit_counts < 0).any() or (counts > len(nodes)).any() or \
            (bit_counts > len(binned)).any() or int(counts.sum()) != len(nodes) or \
            int(bit_counts.sum()) != len(binned) or binned.shape != raw.shape:
        raise bad("the node and bitset arrays do not match the tree sizes")
    local = np.arange(len(nodes)) - np.repeat(np.cumsum(counts) - counts, counts)
    size = np.repeat(counts, counts)
    bits = np.repeat(bit_counts, counts)
    inner = nodes["is_leaf"] == 0
    left, right = nodes["left"].astype(np.int64), nodes["right"].astype(np.int64)
    feature = nodes["feature_idx"]
    categorical = inner & (nodes["is_categorical"] != 0)
    # LandLearn trains no categorical features; scikit-learn indexes a categorical split's
    # bitsets through maps it does not bound-check
    cats = getattr(boost, "is_categorical_", None)
    if categorical.any() or (cats is not None and np.any(cats)):
        raise bad("it splits on categorical features, which LandLearn never trains")
    # children come after their parent (how scikit-learn fills a predictor): no loops
    if ((left[inner] <= local[inner]) | (left[inner] >= size[inner])).any() or \
            ((right[inner] <= local[inner]) | (right[inner] >= size[inner])).any() or \
            ((feature[inner] < 0) | (feature[inner] >= boost.n_features_in_)).any() or \
            (nodes["bitset_idx"][categorical] >= bits[categorical]).any():
        raise bad("a node points outside its tree")
    if not np.isfinite(nodes["value"]).all():
        raise bad("a leaf value is not a number")
