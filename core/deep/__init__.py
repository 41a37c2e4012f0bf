"""Deep pixel classification: Train Deep Learning Model (segmentation-models-pytorch
networks on chip folders) and the predictor Classify Pixels runs them with. torch is
imported only when one of them runs."""

from __future__ import annotations

from .architectures import ARCHITECTURES, BACKBONES
from .losses import LOSSES
from .predictor import DeepPredictor
from .train_deep_learning_model import TrainConfig, TrainResult, train_model

__all__ = ["ARCHITECTURES", "BACKBONES", "DeepPredictor", "LOSSES", "TrainConfig", "TrainResult",
           "train_model"]
