"""deep.architectures: the names a package or a dialog may use, without torch."""

import pytest

from landlearn.core.deep.architectures import ARCHITECTURES, BACKBONES, smp_class
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
