"""Windows of the raster read as far as the export area reaches: pixels and labels from
inside it, padding (NoData, label 0) elsewhere.

Why padding and not a shorter read: every chip keeps its size (a network's batch needs it)
and nothing outside EXTENT enters the export, even through a chip that straddles its edge.
Shared by the chips (export_training_data.py) and their rotated copies (rotation.py).
"""

from __future__ import annotations

import numpy as np
from rasterio.windows import Window

from ..geo.raster import RasterSource

__all__ = ["image_in_area", "labels_in_area", "part_in", "pixels_inside", "window_inside"]


def window_inside(win: Window, area: Window) -> bool:
    return (win.col_off >= area.col_off and win.row_off >= area.row_off
            and win.col_off + win.width <= area.col_off + area.width
            and win.row_off + win.height <= area.row_off + area.height)


def part_in(win: Window, area: Window):
    """(the part of ``win`` inside ``area``, its rows and columns within ``win``), or None
    when they do not meet: what the labels and the image read of a window at the edge."""
    try:
        inner = win.intersection(area)
    except Exception:  # rasterio raises WindowError when they do not meet
        return None
    r0, c0 = int(inner.row_off - win.row_off), int(inner.col_off - win.col_off)
    return inner, (slice(r0, r0 + int(inner.height)), slice(c0, c0 + int(inner.width)))


def labels_in_area(labels, win: Window, area: Window) -> np.ndarray:
    """``win``'s labels from inside ``area``, 0 (none) elsewhere."""
    if window_inside(win, area):
        return labels.read(win)
    lab = np.zeros((int(win.height), int(win.width)), dtype=np.uint8)
    part = part_in(win, area)
    if part is not None:
        lab[part[1]] = labels.read(part[0])
    return lab


def pixels_inside(win: Window, area: Window, whole: int) -> int:
    if window_inside(win, area):
        return whole
    part = part_in(win, area)
    return max(1, int(part[0].width) * int(part[0].height)) if part is not None else whole


def image_in_area(image: RasterSource, win: Window, area: Window):
    """(pixels, validity) for ``win``: pixels only from inside ``area``, the rest padding."""
    if window_inside(win, area):
        block = image.read(win)  # the common case: no padding, no copies
        return block.data, block.valid
    h, w = int(win.height), int(win.width)
    data = np.empty((image.count, h, w), dtype=image.dtype)
    for i, fill in enumerate(image.fill_values):
        data[i] = fill
    valid = np.zeros((h, w), dtype=bool)
    part = part_in(win, area)
    if part is None:
        return data, valid
    inner, sl = part
    block = image.read(inner)
    data[(slice(None),) + sl] = block.data
    valid[sl] = block.valid
    return data, valid
