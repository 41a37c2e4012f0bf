"""core.seeds: SEED is refused before any work where NumPy or scikit-learn would fail."""

import numpy as np
import pytest

from landlearn.core.errors import InputError
from landlearn.core.seeds import MAX_SEED, check_seed


def test_the_range_is_what_the_random_forest_can_derive_seeds_from():
    for seed in (0, 1, MAX_SEED):
        check_seed(seed)
        np.random.RandomState(seed * 1000 + 999)  # the forest's last fold seed
    with pytest.raises(ValueError):
        np.random.RandomState((MAX_SEED + 1) * 1000 + 999 + 2 ** 32)
    for bad in (-1, MAX_SEED + 1, 1.5, True, "3"):
        with pytest.raises(InputError, match=r"^SEED: .* is not a seed LandLearn can use; use "
                           r"a whole number from 0 to 4,294,966$"):
            check_seed(bad)


def test_the_training_configs_check_their_seed_before_any_work(tmp_path):
    from landlearn.core.classical.train_classifier import ClassicalConfig
    from landlearn.core.deep.train_deep_learning_model import TrainConfig
    from landlearn.core.labels.base import LabelConfig

    labels = LabelConfig(str(tmp_path / "l.gpkg"), class_field="c")
    with pytest.raises(InputError, match="^SEED: -1 is not a seed"):
        ClassicalConfig(str(tmp_path / "i.tif"), labels, str(tmp_path / "m.dlpk"),
                        seed=-1).validate()
    with pytest.raises(InputError, match="^SEED: 5000000 is not a seed"):
        TrainConfig((str(tmp_path),), str(tmp_path / "m.dlpk"), seed=5_000_000).validate()
