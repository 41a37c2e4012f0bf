"""Point labels: each point's own cell (Assess Accuracy's samples) and BUFFER_RADIUS's discs.

Why the discs need more than a buffer: rasterized in feature order, a later point's disc
painted over an earlier point's own pixel (with 300 m discs on nc_landsat7's 752 field
points, 136 of them carried another class at their own pixel), so the points are burnt
again on top: a point's own pixel always keeps its class. A radius in the wrong units (50
"metres" on a raster in degrees: discs 50 degrees wide, one class over everything) is
refused, and discs of different classes that overlap are counted for a warning.
"""

from __future__ import annotations

import json
import math

import numpy as np
from rasterio.features import rasterize

from ..errors import InputError
from ..geo.grid import Grid, crs_units

__all__ = ["PointDiscs", "check_radius", "point_cells", "point_owners"]


def check_radius(radius: float, grid: Grid) -> None:
    """A BUFFER_RADIUS plausible in the raster CRS's units: not over a degree on a raster in
    degrees, and not wider than the raster (every disc would cover all of it)."""
    units = crs_units(grid.crs) or "map units"
    if units == "degree" and radius > 1:
        raise InputError("buffer_radius", f"{radius:g} is in the raster CRS's units, degrees: "
                         f"discs some {radius * 111:,.0f} km across. A {radius:g} m radius "
                         f"is about {radius / 111_000:.2g} degrees; give it in degrees, or "
                         "reproject the raster to a metric CRS first")
    x0, y0, x1, y1 = grid.bounds
    if radius > math.hypot(x1 - x0, y1 - y0):
        raise InputError("buffer_radius", f"{radius:g} {units} is more than the raster's "
                         f"diagonal ({math.hypot(x1 - x0, y1 - y0):,.4g} {units}): every "
                         "disc would cover the whole raster; give the radius of the area "
                         "a field point stands for, in the raster CRS's units")


class PointDiscs:
    """The points widened to discs, by feature number, in the raster's CRS."""

    def __init__(self):
        self.points: dict[int, dict] = {}  # feature number -> the point's GeoJSON
        self.xy: list[tuple[float, float, int]] = []  # x, y, feature number

    def __bool__(self) -> bool:
        return bool(self.points)

    def add(self, number: int, geom) -> None:
        """Keep point (or multipoint) ``geom`` of feature ``number`` before it is widened."""
        self.points[number] = json.loads(geom.ExportToJson())
        parts = [geom] if geom.GetGeometryCount() == 0 else \
            [geom.GetGeometryRef(i) for i in range(geom.GetGeometryCount())]
        self.xy.extend((p.GetX(), p.GetY(), number) for p in parts)

    def crowded(self, classes: list, radius: float) -> int:
        """Points whose disc meets a disc of another class (centres at most 2 radii apart):
        each point's nearest point of another class, from k-d trees, never as pairs nor
        as counts of every neighbour (dense points with a large radius made millions)."""
        from scipy.spatial import cKDTree

        if not self.xy:
            return 0
        xy = np.asarray([(x, y) for x, y, _ in self.xy], np.float64)
        ids = {v: i for i, v in enumerate(dict.fromkeys(classes))}
        kind = np.asarray([ids[classes[n]] for _, _, n in self.xy])
        hit = np.zeros(len(xy), bool)
        for value in np.unique(kind):
            mine = kind == value
            if mine.all():
                return 0
            reach = 2 * radius
            d, _ = cKDTree(xy[~mine]).query(xy[mine], k=1,
                                            distance_upper_bound=reach * (1 + 1e-12))
            hit[np.flatnonzero(mine)[d <= reach]] = True
        return int(hit.sum())

    def on_top(self, out: np.ndarray, hits: np.ndarray, transform, burn) -> np.ndarray:
        """``out`` with the points among features ``hits`` burnt again over it, each as
        ``burn(number)`` (its class, or its feature id)."""
        mine = [int(i) for i in hits if int(i) in self.points]
        if not mine:
            return out
        top = rasterize(((self.points[i], burn(i)) for i in mine), out_shape=out.shape,
                        transform=transform, fill=0, dtype=out.dtype)
        return np.where(top != 0, top, out)


def point_cells(geoms: list[dict], values, grid: Grid
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(rows, cols, values) of every point when the layer holds points only, else None.

    Rasterized, two points in one pixel were one sample (the later one's class): Assess
    Accuracy counts each reference point as its own sample, as a table of accuracy
    assessment points does. A pixel holds a point when the point lies in it (the corner
    belongs to the pixel below and right, as GDAL burns it)."""
    xs, ys, vals = [], [], []
    for geom, value in zip(geoms, values):
        kind = geom.get("type")
        if kind == "Point":
            coords = [geom["coordinates"]]
        elif kind == "MultiPoint":
            coords = geom["coordinates"]
        else:
            return None
        for c in coords:
            xs.append(c[0])
            ys.append(c[1])
            vals.append(value)
    inverse = ~grid.transform
    col, row = inverse * (np.asarray(xs, np.float64), np.asarray(ys, np.float64))
    return (np.floor(row).astype(np.int64), np.floor(col).astype(np.int64),
            np.asarray(vals, np.int64))


def point_owners(geoms: list[dict]) -> np.ndarray:
    """Per point of ``point_cells``, the index of the feature it belongs to: a MultiPoint
    feature holds several, so points and features are counted apart (Assess Accuracy's
    warning of points off the map compared the two)."""
    sizes = [len(g["coordinates"]) if g.get("type") == "MultiPoint" else 1 for g in geoms]
    return np.repeat(np.arange(len(geoms), dtype=np.int64), sizes)
