"""MASK_POLYGONS of Export Training Data: the areas chips must lie in (ArcGIS's
in_mask_polygons: "only image chips that fall completely within the polygons").

Analysts draw them round the part of a scene whose labels they trust (a surveyed block, a
tile without clouds) so that chips half over unlabelled or doubtful ground are not
exported; EXTENT does that only for one rectangle. The polygons are read once with OGR,
reprojected to the image's CRS like label polygons (vector_labels.py) and rasterized per
chip, only those whose box meets it: memory follows the layer, never the raster.
"""

from __future__ import annotations

import json

import numpy as np
from rasterio.features import rasterize
from rasterio.windows import Window

from ..errors import InputError
from ..geo.gdal_open import feature_name, open_dataset_or_none
from ..geo.grid import Grid, clip_window, window_bounds
from ..progress import Progress
from .geometry_fixes import DENSIFY_PIXELS, densify, made_valid, solid
from .layer_crs import image_box, transformer

PARAM = "mask_polygons"


class MaskPolygons:
    def __init__(self, path: str, layer: str | None, grid: Grid, progress: Progress):
        from osgeo import gdal

        ds = open_dataset_or_none(path, gdal.OF_VECTOR)
        if ds is None:
            raise InputError(PARAM, f"OGR cannot open '{path}' as a vector layer")
        lyr = ds.GetLayerByName(layer) if layer else ds.GetLayerByIndex(0)
        if lyr is None:
            raise InputError(PARAM, f"there is no layer '{layer}' in '{path}'")
        self.grid = grid
        transform = transformer(lyr, grid, progress, "MASK_POLYGONS")
        box = image_box(lyr, grid, transform)
        if box is not None:
            lyr.SetSpatialFilterRect(*box)
        step = (DENSIFY_PIXELS * min((box[2] - box[0]) / max(grid.width, 1),
                                     (box[3] - box[1]) / max(grid.height, 1))
                if transform is not None and box is not None else 0.0)
        geoms, boxes, other = [], [], 0
        lyr.ResetReading()
        for feat in lyr:
            geom = feat.GetGeometryRef()
            if geom is None or geom.IsEmpty():
                continue
            geom = geom.Clone()
            if geom.HasCurveGeometry():
                geom = geom.GetLinearGeometry()
            if geom.GetDimension() != 2:
                other += 1  # a point or a line encloses no area
                continue
            if step:
                densify(geom, step)
            if transform is not None and geom.Transform(transform) != 0:
                raise InputError(PARAM, f"{feature_name(feat)} cannot be reprojected to "
                                 "the raster's CRS")
            if not geom.IsValid():
                # kept as it is when the repair leaves no area, as label polygons are
                geom = solid(made_valid(geom), 2) or geom
            geoms.append(json.loads(geom.ExportToJson()))
            xmin, xmax, ymin, ymax = geom.GetEnvelope()
            boxes.append((xmin, ymin, xmax, ymax))
        ds = None  # noqa: F841  (closes the OGR dataset)
        if other:
            progress.warning(f"MASK_POLYGONS: {other} feature(s) are points or lines, which "
                             "enclose no area; they are left out")
        if not geoms and other:
            raise InputError(PARAM, f"'{path}' holds only points or lines ({other} "
                             "feature(s)), which enclose no area; give the polygons chips "
                             "must lie in")
        if not geoms:
            raise InputError(PARAM, f"'{path}' holds no polygon over the raster; give the "
                             "polygons chips must lie in, in any CRS")
        self.geoms = geoms
        self.boxes = np.asarray(boxes, np.float64).reshape(-1, 4)

    def meets(self, window: Window) -> bool:
        """Whether any polygon's box meets ``window`` (the export area: EXTENT's part)."""
        xmin, ymin, xmax, ymax = window_bounds(self.grid, window)
        b = self.boxes
        return bool(((b[:, 0] < xmax) & (b[:, 2] > xmin) & (b[:, 1] < ymax)
                     & (b[:, 3] > ymin)).any())

    def inside(self, window: Window) -> np.ndarray:
        """(rows, cols) bool: the window's pixels whose centres lie in a polygon; its
        overhang beyond the raster counts as inside (padding is no ground to refuse)."""
        h, w = int(window.height), int(window.width)
        xmin, ymin, xmax, ymax = window_bounds(self.grid, window)
        b = self.boxes
        hits = np.nonzero((b[:, 0] <= xmax) & (b[:, 2] >= xmin)
                          & (b[:, 1] <= ymax) & (b[:, 3] >= ymin))[0]
        out = np.zeros((h, w), bool)
        if hits.size:
            out = rasterize(((self.geoms[i], 1) for i in hits), out_shape=(h, w),
                            transform=self.grid.window_transform(window), fill=0,
                            dtype="uint8").astype(bool)
        inner = clip_window(window, self.grid.width, self.grid.height)
        beyond = np.ones((h, w), bool)
        if inner is not None:
            r0, c0 = int(inner.row_off - window.row_off), int(inner.col_off - window.col_off)
            beyond[r0:r0 + int(inner.height), c0:c0 + int(inner.width)] = False
        return out | beyond

    def covers(self, window: Window, area: Window, beyond: np.ndarray | None = None) -> bool:
        """Whether every pixel of ``window`` inside ``area`` (the raster, or EXTENT's part of
        it) lies in a polygon: an edge chip's padding is not ground to refuse, nor are the
        pixels ``beyond`` (h, w) an EXTENT in another CRS (its reprojected outline)."""
        fits = self.inside(window)
        if beyond is not None:
            fits = fits | beyond
        try:
            part = window.intersection(area)
        except Exception:  # noqa: BLE001 - rasterio's WindowError: they do not meet
            return False
        r0, c0 = int(part.row_off - window.row_off), int(part.col_off - window.col_off)
        return bool(fits[r0:r0 + int(part.height), c0:c0 + int(part.width)].all())
