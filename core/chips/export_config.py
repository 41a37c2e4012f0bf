"""What Export Training Data is asked to do: its parameters, checked before the raster is
opened (a negative stride or a fraction of 2 fails at once, not after the labels are read).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InputError
from ..geo.extent import Extent
from ..geo.sizes import DEFAULT_MAX_GPX
from ..labels.base import LabelConfig
from .chip_formats import chip_format
from .chip_size import AUTO
from .rotation import MIN_ANGLE

__all__ = ["MAX_TILE", "MIN_TILE", "ExportConfig"]

MIN_TILE, MAX_TILE = 16, 4096


@dataclass(frozen=True)
class ExportConfig:
    """Field names are the lower-case Processing parameter keys."""

    input_raster: str
    labels: LabelConfig
    output_folder: str
    bands: tuple[int, ...] | None = None
    extent: Extent | None = None
    cell_size: float | None = None
    tile_size_x: int = AUTO  # 0: chosen from the labelled area (chip_size.py)
    tile_size_y: int = AUTO
    stride_x: int = AUTO  # 0: half the chip, a quarter on small labelled areas (chip_size.py)
    stride_y: int = AUTO
    min_labeled_fraction: float = 0.0
    output_nofeature_tiles: bool = False
    overwrite: bool = False
    max_output_gpx: float = DEFAULT_MAX_GPX  # the export area, on the export grid
    # polygons chips must lie in wholly (ArcGIS's in_mask_polygons; labels.mask_polygons)
    mask_polygons: str | None = None
    mask_layer: str | None = None  # its layer, in a file of several
    # degrees between rotated copies of each chip (ArcGIS's rotation_angle; rotation.py)
    rotation_angle: float = 0.0
    # the chips' file format (ArcGIS's image_chip_format): TIFF, PNG or JPEG (chip_formats.py)
    image_chip_format: str = "TIFF"

    def validate(self) -> None:
        for key in ("tile_size_x", "tile_size_y"):
            v = getattr(self, key)
            if v != AUTO and not MIN_TILE <= v <= MAX_TILE:
                raise InputError(key, f"{v} pixels is outside {MIN_TILE}..{MAX_TILE}; chips for "
                                 "segmentation are usually 64..512 pixels (0 = chosen from "
                                 "the labelled area)")
        for key in ("stride_x", "stride_y"):
            if getattr(self, key) < 0:
                raise InputError(key, f"the stride must be at least 1 pixel (got "
                                 f"{getattr(self, key)}); use the tile size for chips that "
                                 "touch without overlapping, or 0 for the automatic stride")
        if not 0.0 <= self.min_labeled_fraction <= 1.0:
            raise InputError("min_labeled_fraction", f"{self.min_labeled_fraction} is not a "
                             "fraction; use 0 (any labelled pixel) .. 1 (fully labelled chips)")
        turn = self.rotation_angle
        if not (isinstance(turn, (int, float)) and math.isfinite(turn)
                and (turn == 0 or MIN_ANGLE <= turn < 360)):
            shown = f"{turn:g}" if isinstance(turn, (int, float)) else str(turn)[:40]
            raise InputError("rotation_angle", f"{shown} is not a rotation step; use 0 (no "
                             f"rotated copies) or {MIN_ANGLE:g}..359 degrees (90 gives three "
                             "copies of each chip, 30 eleven)")
        chip_format(self.image_chip_format)
        radius = self.labels.buffer_radius
        if not (isinstance(radius, (int, float)) and math.isfinite(radius) and radius >= 0):
            raise InputError("buffer_radius", f"{radius} is not a radius; use 0 (one pixel per "
                             "point) or a distance in the raster CRS's units")
        if self.cell_size is not None and not (self.cell_size > 0 and math.isfinite(self.cell_size)):
            raise InputError("cell_size", f"{self.cell_size} is not a positive cell size; leave "
                             "it empty to keep the raster's own resolution")
