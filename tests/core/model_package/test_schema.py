"""The .emd of a package checked field by field: a valid one passes, an invalid one is a
MODEL error that names the field."""

import copy
import re

import pytest

from builder import deep_emd
from landlearn.core.errors import InputError
from landlearn.core.model_package.schema import FORMAT, FORMAT_VERSION, check_emd


def _classical_emd():
    emd = deep_emd("rf")
    emd["ModelFile"] = "model.skops"
    info = emd["LandLearn"]
    info.update(kind="classical", model_type="random_forest", trees_file="forest_trees.npz",
                padding=0)
    for key in ("architecture", "encoder"):
        info.pop(key)
    return emd


def test_valid_deep_and_classical_descriptions_pass():
    emd = deep_emd("unet")
    assert check_emd(emd, "unet.dlpk") is emd["LandLearn"]
    assert check_emd(_classical_emd(), "rf.dlpk")["model_type"] == "random_forest"
    # whole numbers written as floats, and the optional fields left out, still pass
    emd["LandLearn"]["in_channels"] = 5.0
    for key in ("source_bands", "source_band_count", "dtype", "cell_size", "crs_units", "padding"):
        emd["LandLearn"].pop(key)
    emd.pop("ImageHeight")
    check_emd(emd, "unet.dlpk")
    emd["LandLearn"]["encoder_depth"] = 4.0  # absent (older packages) = 5
    assert check_emd(emd, "unet.dlpk")["encoder_depth"] == 4
    # and come back as whole numbers wherever they are used as counts or indexes
    emd["LandLearn"].update(class_values=[1.0, 2.0, 3.0], source_bands=[1.0, 2.0, 3.0, 4.0, 5.0],
                            source_band_count=6.0)
    info = check_emd(emd, "unet.dlpk")
    for key in ("class_values", "source_bands"):
        assert all(type(v) is int for v in info[key]), key
    assert type(info["source_band_count"]) is int
    assert type(info["in_channels"]) is int  # the network builder took 5.0 as a float
    rf = _classical_emd()
    rf["LandLearn"].update(padding=3, neighbourhood={
        "sizes": [3.0, 7.0], "statistics": "mean",
        "features": [f"f{i}" for i in range(5 * 3)]})
    assert check_emd(rf, "rf.dlpk")["neighbourhood"]["sizes"] == [3, 7]
    assert all(type(v) is int for v in rf["LandLearn"]["neighbourhood"]["sizes"])


def _edit(path, value):
    """The deep .emd with the field at ``path`` (keys, dotted) set to ``value``."""
    emd = copy.deepcopy(deep_emd("m"))
    *parents, last = path.split(".")
    node = emd
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return emd


