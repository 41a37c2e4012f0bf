"""Gradient boosting's prediction through the sorted tree walk (tree_walk).

scikit-learn walks each of the 700 trees of a 7-class, 100-iteration model with its own
OpenMP loop at about 46 ns per pixel and tree here, sorted pixels or not. The same trees
rewritten as scikit-learn Tree objects and walked over sorted pixels cost less than half.

Those Trees compare float32 band values with float64 thresholds, while the boosting model
compares standardised float64 values: each threshold is therefore moved to raw band
values, as the largest float32 value that the model's own standardisation still sends to
the left. For float32 input (what Classify Pixels reads) every split is then decided
exactly as scikit-learn decides it; other input goes to scikit-learn itself.
"""

from __future__ import annotations

import numpy as np

from ..runtime.fast_paths import fast_paths
from .trees.walk import TreeSum


def _left_limit(t: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Per split, the largest float32 x with (x - mean) / scale <= t in float64 (as
    StandardScaler computes it); that is monotone in x, so float32 x goes left exactly
    when x <= the limit.

    Found by bisection over float32's ordered bit patterns (32 halvings, whatever the
    split): a walk of one float32 step at a time from t * scale + mean did not settle where
    many float32 values near 0 all standardise to one float64 (a standard-deviation feature
    next to a large mean: the trained model was refused as damaged; sweep, stop 69)."""
    t = np.asarray(t, dtype=np.float64)

    def left(key):
        return (_from_key(key).astype(np.float64) - mean) / scale <= t

    top = _key(np.full(t.shape, np.inf, dtype=np.float32))
    lo = _key(np.full(t.shape, -np.inf, dtype=np.float32))  # always left
    with np.errstate(over="ignore", invalid="ignore"):
        goes = left(top)  # every value left (t = inf: the split sends missing values only)
        hi = top.copy()
        for _ in range(34):
            open_ = hi - lo > 1
            if not open_.any():
                break
            mid = (lo + hi) // 2
            ok = left(mid)
            lo = np.where(open_ & ok, mid, lo)
            hi = np.where(open_ & ~ok, mid, hi)
    return _from_key(np.where(goes, top, lo)).astype(np.float64)


_SIGN = np.int64(0x7FFFFFFF)


def _key(x32: np.ndarray) -> np.ndarray:
    """float32 values as int64 keys in the same order (-0 and +0 alike, NaN aside)."""
    bits = x32.view(np.int32).astype(np.int64)
    return np.where(bits >= 0, bits, -(bits & _SIGN))


def _from_key(key: np.ndarray) -> np.ndarray:
    bits = np.where(key >= 0, key, (-key) | np.int64(0x80000000))
    return bits.astype(np.uint32).view(np.float32)


def _as_tree(predictor, n_features: int, mean: np.ndarray, scale: np.ndarray):
    from sklearn.tree._tree import NODE_DTYPE, Tree

    nodes = predictor.nodes
    leaf = nodes["is_leaf"].astype(bool)
    split = ~leaf
    state = np.zeros(len(nodes), dtype=NODE_DTYPE)
    # the predictors' child indices are uint32: cast before -1 meets them, or NumPy 2 keeps
    # uint32 and a leaf's -1 becomes 4294967295 (NumPy 1 promoted to int64)
    state["left_child"] = np.where(leaf, -1, nodes["left"].astype(np.int64))
    state["right_child"] = np.where(leaf, -1, nodes["right"].astype(np.int64))
    state["feature"] = np.where(leaf, -2, nodes["feature_idx"].astype(np.int64))
    state["threshold"] = -2.0
    f = nodes["feature_idx"][split]
    state["threshold"][split] = _left_limit(nodes["num_threshold"][split], mean[f], scale[f])
    state["n_node_samples"] = nodes["count"]
    state["weighted_n_node_samples"] = nodes["count"]
    state["missing_go_to_left"] = nodes["missing_go_to_left"]
    value = np.ascontiguousarray(nodes["value"], dtype=np.float64)
    tree = Tree(n_features, np.array([1], dtype=np.intp), 1)
    tree.__setstate__({"max_depth": int(nodes["depth"].max()), "node_count": len(nodes),
                       "nodes": state, "values": value.reshape(-1, 1, 1)})
    return tree, value


class FastBoostingProba:
    """predict_proba of a StandardScaler + HistGradientBoostingClassifier pipeline."""

    @staticmethod
    def supports(model) -> bool:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.preprocessing import StandardScaler

        steps = [s for _, s in getattr(model, "steps", [])]
        if not fast_paths() or len(steps) != 2 or not isinstance(steps[0], StandardScaler):
            return False
        scaler, boost = steps
        categorical = getattr(boost, "is_categorical_", None)
        return (isinstance(boost, HistGradientBoostingClassifier)
                and scaler.with_mean and scaler.with_std
                and getattr(boost, "_preprocessor", None) is None
                and (categorical is None or not np.any(categorical)))

    def __init__(self, model):
        scaler, boost = model.steps[0][1], model.steps[1][1]
        self.model, self.boost = model, boost
        n = boost.n_features_in_
        trees, values, columns = [], [], []
        gain = np.zeros(n)
        for iteration in boost._predictors:
            for k, predictor in enumerate(iteration):
                tree, value = _as_tree(predictor, n, scaler.mean_, scaler.scale_)
                trees.append(tree)
                values.append(value)
                columns.append(k)
                split = predictor.nodes[~predictor.nodes["is_leaf"].astype(bool)]
                np.add.at(gain, split["feature_idx"], split["gain"])
        self.walk = TreeSum(trees, values, columns, boost.n_trees_per_iteration_, gain)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x32 = x.astype(np.float32)
        if not np.array_equal(x32, x):  # NaN too: scikit-learn's own missing-value rules
            return self.model.predict_proba(x)
        raw = self.walk(x32) + self.boost._baseline_prediction
        return self.boost._loss.predict_proba(raw)
