"""Segmentation architectures (segmentation-models-pytorch) and loading weights safely.

Weights never come from the internet here: models start from scratch or from a local file
(safetensors, a LandLearn package, or a PyTorch state dict read with weights_only=True,
which refuses to run code). RGB weights meeting a 10-band image do not fail: the first
convolution is widened by cycling the RGB filters and rescaling, as smp does for its own.
"""

from __future__ import annotations

import os

from ..errors import InputError
from ..model_package.format import read_package, read_weights
from ..model_package.members import MAX_MEMBER_BYTES, MIB, safetensors_header
from ..runtime.deps import require
from .architectures import ARCHITECTURES, BACKBONES, smp_class

__all__ = ["ARCHITECTURES", "BACKBONES", "build_model", "load_package_model", "load_weights",
           "read_state_dict"]

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


def read_state_dict(path: str, parameter: str = "pretrained_weights") -> dict:
    """A state dict from .safetensors, a LandLearn .dlpk/.emd/folder, or a .pt/.pth file."""
    torch = require("torch")
    if not os.path.exists(path):
        raise InputError(parameter, f"'{path}' does not exist")
    low = path.lower()
    if low.endswith((".dlpk", ".emd")) or os.path.isdir(path):
        return load_package_model(path, parameter).state_dict()
    size = os.path.getsize(path)
    if size > MAX_MEMBER_BYTES:
        raise InputError(parameter, f"'{path}' is {size / MIB:.0f} MB, more than the "
                         f"{MAX_MEMBER_BYTES / MIB:.0f} MB a LandLearn network can take")
    try:
        if low.endswith(".safetensors"):
            from safetensors.torch import load

            with open(path, "rb") as fh:
                data = fh.read()
            safetensors_header(data, path, parameter)  # offsets and lengths, before parsing
            return load(data)
        state = torch.load(path, map_location="cpu", weights_only=True)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise InputError(parameter, f"'{path}' cannot be read as weights: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state:
        raise InputError(parameter, f"'{path}' does not hold a state dict of weights")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _widen(weight, in_channels: int):
    """A first-conv weight (out, c, k, k) widened or narrowed to ``in_channels``."""
    c = weight.shape[1]
    idx = [i % c for i in range(in_channels)]
    return weight[:, idx] * (c / in_channels)


def _section(key: str) -> str:
    return key.split(".", 1)[0]


def load_weights(model, state: dict, parameter: str = "pretrained_weights") -> str:
    """Load a full-model or encoder-only state dict; return what was loaded, for the log.

    The encoder must fit (at least 90% of its tensors); a full model's decoder must fit
    too (else it is another architecture); only the segmentation head may differ, since a
    fine-tuned model may have another class count.
    """
    own = model.state_dict()
    if not any(_section(k) in ("encoder", "decoder", "segmentation_head") for k in state):
        state = {f"encoder.{k}": v for k, v in state.items()}
    load, adapted = {}, []
    for k, v in state.items():
        target = own.get(k)
        if target is None:
            continue
        if v.shape == target.shape:
            load[k] = v
        elif v.ndim == 4 and target.ndim == 4 and v.shape[0] == target.shape[0] \
                and v.shape[2:] == target.shape[2:] and k.startswith("encoder."):
            load[k] = _widen(v, target.shape[1])
            adapted.append(k)
    for section, what in (("encoder", "backbone"), ("decoder", "architecture")):
        mine = [k for k in own if _section(k) == section]
        if section == "decoder" and not any(_section(k) == "decoder" for k in state):
            continue
        fit = sum(1 for k in mine if k in load)
        if fit < 0.9 * len(mine):
            raise InputError(parameter, f"the weights do not match this {what}: only {fit} of "
                             f"{len(mine)} {section} tensors fit; choose weights saved from the "
                             "same architecture and backbone")
    model.load_state_dict(load, strict=False)
    head = [k for k in own if _section(k) == "segmentation_head"]
    what = f"{len(load)} of {len(own)} tensors"
    if adapted:
        what += f"; first convolution adapted to {own[adapted[0]].shape[1]} bands"
    if any(_section(k) == "segmentation_head" for k in state) and not all(k in load for k in head):
        what += "; the classification head starts new (different class count)"
    return what
