"""deep.train_config: Train Deep Learning Model's parameters, refused before a chip is read."""

import pytest

from landlearn.core.deep.train_config import TrainConfig
from landlearn.core.errors import InputError


def test_config_is_checked_before_anything_is_read(tmp_path):
    base = dict(training_data=("chips",), output_model=str(tmp_path / "m.dlpk"))
    TrainConfig(**base).validate()
    for bad, message in ((dict(epochs=0), "^EPOCHS: 0 epochs cannot train"),
                         (dict(batch_size=0), "^BATCH_SIZE: 0 is not a batch size"),
                         (dict(learning_rate=0.0), "^LEARNING_RATE: 0.0 is not a usable rate"),
                         (dict(learning_rate=20.0), "^LEARNING_RATE"),
                         (dict(early_stopping=-1), "^EARLY_STOPPING"),
                         (dict(class_weighting="median"), "^CLASS_WEIGHTING: 'median' is not"),
                         (dict(chip_sampling="rare"), "^CHIP_SAMPLING: 'rare' is not one of "
                                                      "uniform, balanced"),
                         (dict(monitor="dice"), "^MONITOR: 'dice' is not one of"),
                         (dict(radiometric_jitter=1.5), "^RADIOMETRIC_JITTER: 1.5 is not"),
                         (dict(radiometric_jitter=float("nan")), "^RADIOMETRIC_JITTER"),
                         (dict(freeze=True), "^FREEZE: keeps a pretrained encoder"),
                         (dict(background_value=300), "^BACKGROUND_VALUE: 300 is not"),
                         # ignored nothing, unsaid (a qgis_process sweep, stop 67)
                         (dict(ignore_classes=(0, 300, -4)), r"^IGNORE_CLASSES: \[300, -4\] "
                                                             "are not class values"),
                         (dict(output_model=str(tmp_path / "m.pth")), "^OUTPUT_MODEL")):
        with pytest.raises(InputError, match=message):
            TrainConfig(**{**base, **bad}).validate()
