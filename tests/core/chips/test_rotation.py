"""chips.rotation: ROTATION_ANGLE's copies, each pixel taken from the raster pixel under its
centre (checked through the copy's own transform, independently of the sampling code)."""

import numpy as np
import pytest
from affine import Affine
from rasterio.windows import Window

from landlearn.core.chips.rotation import RotatedCopies, angles


def test_the_steps_stop_short_of_a_full_turn():
    assert angles(0) == []
    assert angles(90) == [90, 180, 270]
    assert angles(30) == [30 * k for k in range(1, 12)]
    assert angles(100) == [100, 200, 300]
    assert len(angles(10)) == 35


@pytest.mark.parametrize("step,tile", [(90, (16, 16)), (30, (16, 16)), (45, (12, 20))])
def test_each_copy_pixel_is_the_raster_pixel_under_its_centre(step, tile):
    rng = np.random.default_rng(1)
    raster = rng.integers(0, 1000, (80, 90)).astype(np.int32)
    grid = Affine(10, 0, 500_000, 0, -10, 4_000_000)
    win = Window(30, 25, *tile)
    copies = RotatedCopies(step, tile)
    big = copies.reach(win)
    assert big.col_off >= 0 and big.row_off >= 0  # the test's raster holds the reach
    read = raster[int(big.row_off):int(big.row_off + big.height),
                  int(big.col_off):int(big.col_off + big.width)]
    chip = grid * Affine.translation(win.col_off, win.row_off)
    w, h = tile
    for k, deg in enumerate(copies.turns):
        (copy,) = copies.gather(k, win, big, read)
        turned = copies.transform(k, chip)
        assert copy.shape == (h, w)
        rows, cols = np.mgrid[0:h, 0:w] + 0.5
        x, y = turned * (cols, rows)
        c, r = ~grid * (x, y)
        expected = raster[np.floor(r + 1e-7).astype(int), np.floor(c + 1e-7).astype(int)]
        np.testing.assert_array_equal(copy, expected, err_msg=f"{deg} degrees")
        box = copies.footprint(turned)
        assert box[0] <= x.min() and x.max() <= box[2] and box[1] <= y.min() and y.max() <= box[3]
    if step == 90:  # a right angle on a square chip is an exact turn of its pixels
        plain = raster[25:41, 30:46]
        (quarter,) = copies.gather(0, win, big, read)
        assert any(np.array_equal(quarter, np.rot90(plain, n)) for n in (1, 3))
        (half,) = copies.gather(1, win, big, read)
        np.testing.assert_array_equal(half, np.rot90(plain, 2))


def test_bands_first_arrays_are_gathered_band_by_band():
    copies = RotatedCopies(90, (8, 8))
    win = Window(20, 20, 8, 8)
    big = copies.reach(win)
    data = np.arange(3 * int(big.height) * int(big.width)).reshape(3, int(big.height), int(big.width))
    one, = copies.gather(0, win, big, data)
    assert one.shape == (3, 8, 8)
    for b in range(3):
        np.testing.assert_array_equal(one[b], copies.gather(0, win, big, data[b])[0])


def test_tables_are_kept_across_chips_only_while_small():
    small, large = RotatedCopies(30, (64, 64)), RotatedCopies(10, (4096, 4096))
    assert small._tables == {} and large._tables is None
    win = Window(40, 40, 64, 64)
    big = small.reach(win)
    data = np.arange(int(big.height) * int(big.width)).reshape(int(big.height), int(big.width))
    first = small.gather(3, win, big, data)[0]
    assert 3 in small._tables  # made once, reused by the next chip
    np.testing.assert_array_equal(small.gather(3, win, big, data)[0], first)
    np.testing.assert_array_equal(first, data[..., small._table(3)[0] + int(win.row_off - big.row_off),
                                             small._table(3)[1] + int(win.col_off - big.col_off)])
