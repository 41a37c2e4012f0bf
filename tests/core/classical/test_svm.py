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


@pytest.mark.parametrize("public", [False, True])
def test_svm_calibration_is_calibratedclassifiercv_on_the_grouped_folds(nc_samples, public,
                                                                         monkeypatch):
    """Six SVM fits give what scikit-learn's CalibratedClassifierCV gives with eleven: the
    fold scores used for accuracy are the ones it would calibrate on. Each fold is
    standardised by its own training part (a StandardScaler + SVC pipeline per fold), as
    the public path is too: a scaler fitted on every sample had seen each test fold's mean
    and spread (review 96)."""
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
    if public:
        monkeypatch.setenv("LANDLEARN_NO_FAST_PATHS", "1")
    ours, pred, tested, proba = fit_svm_with_folds(config, s.x, s.y, folds, NullProgress())
    theirs = CalibratedClassifierCV(make_pipeline(StandardScaler(), SVC(kernel="rbf")),
                                    method="sigmoid", ensemble=False, cv=folds).fit(s.x, s.y)
    sample = pixels[::50]
    np.testing.assert_allclose(ours.predict_proba(sample), theirs.predict_proba(sample),
                               atol=1e-9)
    # the package's shape either way: the scaler of all samples, then the calibrated SVC
    assert [name for name, _ in ours.steps] == ["standardscaler", "calibratedclassifiercv"]
    assert isinstance(ours[-1].calibrated_classifiers_[0].estimator, SVC)
    assert tested.all() and 0.5 < (pred == s.y).mean() < 0.95
    # out-of-fold probabilities: normalised, in np.unique(y)'s order, argmax = pred
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(np.unique(s.y)[proba.argmax(1)], pred)


def _third_class_of_one_polygon(per_class):
    """Three classes well apart, the third drawn as one polygon: some fold never trains it."""
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    x = np.concatenate([rng.normal(c, 1.0, (per_class, 2)) for c in centres])
    y = np.repeat([1, 2, 3], per_class)
    groups = np.concatenate([rng.integers(0, 10, 2 * per_class), np.full(per_class, 99)])
    s = SimpleNamespace(x=x, y=y, groups=groups, grouped_by="polygon")
    config = _config(model_type="svm", cv_folds=5)
    folds = grouped_folds(config, s, NullProgress())
    assert any(3 not in y[train] for train, _ in folds)  # a fold never trained on class 3
    return rng, centres, x, y, groups, config, folds


def test_a_class_drawn_as_one_polygon_is_still_mapped():
    """Three well-apart classes; the third labelled by a single polygon, so one fold's SVM
    never trained on it and scored its samples -1. Fitted on those too, its sigmoid fell
    as the SVM's score for it rose (the map almost never showed it, and the report credited
    the blind fold with it); fitted where its fold knew it, or on the full SVM's own scores
    when no fold did, it rises, and the class is mapped where it is."""

    from landlearn.core.progress import RecordingProgress
    from landlearn.core.runtime.fast_paths import why_not

    if why_not():  # scikit-learn's own CalibratedClassifierCV then: it fits every sample
        pytest.skip(f"fast paths off: {why_not()}")
    rng, centres, x, y, _, config, folds = _third_class_of_one_polygon(200)
    progress = RecordingProgress()
    model, pred, tested, proba = fit_svm_with_folds(config, x, y, folds, progress)
    third = model.predict_proba(rng.normal(centres[2], 0.5, (100, 2)))
    assert (third.argmax(1) == 2).mean() > 0.9
    calibrators = model[-1].calibrated_classifiers_[0].calibrators
    assert all(cal.a_ < 0 for cal in calibrators)  # P rises with the class's score
    assert any("Class(es) [3]" in w for w in progress.warnings)
    # out of fold, the blind fold cannot predict class 3: the report says so
    assert (pred[y == 3] == 3).mean() < 0.5


def test_a_fold_svm_of_two_classes_scores_in_votes_as_the_others_do():
    """A fold that saw 2 of 3 classes gave raw margins (+-3 and more) beside the others'
    vote scores (0..2 +- 1/3), and one sigmoid per class was fitted on the mixture."""
    from sklearn.svm import SVC

    from landlearn.core.classical.svm import _ovr_scores

    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(c, 1.0, (60, 2)) for c in ([0, 0], [8, 0])])
    y = np.repeat([1, 2], 60)
    svc = SVC().fit(x, y)
    scores = _ovr_scores(svc, x, np.array([1, 2, 3]))
    assert np.all(scores[:, 2] == -1)  # the class it never saw
    assert scores[:, :2].min() >= -1 / 3 - 1e-9 and scores[:, :2].max() <= 4 / 3 + 1e-9
    np.testing.assert_array_equal(np.array([1, 2])[scores[:, :2].argmax(1)], svc.predict(x))


