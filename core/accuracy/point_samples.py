"""Point references as samples: each point one sample on the map pixel under it, and what
is said of the points that are not counted (off the map, several in one pixel)."""

from __future__ import annotations

import numpy as np
from rasterio.windows import Window

from ..progress import Progress

__all__ = ["off_map_warning", "points_in"]


def off_map_warning(owners: np.ndarray, inside: np.ndarray, total: int,
                     progress: Progress) -> None:
    """Points not counted, in points and features apart: a MultiPoint feature holds
    several points, and comparing points on the map with the layer's features said
    nothing when 2 of 4 points (one per feature) lay off it (review, stop 67)."""
    counted = np.unique(owners[inside])
    features_off = total - len(counted)  # off the map, or holding no class
    points_off = int(np.count_nonzero(~inside & np.isin(owners, counted)))
    if features_off <= 0 and points_off == 0:
        return
    said = [f"{features_off} of the layer's {total} features have no point on it (they lie "
            "off it, or hold no class)"] if features_off > 0 else []
    if points_off:
        said.append(f"{points_off} further points of multipoint features lie off it")
    progress.warning(f"{int(np.count_nonzero(inside))} reference points lie on the map "
                     f"(inside EXTENT, where given) and are counted; " + ", and ".join(said)
                     + ": those are not counted")


def points_in(ref, area: Window, progress: Progress):
    """A point reference's (rows, cols, values) inside ``area``, each point a sample; None
    for polygons and rasters (counted pixel by pixel)."""
    cells = ref.point_cells() if hasattr(ref, "point_cells") else None
    if cells is None:
        return None
    rows, cols, vals = cells
    r0, c0 = int(area.row_off), int(area.col_off)
    inside = ((rows >= r0) & (rows < r0 + int(area.height))
              & (cols >= c0) & (cols < c0 + int(area.width)))
    total = getattr(ref, "feature_count", None)
    if total is not None:
        off_map_warning(ref.point_owners(), inside, total, progress)
    rows, cols, vals = rows[inside], cols[inside], vals[inside]
    _, where, count = np.unique(rows * (int(area.col_off + area.width) + 1) + cols,
                                return_inverse=True, return_counts=True)
    shared = int((count[where] > 1).sum())
    if shared:  # pixels whose points hold more than one class
        kinds = np.unique(where.astype(np.int64) * 256 + vals) // 256
        mixed = int((np.bincount(kinds, minlength=count.size) > 1).sum())
        progress.warning(f"{shared} reference points share a map pixel with another point"
                         + (f" ({mixed} pixel(s) hold points of different classes)" if mixed else "")
                         + ": each point is counted as a sample of its own, but points "
                         "closer than a pixel are not independent samples; thin them, or "
                         "assess a map of finer cells")
    return rows, cols, vals
