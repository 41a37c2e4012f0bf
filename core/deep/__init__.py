"""Deep pixel classification: Train Deep Learning Model (segmentation-models-pytorch
networks on chip folders) and the predictor Classify Pixels runs them with. torch is
imported only when one of them runs; the names load on first use (``lazy_face``), so the
Processing dialogs read the architectures and losses when QGIS starts without numpy."""

from __future__ import annotations

from ..lazy_face import lazy_face

_NAMES = {
    "ARCHITECTURES": ".architectures", "BACKBONES": ".architectures",
    "LOSSES": ".losses",
    "DeepPredictor": ".predictor",
    "TrainConfig": ".train_deep_learning_model", "TrainResult": ".train_deep_learning_model",
    "train_model": ".train_deep_learning_model",
}
__all__, __getattr__, __dir__ = lazy_face(__name__, _NAMES)