@pytest.mark.parametrize("path,value,message", [
    ("LandLearn.in_channels", 1_000_000, "LandLearn.in_channels is 1000000, outside 1..1024"),
    ("LandLearn.in_channels", True, "LandLearn.in_channels is True, not a whole number"),
    ("LandLearn.in_channels", 2.5, "LandLearn.in_channels is 2.5, not a whole number"),
    ("ModelFile", "../../.ssh/id_rsa.safetensors", "ModelFile is '../../.ssh/id_rsa.safetensors'; "
     "it must be a plain file name ending in .safetensors"),
    ("ModelFile", "m.skops", "ModelFile is 'm.skops'; it must be a plain file name"),
    ("LandLearn.class_values", [1], "LandLearn.class_values must list 2..255 classes"),
    ("LandLearn.class_values", [1, 1, 2], "LandLearn.class_values repeats a class"),
    ("LandLearn.class_values", [1, 2, 300], "LandLearn.class_values is 300, outside 1..255"),
    ("LandLearn.class_values", [1, 2, 9], r"Classes does not describe class\(es\) \[9\]"),
    ("Classes.0.Color", [1, 2], "Classes.Color is .1, 2., not 3 or 4 values"),
    ("Classes.0.Name", None, "Classes.Name is not a text"),
    ("LandLearn.band_names", ["a", "b"], "LandLearn.band_names does not name the 5 bands"),
    ("LandLearn.source_bands", [1, 2, 3, 4, 9], "LandLearn.source_bands is 9, outside 1..5"),
    ("LandLearn.source_scaling", [[1, 0]] * 4, "LandLearn.source_scaling does not list 5 "),
    ("LandLearn.source_scaling", [[1, 0]] * 4 + [[float("inf"), 0]],
     "LandLearn.source_scaling holds inf, not a finite number"),
    ("LandLearn.source_scaling", [[1, 0]] * 4 + [[0, 0]], "LandLearn.source_scaling holds a scale of 0"),
    ("LandLearn.normalization.std", [1, 1, -1, 1, 1], "LandLearn.normalization.std holds -1, below 0"),
    ("LandLearn.normalization.mean", [1, 1, 1, 1], "LandLearn.normalization.mean holds 4 values where 5"),
    ("LandLearn.normalization.mean", [1, 1, float("nan"), 1, 1], "holds nan, not a finite number"),
    ("LandLearn.dtype", "complex64", "LandLearn.dtype is 'complex64', not a raster data type"),
    ("LandLearn.cell_size", [0, 10], "LandLearn.cell_size is not positive"),
    ("ImageWidth", 8, "ImageWidth is 8, outside 16..8192"),
    ("LandLearn.padding", 5000, "LandLearn.padding is 5000, outside 0..1024"),
    ("LandLearn.architecture", None, "LandLearn.architecture is not a text of at most 64"),
    ("LandLearn.onnx", {"file": "../model.onnx", "opset": 17},
     "LandLearn.onnx.file is '../model.onnx'; it must be a plain file name ending in .onnx"),
    ("LandLearn.onnx_int8", {"file": "/etc/model_int8.onnx", "opset": 17},
     "LandLearn.onnx_int8.file is '/etc/model_int8.onnx'; it must be a plain file name"),
    ("LandLearn.onnx_int8", {"file": "model_int8.onnx", "opset": 1},
     "LandLearn.onnx_int8.opset is 1, outside 7..100"),
    ("LandLearn.onnx_int8", "model_int8.onnx", "LandLearn.onnx_int8 is not an object"),
    ("LandLearn.normalization.std", [1e39] * 5,
     "LandLearn.normalization.std holds 1e\\+39, beyond what float32 holds"),
    ("LandLearn.normalization.std", [1e-300] * 5, "a spread 0 or at least 1e-30"),
    ("LandLearn.normalization.mean", [-2e30] * 5, "mean holds -2e\\+30, beyond"),
    ("LandLearn.calibration", {"method": "temperature", "temperature": 0.0},
     r"LandLearn.calibration.temperature is 0.0, not a number in 0.05..20.0"),
    ("LandLearn.calibration", {"method": "temperature", "temperature": float("inf")},
     "LandLearn.calibration.temperature is inf"),
    ("LandLearn.calibration", {"method": "temperature", "temperature": "2"},
     "LandLearn.calibration.temperature is 2, not a number"),
    ("LandLearn.calibration", {"method": "isotonic", "temperature": 2},
     "LandLearn.calibration is not a temperature calibration"),
    ("LandLearn.calibration", {"method": "temperature", "temperature": 2,
                               "tta": {"method": "temperature", "temperature": 1e9}},
     "LandLearn.calibration.tta.temperature is 1000000000.0, not a number"),
    ("LandLearn.calibration", {"method": "temperature", "temperature": 2, "tta": [1]},
     "LandLearn.calibration.tta is not a temperature calibration"),
    ("LandLearn.encoder_depth", 9, "LandLearn.encoder_depth is 9, outside 3..5"),
    ("LandLearn.encoder_depth", "4", "LandLearn.encoder_depth is '4', not a whole number"),
    ("LandLearn.detail_head", "yes", "LandLearn.detail_head is 'yes', not true or false"),
    ("LandLearn.detail_head", 1, "LandLearn.detail_head is '1', not true or false"),
])
def test_an_invalid_field_is_named(path, value, message):
    with pytest.raises(InputError) as err:
        check_emd(_edit(path, value), "/data/m.dlpk")
    text = str(err.value)
    assert text.startswith("MODEL: '/data/m.dlpk' is not a valid model package: ")
    assert text.endswith("; the package is damaged or was not written by LandLearn (train or "
                         "export it again)")
    assert re.search(message, text), text


