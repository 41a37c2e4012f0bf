"""A label or mask layer's CRS against the raster's: which CRS a layer has (none, where a
GeoPackage says 'Undefined'), the transformation to the raster's, and the raster's box in
the layer's CRS for the spatial filter (only features near the image are read).

Shared by label layers (vector_labels.py) and MASK_POLYGONS (mask_polygons.py).
"""

from __future__ import annotations

import math

from ..geo.grid import Grid
from ..progress import Progress

__all__ = ["UNDEFINED_SRS", "image_box", "layer_srs", "srs_pair", "transformer"]


# what GDAL names a GeoPackage layer's srs_id 0 and -1 ("no CRS" in the GeoPackage spec),
# lower-cased: GDAL writes 'Undefined Cartesian SRS' (geopandas' layers without a CRS)
UNDEFINED_SRS = ("undefined geographic srs", "undefined cartesian srs")


def layer_srs(layer):
    """The layer's CRS, or None where it has none. A GeoPackage written without a CRS
    reads as 'Undefined geographic SRS': taken for degrees, a layer in the raster's metres
    was reprojected off the raster ('holds no polygon over the raster')."""
    srs = layer.GetSpatialRef()
    if srs is None or ((srs.GetName() or "").lower() in UNDEFINED_SRS
                       and srs.GetAuthorityCode(None) is None):
        return None
    return srs


def srs_pair(layer, grid: Grid):
    """(the layer's CRS, the image's CRS) as OSR objects with x = easting or longitude, the
    order the layer's coordinates and the spatial filter use."""
    from osgeo import osr

    labels, image = layer_srs(layer).Clone(), osr.SpatialReference()
    image.ImportFromWkt(grid.crs.to_wkt())
    for srs in (labels, image):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return labels, image


def transformer(layer, grid: Grid, progress: Progress, what: str = "The label layer"):
    """The transformation from ``layer``'s CRS to the raster's, None where none is needed
    (the same CRS, or either has none: the layer is then read in the raster's CRS, and
    ``what`` is named in the warning)."""
    from osgeo import osr

    srs = layer_srs(layer)
    if srs is None or grid.crs is None:
        if srs is None and grid.crs is not None:
            progress.warning(f"{what} has no CRS; assuming it is the raster's CRS.")
        elif srs is not None and grid.crs is None:  # said too (PyQGIS sweep, stop 69)
            progress.warning(f"The raster has no CRS; assuming it is {what.lower()}'s CRS "
                             f"({srs.GetName() or 'unnamed'}). Assign the raster's CRS if "
                             "that is wrong.")
        return None
    src, dst = srs_pair(layer, grid)
    if src.IsSame(dst):
        return None
    return osr.CoordinateTransformation(src, dst)


def image_box(layer, grid: Grid, transform, reach: float = 0.0
               ) -> tuple[float, float, float, float] | None:
    """The image's bounds in the layer's CRS, widened by a pixel or by ``reach`` (raster
    units: a point that far outside burns a disc inside; None: read everything, when they
    cannot be projected)."""
    from osgeo import osr

    x0, y0, x1, y1 = grid.bounds
    pad = max(abs(grid.res[0]), abs(grid.res[1]), reach)
    x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    if transform is None:
        return x0, y0, x1, y1
    try:
        labels, image = srs_pair(layer, grid)
        back = osr.CoordinateTransformation(image, labels)
        xmin, ymin, xmax, ymax = back.TransformBounds(x0, y0, x1, y1, 21)
    except Exception:  # noqa: BLE001 - PROJ cannot: no filter, as before
        return None
    # not finite, or across the antimeridian (xmin > xmax in longitudes): no filter
    if not all(map(math.isfinite, (xmin, ymin, xmax, ymax))) or xmin > xmax or ymin > ymax:
        return None
    return xmin, ymin, xmax, ymax
