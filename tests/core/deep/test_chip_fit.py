"""deep.chip_fit: chips an architecture cannot take, and batches BatchNorm cannot train on,
are refused by name before any work (they were torch errors: 'a bug in LandLearn')."""

import pytest

from landlearn.core.deep.chip_fit import check_batch, check_chip_size
from landlearn.core.errors import InputError

torch = pytest.importorskip("torch")
pytest.importorskip("segmentation_models_pytorch")


def _model(architecture, depth):
    from landlearn.core.deep.models import build_model

    return build_model(architecture, "resnet18", 3, 4, encoder_depth=depth)


def test_chips_that_do_not_divide_by_the_encoder_stride():
    """100 px chips (as ArcGIS exports them): FPN needs multiples of 32, the U-Net takes
    any size, and PSPNet takes 80 px although 80 does not divide by 32 (it is shallower)."""
    fpn = _model("fpn", 5)
    fpn.train()
    with pytest.raises(InputError, match=r"^TRAINING_DATA: 100 x 100 px chips do not fit the "
                       r"fpn architecture, which needs sides that divide by 32 .* or use "
                       "ARCHITECTURE unet"):
        check_chip_size(torch, fpn, "fpn", (3, 100, 100), 5)
    assert fpn.training  # its mode as it was
    check_chip_size(torch, fpn, "fpn", (3, 96, 128), 5)
    check_chip_size(torch, _model("unet", 4), "unet", (3, 100, 100), 4)
    check_chip_size(torch, _model("pspnet", 5), "pspnet", (3, 80, 80), 5)


def test_deeplab_needs_two_chips_per_batch():
    with pytest.raises(InputError, match="^BATCH_SIZE: DeepLabV3. pools each chip to one "
                       "pixel"):
        check_batch(1, 50, (3, 256, 256), 5, "deeplabv3plus")
    with pytest.raises(InputError, match="^TRAINING_DATA: DeepLabV3. pools"):
        check_batch(8, 1, (3, 256, 256), 5, "deeplabv3plus")
    check_batch(2, 50, (3, 256, 256), 5, "deeplabv3plus")
    check_batch(1, 50, (3, 256, 256), 5, "unet")  # 8 px at the deepest level: fine


def test_training_stops_before_any_epoch_on_chips_the_architecture_cannot_take(tmp_path):
    from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
    from landlearn.core.deep.train_deep_learning_model import train_model
    from landlearn.core.labels.base import LabelConfig
    from small_models import NC, quick_config

    folder = tmp_path / "chips"
    export_training_data(ExportConfig(str(NC / "landsat_multiband.tif"),
                                      LabelConfig(str(NC / "strata.tif")), str(folder),
                                      tile_size_x=100, tile_size_y=100, stride_x=100,
                                      stride_y=100))
    with pytest.raises(InputError, match="^TRAINING_DATA: 100 x 100 px chips do not fit"):
        train_model(quick_config(folder, tmp_path / "m.dlpk", architecture="fpn", epochs=1))
    assert not (tmp_path / "m.dlpk").exists()
