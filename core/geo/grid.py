"""Pixel grids and the windows we walk them with.

A ``Grid`` is what every output is aligned to: CRS, affine transform and shape. Windows
are rasterio ``Window`` objects in pixel space; a tile may hang over the raster edge
(edge chips, padded inference tiles) and readers fill the overhang with nodata.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from ..errors import InputError


def crs_units(crs: CRS | str | None) -> str | None:
    """The unit cell sizes are in: what a model records (.emd crs_units) and what Classify
    Pixels compares with it, so both must name units the same way."""
    if not crs:
        return None
    crs = CRS.from_wkt(crs) if isinstance(crs, str) else crs
    return "degree" if crs.is_geographic else (crs.linear_units or "unknown")


@dataclass(frozen=True)
class Grid:
    crs: CRS | None
    transform: Affine
    width: int
    height: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def res(self) -> tuple[float, float]:
        """The cell's width and height in CRS units, rotated or not (a grid turned 90
        degrees has a = e = 0: |a|, |e| called its 10 m cells 0 m)."""
        t = self.transform
        return math.hypot(t.a, t.d), math.hypot(t.b, t.e)

    @property
    def is_north_up(self) -> bool:
        return self.transform.b == 0 and self.transform.d == 0

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the whole grid."""
        return window_bounds(self, Window(0, 0, self.width, self.height))

    @property
    def full_window(self) -> Window:
        return Window(0, 0, self.width, self.height)

    def window_transform(self, window: Window) -> Affine:
        """The transform moved to the window's corner (``transform * translation``, written
        out: see ``apply``; a -0.0 coefficient stays -0.0 where affine's product gives 0.0,
        equal as a number)."""
        t = self.transform
        x, y = apply(t, window.col_off, window.row_off)
        return Affine(t.a, t.b, x, t.d, t.e, y)

    def subgrid(self, window: Window) -> Grid:
        """The grid of a window (which may hang over the edge), e.g. for a chip."""
        return Grid(self.crs, self.window_transform(window), int(window.width), int(window.height))


def crs_name(crs: CRS | None) -> str:
    """A CRS as users know it in a message: its EPSG code where it has one."""
    if crs is None:
        return "no CRS"
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_string()[:60]


def same_transform(a: Affine, b: Affine, pixel_share: float = 1e-3) -> bool:
    """Whether two grids' transforms are one to within ``pixel_share`` of a pixel at their
    origins and over a million pixels of their cell sizes: a tolerance in pixels, not in
    CRS units (affine's 1e-5 units is 35 pixels of a 3 cm ortho in degrees, and less
    than float noise on UTM coordinates of millions of metres)."""
    cell = max(math.hypot(a.a, a.d), math.hypot(a.b, a.e))
    if cell == 0 or not all(map(math.isfinite, tuple(a)[:6] + tuple(b)[:6])):
        return False
    # where b's origin falls in a's pixels, and how far b's cells drift from a's over a
    # million pixels
    try:
        col, row = ~a * (b.c, b.f)
    except Exception:  # noqa: BLE001 - affine's TransformNotInvertibleError: no grid
        return False
    drift = max(abs(p - q) for p, q in zip((a.a, a.b, a.d, a.e), (b.a, b.b, b.d, b.e)))
    return abs(col) <= pixel_share and abs(row) <= pixel_share and \
        drift * 1e6 <= pixel_share * cell


def apply(t: Affine, x: float, y: float) -> tuple[float, float]:
    """``t * (x, y)``, written out: affine 3.0 (Debian sid) deprecates ``*`` for ``@``,
    which affine 2.4 (Debian 12 and 13) lacks. In affine's own order of operations, so the
    result rounds as ``*`` rounded it."""
    return t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f


def window_bounds(grid: Grid, window: Window) -> tuple[float, float, float, float]:
    t = grid.window_transform(window)
    xs = [t.c, t.c + t.a * window.width + t.b * window.height,
          t.c + t.a * window.width, t.c + t.b * window.height]
    ys = [t.f, t.f + t.d * window.width + t.e * window.height,
          t.f + t.d * window.width, t.f + t.e * window.height]
    return min(xs), min(ys), max(xs), max(ys)


def clip_window(window: Window, width: int, height: int) -> Window | None:
    """The part of ``window`` inside a width x height raster, or None when disjoint."""
    c0 = max(int(window.col_off), 0)
    r0 = max(int(window.row_off), 0)
    c1 = min(int(window.col_off + window.width), width)
    r1 = min(int(window.row_off + window.height), height)
    if c1 <= c0 or r1 <= r0:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)


def pad_window(window: Window, padding: int) -> Window:
    return Window(window.col_off - padding, window.row_off - padding,
                  window.width + 2 * padding, window.height + 2 * padding)


def _count(length: int, tile: int, stride: int) -> int:
    """Windows along one axis: enough to cover ``length`` when ``stride`` <= ``tile``; with
    a larger stride (gaps between windows) none may start past the area (300 px, tiles of
    100 every 150 put a third window at 300, wholly outside)."""
    if length <= tile:
        return 1
    return min(math.ceil((length - tile) / stride) + 1, math.ceil(length / stride))


def tile_windows(area: Window, tile: tuple[int, int],
                 stride: tuple[int, int] | None = None) -> Iterator[Window]:
    """Windows of exactly ``tile`` = (width, height) pixels covering ``area``, row by row.

    Origins step by ``stride`` (default: the tile size, i.e. no overlap) from the area's
    top-left corner; the last row/column may hang past the area so that every pixel of
    the area is covered when stride <= tile. Overhang is the reader's job to fill.
    """
    tw, th = int(tile[0]), int(tile[1])
    sx, sy = (tw, th) if stride is None else (int(stride[0]), int(stride[1]))
    if tw <= 0 or th <= 0:
        raise InputError("tile_size", f"the tile size must be positive, got {tw} x {th}")
    if sx <= 0 or sy <= 0:
        raise InputError("stride", f"the stride must be at least 1 pixel, got {sx} x {sy}")
    c0, r0 = int(area.col_off), int(area.row_off)
    nx = _count(int(area.width), tw, sx)
    ny = _count(int(area.height), th, sy)
    for j in range(ny):
        for i in range(nx):
            yield Window(c0 + i * sx, r0 + j * sy, tw, th)


def count_tiles(area: Window, tile: tuple[int, int], stride: tuple[int, int] | None = None) -> int:
    tw, th = int(tile[0]), int(tile[1])
    sx, sy = (tw, th) if stride is None else (int(stride[0]), int(stride[1]))
    return _count(int(area.width), tw, sx) * _count(int(area.height), th, sy)


def resampled_grid(grid: Grid, area: Window, cell_size: float) -> Grid:
    """A grid of ``cell_size`` cells over ``area`` of ``grid``, from its top-left corner."""
    if not grid.is_north_up:
        raise InputError("cell_size", "the raster is rotated; resampling is only supported on "
                         "north-up rasters (warp it first)")
    t = grid.window_transform(area)
    width = max(1, math.ceil(area.width * abs(t.a) / cell_size - 1e-6))
    height = max(1, math.ceil(area.height * abs(t.e) / cell_size - 1e-6))
    transform = Affine(math.copysign(cell_size, t.a), 0.0, t.c,
                       0.0, math.copysign(cell_size, t.e), t.f)
    return Grid(grid.crs, transform, width, height)
