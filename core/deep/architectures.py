"""The network architectures and encoders LandLearn builds (segmentation-models-pytorch).

Names only, no torch: the package schema checks a .emd against them before any network
is built, and the Train Deep Learning Model dialog lists them without importing the engine.
"""

from __future__ import annotations

from ..errors import InputError

__all__ = ["ARCHITECTURES", "BACKBONES", "DEPTH_ARCHITECTURES", "DETAIL_ARCHITECTURES",
           "ENCODER_DEPTHS", "auto_encoder_depth", "check_encoder_depth", "has_detail_head",
           "smp_class"]

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


# Encoder depth: how many times the encoder halves the chip. smp's U-Nets take 3..5; the
# other architectures are built at their fixed depth (5) only.
ENCODER_DEPTHS = (3, 4, 5)
DEPTH_ARCHITECTURES = ("unet", "unetplusplus")
MIN_DEEPEST_PX = 4


def auto_encoder_depth(architecture: str, chip_side: int) -> int:
    """The deepest of 3..5 that leaves the encoder's last map at least MIN_DEEPEST_PX wide.

    Why: through 5 levels a 64 px chip ends as 2 x 2 px and a 32 px chip as 1 x 1 px, where
    BatchNorm sees one value per channel per chip and each deep feature spans the chip
    (the demo's blobby maps); 256 px chips keep the usual 5 levels (8 x 8 px)."""
    if architecture.lower() not in DEPTH_ARCHITECTURES:
        return 5
    for depth in reversed(ENCODER_DEPTHS):
        if chip_side >> depth >= MIN_DEEPEST_PX:
            return depth
    return ENCODER_DEPTHS[0]


# The detail head (deep.detail_head) needs a decoder whose last stage is at the chip's full
# resolution: smp's U-Net and U-Net++ (the others upsample their scores in the head).
DETAIL_ARCHITECTURES = ("unet", "unetplusplus")


def has_detail_head(architecture: str, asked: bool) -> bool:
    """Whether a network of ``architecture`` is built with the detail head when DETAIL_HEAD
    is ``asked``: only the architectures that can take it."""
    return bool(asked) and str(architecture).lower() in DETAIL_ARCHITECTURES


def check_encoder_depth(architecture: str, depth, parameter: str = "encoder_depth") -> int:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth not in ENCODER_DEPTHS:
        raise InputError(parameter, f"{str(depth)[:20]} is not an encoder depth; use "
                         f"{', '.join(map(str, ENCODER_DEPTHS))} (or leave it automatic)")
    if depth != 5 and str(architecture).lower() not in DEPTH_ARCHITECTURES:
        raise InputError(parameter, f"the {architecture} architecture is built at depth 5 only; "
                         f"a depth of {depth} needs {' or '.join(DEPTH_ARCHITECTURES)}")
    return depth
