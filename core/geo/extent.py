"""Turning a user's extent (any CRS) into a window on a raster's pixel grid.

The extent is reprojected with densified edges (a rectangle in one CRS is curved in
another), clipped to the raster and snapped outward to whole pixels, so that outputs
stay aligned to the source grid and cover at least what the user asked for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.warp import transform, transform_bounds
from rasterio.windows import Window

from ..errors import InputError
from .grid import Grid, apply

# Bounds that land within this fraction of a pixel of a pixel edge snap to that edge,
# so an extent copied from the raster itself does not grow by a pixel of float noise.
_SNAP_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Extent:
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    crs: str | None = None  # anything rasterio's CRS understands; None = the raster's CRS

    def __post_init__(self) -> None:
        values = (self.xmin, self.ymin, self.xmax, self.ymax)
        if not all(math.isfinite(v) for v in values):
            raise InputError("extent", f"the extent {values} holds a value that is not a number")
        if self.xmax <= self.xmin or self.ymax <= self.ymin:
            raise InputError("extent", f"the extent is empty or inverted: xmin={self.xmin}, "
                             f"xmax={self.xmax}, ymin={self.ymin}, ymax={self.ymax}")


def _parse_crs(value: str) -> CRS:
    try:
        return CRS.from_user_input(value)
    except CRSError as exc:
        raise InputError("extent", f"its CRS '{value}' is not understood: {exc}") from exc


def extent_in_crs(extent: Extent, crs: CRS | None) -> tuple[float, float, float, float]:
    """The extent's bounds expressed in ``crs`` (the bounding box of the reprojected shape)."""
    box = (extent.xmin, extent.ymin, extent.xmax, extent.ymax)
    if extent.crs is None or crs is None:
        return box
    src = _parse_crs(extent.crs)
    if src == crs:
        return box
    try:
        out = transform_bounds(src, crs, *box, densify_pts=21)
    except Exception as exc:  # PROJ errors come in several types
        raise InputError("extent", f"it cannot be transformed from {src} to the raster's CRS: "
                         f"{exc}") from exc
    if not all(math.isfinite(v) for v in out):
        raise InputError("extent", f"it cannot be expressed in the raster's CRS ({crs}); "
                         "is it on the other side of the globe?")
    return out


def extent_to_window(extent: Extent, grid: Grid, centres: bool = False) -> Window:
    """Clip ``extent`` to ``grid`` and snap it outward to whole pixels; with ``centres``,
    to the pixels whose centres lie inside it (training: an extent is how users keep a
    test area out, and a pixel mostly on the other side of its edge brought that area's
    pixels and labels in)."""
    if not grid.is_north_up:
        raise InputError("extent", "the raster is rotated; extents are only supported on "
                         "north-up rasters (warp it first)")
    xmin, ymin, xmax, ymax = extent_in_crs(extent, grid.crs)
    inv = ~grid.transform
    cols, rows = [], []
    for x in (xmin, xmax):
        for y in (ymin, ymax):
            c, r = apply(inv, x, y)
            cols.append(c)
            rows.append(r)
    if centres:  # pixel i's centre is at i + 0.5
        c0 = math.ceil(min(cols) - 0.5 - _SNAP_TOLERANCE)
        r0 = math.ceil(min(rows) - 0.5 - _SNAP_TOLERANCE)
        c1 = math.floor(max(cols) - 0.5 + _SNAP_TOLERANCE) + 1
        r1 = math.floor(max(rows) - 0.5 + _SNAP_TOLERANCE) + 1
    else:
        c0 = math.floor(min(cols) + _SNAP_TOLERANCE)
        r0 = math.floor(min(rows) + _SNAP_TOLERANCE)
        c1 = math.ceil(max(cols) - _SNAP_TOLERANCE)
        r1 = math.ceil(max(rows) - _SNAP_TOLERANCE)
    c0, r0 = max(c0, 0), max(r0, 0)
    c1, r1 = min(c1, grid.width), min(r1, grid.height)
    if c1 <= c0 or r1 <= r0:
        gb = grid.bounds
        raise InputError("extent", f"it does not overlap the raster (raster bounds in its CRS: "
                         f"{gb[0]:.6g}, {gb[1]:.6g}, {gb[2]:.6g}, {gb[3]:.6g}; the extent "
                         f"reprojected to it: {xmin:.6g}, {ymin:.6g}, {xmax:.6g}, {ymax:.6g})"
                         if extent.crs else
                         f"it does not overlap the raster (raster bounds: {gb[0]:.6g}, "
                         f"{gb[1]:.6g}, {gb[2]:.6g}, {gb[3]:.6g}; extent: {xmin:.6g}, "
                         f"{ymin:.6g}, {xmax:.6g}, {ymax:.6g})")
    return Window(c0, r0, c1 - c0, r1 - r0)


