"""Assess Accuracy on rasters of several bands: which band holds the class values."""

import numpy as np
import pytest

from landlearn.core.accuracy.assess_accuracy import AssessConfig, assess_accuracy
from landlearn.core.errors import InputError
from landlearn.core.labels.base import LabelConfig
from landlearn.core.progress import RecordingProgress
from synthetic import write


def _truth(tmp_path):
    """A 3-class reference and, as a second array, a map of it with its top rows wrong."""
    truth = np.repeat(np.array([1, 2, 3], np.uint8), 10)[None].repeat(12, 0)
    mapped = truth.copy()
    mapped[:3] = 1
    return write(tmp_path / "ref.tif", truth, nodata=0), truth, mapped


def test_an_rgb_rendering_of_a_map_is_refused_unless_a_band_is_named(tmp_path):
    """An RGB export of a styled map: its red channel (colour levels 0..255) was scored as
    class values without a word."""
    ref, truth, mapped = _truth(tmp_path)
    colours = np.stack([mapped * 80, truth, mapped])  # red: colour levels; green: the truth
    rgb = write(tmp_path / "rendered.tif", colours, photometric="RGB")
    with pytest.raises(InputError, match="RGB image") as err:
        assess_accuracy(AssessConfig(rgb, LabelConfig(ref)))
    assert err.value.parameter == "INPUT" and "BAND" in str(err.value)
    res = assess_accuracy(AssessConfig(rgb, LabelConfig(ref), band=2))
    assert res.accuracy.overall == 1.0
    res = assess_accuracy(AssessConfig(rgb, LabelConfig(ref), band=3))
    assert res.accuracy.overall == pytest.approx(1 - (3 * 20) / truth.size)


def test_a_stack_is_assessed_on_band_1_with_a_warning_and_band_names_another(tmp_path):
    ref, truth, mapped = _truth(tmp_path)
    stack = write(tmp_path / "stack.tif", np.stack([mapped, truth]), nodata=0)
    progress = RecordingProgress()
    res = assess_accuracy(AssessConfig(stack, LabelConfig(ref)), progress)
    assert res.accuracy.overall == pytest.approx(1 - (3 * 20) / truth.size)
    assert any("has 2 bands: band 1 is assessed" in w and "BAND" in w
               for w in progress.warnings)
    progress = RecordingProgress()
    res = assess_accuracy(AssessConfig(stack, LabelConfig(ref), band=2), progress)
    assert res.accuracy.overall == 1.0 and not any("bands" in w for w in progress.warnings)
    with pytest.raises(InputError, match="has no band 3; its bands are 1..2") as err:
        assess_accuracy(AssessConfig(stack, LabelConfig(ref), band=3))
    assert err.value.parameter == "BAND"


def test_a_map_with_an_alpha_band_is_one_band_of_classes(tmp_path):
    ref, truth, _ = _truth(tmp_path)
    alpha = np.full_like(truth, 255)
    alpha[:, :2] = 0
    two = write(tmp_path / "ga.tif", np.stack([truth, alpha]), photometric="MINISBLACK",
                alpha="YES")
    progress = RecordingProgress()
    res = assess_accuracy(AssessConfig(two, LabelConfig(ref)), progress)
    assert res.accuracy.overall == 1.0 and not progress.warnings
    assert res.accuracy.matrix.sum() == truth.size - 2 * 12  # the alpha's holes left out


def test_a_text_reference_is_matched_to_the_named_bands_own_class_names(tmp_path):
    """Two maps in one file, each band with its own legend: BAND=2's classes were named by
    band 1's categories, so a text reference agreeing with band 2 everywhere scored OA 0
    (a sweep, stop 71); the report named the classes by band 1 too."""
    from osgeo import gdal

    from synthetic import polygons

    blocks = np.repeat(np.array([1, 2, 3], np.uint8), 10)[None].repeat(10, 0)
    path = write(tmp_path / "two.tif", np.stack([blocks, blocks]), nodata=0)
    ds = gdal.Open(path, gdal.GA_Update)
    ds.GetRasterBand(1).SetCategoryNames(["", "forest", "urban", "water"])
    ds.GetRasterBand(2).SetCategoryNames(["", "water", "forest", "urban"])
    ds = None

    def block(c):  # column block c in map coordinates (10 m pixels from 500000, 5000000)
        return (500000 + 100 * c + 5, 5000000 - 95, 500000 + 100 * (c + 1) - 5, 4999995)

    ref = polygons(tmp_path / "ref.gpkg", [("water", block(0)), ("forest", block(1)),
                                           ("urban", block(2))], 32633, text=True)
    res = assess_accuracy(AssessConfig(path, LabelConfig(ref, class_field="cls"), band=2))
    assert res.accuracy.overall == 1.0
    assert sorted((c.value, c.name) for c in res.classes) == [
        (1, "water"), (2, "forest"), (3, "urban")]
    res = assess_accuracy(AssessConfig(path, LabelConfig(ref, class_field="cls"), band=1),
                          RecordingProgress())
    assert res.accuracy.overall == 0.0  # band 1's legend disagrees on every block
