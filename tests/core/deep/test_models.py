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
