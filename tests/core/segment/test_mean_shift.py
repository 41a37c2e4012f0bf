"""segment.mean_shift on tiny arrays: the halo, a step edge, NoData, and tiles equal to one pass."""

import numpy as np
import pytest

from landlearn.core.segment.mean_shift import halo, mean_shift_filter

pytest.importorskip("torch")


def test_halo_is_two_passes_of_the_spatial_radius_per_iteration():
    assert halo(3, 2) == 12
    assert halo(5, 1) == 10
    assert halo(0, 4) == 0


def test_a_step_edge_survives_and_each_side_is_smoothed():
    rng = np.random.default_rng(0)
    values = np.zeros((1, 24, 24), dtype=np.float32)
    values[:, :, 12:] = 100.0
    values += rng.uniform(-3, 3, values.shape).astype(np.float32)
    valid = np.ones((24, 24), dtype=bool)
    out = mean_shift_filter(values, valid, spatial_radius=2, range_radius=10.0, iterations=3,
                            device="cpu")
    assert out.shape == values.shape and out.dtype == np.float32
    left, right = out[0, :, :12], out[0, :, 12:]
    # nothing across the edge was averaged in: 100 is far outside the range radius
    assert left.max() < 3.0 and right.min() > 97.0
    # within each side the noise is smoothed
    assert left.std() < 0.5 * values[0, :, :12].std()
    assert right.std() < 0.5 * values[0, :, 12:].std()
    # a flat image stays exactly as it is
    flat = np.full((2, 8, 8), 7.0, dtype=np.float32)
    np.testing.assert_array_equal(mean_shift_filter(flat, np.ones((8, 8), bool), 2, 5.0, 2, "cpu"),
                                  flat)


def test_nodata_pixels_neither_move_nor_pull_their_neighbours():
    """NoData arrives as 0 (segment sets it so): within the range radius of its neighbours,
    yet it must not count in their means, and it keeps its own value."""
    values = np.full((1, 9, 9), 2.0, dtype=np.float32)
    values[0, 4, 4] = 0.0
    valid = np.ones((9, 9), dtype=bool)
    valid[4, 4] = False
    out = mean_shift_filter(values, valid, 2, 10.0, 2, "cpu")
    assert out[0, 4, 4] == 0.0
    np.testing.assert_array_equal(out[0][valid], 2.0)
    # the same pixel when valid pulls its neighbours down
    pulled = mean_shift_filter(values, np.ones((9, 9), bool), 2, 10.0, 2, "cpu")
    assert pulled[0, 4, 3] < 2.0


def test_a_tile_with_the_halo_equals_one_pass():
    rng = np.random.default_rng(1)
    # smooth-ish values with edges: blocks of levels plus noise
    base = np.kron(rng.integers(0, 6, (5, 5)) * 40.0, np.ones((8, 8)))
    values = (base + rng.normal(0, 4, base.shape))[None].astype(np.float32)
    valid = np.ones(base.shape, dtype=bool)
    valid[3:6, 30:34] = False
    r, it = 2, 2
    whole = mean_shift_filter(values, valid, r, 12.0, it, "cpu")
    h = halo(r, it)
    r0, r1, c0, c1 = 12, 28, 10, 30  # the tile's own pixels
    crop = (slice(r0 - h, r1 + h), slice(c0 - h, c1 + h))
    tile = mean_shift_filter(np.ascontiguousarray(values[(slice(None),) + crop]),
                             np.ascontiguousarray(valid[crop]), r, 12.0, it, "cpu")
    np.testing.assert_allclose(tile[:, h:-h, h:-h], whole[:, r0:r1, c0:c1], atol=1e-4)
    # without the halo the tile's edge pixels would differ
    short = mean_shift_filter(np.ascontiguousarray(values[:, r0:r1, c0:c1]),
                              np.ascontiguousarray(valid[r0:r1, c0:c1]), r, 12.0, it, "cpu")
    assert not np.allclose(short, whole[:, r0:r1, c0:c1], atol=1e-4)


def test_a_nodata_neighbour_adds_nothing_whatever_its_value():
    """A NoData pixel whose value lies within the range radius of its neighbours neither
    moves them nor counts (it used to add its value to their sums)."""
    pytest.importorskip("torch")
    values = np.zeros((1, 9, 9), np.float32)
    values[0, 4, 4] = 3.0
    valid = np.ones((9, 9), bool)
    valid[4, 4] = False
    out = mean_shift_filter(values, valid, 2, 10.0, 2, "cpu")
    assert np.all(out[0][valid] == 0.0)
