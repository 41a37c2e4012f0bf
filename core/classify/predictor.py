"""The predictor for a package, deep or classical: what Classify Pixels runs tiles through.

Deep packages run on torch (deep_predictor), classical ones on scikit-learn
(classical_predictor); both take raw or normalised (n, bands, h, w) tiles and give
(n, classes, h, w) float32 probabilities.
"""

from __future__ import annotations

from ..classical.predictor import ClassicalPredictor
from ..deep.predictor import DeepPredictor
from ..model_package.format import read_package
from ..model_package.info import ModelInfo, model_info
from ..runtime.device import resolve_device

__all__ = ["ModelInfo", "load_predictor"]


def load_predictor(path: str, device, mixed_precision: bool = True):
    """(predictor, info); ``device`` is a torch.device or a name (resolved for deep models)."""
    pkg = read_package(path, "model")
    info = model_info(pkg)
    if info.kind == "classical":
        return ClassicalPredictor(pkg, info), info
    if isinstance(device, str):
        device = resolve_device(device)
    return DeepPredictor(pkg, info, device, mixed_precision), info
