"""ROTATION_ANGLE of Export Training Data: rotated copies of every chip (ArcGIS's
rotation_angle: "the same training samples captured at multiple angles").

Why copies on disk and not only the training's own 90-degree turns: other angles (30, 45)
show a network oblique field edges and roads it would otherwise see only along the
raster's rows, and a folder exported so trains the same in arcgis.learn. Each copy is
the chip's own size, turned about the chip's centre by k x the angle (k = 1, 2, ... while
under 360 degrees) and resampled nearest neighbour from the raster, so image values and
classes are never mixed (a right angle on a square chip is an exact turn of its pixels).
Corners that reach past the raster or EXTENT are padding (NoData, label 0).

A copy is written with its rotated transform (GeoTIFF's model transformation) and keeps
no bounds in the manifest: what reads bounds (label_cells, evaluation) takes a chip's row
0 for north (chip_listing.py). It keeps the block of the chip it was turned from, so a
validation block's copies are never trained on, and a footprint (the box round its
corners) that the split's overlap test reads, so a copy beside a held-out block is dropped
as its chip is. Without bounds its folder keeps its own blocks (shared_grid.py).
"""

from __future__ import annotations

import math

import numpy as np
from affine import Affine
from rasterio.windows import Window

from .area_reads import image_in_area, labels_in_area, part_in

MIN_ANGLE = 10.0  # degrees: 35 copies per chip at most
TABLE_BYTES = 256 * 2**20  # sampling tables kept across chips up to this size

__all__ = ["MIN_ANGLE", "RotatedCopies", "angles", "turned_chips"]


def angles(step: float) -> list[float]:
    """The copies' rotations in degrees for ROTATION_ANGLE ``step`` (0: none)."""
    if step <= 0:
        return []
    n = math.ceil(360.0 / step - 1e-9)
    return [k * step for k in range(1, n)]


class RotatedCopies:
    """The rotated copies of ``tile``-sized chips: where to read, and which pixel of that
    read each copy's pixel takes."""

    def __init__(self, step: float, tile: tuple[int, int]):
        self.turns = angles(step)
        w, h = tile
        self.tile = tile
        # a square round the chip's centre that holds it at every angle, plus a pixel
        # for the nearest neighbour's reach
        self.half = math.ceil(math.hypot(w, h) / 2) + 1
        # the tables depend on the angle and the chip size only: kept across chips while
        # they are small (8 bytes a pixel a copy; 35 copies of 256 px chips: 18 MB), made
        # on use past that (35 copies of 4096 px chips would hold 4.7 GB)
        self._tables: dict[int, tuple[np.ndarray, np.ndarray]] | None = \
            {} if 8 * w * h * len(self.turns) <= TABLE_BYTES else None

    def _index(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) in the chip's frame of copy ``k``'s pixels."""
        if self._tables is None:
            return self._table(k)
        if k not in self._tables:
            self._tables[k] = self._table(k)
        return self._tables[k]

    def _table(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        w, h = self.tile
        cols = np.arange(w, dtype=np.float64)[None, :] + 0.5
        rows = np.arange(h, dtype=np.float64)[:, None] + 0.5
        turn = Affine.rotation(self.turns[k], pivot=(w / 2, h / 2))
        x = turn.a * cols + turn.b * rows + turn.c
        y = turn.d * cols + turn.e * rows + turn.f
        # pixel centres of a right-angle turn land on centres, within rounding: the nudge
        # keeps floor() from dropping a centre that lies a hair below .5
        return np.floor(y + 1e-7).astype(np.int32), np.floor(x + 1e-7).astype(np.int32)

    def __bool__(self) -> bool:
        return bool(self.turns)

    def __len__(self) -> int:
        return len(self.turns)

    def reach(self, win: Window) -> Window:
        """The window to read for ``win``'s copies (it may reach past the raster)."""
        w, h = self.tile
        cx, cy = win.col_off + w / 2, win.row_off + h / 2
        return Window(math.floor(cx) - self.half, math.floor(cy) - self.half,
                      2 * self.half + 1, 2 * self.half + 1)

    def gather(self, k: int, win: Window, big: Window, *arrays: np.ndarray) -> list[np.ndarray]:
        """Copy ``k``'s pixels from ``arrays`` read at ``big`` (``reach(win)``): each (h, w)
        or (bands, h, w)."""
        rows, cols = self._index(k)
        rows = rows + int(win.row_off - big.row_off)
        cols = cols + int(win.col_off - big.col_off)
        return [a[..., rows, cols] for a in arrays]

    def footprint(self, turned: Affine) -> tuple[float, float, float, float]:
        """(min x, min y, max x, max y) round a copy's corners, from its transform."""
        w, h = self.tile
        xs, ys = zip(*(turned * (c, r) for c, r in ((0, 0), (w, 0), (0, h), (w, h))))
        return min(xs), min(ys), max(xs), max(ys)

    def transform(self, k: int, chip: Affine) -> Affine:
        """Copy ``k``'s transform from its chip's (north-up) transform."""
        w, h = self.tile
        return chip * Affine.rotation(self.turns[k], pivot=(w / 2, h / 2))


def turned_chips(copies: RotatedCopies, image, labels, win: Window, area: Window,
                 extent_mask=None, mask=None):
    """Yield (k, pixels, valid, labels, inside) for each copy of the chip at ``win``:
    ``inside`` marks its pixels inside ``area`` (and EXTENT's outline, ``extent_mask``),
    the rest padding. One read serves every angle. With ``mask`` (MASK_POLYGONS), a copy
    whose turned footprint leaves the polygons is not yielded, as a chip is not."""
    big = copies.reach(win)
    data, valid = image_in_area(image, big, area)
    lab = labels_in_area(labels, big, area)
    within = np.zeros(valid.shape, bool)
    part = part_in(big, area)
    if part is not None:
        within[part[1]] = True
    beyond = extent_mask.outside(big) if extent_mask is not None else None
    if beyond is not None:
        within &= ~beyond
        lab[beyond] = 0
        valid = valid & ~beyond
        for band, fill in zip(data, image.fill_values):
            band[beyond] = fill
    fits = None if mask is None else mask.inside(big) | ~within
    for k in range(len(copies)):
        if fits is not None and not copies.gather(k, win, big, fits)[0].all():
            continue
        yield (k, *copies.gather(k, win, big, data, valid, lab, within))
