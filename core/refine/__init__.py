"""Refine Classification: a classified map (or class probabilities) cleaned up with
segments (majority vote, or probability averaging) and a minimum mapping unit."""

from __future__ import annotations

from .refine_classification import RefineConfig, RefineResult, refine_classification

__all__ = ["RefineConfig", "RefineResult", "refine_classification"]
