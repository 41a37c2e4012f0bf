"""Pixels in space, shared by every workflow: grids and windows, extents in any CRS,
rasters of any band count and dtype, atomic styled GeoTIFF outputs, class colours, and the
guards every output passes (outputs: never an input, never a foreign file; sizes: the
pixel count and disk, checked before any pixel is read)."""

from __future__ import annotations

from .classes import ClassInfo, colormap, make_classes
from .extent import Extent, extent_to_window
from .grid import Grid, count_tiles, crs_units, pad_window, resampled_grid, tile_windows
from .outputs import check_distinct, claim_output, written_by_landlearn
from .raster import Block, RasterSource, open_dataset
from .sizes import DEFAULT_MAX_GPX, PlannedOutput, check_cell_size, check_output_size
from .writer import GeoTiffWriter, commit_together

__all__ = ["Block", "ClassInfo", "DEFAULT_MAX_GPX", "Extent", "GeoTiffWriter", "Grid",
           "PlannedOutput", "RasterSource", "check_cell_size", "check_distinct",
           "check_output_size", "claim_output", "colormap", "commit_together", "count_tiles",
           "crs_units", "extent_to_window", "make_classes", "open_dataset", "pad_window",
           "resampled_grid", "tile_windows", "written_by_landlearn"]
