"""The classifier types the dialogs list are the ones training accepts."""

import pytest

from landlearn.core.classical.model_types import MODEL_TYPES
from landlearn.core.classical.train_classifier import ClassicalConfig
from landlearn.core.errors import InputError
from landlearn.core.labels.base import LabelConfig


def test_training_accepts_every_listed_type_and_names_them_when_refusing_another():
    names = [m for m, _ in MODEL_TYPES]
    assert names[0] == "random_forest" and len(set(names)) == len(names) == 4
    for name in names:
        ClassicalConfig("in.tif", LabelConfig("labels.gpkg"), "m.dlpk", model_type=name).validate()
    with pytest.raises(InputError, match="MODEL_TYPE: 'knn' is not one of " + ", ".join(names)):
        ClassicalConfig("in.tif", LabelConfig("labels.gpkg"), "m.dlpk", model_type="knn").validate()
