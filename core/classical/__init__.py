"""Classical pixel classifiers (random forest, SVM, maximum likelihood, gradient
boosting) trained straight from a raster and labels with validation grouped by polygon,
and the predictor Classify Pixels runs them with. scikit-learn is imported only when one of
them runs; the names load on first use (``lazy_face``), so the Processing dialogs read
MODEL_TYPES when QGIS starts without importing numpy."""

from __future__ import annotations

from ..lazy_face import lazy_face

_NAMES = {
    "ClassicalPredictor": ".predictor",
    "MODEL_TYPES": ".model_types",
    "ClassicalConfig": ".train_classifier", "ClassicalResult": ".train_classifier",
    "train_classical": ".train_classifier",
}
__all__, __getattr__, __dir__ = lazy_face(__name__, _NAMES)
