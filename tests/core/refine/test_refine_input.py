"""refine.refine_input: what Refine Classification reads from its input, a class map or
Classify Pixels' probabilities, window by window."""

import json

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from landlearn.core.errors import InputError
from landlearn.core.refine import RefineConfig, refine_classification
from landlearn.core.refine.refine_input import RefineInput, tag_classes
from synthetic import write


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read(1), ds


def _probabilities(tmp_path, prob, threshold=None):
    """Classify Pixels' probabilities as it tags them: classes 3 and 7."""
    tags = {"LANDLEARN_CLASSES": json.dumps([{"Value": 3, "Name": "water", "Color": [0, 0, 255]},
                                             {"Value": 7, "Name": "forest",
                                              "Color": [0, 128, 0]}])}
    if threshold is not None:
        tags["LANDLEARN_CONFIDENCE_THRESHOLD"] = str(threshold)
    path = write(tmp_path / "prob.tif", prob.astype(np.float32))
    with rasterio.open(path, "r+") as ds:
        ds.update_tags(**tags)
    return path


def test_probabilities_give_the_class_of_the_highest_and_their_nodata(tmp_path):
    """NoData of a probabilities raster: a band below 0 (NoData -1 written by Classify
    Pixels), not a number, or every band 0; under the recorded confidence threshold the
    pixel stays unclassified, as Classify Pixels left it."""
    prob = np.zeros((2, 2, 4), np.float32)
    prob[:, 0] = [[0.9, 0.6, 0.0, -1.0], [0.1, 0.4, 0.0, -1.0]]
    prob[:, 1] = [[0.2, np.nan, 0.55, 0.3], [0.8, 0.5, 0.45, 0.7]]
    src = RefineInput(_probabilities(tmp_path, prob))
    try:
        assert src.is_prob and [c.value for c in src.classes] == [3, 7]
        cls, got = src.read(Window(0, 0, 4, 2))
    finally:
        src.ds.close()
    assert cls.tolist() == [[3, 3, 0, 0], [7, 0, 3, 7]]
    assert got.shape == (2, 2, 4) and (got[:, 0, 2:] == 0).all()
    src = RefineInput(_probabilities(tmp_path, prob, threshold=0.65))
    try:
        cls, _ = src.read(Window(0, 0, 4, 2))
    finally:
        src.ds.close()
    assert cls.tolist() == [[3, 0, 0, 0], [7, 0, 0, 7]]


def test_a_damaged_tag_or_altered_bands_are_refused(tmp_path):
    with pytest.raises(InputError, match="damaged LANDLEARN_CLASSES"):
        tag_classes("[{\"Value\": 1}]", "x.tif")
    three = write(tmp_path / "three.tif", np.full((3, 2, 2), 0.3, np.float32))
    with rasterio.open(three, "r+") as ds:
        ds.update_tags(LANDLEARN_CLASSES=json.dumps(
            [{"Value": 1, "Name": "a", "Color": [0, 0, 0]},
             {"Value": 2, "Name": "b", "Color": [9, 9, 9]}]))
    with pytest.raises(InputError, match="3 probability bands for 2 classes"):
        RefineInput(three)
    untagged = write(tmp_path / "untagged.tif", np.full((2, 2, 2), 0.5, np.float32))
    with pytest.raises(InputError, match="neither a class map"):
        RefineInput(untagged)


def test_a_float_class_map_is_refined_as_its_whole_numbers(tmp_path):
    """Raster Calculator writes Float32 by default: a map of 0/1/2 (and NaN) is a class map,
    refined exactly as the same map in bytes; a fraction is refused by value."""
    from synthetic import write

    rng = np.random.default_rng(1)
    classes = rng.integers(1, 4, (30, 30)).astype(np.uint8)
    classes[:3] = 0
    as_float = classes.astype(np.float32)
    as_float[:3] = np.nan
    ints = write(tmp_path / "i.tif", classes, nodata=0)
    floats = write(tmp_path / "f.tif", as_float)
    refine_classification(RefineConfig(ints, str(tmp_path / "ri.tif"), min_region_size=5))
    refine_classification(RefineConfig(floats, str(tmp_path / "rf.tif"), min_region_size=5))
    got, _ = _read(tmp_path / "rf.tif")
    want, _ = _read(tmp_path / "ri.tif")
    assert (got == want).all() and (got[:3] == 0).all() and (got != classes).any()
    as_float[5, 5] = 1.5
    fraction = write(tmp_path / "fr.tif", as_float)
    with pytest.raises(InputError, match="^INPUT_RASTER: holds the value 1.5"):
        refine_classification(RefineConfig(fraction, str(tmp_path / "x.tif"),
                                           min_region_size=5))




def test_class_names_from_a_classes_file_beside_the_map_are_kept(tmp_path):
    """A map named by '<map>_classes.txt' (as Assess Accuracy and Rasterize Labels read
    it) came out of Refine as 'Class N', and Assess Accuracy then matched none of a
    reference's names (a PyQGIS sweep, stop 68)."""
    from landlearn.core.labels.raster_labels import category_names

    classes = np.ones((20, 20), np.uint8)
    classes[:, 10:] = 2
    classes[5, 5] = 2  # a speck the unit merges
    path = write(tmp_path / "map.tif", classes, nodata=0)
    (tmp_path / "map_classes.txt").write_text("1 = Forêt\n2 = water\n", encoding="utf-8")
    refine_classification(RefineConfig(path, str(tmp_path / "out.tif"), min_region_size=4))
    assert category_names(str(tmp_path / "out.tif")) == {1: "Forêt", 2: "water"}
    assert "Forêt" in (tmp_path / "out.qml").read_text(encoding="utf-8")
