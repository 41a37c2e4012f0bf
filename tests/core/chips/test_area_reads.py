"""chips.area_reads: a window read as far as the export area reaches, padding elsewhere."""

import numpy as np
from rasterio.windows import Window

from landlearn.core.chips.area_reads import (
    image_in_area,
    labels_in_area,
    part_in,
    pixels_inside,
    window_inside,
)
from landlearn.core.geo.raster import RasterSource
from synthetic import write


class Labels:
    def __init__(self, arr):
        self.arr = arr

    def read(self, win):
        r, c = int(win.row_off), int(win.col_off)
        return self.arr[r:r + int(win.height), c:c + int(win.width)].copy()


def test_a_window_over_the_areas_edge_reads_only_inside_it(tmp_path):
    data = np.arange(1, 1 + 2 * 20 * 30, dtype=np.int16).reshape(2, 20, 30)
    path = write(tmp_path / "r.tif", data, nodata=-1)
    area = Window(5, 5, 20, 10)  # EXTENT's part of the raster
    win = Window(20, 0, 10, 10)  # 5 columns and 5 rows inside it
    assert not window_inside(win, area) and window_inside(Window(6, 6, 4, 4), area)
    inner, (rows, cols) = part_in(win, area)
    assert (inner.col_off, inner.row_off, inner.width, inner.height) == (20, 5, 5, 5)
    assert part_in(Window(40, 40, 5, 5), area) is None
    assert pixels_inside(win, area, 100) == 25
    with RasterSource(path) as src:
        pixels, valid = image_in_area(src, win, area)
    assert valid.sum() == 25 and valid[rows, cols].all()
    np.testing.assert_array_equal(pixels[:, rows, cols], data[:, 5:10, 20:25])
    assert (pixels[:, ~valid] == -1).all()  # padding is the band's NoData
    lab = labels_in_area(Labels(np.full((20, 30), 3, np.uint8)), win, area)
    assert (lab[rows, cols] == 3).all() and lab.sum() == 3 * 25
