"""Segmentation architectures (segmentation-models-pytorch), built offline, and the
network a LandLearn package describes, with its checked weights.

Weights never come from the internet here: models start from scratch, from a package, or
from a local pretrained file (deep.pretrained).
"""

from __future__ import annotations

from ..errors import InputError
from ..model_package.format import read_package, read_weights
from ..runtime.deps import require
from .architectures import ARCHITECTURES, BACKBONES, check_encoder_depth, has_detail_head, smp_class
from .detail_head import with_detail_head
from .ensemble import MAX_MEMBERS, ensemble

__all__ = ["ARCHITECTURES", "BACKBONES", "build_model", "load_package_model"]

DECODER_CHANNELS = (256, 128, 64, 32, 16)  # smp's U-Net default at depth 5


def build_model(architecture: str, backbone: str, in_channels: int, classes: int,
                parameter: str | None = None, encoder_depth: int = 5, members: int = 1,
                detail_head: bool = False):
    """The network, untrained. ``parameter`` names what to blame for an unknown
    architecture or encoder: the package ("model") when it comes from one.

    A shallower U-Net keeps the decoder's last (finest) stages: depth 4 decodes with
    128, 64, 32, 16 channels. ``members`` > 1: that many such networks averaged
    (deep.ensemble), as an ensemble package holds them. ``detail_head``: the U-Nets'
    classes also see the input pixels (deep.detail_head); another architecture asked for
    it is an error here (training decides before, with a note)."""
    if isinstance(members, bool) or not isinstance(members, int) \
            or not 1 <= members <= MAX_MEMBERS:
        raise InputError(parameter or "ensemble_size", f"{str(members)[:20]} networks cannot "
                         f"form a model; use 1 to {MAX_MEMBERS}")
    if members > 1:
        return ensemble([build_model(architecture, backbone, in_channels, classes, parameter,
                                     encoder_depth, detail_head=detail_head)
                         for _ in range(members)])
    if backbone not in BACKBONES:
        raise InputError(parameter or "backbone", f"the encoder '{str(backbone)[:40]}' is not one "
                         f"of {', '.join(BACKBONES)}")
    name = smp_class(architecture, parameter or "architecture")
    depth = check_encoder_depth(architecture, encoder_depth, parameter or "encoder_depth")
    smp = require("segmentation_models_pytorch")
    cls = getattr(smp, name)
    shape = {} if depth == 5 else {"encoder_depth": depth,
                                   "decoder_channels": DECODER_CHANNELS[5 - depth:]}
    net = cls(encoder_name=backbone, encoder_weights=None, in_channels=in_channels,
              classes=classes, **shape)
    if not detail_head:
        return net
    if not has_detail_head(architecture, detail_head):
        raise InputError(parameter or "detail_head", f"the {architecture} architecture has no "
                         "full-resolution decoder stage for the detail head; it is built for "
                         "unet and unetplusplus only")
    return with_detail_head(net, in_channels, classes)


def load_package_model(path: str, parameter: str = "model", pkg=None):
    """The network a deep package describes, with its weights (checked before loading);
    ``pkg``: the package as read_package already read it from ``path`` (not read again)."""
    pkg = pkg if pkg is not None else read_package(path, parameter)
    if pkg.kind != "deep":
        raise InputError(parameter, f"'{path}' holds a {pkg.kind} model, not network weights")
    info = pkg.landlearn
    model = build_model(info["architecture"], info["encoder"], info["in_channels"],
                        len(info["class_values"]), parameter, info.get("encoder_depth", 5),
                        info.get("ensemble_members", 1), info.get("detail_head", False))
    state = read_weights(pkg, {k: tuple(v.shape) for k, v in model.state_dict().items()})
    model.load_state_dict(state)
    return model
