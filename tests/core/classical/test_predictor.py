"""classical.predictor: a saved classical model loaded without running code, checked against
its description, and turned into class probabilities for tiles."""

import json
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio

from landlearn.core.accuracy.calibration import apply_temperature
from landlearn.core.classical.predictor import (
    ClassicalPredictor,
    _checked_classes,
    member_limits,
)
from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
from landlearn.core.errors import InputError
from landlearn.core.model_package.format import read_package
from landlearn.core.model_package.info import model_info
from landlearn.core.model_package.members import MAX_MEMBER_BYTES, MIB

pytest.importorskip("sklearn")
pytest.importorskip("skops")


def test_package_with_untrusted_types_is_refused(rf, sample, tmp_path):
    import operator

    import skops.io as sio
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.tree import DecisionTreeClassifier

    out, _, _ = rf
    evil = make_pipeline(FunctionTransformer(operator.neg), DecisionTreeClassifier()).fit(
        np.random.rand(20, 5), np.arange(20) % 7 + 1)
    bad = tmp_path / "evil.dlpk"
    with zipfile.ZipFile(out) as src, zipfile.ZipFile(bad, "w") as dst:
        for name in src.namelist():
            data = sio.dumps(evil) if name == "model.skops" else src.read(name)
            dst.writestr(name, data)
    image = str(sample / "nc_landsat7" / "landsat_multiband.tif")
    with pytest.raises(InputError, match="^MODEL: .* its classifier file holds a .* of type .*; LandLearn loads only"):
        classify_pixels(ClassifyConfig(image, str(bad), str(tmp_path / "x.tif")))


