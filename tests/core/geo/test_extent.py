import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds
from rasterio.windows import Window
from rasterio.windows import bounds as win_bounds

from landlearn.core.errors import InputError
from landlearn.core.geo.extent import Extent, extent_to_window
from landlearn.core.geo.raster import RasterSource
from synthetic import write


@pytest.fixture
def nc(shared):
    with RasterSource(shared / "nc_landsat7" / "landsat_multiband.tif") as src:
        yield src.grid


def test_extent_of_a_window_in_raster_crs_is_that_window(nc):
    win = Window(100, 50, 200, 150)
    b = win_bounds(win, nc.transform)
    assert extent_to_window(Extent(*b, crs="EPSG:32119"), nc) == win
    assert extent_to_window(Extent(*b), nc) == win  # no CRS: the raster's


def test_extent_snaps_outward(nc):
    b = win_bounds(Window(100, 50, 200, 150), nc.transform)
    inset = Extent(b[0] + 3, b[1] + 3, b[2] - 3, b[3] - 3)
    assert extent_to_window(inset, nc) == Window(100, 50, 200, 150)


def test_extent_in_another_crs_covers_the_area(nc):
    win = Window(100, 50, 200, 150)
    geo = transform_bounds(nc.crs, "EPSG:4326", *win_bounds(win, nc.transform), densify_pts=21)
    out = extent_to_window(Extent(*geo, crs="EPSG:4326"), nc)
    assert out.col_off <= 100 and out.row_off <= 50
    assert out.col_off + out.width >= 300 and out.row_off + out.height >= 200
    assert out.width <= 210 and out.height <= 160  # the curved box adds only a few pixels


def test_extent_is_clipped_to_the_raster(nc):
    b = nc.bounds
    big = Extent(b[0] - 1000, b[1] - 1000, b[2] + 1000, b[3] + 1000, "EPSG:32119")
    assert extent_to_window(big, nc) == Window(0, 0, nc.width, nc.height)


def test_extent_outside_or_empty_names_extent(nc):
    with pytest.raises(InputError, match="EXTENT: it does not overlap the raster .* the "
                                         "extent reprojected to it: "):
        extent_to_window(Extent(0, 0, 1, 1, "EPSG:4326"), nc)
    # without a CRS it is in the raster's: its numbers as given, no 'there'
    with pytest.raises(InputError, match=r"EXTENT: it does not overlap the raster \(raster "
                                         r"bounds: .*; extent: 0, 0, 1, 1\)"):
        extent_to_window(Extent(0, 0, 1, 1), nc)
    with pytest.raises(InputError, match="EXTENT: the extent is empty or inverted"):
        Extent(10, 0, 5, 1)
    with pytest.raises(InputError, match="EXTENT: its CRS 'EPSG:999999' is not understood"):
        extent_to_window(Extent(0, 0, 1, 1, "EPSG:999999"), nc)


def test_utm_extent_on_a_geographic_raster(shared, tmp_path):
    src_path = shared / "rgb_byte" / "RGB.byte.tif"
    with rasterio.open(src_path) as ds:
        utm = ds.crs
        b = ds.bounds
    geo = transform_bounds(utm, "EPSG:4326", *b)
    res = 0.002
    w, h = int((geo[2] - geo[0]) / res), int((geo[3] - geo[1]) / res)
    path = write(tmp_path / "g.tif", np.ones((h, w), np.uint8), crs="EPSG:4326",
                 transform=from_origin(geo[0], geo[3], res, res))
    with RasterSource(path) as src:
        cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        win = extent_to_window(Extent(cx - 5000, cy - 5000, cx + 5000, cy + 5000, utm.to_wkt()), src.grid)
    # 10 km is about 0.09 degrees; at 0.002 degrees per pixel that is roughly 45-65 pixels
    assert 40 <= win.width <= 80 and 40 <= win.height <= 70


