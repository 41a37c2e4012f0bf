"""The classical model types Train Classifier offers, apart from the training code: the
Processing dialogs list them when QGIS starts, without importing numpy or scikit-learn."""

from __future__ import annotations

__all__ = ["MODEL_TYPES"]

# (option name, label)
MODEL_TYPES = [("random_forest", "Random forest"), ("svm", "SVM (RBF kernel)"),
               ("maximum_likelihood", "Maximum likelihood (Gaussian)"),
               ("hist_gradient_boosting", "Histogram gradient boosting")]
