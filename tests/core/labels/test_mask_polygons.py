"""labels.mask_polygons: the polygons Export Training Data keeps its chips inside."""

import numpy as np
import pytest
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rasterio.windows import Window

from landlearn.core.errors import InputError
from landlearn.core.geo.grid import Grid
from landlearn.core.labels.mask_polygons import MaskPolygons
from landlearn.core.progress import RecordingProgress
from synthetic import points, polygons

# 100 x 80 px of 10 m in UTM 33N
GRID = Grid(CRS.from_epsg(32633), from_origin(500000, 5000000, 10, 10), 100, 80)


def test_pixels_inside_the_polygons_and_an_edge_chips_overhang_count_as_inside(tmp_path):
    # columns 10..39 and rows 0..19 of the grid
    path = polygons(tmp_path / "m.gpkg", [(1, (500100, 4999800, 500400, 5000000))], 32633)
    mask = MaskPolygons(path, None, GRID, RecordingProgress())
    inside = mask.inside(Window(0, 0, 50, 30))
    assert inside[:20, 10:40].all() and inside.sum() == 20 * 30
    area = GRID.full_window
    assert mask.covers(Window(10, 0, 30, 20), area)
    assert not mask.covers(Window(10, 0, 31, 20), area)
    # a chip over the raster's top edge: the rows above it are padding, not refused
    assert mask.covers(Window(10, -5, 30, 25), area)
    # and within an EXTENT's window only its pixels inside count
    assert mask.covers(Window(5, 0, 35, 20), Window(10, 0, 90, 80))


def test_polygons_in_another_crs_are_reprojected(tmp_path):
    from rasterio.warp import transform

    (x0, x1), (y0, y1) = transform("EPSG:32633", "EPSG:4326", [500100, 500400],
                                   [4999800, 5000000])
    path = polygons(tmp_path / "ll.gpkg", [(1, (x0, y0, x1, y1))], 4326)
    inside = MaskPolygons(path, None, GRID, RecordingProgress()).inside(GRID.full_window)
    assert abs(int(inside.sum()) - 20 * 30) <= 30  # a lon/lat box is not quite the UTM one
    assert inside[2:18, 12:38].all()


def test_points_are_left_out_said_and_a_mask_of_no_polygon_is_refused(tmp_path):
    only_points = points(tmp_path / "p.gpkg", [(1, (500100, 4999900))], 32633)
    with pytest.raises(InputError, match=r"^MASK_POLYGONS: .* holds only points or lines \(1 "
                                         r"feature\(s\)\), which enclose no area"):
        MaskPolygons(only_points, None, GRID, RecordingProgress())
    with pytest.raises(InputError, match="^MASK_POLYGONS: OGR cannot open"):
        MaskPolygons(str(tmp_path / "none.gpkg"), None, GRID, RecordingProgress())
    far = polygons(tmp_path / "far.gpkg", [(1, (600000, 4000000, 600100, 4000100))], 32633)
    with pytest.raises(InputError, match="holds no polygon over the raster"):
        MaskPolygons(far, None, GRID, RecordingProgress())
    assert not np.any(MaskPolygons(polygons(tmp_path / "ok.gpkg", [
        (1, (500000, 4999200, 500010, 4999210))], 32633), None, GRID,
        RecordingProgress()).inside(Window(50, 0, 10, 10)))
