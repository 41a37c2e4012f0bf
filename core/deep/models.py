"""Segmentation architectures (segmentation-models-pytorch), built offline, and the
network a LandLearn package describes, with its checked weights.

Weights never come from the internet here: models start from scratch, from a package, or
from a local pretrained file (deep.pretrained).
"""

from __future__ import annotations

from ..errors import InputError
from ..model_package.format import read_package, read_weights
from ..runtime.deps import require
from .architectures import ARCHITECTURES, BACKBONES, smp_class

__all__ = ["ARCHITECTURES", "BACKBONES", "build_model", "load_package_model"]

def build_model(architecture: str, backbone: str, in_channels: int, classes: int,
                parameter: str | None = None):
    """The network, untrained. ``parameter`` names what to blame for an unknown
    architecture or encoder: the package ("model") when it comes from one."""
    if backbone not in BACKBONES:
        raise InputError(parameter or "backbone", f"the encoder '{str(backbone)[:40]}' is not one "
                         f"of {', '.join(BACKBONES)}")
    name = smp_class(architecture, parameter or "architecture")
    smp = require("segmentation_models_pytorch")
    cls = getattr(smp, name)
    return cls(encoder_name=backbone, encoder_weights=None, in_channels=in_channels,
               classes=classes)


def load_package_model(path: str, parameter: str = "model"):
    """The network a deep package describes, with its weights (checked before loading)."""
    pkg = read_package(path, parameter)
    if pkg.kind != "deep":
        raise InputError(parameter, f"'{path}' holds a {pkg.kind} model, not network weights")
    info = pkg.landlearn
    model = build_model(info["architecture"], info["encoder"], info["in_channels"],
                        len(info["class_values"]), parameter)
    state = read_weights(pkg, {k: tuple(v.shape) for k, v in model.state_dict().items()})
    model.load_state_dict(state)
    return model
