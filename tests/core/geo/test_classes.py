"""Class values, names and colours: 0 is NoData, classes are whole numbers 1..255."""

import math

import pytest

from landlearn.core.errors import InputError
from landlearn.core.geo.classes import (
    ClassInfo,
    check_class_value,
    colormap,
    default_color,
    make_classes,
    read_class_names_file,
)


def test_make_classes_drops_nodata_sorts_and_fills_in_names_and_colours():
    classes = make_classes([7, 0, 3, 7, 3.0], names={3: "forest"}, colors={7: (1, 2, 3)})
    assert classes == [ClassInfo(3, "forest", default_color(3)), ClassInfo(7, "Class 7", (1, 2, 3))]
    assert make_classes([0]) == [] and make_classes([]) == []
    assert make_classes([2], names={2: ""})[0].name == "Class 2"  # an empty name is no name


def test_default_colours_are_distinct_and_cycle_after_twenty():
    first = [default_color(v) for v in range(1, 21)]
    assert len(set(first)) == 20 and first[0] == (230, 25, 75)
    assert default_color(21) == default_color(1) and default_color(255) == default_color(15)


def test_colormap_is_full_with_classes_opaque_and_the_rest_transparent():
    cmap = colormap([ClassInfo(1, "water", (0, 0, 255)), ClassInfo(255, "last", (9, 8, 7))])
    assert sorted(cmap) == list(range(256))
    assert cmap[1] == (0, 0, 255, 255) and cmap[255] == (9, 8, 7, 255)
    assert cmap[0] == cmap[2] == (0, 0, 0, 0)


def test_to_esri():
    assert ClassInfo(4, "urban", (10, 20, 30)).to_esri() == {"Value": 4, "Name": "urban",
                                                             "Color": [10, 20, 30]}


def test_check_class_value_accepts_whole_numbers_and_names_the_bad_one():
    assert check_class_value(3.0, "class_field") == 3 and check_class_value(0, "labels") == 0
    assert check_class_value(255, "labels") == 255
    with pytest.raises(InputError, match=r"^CLASS_FIELD: class value 2.5 \(feature 12\) is not a whole"):
        check_class_value(2.5, "class_field", "feature 12")
    with pytest.raises(InputError, match="^LABELS: class value nan is not a whole number"):
        check_class_value(math.nan, "labels")
    for inf in (math.inf, -math.inf):  # a float label raster's -inf: OverflowError before
        with pytest.raises(InputError, match=f"^LABELS: class value {inf} is not a whole number"):
            check_class_value(inf, "labels")
    for bad in (256, -1):
        with pytest.raises(InputError, match=f"^LABELS: class value {bad} is outside 0..255"):
            check_class_value(bad, "labels")


def test_class_names_file(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("0 = unlabeled\n1 = farm\n2: forest\nnot a line\n(comment)\n")
    assert read_class_names_file(p) == {1: "farm", 2: "forest"}


def test_class_names_file_separators_and_spaces(tmp_path):
    p = tmp_path / "names.txt"
    p.write_text("  3 , dense forest  \n4\tbare soil\n5 = a = b\n6 =\n", encoding="utf-8")
    assert read_class_names_file(p) == {3: "dense forest", 4: "bare soil", 5: "a = b"}


def test_class_values_of_any_type_with_nan_as_nodata_and_the_first_bad_value():
    import numpy as np

    from landlearn.core.geo.classes import class_values

    values, bad = class_values(np.array([[1.0, np.nan], [3.0, 255.0]], np.float32))
    assert values.tolist() == [[1, 0], [3, 255]] and bad is None
    assert class_values(np.array([1.0, 2.5, 300.0]))[1] == 2.5
    values, bad = class_values(np.array([7, 400], np.int16), np.array([True, False]))
    assert values.tolist() == [7, 0] and bad is None  # an invalid pixel is not checked
    assert class_values(np.array([-1, 2], np.int16))[1] == -1


def test_class_names_that_cannot_be_written_out_whole_are_refused(tmp_path):
    """A control character (a NUL cut the .aux.xml's name short, a newline broke the .qml)
    or a name longer than a package takes (training ran to its end and wrote a package
    every reader refused; an adversarial sweep, stop 68), named with the class and file."""
    from landlearn.core.geo.classes import check_class_names
    from landlearn.core.labels.base import sidecar_class_names

    assert check_class_names({1: "Forêt", 2: "water"}, "labels", "x") == {1: "Forêt", 2: "water"}
    with pytest.raises(InputError, match=r"^LABELS: the name of class 2 in 'x' holds the "
                                         r"control character '\\x00'; rename that class"):
        check_class_names({1: "ok", 2: "For\x00est"}, "labels", "x")
    with pytest.raises(InputError, match="is 300 characters long"):
        check_class_names({1: "a" * 300}, "training_data", "x")
    (tmp_path / "map_classes.txt").write_text("1 = water\n2 = " + "b" * 300 + "\n")
    with pytest.raises(InputError, match=r"^INPUT: the name of class 2 in '.*map_classes\.txt'"):
        sidecar_class_names(str(tmp_path / "map.tif"), {}, "input")