def test_training_extents_take_the_pixels_whose_centres_are_inside(tmp_path):
    """An extent edge 3 m into a 10 m pixel: snapped outward, the pixel (7 m of it on the
    other side, e.g. a test area's) came in; by centres it stays out, and an edge 3 m
    past a pixel's centre keeps it."""
    path = write(tmp_path / "g.tif", np.zeros((100, 100), np.uint8),
                 transform=from_origin(0, 1000, 10, 10), crs="EPSG:32633")
    with RasterSource(path) as src:
        grid = src.grid
    # pixels 10..19 span x 100..200, rows 10..19 span y 900..800
    edge_inside = Extent(103, 803, 197, 897)  # edges 3 m inside the border pixels
    assert extent_to_window(edge_inside, grid) == Window(10, 10, 10, 10)
    assert extent_to_window(edge_inside, grid, centres=True) == Window(10, 10, 10, 10)
    past_centre = Extent(107, 807, 193, 893)  # 7 m in: the border pixels' centres outside
    assert extent_to_window(past_centre, grid) == Window(10, 10, 10, 10)
    assert extent_to_window(past_centre, grid, centres=True) == Window(11, 11, 8, 8)
    on_edges = Extent(100, 800, 200, 900)
    assert extent_to_window(on_edges, grid, centres=True) == Window(10, 10, 10, 10)


def test_extent_mask_leaves_out_the_slivers_a_turned_crs_adds():
    """An extent in UTM 33N over a raster in UTM 32N 2.5 degrees east of its meridian: the
    reprojected box is turned, its bounding box takes in slivers past the extent's edges.
    The mask says which pixel centres lie outside; a window well inside needs none."""
    from rasterio.crs import CRS

    from landlearn.core.geo.extent import ExtentMask
    from landlearn.core.geo.grid import Grid

    raster = CRS.from_epsg(32632)
    x0, y0, x1, y1 = transform_bounds("EPSG:4326", raster, 11.3, 47.0, 11.5, 47.1)
    grid = Grid(raster, from_origin(x0 - 2000, y1 + 2000, 20, 20),
                int((x1 - x0 + 4000) / 20), int((y1 - y0 + 4000) / 20))
    ext = Extent(*transform_bounds(raster, "EPSG:32633", x0, y0, x1, y1), crs="EPSG:32633")
    assert ExtentMask.needed(ext, grid) and not ExtentMask.needed(
        Extent(x0, y0, x1, y1, crs="EPSG:32632"), grid) and not ExtentMask.needed(None, grid)
    area = extent_to_window(ext, grid, centres=True)
    mask = ExtentMask(ext, grid)
    out = mask.outside(area)
    assert out is not None and 0 < out.mean() < 0.2  # slivers along the edges
    # the pixels it calls inside are inside, those outside are outside
    from rasterio.warp import transform

    rows, cols = np.nonzero(np.ones(out.shape, bool))
    t = grid.transform
    xs = t.c + (cols + area.col_off + 0.5) * t.a
    ys = t.f + (rows + area.row_off + 0.5) * t.e
    ex, ey = transform(raster, "EPSG:32633", xs.tolist(), ys.tolist())
    inside = ((np.array(ex) >= ext.xmin) & (np.array(ex) <= ext.xmax)
              & (np.array(ey) >= ext.ymin) & (np.array(ey) <= ext.ymax))
    np.testing.assert_array_equal(out.ravel(), ~inside)
    middle = Window(area.col_off + area.width // 2 - 5, area.row_off + area.height // 2 - 5, 10, 10)
    assert mask.outside(middle) is None
    # tile by tile (most inside the surely-inside rectangle, not burnt): the same answer
    truth = (~inside).reshape(out.shape)
    assert mask.inner is not None
    skipped = 0
    for r in range(0, int(area.height), 64):
        for c in range(0, int(area.width), 64):
            win = Window(area.col_off + c, area.row_off + r, min(64, area.width - c),
                         min(64, area.height - r))
            got = mask.outside(win)
            want = truth[r:r + int(win.height), c:c + int(win.width)]
            if got is None:
                assert not want.any()
                skipped += 1
            else:
                np.testing.assert_array_equal(got, want)
    assert skipped > 10