def test_validation_probabilities_come_from_sigmoids_fitted_without_their_fold():
    """The map's sigmoids are fitted on every fold's scores; a fold's validation
    probabilities come from sigmoids fitted on the other folds only."""
    from types import SimpleNamespace

    from landlearn.core.classical import svm
    from landlearn.core.runtime.fast_paths import why_not

    if why_not():
        pytest.skip(f"fast paths off: {why_not()}")
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(c, 2.0, (150, 2)) for c in ([0, 0], [3, 0], [0, 3])])
    y = np.repeat([1, 2, 3], 150)
    groups = rng.integers(0, 12, len(y)) + 100 * y
    s = SimpleNamespace(x=x, y=y, groups=groups, grouped_by="polygon")
    config = _config(model_type="svm", cv_folds=4)
    folds = grouped_folds(config, s, NullProgress())
    model, _, tested, proba = fit_svm_with_folds(config, x, y, folds, NullProgress(), groups)
    _, te = folds[0]
    xs = model[0].transform(x)
    # recompute fold 0 by hand: sigmoids on the other folds' scores, each fold's SVM on its
    # training part standardised by that part alone
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    scores = np.zeros((len(y), 3))
    for train, test in folds:
        fold = make_pipeline(StandardScaler(), SVC()).fit(x[train], y[train])
        scores[test] = svm._ovr_scores(fold[-1], fold[0].transform(x[test]),
                                       np.array([1, 2, 3]))
    others = tested.copy()
    others[te] = False
    final = model[-1].calibrated_classifiers_[0].estimator
    calibrators, _ = svm._sigmoids(final, xs, y, np.array([1, 2, 3]), scores, others,
                                   svm._trained(folds, y, np.array([1, 2, 3])))
    want = svm._calibrate(SimpleNamespace(calibrators=calibrators, classes=np.array([1, 2, 3])),
                          scores[te])
    np.testing.assert_allclose(proba[te], want, atol=1e-9)
    everything = svm._calibrate(model[-1].calibrated_classifiers_[0], scores[te])
    assert np.abs(proba[te] - everything).max() > 1e-6  # not the map's own sigmoids


def test_without_cross_validation_the_sigmoids_are_fitted_on_whole_polygons(monkeypatch):
    from sklearn import model_selection

    split_by = []
    real = model_selection.StratifiedGroupKFold.split

    def spy(self, x, y, groups):
        split_by.append(groups)
        return real(self, x, y, groups)

    monkeypatch.setattr(model_selection.StratifiedGroupKFold, "split", spy)
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(c, 1.0, (90, 2)) for c in ([0, 0], [4, 0])])
    y = np.repeat([1, 2], 90)
    groups = np.repeat(np.arange(6), 30)
    fit_svm_with_folds(_config(model_type="svm", cv_folds=0), x, y, None, NullProgress(),
                       groups)
    assert len(split_by) == 1 and np.array_equal(split_by[0], groups)


def test_the_public_path_takes_folds_that_lack_a_class(monkeypatch):
    """Without the fast paths (another scikit-learn series), CalibratedClassifierCV got
    the grouped folds, and one that never trained a class of one polygon raised "Only 2
    class/es in training fold". Calibrated on random-pixel folds instead, and said."""

    from landlearn.core.progress import RecordingProgress

    monkeypatch.setenv("LANDLEARN_NO_FAST_PATHS", "1")
    rng, centres, x, y, groups, config, folds = _third_class_of_one_polygon(100)
    progress = RecordingProgress()
    model, pred, tested, proba = fit_svm_with_folds(config, x, y, folds, progress, groups)
    assert (model.predict(rng.normal(centres[2], 0.5, (50, 2))) == 3).mean() > 0.9
    np.testing.assert_allclose(proba.sum(1), 1.0)
    assert any("folds of random pixels" in w and "LANDLEARN_NO_FAST_PATHS" in w
               for w in progress.warnings)


def test_the_public_path_takes_folds_that_do_not_cover_every_sample(monkeypatch):
    """A fold the cross-validation's buffer or cv.apart left one class to train on is not
    scored, so the folds' test sets miss its samples: scikit-learn's cross_val_predict
    ("only works for partitions") stopped the public path. Random-pixel folds, said."""
    from sklearn.model_selection import StratifiedKFold

    from landlearn.core.progress import RecordingProgress

    monkeypatch.setenv("LANDLEARN_NO_FAST_PATHS", "1")
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(c, 1.0, (60, 2)) for c in ([0, 0], [4, 0])])
    y = np.repeat([1, 2], 60)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(x, y))[:2]
    progress = RecordingProgress()
    model, pred, tested, proba = fit_svm_with_folds(_config(model_type="svm"), x, y, folds,
                                                    progress)
    assert tested.sum() == sum(len(te) for _, te in folds) < len(y)
    assert (model.predict(x) == y).mean() > 0.95
    assert any("do not cover every sample" in w and "folds of random pixels" in w
               for w in progress.warnings)


def test_a_fold_is_scored_without_its_test_samples_in_its_scaling(monkeypatch):
    """One test sample of a fold moved far away (an outlier, a cloud) must not move the
    scores of the fold's other test samples: its SVM never saw it. With the scaler fitted
    on every sample before the folds, the outlier stretched the fold's feature scaling
    and every score of the fold moved (review 96)."""
    from types import SimpleNamespace

    from landlearn.core.classical import svm

    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(c, 1.5, (80, 3)) for c in ([0, 0, 0], [3, 0, 1])])
    y = np.repeat([1, 2], 80)
    groups = rng.integers(0, 8, len(y)) + 100 * y
    s = SimpleNamespace(x=x, y=y, groups=groups, grouped_by="polygon")
    config = _config(model_type="svm", cv_folds=4)
    folds = grouped_folds(config, s, NullProgress())
    _, te = folds[0]
    real = svm._ovr_scores

    def first_fold_scores(x):
        calls = []

        def spy(model, rows, classes):
            calls.append(real(model, rows, classes))
            return calls[-1]

        monkeypatch.setattr(svm, "_ovr_scores", spy)
        fit_svm_with_folds(config, x, y, folds, NullProgress(), groups)
        return calls[0]  # the folds are scored in order, before any other use

    before = first_fold_scores(x)
    moved = x.copy()
    moved[te[0]] *= 100.0
    after = first_fold_scores(moved)
    assert len(before) == len(te)
    np.testing.assert_allclose(after[1:], before[1:], atol=1e-12)