class ExtentMask:
    """Which pixels of a grid have their centres inside an extent given in another CRS.

    ``extent_to_window`` keeps the bounding box of the reprojected extent: in a CRS turned
    against the raster's (a canvas in degrees over UTM 2 degrees off its meridian) that box
    takes in slivers beyond the extent's edges, where a test area often lies. Training
    data leaves those pixels out. The extent's outline is reprojected once, densified (a
    straight edge in one CRS is curved in another), and burnt per window by GDAL (a
    pixel is inside when its centre is)."""

    EDGE_POINTS = 256

    def __init__(self, extent: Extent, grid: Grid):
        self.grid = grid
        x0, y0, x1, y1 = extent.xmin, extent.ymin, extent.xmax, extent.ymax
        t = np.linspace(0.0, 1.0, self.EDGE_POINTS, endpoint=False)
        xs = np.concatenate([x0 + (x1 - x0) * t, np.full_like(t, x1), x1 - (x1 - x0) * t,
                             np.full_like(t, x0)])
        ys = np.concatenate([np.full_like(t, y0), y0 + (y1 - y0) * t, np.full_like(t, y1),
                             y1 - (y1 - y0) * t])
        try:
            gx, gy = transform(_parse_crs(extent.crs), grid.crs, xs.tolist(), ys.tolist())
        except Exception as exc:  # PROJ errors come in several types
            raise InputError("extent", f"it cannot be transformed to the raster's CRS: "
                             f"{exc}") from exc
        ring = [(float(x), float(y)) for x, y in zip(gx, gy)]
        self.outline = {"type": "Polygon", "coordinates": [ring + ring[:1]]}
        self.inner = self._inner_window(np.asarray(gx), np.asarray(gy))

    def _inner_window(self, gx: np.ndarray, gy: np.ndarray) -> Window | None:
        """The pixels surely inside: the rectangle between the edges' innermost points,
        a pixel in from each side, when no point of the outline lies within it (a window
        there needs no burning: most windows of a large export)."""
        n = self.EDGE_POINTS
        x0, x1 = gx[3 * n:].max(), gx[n:2 * n].min()  # the west and east edges
        y0, y1 = gy[:n].max(), gy[2 * n:3 * n].min()  # the south and north edges
        if not (x0 < x1 and y0 < y1) or ((gx > x0) & (gx < x1) & (gy > y0) & (gy < y1)).any():
            return None
        inv = ~self.grid.transform
        cols, rows = zip(*(apply(inv, x, y) for x in (x0, x1) for y in (y0, y1)))
        c0, r0 = math.ceil(min(cols)) + 1, math.ceil(min(rows)) + 1
        c1, r1 = math.floor(max(cols)) - 1, math.floor(max(rows)) - 1
        return Window(c0, r0, c1 - c0, r1 - r0) if c1 > c0 and r1 > r0 else None

    @staticmethod
    def needed(extent: Extent | None, grid: Grid) -> bool:
        return bool(extent is not None and extent.crs and grid.crs
                    and _parse_crs(extent.crs) != grid.crs)

    def outside(self, window: Window):
        """(h, w) bool, True where a pixel of ``window`` lies outside the extent; None when
        none does."""
        from rasterio.features import geometry_mask

        inner = self.inner
        if inner is not None and window.col_off >= inner.col_off and \
                window.row_off >= inner.row_off and \
                window.col_off + window.width <= inner.col_off + inner.width and \
                window.row_off + window.height <= inner.row_off + inner.height:
            return None
        out = geometry_mask([self.outline], (int(window.height), int(window.width)),
                            self.grid.window_transform(window))
        return out if out.any() else None
