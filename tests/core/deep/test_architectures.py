"""deep.architectures: the names a package or a dialog may use, without torch."""

import pytest

from landlearn.core.deep.architectures import (
    ARCHITECTURES,
    BACKBONES,
    auto_encoder_depth,
    check_encoder_depth,
    smp_class,
)
from landlearn.core.errors import InputError


def test_option_names_and_class_names_both_resolve():
    assert smp_class("unet") == "Unet"
    assert smp_class("DeepLabV3Plus") == "DeepLabV3Plus"
    assert smp_class("UNETPLUSPLUS") == "UnetPlusPlus"
    assert smp_class("linknet") == smp_class("Linknet") == "Linknet"
    for name, cls, _ in ARCHITECTURES:
        assert smp_class(name) == smp_class(cls) == cls
    assert len({n for n, _, _ in ARCHITECTURES}) == len(ARCHITECTURES) == 7
    assert "resnet34" in BACKBONES and len(set(BACKBONES)) == len(BACKBONES)


def test_unknown_architectures_name_the_parameter():
    with pytest.raises(InputError, match="^ARCHITECTURE: the architecture 'segformer' is not one "
                       "of unet, unetplusplus"):
        smp_class("segformer")
    with pytest.raises(InputError, match="^MODEL: the architecture '12' is not"):
        smp_class(12, "model")  # a number from a hand-made .emd
    with pytest.raises(InputError) as err:
        smp_class("x" * 500)
    assert len(err.value.detail) < 200  # a long name is cut, not echoed whole


def test_the_automatic_encoder_depth_keeps_the_deepest_map_4_px_wide():
    assert [auto_encoder_depth("unet", s) for s in (512, 256, 128, 96, 64, 48, 32, 16)] == [
        5, 5, 5, 4, 4, 3, 3, 3]
    assert auto_encoder_depth("UnetPlusPlus", 64) == 4
    assert auto_encoder_depth("deeplabv3plus", 32) == auto_encoder_depth("fpn", 64) == 5


def test_encoder_depths_are_checked_by_name():
    assert check_encoder_depth("unet", 3) == 3 and check_encoder_depth("fpn", 5) == 5
    with pytest.raises(InputError, match="^ENCODER_DEPTH: 6 is not an encoder depth; use 3, 4, 5"):
        check_encoder_depth("unet", 6)
    with pytest.raises(InputError, match="^ENCODER_DEPTH: True is not"):
        check_encoder_depth("unet", True)
    with pytest.raises(InputError, match="^ENCODER_DEPTH: the linknet architecture is built at "
                       "depth 5 only; a depth of 4 needs unet or unetplusplus"):
        check_encoder_depth("linknet", 4)
    with pytest.raises(InputError, match="^MODEL: the fpn"):
        check_encoder_depth("fpn", 3, "model")
