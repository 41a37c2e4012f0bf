import warnings

import numpy as np
import pytest
from affine import Affine
from rasterio.windows import Window

from landlearn.core.errors import InputError
from landlearn.core.geo.grid import (
    Grid,
    apply,
    clip_window,
    count_tiles,
    pad_window,
    same_transform,
    tile_windows,
)


@pytest.mark.parametrize("w,h,tile,stride", [(489, 443, 256, 128), (100, 60, 32, 32),
                                             (10, 10, 64, 32), (1536, 768, 256, 200)])
def test_tiles_cover_every_pixel_with_expected_count(w, h, tile, stride):
    area = Window(0, 0, w, h)
    wins = list(tile_windows(area, (tile, tile), (stride, stride)))
    nx = 1 if w <= tile else int(np.ceil((w - tile) / stride)) + 1
    ny = 1 if h <= tile else int(np.ceil((h - tile) / stride)) + 1
    assert len(wins) == nx * ny == count_tiles(area, (tile, tile), (stride, stride))
    hits = np.zeros((h, w), dtype=int)
    for win in wins:
        assert (win.width, win.height) == (tile, tile)
        inner = clip_window(win, w, h)
        hits[inner.row_off:inner.row_off + inner.height, inner.col_off:inner.col_off + inner.width] += 1
    assert hits.min() >= 1
    if stride == tile and w >= tile and h >= tile and w % tile == 0 and h % tile == 0:
        assert hits.max() == 1


def test_a_stride_over_the_tile_starts_no_window_past_the_area():
    """300 px, tiles of 100 every 150: windows at 0 and 150 (gaps between, as asked); a
    third at 300 lay wholly outside and counted as an all-NoData chip window."""
    area = Window(0, 0, 300, 100)
    wins = list(tile_windows(area, (100, 100), (150, 150)))
    assert [w.col_off for w in wins] == [0, 150] == \
        [w.col_off for w in wins if w.col_off < 300]
    assert count_tiles(area, (100, 100), (150, 150)) == 2
    assert count_tiles(Window(0, 0, 301, 100), (100, 100), (150, 150)) == 3  # 300 is inside


def test_tiles_start_at_the_area_origin():
    wins = list(tile_windows(Window(10, 20, 50, 50), (16, 16), (16, 16)))
    assert (wins[0].col_off, wins[0].row_off) == (10, 20)
    assert wins[-1].col_off + 16 >= 60 and wins[-1].row_off + 16 >= 70


def test_bad_tile_or_stride_names_the_parameter():
    with pytest.raises(InputError, match="STRIDE"):
        list(tile_windows(Window(0, 0, 10, 10), (4, 4), (0, 4)))
    with pytest.raises(InputError, match="TILE_SIZE"):
        list(tile_windows(Window(0, 0, 10, 10), (0, 4)))


def test_pad_and_clip():
    assert pad_window(Window(5, 5, 10, 10), 3) == Window(2, 2, 16, 16)
    assert clip_window(Window(-5, -5, 10, 10), 8, 8) == Window(0, 0, 5, 5)
    assert clip_window(Window(20, 0, 5, 5), 8, 8) is None


def test_apply_and_window_transform_equal_affines_own_product():
    """Written out because affine 3.0 deprecates ``*``; must round exactly as ``*`` does."""
    rng = np.random.default_rng(7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # ``*`` is the reference here
        for _ in range(2000):
            a, e = rng.uniform(1e-3, 1e3) * rng.choice([-1, 1], 2)
            b, d = rng.uniform(-1, 1, 2) * rng.choice([0, 1e-2])
            c, f = rng.uniform(-1e7, 1e7, 2)
            t = Affine(a, b, c, d, e, f)
            col, row = (int(v) for v in rng.integers(-5000, 50000, 2))
            x, y = rng.uniform(-1e7, 1e7, 2)
            assert apply(t, col, row) == t * (col, row)
            assert apply(~t, x, y) == ~t * (x, y)
            moved = Grid(None, t, 10, 10).window_transform(Window(col, row, 3, 3))
            assert tuple(moved) == tuple(t * Affine.translation(col, row))


def test_same_transform_is_judged_in_pixels_not_crs_units():
    """affine's almost_equals allows 1e-5 CRS units: 35 pixels of a 3 cm ortho in degrees
    passed as one grid, and float noise on UTM millions could fail it."""
    ortho = Affine(2.7e-7, 0, 12.5, 0, -2.7e-7, 47.1)
    assert ortho.almost_equals(Affine(2.7e-7, 0, 12.5 + 35 * 2.7e-7, 0, -2.7e-7, 47.1))
    assert not same_transform(ortho, Affine(2.7e-7, 0, 12.5 + 35 * 2.7e-7, 0, -2.7e-7, 47.1))
    assert not same_transform(ortho, Affine(2.8e-7, 0, 12.5, 0, -2.8e-7, 47.1))  # other cells
    assert same_transform(ortho, Affine(2.7e-7, 0, 12.5 + 1e-12, 0, -2.7e-7, 47.1))
    utm = Affine(0.5, 0, 500000.0, 0, -0.5, 5_000_000.0)
    assert same_transform(utm, Affine(0.5, 0, 500000.0 + 4e-5, 0, -0.5, 5_000_000.0 - 3e-5))
    assert not same_transform(utm, Affine(0.5, 0, 500000.25, 0, -0.5, 5_000_000.0))  # 1/2 px
    assert not same_transform(utm, Affine(0.5 + 1e-6, 0, 500000.0, 0, -0.5, 5_000_000.0))
    assert not same_transform(utm, Affine(1, 1, 0, 1, 1, 0))
    assert not same_transform(Affine(1, 1, 0, 1, 1, 0), utm)  # not invertible: no grid


def test_a_rotated_grids_cells_keep_their_size():
    """Turned 90 degrees, a 10 m grid has a = e = 0: its res was (0, 0), which the cell-size
    check called 0.00x the model's and a trained package refused as not positive."""
    turned = Grid(None, Affine(0.0, 10.0, 500000.0, 10.0, 0.0, 4000000.0), 50, 40)
    assert turned.res == (10.0, 10.0) and not turned.is_north_up
    tilted = Grid(None, Affine.translation(0, 0) * Affine.rotation(30) * Affine.scale(10, -10),
                  5, 5)
    np.testing.assert_allclose(tilted.res, (10.0, 10.0))
    assert Grid(None, Affine(30.0, 0, 0, 0, -20.0, 0), 1, 1).res == (30.0, 20.0)


def test_crs_name_gives_the_epsg_code_where_there_is_one():
    from rasterio.crs import CRS

    from landlearn.core.geo.grid import crs_name

    assert crs_name(CRS.from_epsg(32119)) == "EPSG:32119"
    assert crs_name(None) == "no CRS"
    custom = crs_name(CRS.from_proj4("+proj=tmerc +lat_0=0 +lon_0=3.3 +k=1 +x_0=0 +y_0=0 "
                                     "+ellps=GRS80 +units=m"))
    assert not custom.startswith("EPSG:") and 0 < len(custom) <= 60
