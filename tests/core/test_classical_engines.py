"""The classical engines' own arithmetic: the fast SVM against scikit-learn, its calibration
against CalibratedClassifierCV, and the fold forest's validation against leakage."""

import numpy as np
import pytest

from landlearn.core.classical.cv import grouped_folds
from landlearn.core.classical.forest import fit_forest_with_folds
from landlearn.core.classical.svm import FastSvmProba, fit_svm_with_folds
from landlearn.core.classical.train_classifier import ClassicalConfig
from landlearn.core.labels.base import LabelConfig
from landlearn.core.progress import NullProgress

pytest.importorskip("sklearn")


def _config(**kw):
    return ClassicalConfig("unused.tif", LabelConfig("unused.gpkg"), "unused.dlpk", **kw)


def test_fast_svm_equals_scikit_learn_on_a_landsat_scene(nc_samples):
    s, pixels = nc_samples
    config = _config(model_type="svm")
    folds = grouped_folds(config, s, NullProgress())
    model, _, _ = fit_svm_with_folds(config, s.x, s.y, folds, NullProgress())
    assert FastSvmProba.supports(model)
    fast = FastSvmProba(model)(pixels)
    ref = model.predict_proba(pixels)
    assert fast.shape == ref.shape == (len(pixels), 7)
    # float32 kernels: a pairwise decision within ~1e-5 of zero can flip one vote, so a
    # handful of the 183,000 pixels may differ; everything else agrees to 1e-4
    off = np.abs(fast - ref).max(axis=1) > 1e-4
    assert off.mean() < 1e-4
    assert (fast.argmax(1) != ref.argmax(1)).mean() < 1e-4
    np.testing.assert_allclose(fast.sum(axis=1), 1.0, atol=1e-6)


def test_fast_svm_binary_and_many_classes_on_float_features():
    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(4)
    for n_classes in (2, 5):
        x = rng.normal(size=(400, 3)) * [1.0, 50.0, 0.01] + [0.0, 1000.0, -3.0]
        y = (np.arange(400) % n_classes) * 10 + 1
        x[:, 0] += y / 10.0
        folds = list(StratifiedKFold(4, shuffle=True, random_state=0).split(x, y))
        model, _, _ = fit_svm_with_folds(_config(model_type="svm", svm_c=3.0,
                                                 svm_gamma="0.5"), x, y, folds, NullProgress())
        test = rng.normal(size=(3000, 3)) * [2.0, 80.0, 0.02] + [0.5, 1000.0, -3.0]
        fast = FastSvmProba(model)(test)
        np.testing.assert_allclose(fast, model.predict_proba(test), atol=1e-4)


def test_svm_calibration_is_calibratedclassifiercv_on_the_grouped_folds(nc_samples):
    """Six SVM fits give what scikit-learn's CalibratedClassifierCV gives with eleven: the
    fold scores used for accuracy are the ones it would calibrate on."""
    from dataclasses import replace

    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    full, pixels = nc_samples
    keep = full.y != 2  # class 2 is a single polygon: some fold would never train on it
    s = replace(full, x=full.x[keep], y=full.y[keep], groups=full.groups[keep],
                classes=[c for c in full.classes if c.value != 2])
    config = _config(model_type="svm", cv_folds=3)
    folds = grouped_folds(config, s, NullProgress())
    for train, _ in folds:  # every class trained in every fold, as scikit-learn requires
        assert set(np.unique(s.y[train])) == set(np.unique(s.y))
    ours, pred, tested = fit_svm_with_folds(config, s.x, s.y, folds, NullProgress())
    theirs = make_pipeline(StandardScaler(), CalibratedClassifierCV(
        SVC(kernel="rbf"), method="sigmoid", ensemble=False, cv=folds)).fit(s.x, s.y)
    sample = pixels[::50]
    np.testing.assert_allclose(ours.predict_proba(sample), theirs.predict_proba(sample),
                               atol=1e-9)
    assert tested.all() and 0.5 < (pred == s.y).mean() < 0.95


def test_forest_validation_never_sees_the_held_out_polygons():
    """Each polygon a tight cluster with a random class: nothing generalises from one polygon
    to another, so honest grouped validation is near chance, while the forest itself
    recalls its training pixels perfectly."""
    from landlearn.core.classical.samples import Samples
    from landlearn.core.geo.classes import ClassInfo

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(60, 4)) * 10
    labels = np.tile([1, 2, 3, 4], 15)
    rng.shuffle(labels)
    groups = np.repeat(np.arange(60), 30)
    x = centres[groups] + rng.normal(size=(len(groups), 4)) * 0.05
    y = labels[groups]
    s = Samples(x, y, groups, [ClassInfo(v, f"c{v}", (0, 0, 0)) for v in (1, 2, 3, 4)],
                ["b"] * 4, [1, 2, 3, 4], 4, "float64", (1.0, 1.0), None, {}, "polygon")
    config = _config(trees=50, cv_folds=5)
    folds = grouped_folds(config, s, NullProgress())
    forest, pred, tested = fit_forest_with_folds(config, x, y, folds, NullProgress())
    assert tested.all() and (pred == y).mean() < 0.45
    assert len(forest.estimators_) == 50 and forest.n_estimators == 50
    assert (forest.predict(x) == y).mean() > 0.99
    # and the same forest without grouping would have reported memory as accuracy
    from sklearn.model_selection import KFold

    random_folds = list(KFold(5, shuffle=True, random_state=0).split(x))
    _, leaky, _ = fit_forest_with_folds(config, x, y, random_folds, NullProgress())
    assert (leaky == y).mean() > 0.95
