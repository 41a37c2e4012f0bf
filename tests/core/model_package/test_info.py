"""What a package says about itself, as Classify Pixels reads it."""

import numpy as np
import pytest

from builder import deep_emd
from landlearn.core.errors import InputError
from landlearn.core.geo.classes import ClassInfo
from landlearn.core.model_package.format import PackagedModel
from landlearn.core.model_package.info import model_info


def test_model_info_of_a_deep_package():
    info = model_info(PackagedModel("m.dlpk", deep_emd("m", bands=4, classes=(2, 5, 9), tile=128), "m.dlpk"))
    assert info.kind == "deep" and info.class_values == [2, 5, 9]
    assert info.class_names == ["class 2", "class 5", "class 9"]
    assert info.classes == [ClassInfo(2, "class 2", (40, 100, 50)), ClassInfo(5, "class 5", (100, 100, 50)),
                            ClassInfo(9, "class 9", (180, 100, 50))]
    assert info.band_names == ["Band_1", "Band_2", "Band_3", "Band_4"] and info.in_channels == 4
    assert info.source_bands == [1, 2, 3, 4] and info.source_band_count == 4
    assert info.mean.dtype == np.float32 and info.mean.tolist() == [60.0] * 4
    assert info.std.tolist() == [20.0] * 4
    # without the samples' own statistics, the value check uses the normalisation's
    assert info.value_mean.tolist() == [60.0] * 4 and info.value_std.dtype == np.float64
    assert (info.tile, info.padding, info.cell_size) == (128, 16, (28.5, 28.5))
    assert (info.dtype, info.crs_units) == ("uint8", "metre")


def test_classes_follow_class_values_and_sample_statistics_win():
    emd = deep_emd("m", bands=2, classes=(1, 2))
    emd["Classes"].reverse()  # the order of Classes does not matter, class_values' does
    emd["LandLearn"]["normalization"].update(mean=[0.0, 0.0], std=[1.0, 1.0],
                                             sample_mean=[83.0, 7.5], sample_std=[4.0, 2.0])
    del emd["LandLearn"]["padding"], emd["LandLearn"]["cell_size"]
    info = model_info(PackagedModel("m", emd, "m"))
    assert info.class_names == ["class 1", "class 2"]
    assert info.value_mean.tolist() == [83.0, 7.5] and info.value_std.tolist() == [4.0, 2.0]
    assert info.mean.tolist() == [0.0, 0.0]
    assert info.padding == 16 and info.cell_size is None  # padding from ModelPadding


def test_an_object_model_that_counts_pixels_is_known_as_such():
    emd = deep_emd("m", bands=2, classes=(1, 2))
    assert not model_info(PackagedModel("m", emd, "m")).counts_pixels
    emd["LandLearn"]["segments"] = {"attributes": ["MEAN", "COUNT"]}
    assert model_info(PackagedModel("m", emd, "m")).counts_pixels
    emd["LandLearn"]["segments"] = {"attributes": ["MEAN", "STD"]}
    assert not model_info(PackagedModel("m", emd, "m")).counts_pixels


def test_an_incomplete_description_is_a_model_error():
    emd = deep_emd("m")
    del emd["LandLearn"]["normalization"]
    with pytest.raises(InputError, match=r"^MODEL: 'x.dlpk' has an incomplete model description "
                                         r"\(.emd\): 'normalization'"):
        model_info(PackagedModel("x.dlpk", emd, "x.dlpk"))
    emd = deep_emd("m")
    emd["LandLearn"]["class_values"] = [1, 2, 3, 4]  # class 4 has no entry in Classes
    with pytest.raises(InputError, match="incomplete model description .* 4"):
        model_info(PackagedModel("x.dlpk", emd, "x.dlpk"))
