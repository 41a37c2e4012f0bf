"""Pixels in space, shared by every workflow: grids and windows, extents in any CRS,
rasters of any band count and dtype, atomic styled GeoTIFF outputs, class colours, and the
guards every output passes (outputs: never an input, never a foreign file; sizes: the
pixel count and disk, checked before any pixel is read).

The names load on first use (``lazy_face``): the Processing dialogs read DEFAULT_MAX_GPX
when QGIS starts, which must not import rasterio."""

from __future__ import annotations

from ..lazy_face import lazy_face

_NAMES = {
    "ClassInfo": ".classes", "colormap": ".classes", "make_classes": ".classes",
    "Extent": ".extent", "extent_to_window": ".extent",
    "Grid": ".grid", "count_tiles": ".grid", "crs_units": ".grid", "pad_window": ".grid",
    "resampled_grid": ".grid", "tile_windows": ".grid",
    "DEFAULT_MAX_GPX": ".limits",
    "check_distinct": ".outputs", "claim_output": ".outputs",
    "written_by_landlearn": ".outputs",
    "Block": ".raster", "RasterSource": ".raster", "open_dataset": ".raster",
    "PlannedOutput": ".sizes", "check_cell_size": ".sizes", "check_output_size": ".sizes",
    "GeoTiffWriter": ".writer", "commit_together": ".commit",
}
__all__, __getattr__, __dir__ = lazy_face(__name__, _NAMES)
