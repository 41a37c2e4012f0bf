"""classical.model_shape: a loaded model may have only the shape LandLearn's trainers
write (the package-level attacks are in tests/adversarial/test_packages.py)."""

import numpy as np
import pytest

from landlearn.core.classical import model_shape
from landlearn.core.classical.model_shape import checked_shape
from landlearn.core.classical.trees.stores import boosting_of, forest_of
from landlearn.core.errors import InputError

pytest.importorskip("sklearn")


def _xy():
    rng = np.random.default_rng(0)
    return rng.normal(size=(60, 4)) + np.repeat(np.arange(3), 20)[:, None], np.repeat(
        [1, 2, 3], 20)


def _check(model):
    return checked_shape(model, forest_of(model), boosting_of(model), "m.dlpk")


def test_the_trainers_shapes_pass_and_their_svms_are_found():
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    x, y = _xy()
    for last in (RandomForestClassifier(n_estimators=5, random_state=0),
                 HistGradientBoostingClassifier(max_iter=5)):
        assert _check(make_pipeline(StandardScaler(), last).fit(x, y)) == []
    svm = make_pipeline(StandardScaler(), CalibratedClassifierCV(SVC(), ensemble=False,
                                                                 cv=2)).fit(x, y)
    found = _check(svm)
    assert len(found) == 1 and found[0] is svm[-1].calibrated_classifiers_[0].estimator


def test_trees_forests_and_widths_elsewhere_are_refused():
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    x, y = _xy()
    with pytest.raises(InputError, match="^MODEL: 'm.dlpk': its classifier holds a decision "
                                         "tree outside its forest"):
        _check(make_pipeline(StandardScaler(), DecisionTreeClassifier()).fit(x, y))
    nested = make_pipeline(StandardScaler(), make_pipeline(
        RandomForestClassifier(n_estimators=3, random_state=0))).fit(x, y)
    with pytest.raises(InputError, match="random forest elsewhere than as its last step"):
        _check(nested)
    wide = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=3)).fit(x, y)
    wide[-1].n_features_in_ = 9
    with pytest.raises(InputError, match="has a part taking 9 features where the model takes 4"):
        _check(wide)


def test_the_cap_counts_parts_but_not_the_forests_trees(monkeypatch):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _xy()
    forest = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=30)).fit(x, y)
    monkeypatch.setattr(model_shape, "MAX_PARTS", 5)
    assert _check(forest) == []
    monkeypatch.setattr(model_shape, "MAX_PARTS", 2)
    with pytest.raises(InputError, match="holds more than 2 estimators"):
        _check(forest)
