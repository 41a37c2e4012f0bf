"""Opening labels: a classified raster or a polygon/point layer, on the image grid.

The factory over labels_raster and labels_vector, kept apart from the protocol they
implement (labels.py) so that neither source imports the module that imports it.
"""

from __future__ import annotations

from ..errors import InputError
from ..geo.gdal_open import may_exist, open_dataset_or_none
from ..geo.grid import Grid, count_tiles, tile_windows
from ..progress import NullProgress, Progress, track
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
    if not may_exist(path):  # GPKG:x.gpkg:landcover, HDF4_EOS:EOS_GRID:... are no files
        raise InputError("labels", f"'{path}' does not exist")
    if is_vector(path):
        return VectorLabels(config, grid, progress)
    return RasterLabels(config, grid, progress)


def labelled_windows(labels: LabelSource, area, progress: Progress, tile: int = 512):
    """(window, labels) of each ``tile``-pixel window of ``area`` that holds a label, with
    progress per window: the loop every sampler runs over sparse labels."""
    n = count_tiles(area, (tile, tile))
    for win in track(tile_windows(area, (tile, tile)), progress, n):
        inner = win.intersection(area)
        y = labels.read(inner)
        if y.any():
            yield inner, y
