"""classical.cv: folds grouped by polygon, and each model type fitted with its validation."""

import numpy as np
import pytest

from landlearn.core.classical.cv import (
    _class_was_trained,
    fit_validated,
    grouped_folds,
    make_estimator,
)
from landlearn.core.classical.cv_weights import cv_accuracy as _accuracy
from landlearn.core.classical.samples import Samples
from landlearn.core.classical.train_classifier import ClassicalConfig
from landlearn.core.geo.classes import ClassInfo
from landlearn.core.labels.base import LabelConfig
from landlearn.core.progress import NullProgress, RecordingProgress

pytest.importorskip("sklearn")


def _config(**kw):
    return ClassicalConfig("unused.tif", LabelConfig("unused.gpkg"), "unused.dlpk", **kw)


def _samples(polygons: dict[int, int], per_polygon=20, seed=0) -> Samples:
    """``polygons[class value]`` polygons of ``per_polygon`` pixels each, classes well apart."""
    rng = np.random.default_rng(seed)
    xs, ys, gs = [], [], []
    g = 100
    for value, n in polygons.items():
        for _ in range(n):
            centre = np.array([value * 5.0, -value * 3.0, 1.0]) + rng.normal(size=3) * 0.5
            xs.append(centre + rng.normal(size=(per_polygon, 3)) * 0.3)
            ys.append(np.full(per_polygon, value))
            gs.append(np.full(per_polygon, g))
            g += 7
    classes = [ClassInfo(v, f"class {v}", (0, 0, 0)) for v in polygons]
    return Samples(np.concatenate(xs), np.concatenate(ys), np.concatenate(gs), classes,
                   ["b1", "b2", "b3"], [1, 2, 3], 3, "float32", (10.0, 10.0), None,
                   {v: n * per_polygon for v, n in polygons.items()}, "polygon")


def test_folds_never_split_a_polygon():
    s = _samples({1: 6, 2: 5, 4: 8})
    folds = grouped_folds(_config(cv_folds=4), s, NullProgress())
    assert len(folds) == 4
    tested = np.concatenate([test for _, test in folds])
    assert np.array_equal(np.sort(tested), np.arange(len(s.y)))  # each sample tested once
    for train, test in folds:
        assert not set(s.groups[train]) & set(s.groups[test])
        assert len(train) + len(test) == len(s.y)
        assert set(np.unique(s.y[train])) == {1, 2, 4}  # stratified: every class trains
    # the same seed, the same folds
    again = grouped_folds(_config(cv_folds=4), s, NullProgress())
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again))


def test_fewer_polygons_than_folds_warn_or_turn_validation_off():
    progress = RecordingProgress()
    assert grouped_folds(_config(cv_folds=0), _samples({1: 3, 2: 3}), progress) is None
    assert progress.warnings == []
    # the folds are capped at the most polygons any class has, and thin classes named
    folds = grouped_folds(_config(cv_folds=5), _samples({1: 4, 2: 2, 3: 4}), progress)
    assert len(folds) == 4
    assert progress.warnings == ["Class(es) [2] have fewer polygons than the 4 folds: a fold "
                                 "that holds all of a class's polygons is scored by a model "
                                 "that never saw the class, so its cross-validated recall is "
                                 "understated (0 for a class of one polygon). Add polygons of "
                                 "these classes."]
    assert grouped_folds(_config(cv_folds=5), _samples({1: 1, 2: 1}), progress) is None
    assert progress.warnings[-1].startswith("Every class comes from a single polygon")


def test_scikit_learns_own_thin_class_warning_stays_out_of_the_log():
    """Points (one sample per group): scikit-learn warned 'The least populated class in y
    has only 3 members' with its site-packages path; the thin class is said in our words."""
    import warnings

    progress = RecordingProgress()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        folds = grouped_folds(_config(cv_folds=5), _samples({1: 6, 2: 3}, per_polygon=1),
                              progress)
    assert len(folds) == 5
    assert not [w for w in caught if "least populated class" in str(w.message)]
    assert any(w.startswith("Class(es) [2] have fewer polygons") for w in progress.warnings)


