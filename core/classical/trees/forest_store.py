"""A random forest's trees as a handful of numpy arrays beside the skops file.

skops writes every tree as its own estimator with two .npy members and reads it back the
same way: for 100 fully grown trees that is 0.1 s to save and 0.11 s to load, as much as
the whole training of the forest. Here the skops file keeps the forest with one tree as a
template (hyper-parameters, classes), and the trees' node and value arrays go,
concatenated, into one .npz read without pickle. Loading rebuilds each tree with
scikit-learn's own Tree state, after checking that every node points inside its tree and
only forward, so a damaged or hand-made file cannot make the tree walk leave its arrays.
"""

from __future__ import annotations

import copy
import io
import zipfile
import zlib

import numpy as np

from ...errors import InputError

TREES_FILE = "forest_trees.npz"


def forest_of(model):
    from sklearn.ensemble import RandomForestClassifier

    last = model.steps[-1][1] if hasattr(model, "steps") else model
    if isinstance(last, RandomForestClassifier) and getattr(last, "estimators_", None) and \
            last.n_outputs_ == 1:
        return last
    return None


def split_trees(model):
    """(model to give skops, bytes of the trees' .npz or None when it is not a forest).

    ``model`` itself is left as it is; the returned one shares everything but the forest.
    """
    forest = forest_of(model)
    if forest is None:
        return model, None
    trees = [e.tree_ for e in forest.estimators_]
    states = [t.__getstate__() for t in trees]
    # np.concatenate would pack the records; Tree wants its own padded layout back
    nodes = np.empty(sum(s["node_count"] for s in states), dtype=states[0]["nodes"].dtype)
    at = 0
    for s in states:
        nodes[at:at + s["node_count"]] = s["nodes"]
        at += s["node_count"]
    buf = io.BytesIO()
    np.savez(buf, nodes=nodes,
             values=np.concatenate([s["values"] for s in states]),
             node_counts=np.array([s["node_count"] for s in states], dtype=np.int64),
             max_depths=np.array([s["max_depth"] for s in states], dtype=np.int64),
             random_states=np.array([e.random_state for e in forest.estimators_],
                                    dtype=np.int64))
    template = copy.copy(forest.estimators_[0])
    del template.tree_
    slim = copy.copy(forest)
    slim.estimators_ = [template]
    return with_last_step(model, slim), buf.getvalue()


def with_last_step(model, last):
    """``model`` with ``last`` as its estimator (its last step, for a pipeline): a shallow
    copy, so the trained model keeps its own."""
    if not hasattr(model, "steps"):
        return last
    light = copy.copy(model)
    light.steps = model.steps[:-1] + [(model.steps[-1][0], last)]
    return light


def join_trees(model, data: bytes, where: str):
    """Put the trees of ``data`` (from split_trees) back into ``model``'s forest."""
    from sklearn.tree._tree import NODE_DTYPE, Tree

    forest = forest_of(model)
    try:
        arrays = np.load(io.BytesIO(data), allow_pickle=False)
        nodes, values = arrays["nodes"], arrays["values"]
        counts, depths = arrays["node_counts"], arrays["max_depths"]
        seeds = arrays["random_states"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise InputError("model", f"'{where}': the forest's trees cannot be read ({exc})") from None
    if forest is None or len(forest.estimators_) != 1:
        raise InputError("model", f"'{where}' has a trees file but no forest to put them in")
    template = forest.estimators_[0]
    n_classes = int(template.n_classes_)
    # the walk compiled with numba reads a leaf's row of forest.n_classes_ values without
    # bounds checks: a template counting fewer classes than the forest read past the table
    if not (np.ndim(forest.n_classes_) == 0 and int(forest.n_classes_) == n_classes
            == len(getattr(forest, "classes_", ()))):
        raise InputError("model", f"'{where}': the forest's trees are damaged (the trees "
                         "count other classes than the forest); train the model again")
    _check(nodes, values, counts, depths, seeds, forest, n_classes, NODE_DTYPE, where)
    starts = np.concatenate([[0], np.cumsum(counts)])
    estimators = []
    for i, count in enumerate(counts):
        tree = Tree(forest.n_features_in_, np.array([n_classes], dtype=np.intp), 1)
        a, b = int(starts[i]), int(starts[i + 1])
        tree.__setstate__({"max_depth": int(depths[i]), "node_count": int(count),
                           "nodes": nodes[a:b], "values": values[a:b]})
        est = copy.copy(template)
        est.tree_ = tree
        est.random_state = int(seeds[i])
        estimators.append(est)
    forest.estimators_ = estimators
    return model


def _check(nodes, values, counts, depths, seeds, forest, n_classes, node_dtype, where):
    def bad(why):
        return InputError("model", f"'{where}': the forest's trees are damaged ({why}); "
                          "train the model again")

    if not all(isinstance(a, np.ndarray) for a in (nodes, values, counts, depths, seeds)):
        raise bad("a member is not a numpy array")
    if nodes.dtype != np.dtype(node_dtype):
        raise InputError("model", f"'{where}': its trees were saved by a scikit-learn with "
                         "another tree layout; train the model again with this one")
    if nodes.ndim != 1 or values.dtype != np.float64 or depths.ndim != 1 or seeds.ndim != 1 or \
            not np.issubdtype(depths.dtype, np.integer) or \
            not np.issubdtype(seeds.dtype, np.integer):
        raise bad("arrays of the wrong kind")
    if not (counts.ndim == 1 and len(counts) == forest.n_estimators == len(depths) == len(seeds)):
        raise bad(f"{len(counts)} trees for a forest of {forest.n_estimators}")
    if not np.issubdtype(counts.dtype, np.integer) or (counts < 1).any() or \
            (counts > len(nodes)).any() or int(counts.sum()) != len(nodes) or \
            values.shape != (len(nodes), 1, n_classes):
        raise bad("the node and value arrays do not match the tree sizes")
    local = np.arange(len(nodes)) - np.repeat(np.cumsum(counts) - counts, counts)
    size = np.repeat(counts, counts)
    left, right, feature = nodes["left_child"], nodes["right_child"], nodes["feature"]
    leaf = left == -1
    inner = ~leaf
    # children come after their parent (how scikit-learn grows a tree): no loops
    if ((right == -1) != leaf).any() or \
            ((left[inner] <= local[inner]) | (left[inner] >= size[inner])).any() or \
            ((right[inner] <= local[inner]) | (right[inner] >= size[inner])).any() or \
            ((feature[inner] < 0) | (feature[inner] >= forest.n_features_in_)).any() or \
            (feature[leaf] != -2).any():  # scikit-learn's TREE_UNDEFINED on every leaf
        raise bad("a node points outside its tree")
    if not np.isfinite(nodes["threshold"][inner]).all():
        # scikit-learn sends a pixel right of a NaN split, the compiled walk left
        raise bad("a split threshold is not a number")
    if not np.isfinite(values).all():
        raise bad("a leaf value is not a number")
