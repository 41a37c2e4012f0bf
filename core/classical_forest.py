"""The random forest: a cross-validation that costs no extra trees, and a prediction
that keeps the trees' branches predictable.

Training: the usual grouped k-fold validation fits k forests and then a final one, k+1
times the work. Here the T trees are split over the k folds: the trees of fold i are grown
without the polygons of fold i and predict them, and the final model is all T trees
together. Every tree is still a bootstrap sample of the data it was grown on, so the
forest is a random forest (each tree sees about (k-1)/k of the polygons, a little
extra decorrelation); the validation scores a forest of T/k trees on polygons it
never saw, which is slightly pessimistic for the full T-tree forest.

Prediction: walking a fully grown tree is about one mispredicted branch per level when
neighbouring pixels take different paths, and image rows hop between land covers.
Sorting the pixels by their (quantised) band values first makes consecutive pixels
follow nearly the same path, which halves the walk; the probabilities are the same
numbers scikit-learn computes, put back in the pixels' order (checked in the tests).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .progress import Progress, check

ROWS_PER_CHUNK = 32768  # a chunk's running sums stay in the core's cache between trees


def fit_forest_with_folds(config, x: np.ndarray, y: np.ndarray, folds: list,
                          progress: Progress):
    """(forest, out-of-fold predictions, tested mask) for ``folds`` = [(train, test), ...].

    Held-out samples get a zero weight rather than being dropped, so every fold forest
    knows every class (scikit-learn's tree splitter ignores zero-weight samples, as it
    does for the samples a bootstrap leaves out).
    """
    from sklearn.ensemble import RandomForestClassifier

    k = len(folds)
    per_fold = [config.trees // k + (1 if i < config.trees % k else 0) for i in range(k)]
    pred = np.zeros(len(y), dtype=y.dtype)
    tested = np.zeros(len(y), dtype=bool)

    def grow(i):
        train, test = folds[i]
        weight = np.zeros(len(y))
        weight[train] = 1.0
        # one thread per forest, the folds in parallel: one joblib pool per small forest
        # cost more than the trees here
        forest = RandomForestClassifier(n_estimators=per_fold[i], max_depth=config.max_depth,
                                        n_jobs=1, random_state=config.seed * 1000 + i)
        forest.fit(x, y, sample_weight=weight)
        if len(np.unique(y[train])) >= 2:
            pred[test] = forest.predict(x[test])
            tested[test] = True
        return forest

    check(progress)  # the worker threads stay away from QGIS objects
    with ThreadPoolExecutor(max(1, min(k, os.cpu_count() or 1))) as pool:
        forests = list(pool.map(grow, range(k)))
    progress.set_fraction(0.9)
    final = forests[0]
    final.estimators_ = [tree for f in forests for tree in f.estimators_]
    final.n_estimators = len(final.estimators_)
    final.random_state = config.seed
    final.n_jobs = -1
    return final, pred, tested


class FastForestProba:
    """predict_proba of a [StandardScaler +] RandomForestClassifier, pixels sorted first."""

    @staticmethod
    def supports(model) -> bool:
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.preprocessing import StandardScaler

        steps = [s for _, s in getattr(model, "steps", [(None, model)])]
        if len(steps) == 2 and isinstance(steps[0], StandardScaler):
            steps = steps[1:]
        forest = steps[0] if len(steps) == 1 else None
        return (isinstance(forest, RandomForestClassifier) and forest.n_outputs_ == 1
                and all(hasattr(e, "tree_") for e in forest.estimators_))

    def __init__(self, model):
        steps = [s for _, s in getattr(model, "steps", [(None, model)])]
        self.scaler = steps[0] if len(steps) == 2 else None
        forest = steps[-1]
        self.trees = [e.tree_ for e in forest.estimators_]
        self.n_classes = int(forest.n_classes_)
        # each leaf's class fractions, normalised as DecisionTreeClassifier.predict_proba does
        self.leaf_proba = []
        for tree in self.trees:
            value = tree.value[:, 0, :self.n_classes]
            total = value.sum(axis=1, keepdims=True)
            self.leaf_proba.append(value / np.where(total == 0, 1.0, total))
        # the sort key leads with the bands the forest splits on most
        key = np.argsort(-forest.feature_importances_, kind="stable")[:6]
        self.key_bands = key
        self.key_bits = 63 // len(key)

    def order(self, x: np.ndarray) -> np.ndarray:
        """A permutation that puts pixels with similar band values next to each other."""
        top = float((1 << self.key_bits) - 1)
        key = np.zeros(len(x), dtype=np.int64)
        for b in self.key_bands:
            col = x[:, b].astype(np.float64)
            lo, span = col.min(), np.ptp(col)
            q = np.nan_to_num((col - lo) * (top / span if np.isfinite(span) and span > 0 else 0.0))
            key <<= self.key_bits
            key |= np.clip(q, 0, top).astype(np.int64)
        return np.argsort(key)

    def _trees(self, x: np.ndarray, which: range) -> np.ndarray:
        out = np.zeros((len(x), self.n_classes))
        buf = np.empty((min(ROWS_PER_CHUNK, len(x)), self.n_classes))
        for start in range(0, len(x), ROWS_PER_CHUNK):
            rows, acc = x[start:start + ROWS_PER_CHUNK], out[start:start + ROWS_PER_CHUNK]
            b = buf[:len(rows)]
            for i in which:
                np.take(self.leaf_proba[i], self.trees[i].apply(rows), axis=0, out=b)
                acc += b
        return out

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if not len(x):
            return np.zeros((0, self.n_classes))
        xs = self.scaler.transform(x) if self.scaler is not None else x
        xs = np.asarray(xs, dtype=np.float32)  # the trees' own dtype, as predict_proba casts
        perm = self.order(xs)
        xs = np.ascontiguousarray(xs[perm])
        n = max(1, min(len(self.trees), os.cpu_count() or 1))
        # the trees are shared out among threads (Tree.apply releases the GIL), each with
        # its own sums, so no lock is taken per tree as scikit-learn's forest does
        with ThreadPoolExecutor(n) as pool:
            total = sum(pool.map(lambda k: self._trees(xs, range(k, len(self.trees), n)),
                                 range(n)))
        proba = np.empty_like(total)
        proba[perm] = total / len(self.trees)
        return proba
