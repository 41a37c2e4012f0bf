"""geo.ground_area: pixels of a grid in degrees cover less ground towards the poles."""

import math

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rasterio.windows import Window

from landlearn.core.geo.grid import Grid
from landlearn.core.geo.ground_area import WGS84_AREA, row_areas


def test_the_rows_of_a_world_grid_sum_to_the_spheres_area():
    grid = Grid(CRS.from_epsg(4326), from_origin(-180, 90, 1, 1), 360, 180)
    areas = row_areas(grid, grid.full_window)
    assert areas.shape == (180,) and np.all(areas > 0)
    assert math.isclose(360 * areas.sum(), WGS84_AREA, rel_tol=1e-12)
    assert math.isclose(WGS84_AREA, 5.10065621724e14, rel_tol=1e-9)  # WGS 84's surface
    assert areas[0] < areas[89] and math.isclose(areas[45], areas[134])  # symmetric
    part = row_areas(grid, Window(7, 100, 3, 2))
    np.testing.assert_allclose(part, areas[100:102])


def test_projected_or_rotated_grids_have_no_row_areas():
    utm = Grid(CRS.from_epsg(32633), from_origin(500000, 5000000, 10, 10), 4, 4)
    assert row_areas(utm, utm.full_window) is None
    rotated = Grid(CRS.from_epsg(4326), Affine(1, 0.1, 0, 0.1, -1, 50), 4, 4)
    assert row_areas(rotated, rotated.full_window) is None
    assert row_areas(Grid(None, from_origin(0, 0, 1, 1), 2, 2), Window(0, 0, 2, 2)) is None
