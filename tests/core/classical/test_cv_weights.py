"""classical.cv_weights: out-of-fold predictions counted as the labelled pixels they stand
for; a segment by its own labelled pixels, a pixel sample as before."""

import numpy as np
import pytest

from landlearn.core.classical.cv_weights import calibration_weights, counted_by, cv_accuracy
from landlearn.core.classical.samples import Samples
from landlearn.core.geo.classes import ClassInfo


def _samples(y, available, pixels=None, per_class=None) -> Samples:
    y = np.asarray(y)
    classes = [ClassInfo(v, f"class {v}", (0, 0, 0)) for v in dict.fromkeys(y.tolist())]
    return Samples(np.zeros((len(y), 1)), y, np.arange(len(y)), classes, ["b1"], [1], 1,
                   "float32", (10.0, 10.0), None, available, "polygon",
                   labelled_pixels=None if pixels is None else np.asarray(pixels),
                   labelled_pixels_per_class=per_class)


def test_a_segment_counts_as_its_labelled_pixels():
    """A 1,000 px field right and a 10 px sliver wrong: counted once each, class 1 was
    half right; per pixel it is 1000 / 1010 right, as its map is."""
    s = _samples([1, 1, 2, 2], {1: 2, 2: 3}, pixels=[1000, 10, 300, 100],
                 per_class={1: 1010, 2: 600})  # class 2: a third segment of 200 px not drawn
    pred = np.array([1, 2, 2, 1])
    acc = cv_accuracy(s, pred, np.ones(4, bool))
    np.testing.assert_array_equal(acc.counts, [[1, 1], [1, 1]])
    # class 2's 600 labelled pixels shared out 3:1 between its two scored segments
    np.testing.assert_allclose(acc.matrix, [[1000, 10], [150, 450]])
    assert acc.total == 1610 and acc.samples == 4 and acc.counted_overall == 0.5
    assert acc.overall == pytest.approx(1450 / 1610)
    np.testing.assert_allclose(acc.recall, [1000 / 1010, 0.75])
    # a segment no fold scored: the scored ones stand for all of their class's pixels
    part = cv_accuracy(s, pred, np.array([True, True, True, False]))
    np.testing.assert_allclose(part.matrix, [[1000, 10], [0, 600]])


def test_pixel_samples_count_as_before_segments_were_weighed():
    """Pixel samples: each class's labelled pixels shared evenly among its scored samples,
    the same floats as the formula before segments were counted by pixels (2026-12-06)."""
    s = _samples([9, 9, 2, 2, 5, 5], {9: 1000, 2: 2, 5: 6})
    pred = np.array([9, 2, 2, 2, 5, 9])
    tested = np.array([True, True, True, False, True, True])
    acc = cv_accuracy(s, pred, tested)
    cm = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 1]])
    np.testing.assert_array_equal(acc.counts, cm)
    np.testing.assert_array_equal(acc.matrix, cm * (np.array([1000, 2, 6]) / [2, 1, 2])[:, None])
    assert counted_by(s) is None  # the validation line says nothing new
    # the temperature's weights: labelled pixels per drawn sample of the class
    np.testing.assert_array_equal(calibration_weights(s, np.array([2, 5, 9])),
                                  [500, 500, 1, 1, 3, 3])


def test_the_temperature_weighs_segments_by_their_labelled_pixels():
    s = _samples([1, 1, 2], {1: 2, 2: 1}, pixels=[30, 10, 5], per_class={1: 80, 2: 5})
    w = calibration_weights(s, np.array([1, 2]))
    np.testing.assert_allclose(w, [60, 20, 5])  # class 1's 80 px shared 3:1
    assert "counted by labelled pixels" in counted_by(s)


@pytest.mark.heavy
def test_an_object_model_reports_its_accuracy_per_labelled_pixel(nc_objects):
    """nc_landsat7 under Segment (MIN_SEGMENT_SIZE 5): the matrix holds the labelled pixels
    of the segments kept (it held as many segments before), and the log, the report and
    the package say what the figures count."""
    from landlearn.core.classical.object_samples import collect_object_samples
    from landlearn.core.classical.train_classifier import ClassicalConfig
    from landlearn.core.labels.base import LabelConfig
    from landlearn.core.model_package.format import read_package

    segs, pkg, result, progress = nc_objects
    package = read_package(str(pkg))
    params = package.landlearn["training"]["parameters"]
    s = collect_object_samples(ClassicalConfig(
        params["input_raster"], LabelConfig(params["labels"], class_field="id"), "unused.dlpk",
        segmented_raster=str(segs), segment_attributes=("MEAN", "STD")))
    acc = result.accuracy
    assert sum(s.labelled_pixels_per_class.values()) > 5 * sum(s.available.values())
    np.testing.assert_allclose(acc.support, [s.labelled_pixels_per_class[v]
                                             for v in sorted(s.available)])
    assert acc.samples == len(s.y) and acc.total == sum(s.labelled_pixels_per_class.values())
    assert "counted by labelled pixels" in result.validation
    assert "counted by labelled pixels" in package.landlearn["training"]["validation"]
    assert "Counted by labelled pixels" in package.read("report/report.html", 1 << 20,
                                                        "report").decode()


def test_on_s2_big_segments_are_the_easy_ones(shared, tmp_path):
    """s2_osm_sparse under Segment (MIN_SEGMENT_SIZE 5): counted one per segment the
    cross-validated overall accuracy read 0.40 where the map scored 0.56 per pixel on
    held-out polygons (bench_objects' split, 3 seeds); counted by labelled pixels it reads
    0.46, since the large segments (fields, forest) are the ones it gets right."""
    from landlearn.core.classical.train_classifier import ClassicalConfig, train_classical
    from landlearn.core.labels.base import LabelConfig
    from landlearn.core.segment import SegmentConfig, segment

    s2 = shared / "s2_osm_sparse"
    image = str(s2 / "s2l1c_T33UUU_20170216_10bands_10m.tif")
    segment(SegmentConfig(image, output_segment_ids=str(tmp_path / "s.tif"), min_segment_size=5))
    labels = LabelConfig(str(s2 / "gis_osm_landuse-water_a_free_1_area-10000-to-500000.gpkg"),
                         class_field="fclass")
    acc = train_classical(ClassicalConfig(image, labels, str(tmp_path / "m.dlpk"),
                                          segmented_raster=str(tmp_path / "s.tif"),
                                          segment_attributes=("MEAN", "STD"))).accuracy
    assert acc.overall > acc.counted_overall + 0.04
    assert acc.total > 20 * acc.samples  # labelled pixels, not segments