@pytest.mark.parametrize("model_type, trees, how", [
    ("maximum_likelihood", 100, "4-fold cross-validation grouped by polygon"),
    ("random_forest", 20, "4-fold cross-validation grouped by polygon (each fold scored by the "
                          "~5 trees grown without it; the model is all 20)"),
    ("random_forest", 3, "4-fold cross-validation grouped by polygon"),
    ("svm", 100, "4-fold cross-validation grouped by polygon; probabilities calibrated on the "
                 "same out-of-fold scores"),
])
def test_each_model_type_is_fitted_with_its_grouped_validation(model_type, trees, how):
    s = _samples({1: 4, 2: 4, 3: 4})
    model, acc, validation, cal = fit_validated(_config(model_type=model_type, trees=trees, cv_folds=4),
                                           s, NullProgress())
    assert validation == how
    # the temperature is fitted on the out-of-fold predictions the accuracy counts; a
    # forest keeps its raw vote shares (FOREST_NOT_CALIBRATED)
    if model_type == "random_forest":
        assert cal is None
        return
    assert cal is not None and cal.samples == acc.samples
    assert cal.fitted_on == "out-of-fold samples (grouped by polygon, weighted to the labelled pixels' class shares)"
    assert 0.05 <= cal.temperature <= 20 and 0 <= cal.ece_after <= 1
    assert acc.samples == len(s.y) and acc.names == ["class 1", "class 2", "class 3"]
    assert acc.overall > 0.9  # classes far apart: new polygons are still recognised
    assert list(model.classes_) == [1, 2, 3]
    np.testing.assert_allclose(model.predict_proba(s.x[:5]).sum(1), 1.0)
    if model_type == "maximum_likelihood":
        np.testing.assert_allclose(model[-1].priors_, 1 / 3)  # equal priors, as ArcGIS
    no_cv, none, how_none, no_cal = fit_validated(_config(model_type=model_type, trees=trees, cv_folds=0),
                                          s, NullProgress())
    assert none is None and how_none == "none" and list(no_cv.classes_) == [1, 2, 3]
    assert no_cal is None  # nothing held out, nothing to calibrate on


def test_a_forest_whose_fold_trees_never_saw_a_class_is_grown_again_on_all_samples():
    """A class of one polygon: the trees grown without its fold never saw it, and as 1/4
    of the forest they voted against it on every pixel of the map (its vote share could
    not pass 0.75). The map's forest is grown on all samples; the folds' trees still score."""
    s = _samples({1: 4, 2: 4, 3: 1})
    model, acc, how, _ = fit_validated(_config(model_type="random_forest", trees=20, cv_folds=4),
                                       s, NullProgress())
    assert how.endswith("the model is a forest of 20 grown on all samples, since some fold's "
                        "trees never saw a class)")
    forest = model[-1]
    assert len(forest.estimators_) == 20
    # every tree knows class 3: its polygon's pixels get (nearly) all the votes
    proba = model.predict_proba(s.x[s.y == 3])
    assert proba[:, 2].mean() > 0.9
    assert acc.recall[2] == 0  # scored by trees that never saw it: said in the warning


