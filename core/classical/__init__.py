"""Classical pixel classifiers (random forest, SVM, maximum likelihood, gradient
boosting) trained straight from a raster and labels with validation grouped by polygon,
and the predictor Classify Pixels runs them with. scikit-learn is imported only when one of
them runs."""

from __future__ import annotations

from .predictor import ClassicalPredictor
from .train_classifier import MODEL_TYPES, ClassicalConfig, ClassicalResult, train_classical

__all__ = ["ClassicalConfig", "ClassicalPredictor", "ClassicalResult", "MODEL_TYPES",
           "train_classical"]