def _with_model_inside(package, dst_path, model):
    """``package`` as LandLearn wrote it before the trees were stored apart: ``model`` whole
    in model.skops, no trees file; named after ``dst_path``."""
    import skops.io as sio

    stem = dst_path.stem
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(dst_path, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "model.skops":
                data = sio.dumps(model)
            elif name.endswith(".emd"):
                emd = json.loads(data)
                trees = emd["LandLearn"].pop("trees_file")
                data = json.dumps(emd)
            if name != trees:
                dst.writestr(name.replace("rf.", f"{stem}."), data)
    return dst_path


def test_package_with_the_trees_inside_skops_still_loads(rf, sample, tmp_path):
    """Packages from before the trees were stored apart keep the whole forest in skops."""

    from landlearn.core.classify.predictor import load_predictor

    out, _, _ = rf
    predictor, _ = load_predictor(str(out), "cpu", False)
    assert len(predictor.model[-1].estimators_) == 100
    old = _with_model_inside(out, tmp_path / "old.dlpk", predictor.model)
    image = str(sample / "nc_landsat7" / "landsat_multiband.tif")
    for model in (out, old):
        classify_pixels(ClassifyConfig(image, str(model), str(tmp_path / f"{model.stem}.tif"),
                                       output_probabilities=str(tmp_path / f"{model.stem}_p.tif")))
    with rasterio.open(tmp_path / "rf_p.tif") as a, rasterio.open(tmp_path / "old_p.tif") as b:
        np.testing.assert_allclose(a.read(), b.read(), atol=1e-6)


def test_tiles_in_probabilities_out_and_nodata_left_alone(rf):
    out, _, _ = rf
    pkg = read_package(str(out))
    info = model_info(pkg)
    predictor = ClassicalPredictor(pkg, info)
    assert predictor.values == info.class_values == list(range(1, 8))
    rng = np.random.default_rng(0)
    x = rng.uniform(40, 130, (2, 5, 6, 7))
    valid = rng.random((2, 6, 7)) > 0.3
    prob = predictor(x, valid=valid)
    assert prob.shape == (2, 7, 6, 7) and prob.dtype == np.float32
    np.testing.assert_allclose(prob.sum(axis=1)[valid], 1.0, atol=1e-5)
    assert np.all(prob.transpose(0, 2, 3, 1)[~valid] == 0.0)  # not classified at all
    # the same numbers as the scikit-learn model itself, pixel for pixel
    rows = x.transpose(0, 2, 3, 1)[valid]
    # (tempered by the package's calibration, which scikit-learn knows nothing of)
    np.testing.assert_allclose(prob.transpose(0, 2, 3, 1)[valid],
                               apply_temperature(predictor.model.predict_proba(rows),
                                                 info.temperature), atol=1e-6)
    np.testing.assert_allclose(predictor(x), predictor(x, valid=np.ones_like(valid)))


def test_classes_and_bands_must_match_the_description():
    model = SimpleNamespace(classes_=np.array([1, 2, 4]), n_features_in_=3)
    _checked_classes(model, SimpleNamespace(class_values=[1, 2, 4]), "m.dlpk", 3, "bands")
    with pytest.raises(InputError, match=r"^MODEL: 'm.dlpk': the classifier's classes \[1, 2, 4\] "
                       r"differ from its description \[1, 2, 3\]"):
        _checked_classes(model, SimpleNamespace(class_values=[1, 2, 3]), "m.dlpk", 3, "bands")
    with pytest.raises(InputError, match="takes 3 bands but its description says 5"):
        _checked_classes(model, SimpleNamespace(class_values=[1, 2, 4]), "m.dlpk", 5, "bands")
    with pytest.raises(InputError, match="takes 3 features but its description says 8"):
        _checked_classes(model, SimpleNamespace(class_values=[1, 2, 4]), "m.dlpk", 8,
                         "features")
    odd = SimpleNamespace(classes_=np.array(["a", "b"]))
    with pytest.raises(InputError, match="differ from its description"):
        _checked_classes(odd, SimpleNamespace(class_values=[1, 2]), "m.dlpk", 3, "bands")


def test_member_limits_follow_what_was_trained():
    info = SimpleNamespace(class_values=[1, 2], in_channels=3)
    landlearn = {"training": {"samples_per_class": {"1": 100, "2": 50},
                              "parameters": {"trees": 10}}}
    model, trees = member_limits(landlearn, info)
    assert model == 32 * MIB + 16 * 150 * (3 + 2 + 4)
    forest = 10 * 2 * 150 * (64 + 8 * 2)
    boosting = 1000 * 2 * 2 * 150 * 80
    assert trees == max(forest, boosting) + MIB
    # a description that lies or says nothing: the defaults, never above the ceiling
    for lying in ({}, {"training": "x"}, {"training": {"samples_per_class": {"1": "many"}}},
                  {"training": {"samples_per_class": {"1": 10 ** 12}, "parameters": {"trees": 10 ** 9}}},
                  # json reads Infinity: int() of it was an OverflowError (a bug report)
                  {"training": {"parameters": {"trees": float("inf")}}},
                  {"training": {"samples_per_class": {"1": float("-inf")}}}):
        model, trees = member_limits(lying, info)
        assert 32 * MIB <= model <= MAX_MEMBER_BYTES and MIB < trees <= MAX_MEMBER_BYTES
    assert member_limits({}, info) == member_limits(
        {"training": {"samples_per_class": {"1": 10 ** 6}, "parameters": {"trees": 100}}}, info)
    # a classifier of neighbourhood features keeps support vectors of all its features
    wide = dict(landlearn, neighbourhood={"features": ["f"] * 21})
    assert member_limits(wide, info)[0] == 32 * MIB + 16 * 150 * (21 + 2 + 4)


def test_test_time_augmentation_on_a_pixel_classifier_is_said_not_applied(rf, sample, tmp_path):
    """A flipped tile gives every pixel the same features: the log says so instead of
    claiming an augmentation that changed nothing."""
    from landlearn.core.progress import RecordingProgress

    image = str(sample / "nc_landsat7" / "landsat_multiband.tif")
    progress = RecordingProgress()
    classify_pixels(ClassifyConfig(image, str(rf[0]), str(tmp_path / "tta.tif"),
                                   test_time_augmentation=True), progress)
    classify_pixels(ClassifyConfig(image, str(rf[0]), str(tmp_path / "plain.tif")))
    assert any("TEST_TIME_AUGMENTATION has no effect on a pixel classifier" in m
               for m in progress.messages)
    assert not any("test-time augmentation" in m for m in progress.messages)
    with rasterio.open(tmp_path / "tta.tif") as a, rasterio.open(tmp_path / "plain.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())


def test_mixed_precision_where_it_does_nothing_is_said_not_applied(rf, sample, tmp_path):
    """MIXED_PRECISION is torch's CUDA autocast: on a random forest (or ONNX Runtime, or
    the CPU) the log says it was not applied instead of passing over it in silence."""
    from landlearn.core.progress import RecordingProgress

    image = str(sample / "nc_landsat7" / "landsat_multiband.tif")
    progress = RecordingProgress()
    classify_pixels(ClassifyConfig(image, str(rf[0]), str(tmp_path / "mp.tif"),
                                   mixed_precision=True), progress)
    assert any(m.startswith("MIXED_PRECISION is for torch on a CUDA GPU; this run is ") and
               "not applied" in m for m in progress.messages)


def test_an_array_shaped_for_two_pixels_is_caught_before_a_tile(rf, tmp_path):
    """A scaler whose mean has a row per pixel of the trial (2, bands) broadcast against the
    two-pixel trial and failed on every tile as a bug in LandLearn; three pixels catch it."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from landlearn.core.classify.predictor import load_predictor

    out, _, _ = rf
    predictor, _ = load_predictor(str(out), "cpu", False)
    model = predictor.model
    scaler = StandardScaler().fit(np.random.default_rng(0).random((10, 5)))
    scaler.mean_ = np.vstack([scaler.mean_, scaler.mean_])
    forest = model.steps[-1][1] if hasattr(model, "steps") else model
    bad_model = Pipeline([("scaler", scaler), ("forest", forest)])
    bad = _with_model_inside(out, tmp_path / "bad.dlpk", bad_model)
    with pytest.raises(InputError, match=r"^MODEL: .*bad.dlpk': its classifier does not work "
                       r"\(ValueError"):
        load_predictor(str(bad), "cpu", False)
