"""chips.description_fields: each field of a folder's description from others, checked."""

import math

import pytest

from landlearn.core.chips.description_fields import band_nodata, bounds, color, scaling, turn


def test_bounds_are_four_finite_numbers_round_an_area_or_none_for_a_turned_copy():
    assert bounds([0, 1, 2, 3.5]) == (0.0, 1.0, 2.0, 3.5)
    assert bounds(None) is None
    for bad in ([0, 1, 0, 3], [0, 1, 2], [0, "nan", 2, 3], [2, 1, 0, 3]):
        with pytest.raises(ValueError, match="are not \\(left, bottom, right, top\\)"):
            bounds(bad)
    with pytest.raises(ValueError):
        bounds(["a", 1, 2, 3])


def test_a_turn_is_degrees_modulo_a_full_turn():
    assert turn(90) == 90.0 and turn(-90) == 270.0 and turn("450") == 90.0 and turn(0) == 0.0
    with pytest.raises(ValueError, match="is not a number of degrees"):
        turn(float("inf"))


def test_colours_nodata_and_scaling_as_others_write_them():
    assert color([10, 20, 30, 255]) == (10, 20, 30) and color([-1, -1, -1]) is None
    assert band_nodata(None, 2, 0.0) == [0.0, 0.0]
    got = band_nodata([None, "NaN", -9999], 3, 0.0)
    assert got[0] is None and math.isnan(got[1]) and got[2] == -9999.0
    with pytest.raises(ValueError, match="is not a number"):
        band_nodata([True, 1], 2, None)
    assert scaling(None, 3) is None and scaling([[2, 1]], 1) == [[2.0, 1.0]]
    with pytest.raises(ValueError, match="is not 1 \\[scale, offset\\] pairs"):
        scaling([[0, 1]], 1)
