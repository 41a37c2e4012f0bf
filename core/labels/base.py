"""Labels on the image grid, from a classified raster or from polygons/points + a class field.

This module holds what every label source shares (the config, the protocol, class names
from a sidecar file); labels_open picks the source for a path. Whatever the source, a
label source answers ``read(window)`` with a uint8 array on the
*image* grid: 0 = NoData (unlabelled), 1..255 = classes, and 0 outside the image so that
edge chips are padded consistently. Label rasters on another grid or in another CRS are
warped with nearest neighbour; vectors are reprojected and rasterized per window.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from rasterio.windows import Window

from ..geo.classes import ClassInfo, check_class_names, read_class_names_file
from ..geo.grid import Grid, clip_window


@dataclass(frozen=True)
class LabelConfig:
    """Where labels come from. Field names mirror the Processing parameters (LABELS, ...)."""

    labels: str
    layer: str | None = None  # layer name inside a multi-layer vector file
    class_field: str | None = None  # required for vectors; numeric or text
    class_name_field: str | None = None  # optional, numeric class fields only
    class_names: dict[int, str] = field(default_factory=dict)  # overrides any found names
    all_touched: bool = False  # burn every pixel a polygon touches (thin features)
    # points burnt as discs of this radius, in the raster CRS's units (ArcGIS's
    # buffer_radius in Export Training Data); 0: one pixel per point
    buffer_radius: float = 0.0
    # text classes matched to these values (a map's class names, for Assess Accuracy);
    # texts not listed get free values; empty: texts numbered 1..n alphabetically
    text_values: dict[str, int] = field(default_factory=dict)
    # every text of the class field in the layer the labels were selected from: texts are
    # numbered over these too, so a selection numbers its classes as the whole layer does
    # (a copy of the selected features alone gave Forest 1 where the layer gave it 2)
    layer_texts: tuple[str, ...] = ()
    # the labels as the user gave them (a QGIS layer's source) where ``labels`` is a copy
    # made for reading: what a model package records, not a temporary file
    source: str = ""


class LabelSource(Protocol):
    classes: list[ClassInfo]
    grid: Grid

    def read(self, window: Window) -> np.ndarray:
        """uint8 (rows, cols) labels for ``window`` of the image grid; overhang is 0."""

    def close(self) -> None:
        """Close the files behind the labels (a context manager does it on exit)."""

    def __enter__(self) -> LabelSource: ...

    def __exit__(self, *exc) -> None: ...


def sidecar_class_file(raster_path: str) -> str | None:
    """The '<stem>_classes.txt' beside a label raster, if there is one.

    A file whose stem minus '_classes' starts the raster's stem up to a '_' also counts
    (osm_landuse_labels_classes.txt describes osm_landuse_labels_10m.tif), when it is the
    only one; not a bare 'classes.txt', nor 'ref_classes.txt' for 'reference_2020.tif'.
    """
    found = _sidecar(raster_path)
    return found[0] if found else None


def _sidecar(raster_path: str) -> tuple[str, bool] | None:
    """(the class-names file, whether its name is the raster's own)."""
    folder, base = os.path.split(raster_path)
    stem = os.path.splitext(base)[0]
    candidates = sorted(glob.glob(os.path.join(glob.escape(folder or "."), "*classes.txt")))
    exact = [c for c in candidates
             if os.path.basename(c) in (f"{stem}_classes.txt", f"{stem}.classes.txt")]
    if exact:
        return exact[0], True
    prefix = [c for c in candidates
              if os.path.basename(c).endswith("_classes.txt")
              and len(os.path.basename(c)) > len("_classes.txt")
              and stem.startswith(os.path.basename(c)[: -len("_classes.txt")] + "_")]
    return (prefix[0], False) if len(prefix) == 1 else None


def sidecar_class_names(raster_path: str, embedded: dict[int, str] | None = None,
                        parameter: str = "labels") -> dict[int, str]:
    """Names from the class-names file beside a label raster (sidecar_class_file) over
    those ``embedded`` in the raster: a file of its own name wins, one matched by prefix
    only names what the raster does not (a LandLearn label raster names its classes).
    Either kind refused, naming ``parameter``, where a name cannot be written out whole
    (geo.classes.check_class_names)."""
    embedded = check_class_names(dict(embedded or {}), parameter, raster_path)
    found = _sidecar(raster_path)
    if not found:
        return embedded
    names = check_class_names(read_class_names_file(found[0]), parameter, found[0])
    return {**embedded, **names} if found[1] else {**names, **embedded}


def zero_outside(labels: np.ndarray, window: Window, grid: Grid) -> np.ndarray:
    """Set the overhang of ``window`` beyond ``grid`` to 0 (NoData) in place."""
    inner = clip_window(window, grid.width, grid.height)
    if inner is None:
        labels[:] = 0
        return labels
    r0, c0 = int(inner.row_off - window.row_off), int(inner.col_off - window.col_off)
    keep = np.zeros(labels.shape, dtype=bool)
    keep[r0:r0 + int(inner.height), c0:c0 + int(inner.width)] = True
    labels[~keep] = 0
    return labels
