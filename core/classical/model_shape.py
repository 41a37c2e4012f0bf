"""The shape a loaded classical model may have: the one LandLearn's trainers write.

skops checks every *type* in a package against an allow-list, but not where each one
sits. The trees stores check the trees of the forest or boosting model in a pipeline's
last step, node by node; a tree anywhere else (a bare DecisionTreeClassifier, a forest
inside a calibrated classifier or a nested pipeline) would reach scikit-learn's compiled
tree walk unchecked, where a node that is its own child loops for ever and a child index
past the end reads outside the arrays. So: trees only in that forest, forests and
boosting models only as that last step, every estimator taking the pipeline's feature
count, and every fitted SVM found wherever it is (each is then checked, see svm.py).
"""

from __future__ import annotations

from ..errors import InputError

__all__ = ["MAX_PARTS", "checked_shape"]

MAX_PARTS = 10_000  # estimators besides the forest's trees (which TREES sets): wrappers, steps

_NESTED = ("estimator", "base_estimator")
_LISTS = ("calibrated_classifiers_", "estimators_")


def _parts(model, where: str, forest=None) -> list:
    """Every estimator reachable from ``model`` through pipeline steps, wrapped estimators
    and fitted sub-estimators, each once; not the trees of ``forest`` (checked by their
    store, and as many as TREES asks: a cap on parts must not count them)."""
    out, seen, stack = [], set(), [model]
    while stack:
        obj = stack.pop()
        if obj is None or id(obj) in seen:
            continue
        seen.add(id(obj))
        out.append(obj)
        if len(out) > MAX_PARTS:
            raise InputError("model", f"'{where}': its classifier holds more than {MAX_PARTS} "
                             "estimators; it is damaged or crafted and not run")
        try:
            stack += [step for _, step in (getattr(obj, "steps", None) or [])]
            stack += [getattr(obj, name, None) for name in _NESTED]
            for name in _LISTS:
                if not (obj is forest and name == "estimators_"):
                    stack += list(getattr(obj, name, None) or [])
        except (TypeError, ValueError) as exc:
            raise InputError("model", f"'{where}': its classifier is damaged or crafted "
                             f"({type(exc).__name__}: {str(exc)[:80]}); it is not run") from None
    return out


def checked_shape(model, forest, boosting, where: str) -> list:
    """Refuse a model whose trees, forests or boosting models sit elsewhere than in
    ``forest`` / ``boosting`` (the pipeline's checked last step, or None), or whose parts
    take another feature count than the model; return its fitted SVCs, to be checked."""
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    def refuse(why: str) -> InputError:
        return InputError("model", f"'{where}': its classifier {why}, which LandLearn's "
                          "trainers never write; the package is damaged or crafted and not "
                          "run")

    trees = {id(t) for t in forest.estimators_} if forest is not None else set()
    features = getattr(model, "n_features_in_", None)
    svms = []
    for part in _parts(model, where, forest):
        # a forest's ``estimator`` is an unfitted template (no tree_): nothing to walk
        if isinstance(part, DecisionTreeClassifier) and id(part) not in trees and \
                getattr(part, "tree_", None) is not None:
            raise refuse("holds a decision tree outside its forest")
        if isinstance(part, RandomForestClassifier) and part is not forest:
            raise refuse("holds a random forest elsewhere than as its last step")
        if isinstance(part, HistGradientBoostingClassifier) and part is not boosting:
            raise refuse("holds a boosting model elsewhere than as its last step")
        own = getattr(part, "n_features_in_", None)
        if features is not None and own is not None and own != features:
            raise refuse(f"has a part taking {own} features where the model takes {features}")
        if isinstance(part, SVC) and any(hasattr(part, a) for a in (
                "support_vectors_", "support_", "_n_support", "_dual_coef_", "_intercept_")):
            svms.append(part)  # fitted (CalibratedClassifierCV keeps a blank template)
    return svms
