"""Ground area of pixels on a grid in degrees: a pixel's area shrinks with the cosine of
its latitude, so a map class's area is not its pixel count times one pixel's area.

Areas are on the sphere of the WGS 84 authalic radius (equal area to the ellipsoid; the
per-pixel difference from the ellipsoid is under 0.3% and cancels in shares of a map).
"""

from __future__ import annotations

import math

import numpy as np
from rasterio.windows import Window

from .grid import Grid

__all__ = ["AUTHALIC_RADIUS", "row_areas"]

AUTHALIC_RADIUS = 6_371_007.2  # metres


def row_areas(grid: Grid, window: Window) -> np.ndarray | None:
    """Square metres of one pixel in each row of ``window``, on a grid in degrees without
    rotation; None for any other grid (projected: every pixel has the grid's cell area)."""
    t = grid.transform
    if grid.crs is None or not grid.crs.is_geographic or t.b or t.d:
        return None
    rows = np.arange(int(window.row_off), int(window.row_off + window.height), dtype=np.float64)
    top = np.radians(np.clip(t.f + t.e * rows, -90, 90))
    bottom = np.radians(np.clip(t.f + t.e * (rows + 1), -90, 90))
    return AUTHALIC_RADIUS ** 2 * abs(math.radians(t.a)) * np.abs(np.sin(top) - np.sin(bottom))
