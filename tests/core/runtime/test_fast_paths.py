"""The fast paths are an optimisation, never a requirement: with them off (another
scikit-learn, or LANDLEARN_NO_FAST_PATHS=1) every classical model trains and classifies
through public APIs into the same map; packages say which scikit-learn wrote them."""

import json
import re
import zipfile

import numpy as np
import pytest
import rasterio

from landlearn.core.classical.train_classifier import ClassicalConfig, train_classical
from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
from landlearn.core.labels.base import LabelConfig
from landlearn.core.progress import RecordingProgress
from landlearn.core.runtime.fast_paths import TESTED_SERIES, fast_paths, series, why_not

pytest.importorskip("sklearn")


def test_the_gate_follows_the_environment_variable(monkeypatch):
    if series(__import__("sklearn").__version__) != TESTED_SERIES["scikit-learn"]:
        pytest.skip("another scikit-learn series: the fast paths are off anyway")
    assert fast_paths() and why_not() is None
    monkeypatch.setenv("LANDLEARN_NO_FAST_PATHS", "1")
    assert not fast_paths() and "LANDLEARN_NO_FAST_PATHS" in why_not()
    assert series("1.9.1") == "1.9" and series(None) is None


@pytest.mark.parametrize("kind", ["random_forest", "svm", "maximum_likelihood",
                                  "hist_gradient_boosting"])
def test_public_paths_give_the_same_map(sample, tmp_path, monkeypatch, kind):
    nc = sample / "nc_landsat7"
    image = str(nc / "landsat_multiband.tif")
    labels = LabelConfig(str(nc / "landsat96_polygons.shp"), class_field="id")
    maps, logs = {}, {}
    for mode in ("fast", "public"):
        if mode == "public":
            monkeypatch.setenv("LANDLEARN_NO_FAST_PATHS", "1")
        package = tmp_path / f"{mode}.dlpk"
        trained = RecordingProgress()
        train_classical(ClassicalConfig(image, labels, str(package), model_type=kind, trees=30,
                                        max_samples_per_class=150), trained)
        if mode == "fast":
            # classes no fold scored while knowing them (one polygon): the fast SVM fits
            # their sigmoids apart, scikit-learn's own path on every sample
            apart = [int(v) for w in trained.warnings if w.startswith("Class(es) [")
                     for v in re.findall(r"\d+", w.split("]")[0])]
        progress = RecordingProgress()
        out = tmp_path / f"{mode}.tif"
        result = classify_pixels(ClassifyConfig(image, str(package), str(out)), progress)
        logs[mode] = result.device
        with rasterio.open(out) as ds:
            maps[mode] = ds.read(1)
        with zipfile.ZipFile(package) as zf:
            names = zf.namelist()
            emd = json.loads(zf.read("fast.emd" if mode == "fast" else "public.emd"))
        assert emd["LandLearn"]["versions"]["scikit-learn"]
        if mode == "public":
            assert not [n for n in names if n.endswith(".npz")]  # trees inside skops
    if kind == "svm" and apart:
        differ = maps["public"] != maps["fast"]
        assert (np.isin(maps["fast"][differ], apart) | np.isin(maps["public"][differ],
                                                                apart)).all()
    else:
        np.testing.assert_array_equal(maps["public"], maps["fast"])
    assert "fast paths off" in logs["public"] and "fast paths off" not in logs["fast"]
