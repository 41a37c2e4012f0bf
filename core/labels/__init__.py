"""Training labels on an image's pixel grid, from a classified raster (any grid or CRS)
or from polygons/points with a class field; and Rasterize Labels, which writes them."""

from __future__ import annotations

from .base import LabelConfig, LabelSource
from .open import is_vector, open_labels
from .rasterize_labels import LabelRasterConfig, LabelRasterResult, write_label_raster

__all__ = ["LabelConfig", "LabelRasterConfig", "LabelRasterResult", "LabelSource", "is_vector",
           "open_labels", "write_label_raster"]
