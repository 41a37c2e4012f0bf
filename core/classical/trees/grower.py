"""The trees of a random forest grown as RandomForestClassifier grows them, at a third of
the cost per tree.

A tree of a land-cover forest is small (a few thousand samples, a few bands): scikit-learn
builds it in about 0.9 ms, then spends as long again in DecisionTreeClassifier.fit's
Python checks (target type, sample weights, parameter validation), which hold the GIL, so
two threads grew trees barely faster than one. Here scikit-learn's own tree builder
(criterion, splitter, Tree, DepthFirstTreeBuilder) is called with the parameters fit would
derive from the forest's template tree, and the tree is handed back in a copy of that
template, as the model package stores it. Those classes are scikit-learn internals, so the
direct call is made only on the scikit-learn series it was written against (requirements
pin it; a test checks the trees node for node against RandomForestClassifier's); on any
other, each tree goes through DecisionTreeClassifier.fit, and the log says which.
"""

from __future__ import annotations

import copy

import numpy as np

from ...runtime.fast_paths import fast_paths, why_not


def direct_builder() -> bool:
    """scikit-learn's tree builder may be called directly (runtime.fast_paths)."""
    return fast_paths()


class TreeGrower:
    """Grows trees shaped like ``template`` (a fitted DecisionTreeClassifier of the
    forest: its hyper-parameters, classes and band count) on other bootstrap samples."""

    def __init__(self, template):
        self.template = template
        # the settings the direct call reproduces; any other goes through fit
        plain = (template.criterion == "gini" and template.splitter == "best"
                 and template.max_leaf_nodes is None and template.class_weight is None
                 and template.ccp_alpha == 0.0 and template.monotonic_cst is None
                 and template.n_outputs_ == 1)
        self.direct = direct_builder() and plain

    @property
    def engine(self) -> str:
        if self.direct:
            return "trees grown by scikit-learn's tree builder, called directly"
        if not direct_builder():
            why = why_not()
        else:
            why = "the forest's settings are not the ones the direct call reproduces"
        return (f"trees grown through DecisionTreeClassifier.fit ({why}; growing takes about "
                "twice as long)")

    def grow(self, x32: np.ndarray, y_index: np.ndarray, weight: np.ndarray,
             seeds: np.ndarray) -> list:
        """One tree per seed: each a bootstrap drawn as scikit-learn 1.9 draws it (n draws,
        each sample as likely as its weight), grown with that seed."""
        n = len(y_index)
        p = weight / weight.sum()
        y2 = np.ascontiguousarray(y_index, dtype=np.float64).reshape(-1, 1)
        trees = []
        for seed in seeds:
            drawn = np.random.RandomState(seed).choice(n, n, replace=True, p=p)
            counts = np.bincount(drawn, minlength=n).astype(np.float64)
            trees.append(self._one(x32, y_index, y2, counts, int(seed)))
        return trees

    def _one(self, x32, y_index, y2, counts, seed):
        t = self.template
        if not self.direct:
            from sklearn.base import clone

            return clone(t).set_params(random_state=seed).fit(
                x32, y_index, sample_weight=counts, check_input=False)
        from sklearn.tree._criterion import Gini
        from sklearn.tree._splitter import BestSplitter
        from sklearn.tree._tree import DepthFirstTreeBuilder, Tree

        # what DecisionTreeClassifier._fit derives from the hyper-parameters (integer
        # min_samples_*, no class weights, no max_leaf_nodes: the forest's settings)
        n_classes = np.array([t.n_classes_], dtype=np.intp)
        leaf = t.min_samples_leaf
        split = max(t.min_samples_split, 2 * leaf)
        depth = np.iinfo(np.int32).max if t.max_depth is None else t.max_depth
        min_weight_leaf = t.min_weight_fraction_leaf * float(counts.sum())
        splitter = BestSplitter(Gini(1, n_classes), t.max_features_, leaf, min_weight_leaf,
                                np.random.RandomState(seed), None)
        tree = Tree(t.n_features_in_, n_classes, 1)
        DepthFirstTreeBuilder(splitter, split, leaf, min_weight_leaf, depth,
                              t.min_impurity_decrease).build(tree, x32, y2, counts, None)
        grown = copy.copy(t)
        grown.tree_ = tree
        grown.random_state = seed
        return grown
