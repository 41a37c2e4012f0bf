"""The network architectures and encoders LandLearn builds (segmentation-models-pytorch).

Names only, no torch: the package schema checks a .emd against them before any network
is built, and the Train Deep Learning Model dialog lists them without importing the engine.
"""

from __future__ import annotations

from ..errors import InputError

__all__ = ["ARCHITECTURES", "BACKBONES", "smp_class"]

# (option name, smp class, label)
ARCHITECTURES = [
    ("unet", "Unet", "U-Net"),
    ("unetplusplus", "UnetPlusPlus", "U-Net++"),
    ("deeplabv3plus", "DeepLabV3Plus", "DeepLabV3+"),
    ("fpn", "FPN", "FPN"),
    ("pspnet", "PSPNet", "PSPNet"),
    ("linknet", "Linknet", "LinkNet"),
    ("manet", "MAnet", "MA-Net"),
]

# Encoders that build offline with any number of input bands (checked by a test).
BACKBONES = ["resnet18", "resnet34", "resnet50", "resnext50_32x4d", "efficientnet-b0",
             "efficientnet-b2", "efficientnet-b4", "mobilenet_v2", "densenet121", "vgg16_bn"]


def smp_class(architecture: str, parameter: str = "architecture") -> str:
    for name, cls, _ in ARCHITECTURES:
        if isinstance(architecture, str) and architecture.lower() in (name, cls.lower()):
            return cls
    raise InputError(parameter, f"the architecture '{str(architecture)[:40]}' is not one of "
                     f"{', '.join(n for n, _, _ in ARCHITECTURES)}")
