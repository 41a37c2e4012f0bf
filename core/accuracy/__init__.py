"""Assess Accuracy and the metrics every workflow reports: confusion matrices, overall
accuracy, kappa, per-class scores, area-weighted estimates (Olofsson et al. 2014)."""

from __future__ import annotations

from .assess_accuracy import AssessConfig, AssessResult, assess_accuracy
from .metrics import Accuracy, confusion_matrix

__all__ = ["Accuracy", "AssessConfig", "AssessResult", "assess_accuracy", "confusion_matrix"]
