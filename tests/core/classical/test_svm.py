"""The RBF SVM's own arithmetic: the fast SVM against scikit-learn, and its calibration
against CalibratedClassifierCV."""

import numpy as np
import pytest

from landlearn.core.classical.cv import grouped_folds
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
    model, _, _, _ = fit_svm_with_folds(config, s.x, s.y, folds, NullProgress())
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
        model, _, _, _ = fit_svm_with_folds(_config(model_type="svm", svm_c=3.0,
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
    ours, pred, tested, proba = fit_svm_with_folds(config, s.x, s.y, folds, NullProgress())
    theirs = make_pipeline(StandardScaler(), CalibratedClassifierCV(
        SVC(kernel="rbf"), method="sigmoid", ensemble=False, cv=folds)).fit(s.x, s.y)
    sample = pixels[::50]
    np.testing.assert_allclose(ours.predict_proba(sample), theirs.predict_proba(sample),
                               atol=1e-9)
    assert tested.all() and 0.5 < (pred == s.y).mean() < 0.95
    # out-of-fold probabilities: normalised, in np.unique(y)'s order, argmax = pred
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(np.unique(s.y)[proba.argmax(1)], pred)


def test_a_class_drawn_as_one_polygon_is_still_mapped():
    """Three well-apart classes; the third labelled by a single polygon, so one fold's SVM
    never trained on it and scored its samples -1. Fitted on those too, its sigmoid fell
    as the SVM's score for it rose (the map almost never showed it, and the report credited
    the blind fold with it); fitted where its fold knew it, or on the full SVM's own scores
    when no fold did, it rises, and the class is mapped where it is."""
    from types import SimpleNamespace

    from landlearn.core.progress import RecordingProgress
    from landlearn.core.runtime.fast_paths import why_not

    if why_not():  # scikit-learn's own CalibratedClassifierCV then: it fits every sample
        pytest.skip(f"fast paths off: {why_not()}")
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    x = np.concatenate([rng.normal(c, 1.0, (200, 2)) for c in centres])
    y = np.repeat([1, 2, 3], 200)
    groups = np.concatenate([rng.integers(0, 10, 400), np.full(200, 99)])
    s = SimpleNamespace(x=x, y=y, groups=groups, grouped_by="polygon")
    config = _config(model_type="svm", cv_folds=5)
    folds = grouped_folds(config, s, NullProgress())
    assert any(3 not in y[train] for train, _ in folds)  # a fold never trained on class 3
    progress = RecordingProgress()
    model, pred, tested, proba = fit_svm_with_folds(config, x, y, folds, progress)
    third = model.predict_proba(rng.normal(centres[2], 0.5, (100, 2)))
    assert (third.argmax(1) == 2).mean() > 0.9
    calibrators = model[-1].calibrated_classifiers_[0].calibrators
    assert all(cal.a_ < 0 for cal in calibrators)  # P rises with the class's score
    assert any("Class(es) [3]" in w for w in progress.warnings)
    # out of fold, the blind fold cannot predict class 3: the report says so
    assert (pred[y == 3] == 3).mean() < 0.5
