"""Tree ensembles made fast and safe: grown by scikit-learn's own builder, stored beside
the skops file as node arrays checked on load, walked over sorted pixels (compiled by
numba when it is installed)."""

from __future__ import annotations

from .stores import join_model_trees, split_model_trees
from .walk import TreeSum

__all__ = ["TreeSum", "join_model_trees", "split_model_trees"]
