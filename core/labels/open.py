"""Opening labels: a classified raster or a polygon/point layer, on the image grid.

The factory over labels_raster and labels_vector, kept apart from the protocol they
implement (labels.py) so that neither source imports the module that imports it.
"""

from __future__ import annotations

import os

from ..errors import InputError
from ..geo.gdal_open import open_dataset_or_none
from ..geo.grid import Grid
from ..progress import NullProgress, Progress
from .base import LabelConfig, LabelSource
from .raster_labels import RasterLabels
from .vector_labels import VectorLabels

__all__ = ["is_vector", "open_labels"]


def is_vector(path: str) -> bool:
    from osgeo import gdal

    ds = open_dataset_or_none(path, gdal.OF_VECTOR)
    return ds is not None and ds.GetLayerCount() > 0


def open_labels(config: LabelConfig, grid: Grid, progress: Progress | None = None) -> LabelSource:
    """Open the labels of ``config`` aligned to ``grid`` (the image's grid or a sub-grid)."""
    progress = progress or NullProgress()
    path = config.labels
    if not path:
        raise InputError("labels", "no labels were given: choose a classified raster or a "
                         "polygon/point layer with a class field")
    if not os.path.exists(path) and "://" not in path and not path.startswith("/vsi"):
        raise InputError("labels", f"'{path}' does not exist")
    if is_vector(path):
        return VectorLabels(config, grid, progress)
    return RasterLabels(config, grid, progress)
