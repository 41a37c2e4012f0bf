"""Which file beside the skops file holds a classical model's trees.

A random forest's and gradient boosting's trees are stored apart from skops (their
stores say why), each in its own file; the .emd names that file, and the name says
which store reads it back.
"""

from __future__ import annotations

from .boosting_store import PREDICTORS_FILE, boosting_of, join_predictors, split_predictors
from .forest_store import TREES_FILE, forest_of, join_trees, split_trees

__all__ = ["boosting_of", "forest_of", "join_model_trees", "split_model_trees"]

_STORES = {TREES_FILE: (split_trees, join_trees), PREDICTORS_FILE: (split_predictors, join_predictors)}


def split_model_trees(model):
    """(model to give skops, trees file name or None, its bytes or None)."""
    for name, (split, _) in _STORES.items():
        light, data = split(model)
        if data is not None:
            return light, name, data
    return model, None, None


def join_model_trees(model, name: str, data: bytes, where: str):
    """Put the trees of file ``name`` back into ``model`` (as loaded from skops); a name
    of no other store is read as a forest's, as packages have always been."""
    return _STORES.get(name, _STORES[TREES_FILE])[1](model, data, where)
