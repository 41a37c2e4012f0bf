"""Classify Pixels: a raster streamed through a model package (deep or classical) into a
styled, seam-free classified GeoTIFF, with confidence and probabilities."""

from __future__ import annotations

from .classify_pixels import ClassifyConfig, ClassifyResult, classify_pixels
from .predictor import load_predictor

__all__ = ["ClassifyConfig", "ClassifyResult", "classify_pixels", "load_predictor"]
