"""Ground area of pixels on a grid in degrees: a pixel's area shrinks with the cosine of
its latitude, so a map class's area is not its pixel count times one pixel's area.

Areas are on the WGS 84 ellipsoid, exactly: the area of the band between two latitudes
over a span of longitude (the authalic sphere was 0.45% off at 55 N). A grid on another
datum is measured on WGS 84's ellipsoid; the difference is far below a pixel's.
"""

from __future__ import annotations

import math

import numpy as np
from rasterio.windows import Window

from .grid import Grid

__all__ = ["WGS84_AREA", "row_areas"]

_A = 6_378_137.0
_F = 1 / 298.257223563
_B = _A * (1 - _F)
_E = math.sqrt(_F * (2 - _F))


def _zone(lat_deg: np.ndarray) -> np.ndarray:
    """Area per radian of longitude between the equator and each latitude (signed)."""
    s = np.sin(np.radians(np.clip(lat_deg, -90.0, 90.0)))
    es = _E * s
    return _B ** 2 / 2 * (s / (1 - es ** 2) + np.log((1 + es) / (1 - es)) / (2 * _E))


WGS84_AREA = float(4 * math.pi * _zone(np.array(90.0)))  # 5.10066e14 m²


def row_areas(grid: Grid, window: Window) -> np.ndarray | None:
    """Square metres of one pixel in each row of ``window``, on a grid in degrees without
    rotation; None for any other grid (projected: every pixel has the grid's cell area)."""
    t = grid.transform
    if grid.crs is None or not grid.crs.is_geographic or t.b or t.d:
        return None
    rows = np.arange(int(window.row_off), int(window.row_off + window.height), dtype=np.float64)
    top, bottom = t.f + t.e * rows, t.f + t.e * (rows + 1)
    return abs(math.radians(t.a)) * np.abs(_zone(top) - _zone(bottom))
