"""classical.trees.stores: which file holds a model's trees, and the way back into the model."""

import numpy as np
import pytest

from landlearn.core.classical.trees.boosting_store import PREDICTORS_FILE
from landlearn.core.classical.trees.forest_store import TREES_FILE
from landlearn.core.classical.trees.stores import join_model_trees, split_model_trees
from landlearn.core.errors import InputError

pytest.importorskip("sklearn")


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    return x, (x[:, 0] > 0).astype(int) + (x[:, 1] > 1).astype(int)


def _pipeline(last):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _data()
    return make_pipeline(StandardScaler(), last).fit(x, y)


def test_each_ensemble_goes_to_its_own_file_and_comes_back():
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    x, _ = _data()
    for model, name in ((_pipeline(RandomForestClassifier(8, random_state=0)), TREES_FILE),
                        (_pipeline(HistGradientBoostingClassifier(max_iter=5, random_state=0)),
                         PREDICTORS_FILE)):
        light, file_name, data = split_model_trees(model)
        assert file_name == name and isinstance(data, bytes) and data[:2] == b"PK"  # an .npz
        assert light is not model and light[-1] is not model[-1]  # the model keeps its trees
        back = join_model_trees(light, file_name, data, "m.dlpk")
        np.testing.assert_allclose(back.predict_proba(x), model.predict_proba(x), rtol=0,
                                   atol=1e-15)


def test_a_model_without_trees_keeps_them_inside():
    from sklearn.svm import SVC

    model = _pipeline(SVC())
    assert split_model_trees(model) == (model, None, None)


def test_an_unknown_file_name_is_read_as_a_forests():
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    forest = _pipeline(RandomForestClassifier(4, random_state=0))
    light, _, data = split_model_trees(forest)
    x, _ = _data()
    back = join_model_trees(light, "trees_v0.npz", data, "m.dlpk")
    np.testing.assert_allclose(back.predict_proba(x), forest.predict_proba(x), atol=1e-15)
    # so boosting trees under another name are refused by the forest's store, not misread
    boost = _pipeline(HistGradientBoostingClassifier(max_iter=3, random_state=0))
    light, _, data = split_model_trees(boost)
    with pytest.raises(InputError, match="^MODEL: 'm.dlpk'"):
        join_model_trees(light, "trees_v0.npz", data, "m.dlpk")