def test_one_group_of_most_samples_is_warned_about():
    """Neighbourhood windows can merge most polygons into one group (s2 with 3-15 px
    windows: 96% of the samples): the fold that tests it trains on the few others, and
    the cross-validated accuracy understates the model's. Said; the forest keeps its fold
    trees (regrowing it on all samples was measured no better on s2, BENCHMARKS round 15)."""
    s = _samples({1: 8, 2: 8, 3: 8})
    s.groups[(s.groups - 100) // 7 % 8 < 6] = 1  # six polygons of each class: 75%
    progress = RecordingProgress()
    model, acc, how, _ = fit_validated(_config(model_type="random_forest", trees=20,
                                               cv_folds=4), s, progress)
    assert any(w.startswith("One polygon holds 75% of the samples") and "understates" in w
               for w in progress.warnings)
    assert how.endswith("the model is all 20)")
    for folds in (4, 2):  # two folds train on about half each: not lopsided
        balanced = RecordingProgress()
        _, _, how, _ = fit_validated(_config(model_type="random_forest", trees=20,
                                             cv_folds=folds), _samples({1: 4, 2: 4, 3: 4}),
                                     balanced)
        assert not any("holds" in w for w in balanced.warnings)
        assert how.endswith("the model is all 20)")


def test_boosting_does_not_stop_early_on_a_random_hold_out():
    est = make_estimator(_config(model_type="hist_gradient_boosting"))
    assert est[-1].early_stopping is False


def test_the_temperature_is_fitted_only_on_classes_the_fold_model_knew():
    y = np.array([1, 1, 2, 2, 3, 3])
    folds = [(np.array([0, 2, 4]), np.array([1, 3, 5])),  # every class trained
             (np.array([1, 3]), np.array([0, 2, 4]))]  # class 3 never trained here
    np.testing.assert_array_equal(_class_was_trained(folds, y),
                                  [True, True, True, True, False, True])


def test_the_accuracy_counts_only_tested_samples_by_class_value():
    s = _samples({9: 1, 2: 1, 5: 1}, per_polygon=2)  # values in the classes' own order
    pred = np.array([9, 2, 2, 2, 5, 9])
    tested = np.array([True, True, True, False, True, True])
    acc = _accuracy(s, pred, tested)
    # rows: reference 9, 2, 5 (as the classes are listed); columns: predicted
    np.testing.assert_array_equal(acc.counts, [[1, 1, 0], [0, 1, 0], [1, 0, 1]])
    assert acc.names == ["class 9", "class 2", "class 5"] and acc.samples == 5


def test_the_accuracy_weighs_each_sample_by_its_class_labelled_pixels():
    """Class-balanced samples stand for their classes' labelled pixels: a class of 1,000
    pixels drawn as 2 samples weighs 500 per sample, one of 6 drawn whole 1 per sample."""
    s = _samples({9: 1, 2: 1, 5: 1}, per_polygon=2)
    s.available = {9: 1000, 2: 2, 5: 6}  # 5: more labelled than drawn (4 left out)
    pred = np.array([9, 2, 2, 2, 5, 9])  # 9 and 5 each right once, wrong once
    acc = _accuracy(s, pred, np.ones(6, bool))
    np.testing.assert_array_equal(acc.counts, [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    np.testing.assert_allclose(acc.matrix, [[500, 500, 0], [0, 2, 0], [3, 0, 3]])
    assert acc.samples == 6 and acc.total == 1008 and acc.counted_overall == pytest.approx(4 / 6)
    assert acc.overall == pytest.approx(505 / 1008)  # the big class's errors count as its size
    np.testing.assert_allclose(acc.recall, [0.5, 1, 0.5])  # within a class nothing changes
    np.testing.assert_allclose(acc.precision, [500 / 503, 2 / 502, 1])
    assert acc.to_json()["samples"] == 6
    # a sample no fold scored: the class's scored samples stand for all its pixels
    part = _accuracy(s, pred, np.array([True, False, True, True, True, True]))
    np.testing.assert_allclose(part.matrix[0], [1000, 0, 0])  # its one scored sample: right
    np.testing.assert_allclose(part.matrix.sum(axis=1), [1000, 2, 6])


def test_on_real_labels_the_weighted_accuracy_is_nearer_that_of_all_labelled_pixels(sample,
                                                                                     tmp_path):
    """nc_landsat7's 34 polygons hold 2,121 labelled pixels, 97 to 1,125 per class: 100 per
    class drawn, the samples as counted said 0.612, weighted 0.669; all pixels 0.653."""
    from landlearn.core.classical.train_classifier import train_classical

    nc = sample / "nc_landsat7"
    got = []
    for cap in (100, 100_000):
        got.append(train_classical(ClassicalConfig(
            str(nc / "landsat_multiband.tif"), LabelConfig(str(nc / "landsat96_polygons.shp"),
                                                           class_field="id"),
            str(tmp_path / f"ml{cap}.dlpk"), model_type="maximum_likelihood",
            max_samples_per_class=cap)).accuracy)
    balanced, every = got
    assert every.samples == 2121 and every.overall == every.counted_overall
    assert balanced.samples < 700
    assert abs(balanced.overall - every.overall) < 0.5 * abs(balanced.counted_overall -
                                                             every.overall)


def test_make_estimator_builds_the_standardised_pipelines():
    from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.preprocessing import StandardScaler

    rf = make_estimator(_config(trees=17, max_depth=6, seed=3))
    assert isinstance(rf[0], StandardScaler) and isinstance(rf[-1], RandomForestClassifier)
    assert (rf[-1].n_estimators, rf[-1].max_depth, rf[-1].random_state) == (17, 6, 3)
    ml = make_estimator(_config(model_type="maximum_likelihood"))[-1]
    assert isinstance(ml, QuadraticDiscriminantAnalysis) and ml.reg_param == 1e-3
    hgb = make_estimator(_config(model_type="hist_gradient_boosting", max_depth=4))[-1]
    assert isinstance(hgb, HistGradientBoostingClassifier) and hgb.max_depth == 4
    with pytest.raises(ValueError, match="svm is fitted by its own module"):
        make_estimator(_config(model_type="svm"))


def test_maximum_likelihood_fits_a_class_of_fewer_samples_than_features():
    """One small polygon of a class: 2 px per fold's share, 3 features. scikit-learn
    1.8+'s SVD solver refused it ('a bug in LandLearn'); its covariance is shrunk instead,
    and a class of one sample is refused by name."""
    s = _samples({1: 4, 2: 4, 3: 1}, per_polygon=20)
    keep = np.ones(len(s.y), bool)
    keep[np.flatnonzero(s.y == 3)[3:]] = False  # class 3: one polygon of 3 px
    thin = Samples(s.x[keep], s.y[keep], s.groups[keep], s.classes, s.band_names,
                   s.source_bands, s.source_band_count, s.dtype, s.cell_size, s.crs_wkt,
                   {1: 80, 2: 80, 3: 3}, "polygon")
    model, acc, how, _ = fit_validated(_config(model_type="maximum_likelihood", cv_folds=4),
                                       thin, NullProgress())
    assert list(model.classes_) == [1, 2, 3] and acc is not None
    assert model.predict(thin.x[thin.y == 3]).tolist() == [3, 3, 3]
    one = np.ones(len(thin.y), bool)
    one[np.flatnonzero(thin.y == 3)[1:]] = False
    single = Samples(thin.x[one], thin.y[one], thin.groups[one], *[getattr(thin, f) for f in (
        "classes", "band_names", "source_bands", "source_band_count", "dtype", "cell_size",
        "crs_wkt")], {1: 80, 2: 80, 3: 1}, "polygon")
    from landlearn.core.errors import InputError

    with pytest.raises(InputError, match="^LABELS: class 3 has one sample: maximum "
                                         "likelihood needs at least two"):
        fit_validated(_config(model_type="maximum_likelihood", cv_folds=4), single,
                      NullProgress())


def test_maximum_likelihood_folds_and_the_map_fit_one_estimator(monkeypatch):
    """Class 3: five 1 px polygons, 3 features. A fold trains on 3 or 4 of them (shrunk
    covariances where 3), the map on all 5: the map fitted the plain estimator while the
    folds' scores and temperature described shrunk ones. Decided once now, for every fit
    (recorded here; the estimator itself kept plain so that any scikit-learn fits it)."""
    from landlearn.core.classical import cv

    asked = []
    real = cv.make_estimator

    def recording(config, thin=False):
        asked.append(thin)
        return real(config, False)

    monkeypatch.setattr(cv, "make_estimator", recording)
    big = _samples({1: 4, 2: 4}, per_polygon=20)
    small = _samples({3: 5}, per_polygon=1, seed=1)
    s = Samples(np.concatenate([big.x, small.x]), np.concatenate([big.y, small.y]),
                np.concatenate([big.groups, small.groups + 10_000]),
                big.classes + small.classes, big.band_names, big.source_bands,
                big.source_band_count, big.dtype, big.cell_size, big.crs_wkt,
                {1: 80, 2: 80, 3: 5}, "polygon")
    _, acc, _, _ = fit_validated(_config(model_type="maximum_likelihood", cv_folds=4), s,
                                 NullProgress())
    assert acc is not None and len(asked) == 5 and all(asked), asked


def test_a_label_rasters_folds_leave_training_pixels_whose_windows_overlap_a_test_pixel():
    """Blocks of a label raster are cut through its labels: a training pixel across a block
    edge shared nearly all of its window with the test pixel beside it. Each fold's training
    samples within two halos of its test samples are left out (and said)."""
    from landlearn.core.classical.cv import buffered

    rng = np.random.default_rng(7)
    rows, cols = np.mgrid[0:96:3, 0:96:3]
    pos = np.column_stack([rows.ravel(), cols.ravel()])
    block = (pos[:, 0] // 32) * 10 + pos[:, 1] // 32
    n = len(pos)
    s = Samples(rng.normal(size=(n, 3)), rng.integers(1, 3, n), block,
                [ClassInfo(1, "a", (0, 0, 0)), ClassInfo(2, "b", (0, 0, 0))],
                ["b1", "b2", "b3"], [1, 2, 3], 3, "float32", (10.0, 10.0), None,
                {1: n, 2: n}, "32 px block", positions=pos, reach=8)
    progress = RecordingProgress()
    folds = grouped_folds(_config(cv_folds=3), s, progress)
    plain = grouped_folds(_config(cv_folds=3), Samples(**{**s.__dict__, "positions": None}),
                          NullProgress())
    assert any("buffered by 8 px" in m for m in progress.messages)
    for (train, test), (all_train, same_test) in zip(folds, plain):
        np.testing.assert_array_equal(test, same_test)
        gap = np.abs(pos[train][:, None] - pos[test][None]).max(2).min(1)
        assert (gap > 8).all() and len(train) < len(all_train)
        left = np.setdiff1d(all_train, train)
        assert (np.abs(pos[left][:, None] - pos[test][None]).max(2).min(1) <= 8).all()
    assert buffered([(np.arange(3), np.arange(3, 4))], np.array([[0, 0], [0, 9], [0, 20],
                                                                  [0, 10]]), 8)[1] == 1 / 3
    # the fold trees grew on what the buffer left: the map's forest grows on every sample
    model, _, how, _ = fit_validated(_config(cv_folds=3, trees=12), s, NullProgress())
    assert "grown on all samples, since the folds' trees grew on what the buffer left" in how
    assert model.steps[-1][1].n_estimators == 12


def test_folds_the_buffer_leaves_without_two_classes_are_not_scored_and_nothing_crashes():
    """Every sample within the buffer of every other (a small labelled area, wide windows):
    the forest's fold grew trees on no sample and failed as a bug. Such folds are dropped,
    said, and with none left no accuracy is reported; the map's forest still grows."""
    rng = np.random.default_rng(8)
    n = 60
    pos = np.column_stack([rng.integers(0, 5, n), rng.integers(0, 5, n)])
    s = Samples(rng.normal(size=(n, 3)), np.repeat([1, 2], n // 2), np.arange(n) % 6,
                [ClassInfo(1, "a", (0, 0, 0)), ClassInfo(2, "b", (0, 0, 0))],
                ["b1", "b2", "b3"], [1, 2, 3], 3, "float32", (10.0, 10.0), None,
                {1: n, 2: n}, "64 px block", positions=pos, reach=8)
    progress = RecordingProgress()
    assert grouped_folds(_config(cv_folds=3), s, progress) is None
    assert any("no accuracy is reported" in w for w in progress.warnings)
    model, acc, how, _ = fit_validated(_config(cv_folds=3, trees=6), s, NullProgress())
    assert acc is None and how == "none" and model.steps[-1][1].n_estimators == 6


def test_maximum_likelihood_names_a_class_of_identical_pixels():
    """A saturated patch: every sample of a class alike has no covariance, shrunk or not;
    scikit-learn's LinAlgError reached the user as 'a bug in LandLearn'."""
    from landlearn.core.errors import InputError

    s = _samples({1: 4, 2: 4, 3: 1}, per_polygon=20)
    keep = np.ones(len(s.y), bool)
    keep[np.flatnonzero(s.y == 3)[3:]] = False  # three samples on three bands: thin
    flat = s.x[keep].copy()
    flat[s.y[keep] == 3] = flat[s.y[keep] == 3][0]  # ... and all alike
    flat_s = Samples(flat, s.y[keep], s.groups[keep], s.classes, s.band_names,
                     s.source_bands, s.source_band_count, s.dtype, s.cell_size, s.crs_wkt,
                     s.available, "polygon")
    with pytest.raises(InputError, match="^LABELS: maximum likelihood cannot fit a class "
                                         "whose samples are all alike"):
        fit_validated(_config(model_type="maximum_likelihood", cv_folds=0), flat_s,
                      NullProgress())


def test_segments_that_share_a_polygon_with_a_folds_test_segments_do_not_train_it():
    """Object samples are grouped by their majority polygon; a segment 60% of polygon A and
    40% of B was tested in A's fold while B's other segments trained its model (and the
    reverse). Each fold's training segments that share any polygon with its test segments
    are left out (said), and a fold left with one class is not scored."""
    s = _samples({1: 6, 2: 6}, per_polygon=5)
    plain = grouped_folds(_config(cv_folds=3), s, NullProgress())
    seg = plain[0][1][s.y[plain[0][1]] == 1][0]  # a class 1 segment tested in fold 0 ...
    b = s.groups[plain[1][1][s.y[plain[1][1]] == 2][0]]  # ... reaches a polygon of fold 1
    s.touches = np.concatenate([np.column_stack([np.arange(len(s.y)), s.groups]), [[seg, b]]])
    progress = RecordingProgress()
    folds = grouped_folds(_config(cv_folds=3), s, progress)
    for (train, test), (all_train, same_test) in zip(folds, plain):
        np.testing.assert_array_equal(test, same_test)
        if seg in test:  # polygon b's segments shared b with test segment seg
            want = all_train[s.groups[all_train] != b]
        elif np.isin(s.groups[test], b).any():  # segment seg shared b with them
            want = all_train[all_train != seg]
        else:
            want = all_train
        np.testing.assert_array_equal(train, want)
    assert sum(len(t) for t, _ in folds) == sum(len(t) for t, _ in plain) - 5 - 1
    assert any("share a polygon with a fold's test segments" in m for m in progress.messages)
    _, _, how, _ = fit_validated(_config(cv_folds=3, model_type="maximum_likelihood"), s,
                                 NullProgress())
    assert "training segments that share a polygon with its test segments left out" in how
    model, _, how, _ = fit_validated(_config(cv_folds=3, trees=12), s, NullProgress())
    assert how.endswith("since the folds' trees grew without the segments that share a "
                        "polygon with their test segments)")
    assert model.steps[-1][1].n_estimators == 12  # the map's forest regrown on every segment
    # every segment touching every polygon: no fold keeps a sample to train on
    s.touches = np.array([[i, g] for i in range(len(s.y)) for g in np.unique(s.groups)])
    progress = RecordingProgress()
    assert grouped_folds(_config(cv_folds=3), s, progress) is None
    assert any("no accuracy is reported; segment more finely" in w for w in progress.warnings)