@pytest.mark.parametrize("segments,message", [
    (None, None),
    ({"attributes": ["MEAN", "COUNT"], "features": ["m"] * 6}, None),
    ("MEAN", "LandLearn.segments is not an object"),
    ({"attributes": ["MEAN", "SHAPE"], "features": ["m"]}, "segments.attributes is .*SHAPE"),
    ({"attributes": ["MEAN", "MEAN"], "features": ["m"]}, "not a list of distinct names"),
    ({"attributes": ["MEAN"], "features": ["m"] * 10**6}, "features does not name"),
    ({"attributes": ["MEAN"], "features": [7]}, "segments.features is not a text"),
])
def test_object_based_classifiers_name_their_attributes(segments, message):
    emd = _classical_emd()
    emd["LandLearn"]["segments"] = segments
    if message is None:
        check_emd(emd, "obj.dlpk")
    else:
        with pytest.raises(InputError, match=message):
            check_emd(emd, "obj.dlpk")


def test_foreign_newer_or_unknown_packages_are_refused_with_their_own_reason():
    arcgis = {"Framework": "arcgis.learn.models._inferencing", "ModelConfiguration": "_unet",
              "ModelFile": "x.pth", "ModelType": "ObjectDetection",
              "ModelName": "SingleShotDetector"}
    with pytest.raises(InputError, match="^OUTPUT: 'x' is not a LandLearn model package "
                                         r"\(Framework 'arcgis.learn.models._inferencing', "
                                         "ModelConfiguration '_unet', ModelType 'ObjectDetection', "
                                         r"ModelName 'SingleShotDetector'\); LandLearn runs the "
                                         ".*ArcGIS packages hold Python code.*object detection"):
        check_emd(arcgis, "x", parameter="output")
    # Export Training Data's .emd, given as a model by mistake
    chips = {"Framework": "", "ModelConfiguration": "", "MetaDataMode": "Classified_Tiles",
             "ModelFile": ""}
    with pytest.raises(InputError, match="^MODEL: 'x' describes training data .* not a model: "
                                         "train one from that folder"):
        check_emd(chips, "x")
    with pytest.raises(InputError, match="is not a LandLearn model package"):
        check_emd({"LandLearn": {"format": "other"}}, "x")
    with pytest.raises(InputError, match=r"MODEL: 'x' is not a valid model package: the \.emd is not"):
        check_emd([FORMAT], "x")
    with pytest.raises(InputError, match="written by a newer LandLearn .package version 5."):
        check_emd(_edit("LandLearn.version", FORMAT_VERSION + 1), "x")
    # version 2: ensemble packages, 3: the detail head, 4: neighbourhood features (readers of
    # older versions refuse them)
    assert FORMAT_VERSION == 4
    check_emd(_edit("LandLearn.version", 4), "x")
    with pytest.raises(InputError, match="holds a 'pickle' model, which this version"):
        check_emd(_edit("LandLearn.kind", "pickle"), "x")
    classical = _classical_emd()
    classical["LandLearn"]["trees_file"] = "../forest_trees.npz"
    with pytest.raises(InputError, match="LandLearn.trees_file is '../forest_trees.npz', not one of "
                                         "forest_trees.npz, boosting_trees.npz"):
        check_emd(classical, "x")


def test_a_class_name_with_a_control_character_is_refused():
    """A NUL or a newline in a class name broke the .qml (QGIS would not load the style,
    unsaid) and cut the .aux.xml's name short (an adversarial sweep, stop 68)."""
    for bad in ("For\x00est", "two\nlines"):
        emd = deep_emd("unet")
        emd["Classes"][0]["Name"] = bad
        with pytest.raises(InputError, match="Classes.Name.*holds a control character"):
            check_emd(emd, "unet.dlpk")
