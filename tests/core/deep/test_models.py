"""deep.models: networks built offline for any band count, named parameters on bad names."""

import pytest

from landlearn.core.deep.models import build_model
from landlearn.core.errors import InputError

torch = pytest.importorskip("torch")
pytest.importorskip("segmentation_models_pytorch")


def test_unknown_encoders_and_architectures_name_their_parameter():
    with pytest.raises(InputError, match="^BACKBONE: the encoder 'resnet1000' is not one of"):
        build_model("unet", "resnet1000", 3, 2)
    with pytest.raises(InputError, match="^ARCHITECTURE: the architecture 'segformer'"):
        build_model("segformer", "resnet18", 3, 2)
    with pytest.raises(InputError, match="^MODEL: the encoder"):
        build_model("unet", "resnet1000", 3, 2, parameter="model")
    net = build_model("fpn", "resnet18", 7, 3)
    with torch.no_grad():
        out = net(torch.zeros(1, 7, 64, 64))
    assert tuple(out.shape) == (1, 3, 64, 64)


def test_shallower_u_nets_keep_the_finest_decoder_stages():
    """Depth 3 on 32 px chips: the deepest map is 4 x 4 px (5 levels: 1 x 1 px)."""
    for arch in ("unet", "unetplusplus"):
        net = build_model(arch, "resnet18", 5, 4, encoder_depth=3).eval()
        deepest = net.encoder(torch.zeros(2, 5, 32, 32))[-1]
        assert tuple(deepest.shape[-2:]) == (4, 4)
        with torch.no_grad():
            assert tuple(net(torch.zeros(1, 5, 32, 32)).shape) == (1, 4, 32, 32)
    five = build_model("unet", "resnet18", 5, 4)
    assert tuple(five.encoder(torch.zeros(2, 5, 32, 32))[-1].shape[-2:]) == (1, 1)
    assert len(build_model("unet", "resnet18", 5, 4, encoder_depth=4).decoder.blocks) == 4
    with pytest.raises(InputError, match="^MODEL: the pspnet architecture is built at depth 5"):
        build_model("pspnet", "resnet18", 3, 2, parameter="model", encoder_depth=4)
