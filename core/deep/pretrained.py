"""Pretrained weights from a local file onto a network's encoder, with its bands matched.

Nothing is downloaded and nothing in the file runs: safetensors (its header checked
before parsing), a LandLearn package, or a .pt/.pth state dict read with
weights_only=True. What such files look like in the wild:

- timm and torchgeo (e.g. ResNet18_Weights.SENTINEL2_ALL_MOCO) save a bare timm model:
  ``conv1.weight``, ``layer1.0.conv1.weight``, ... and a ``fc`` head. smp's ResNet
  encoders use the same names under ``encoder.``.
- SSL4EO-S12 / MoCo checkpoints wrap them: ``{"state_dict": {"module.encoder_q.conv1...``;
  DINO keeps ``teacher``/``student``, Lightning ``state_dict`` with ``model.``/``backbone.``.

So the state is unwrapped from its container, and the prefix under which the most
tensors fit the encoder (``module.encoder_q.``, ``backbone.``, nothing...) is taken;
other tensors (a projection head, a momentum encoder) are left out. The first
convolution's filters are then chosen per training band (deep.band_matching); without
band names on the checkpoint's side they are cycled and rescaled, as smp does.
"""

from __future__ import annotations

import json
import os
import struct
from collections import Counter
from dataclasses import dataclass
from functools import partial

from ..errors import InputError
from ..model_package.format import read_package
from ..model_package.members import MAX_MEMBER_BYTES, MAX_MEMBERS, MIB, safetensors_header
from ..runtime.deps import require
from .band_matching import match_bands, parse_bands, wavelength
from .detail_head import HEAD_INPUT, decoder_columns
from .ensemble import first_member
from .models import load_package_model

__all__ = ["Checkpoint", "load_weights", "read_checkpoint", "read_state_dict"]

# where training frameworks keep the weights inside a checkpoint dict
CONTAINERS = ("state_dict", "model_state_dict", "model", "teacher", "student", "net", "network")


@dataclass
class Checkpoint:
    state: dict
    # the first convolution's input bands [(name, wavelength µm or None)], when the file
    # says (a LandLearn package's band names, a safetensors "bands" metadata entry)
    bands: list | None = None
    encoder_depth: int | None = None  # a LandLearn package's U-Net depth (a fine-tune keeps it)
    class_values: list | None = None  # a LandLearn package's classes, in its head's order


def _unwrap(obj, torch) -> dict | None:
    for _ in range(3):  # {"state_dict": {...}}, {"model": {"state_dict": ...}}
        if not isinstance(obj, dict):
            return None
        if any(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        inner = next((obj[k] for k in CONTAINERS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            return None
        obj = inner
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    return tensors or None


def _safetensors_bands(data: bytes, path: str, parameter: str) -> list | None:
    (n,) = struct.unpack("<Q", data[:8])
    meta = json.loads(data[8:8 + n].decode("utf-8")).get("__metadata__") or {}
    text = meta.get("bands") if isinstance(meta, dict) else None
    if not isinstance(text, str):
        return None
    try:
        return parse_bands(text, parameter)
    except InputError:
        raise InputError(parameter, f"'{path}': its 'bands' metadata ({text[:80]!r}) is not a "
                         "list of band names; give PRETRAINED_BANDS instead") from None


SAFE_TORCH = (2, 6)  # weights_only=True could be bypassed before (CVE-2025-32434)


def _check_torch_file(path: str, parameter: str, torch) -> None:
    """A .pth is read only where torch's weights_only loader holds (torch 2.6 or later),
    and only in torch's zip format with its records stored uncompressed, as torch.save
    writes them: torch allocates each record at the size it declares before inflating it
    (a deflated record of zeros could claim tens of GB from a small file), and the legacy
    format sizes its storages from the pickle alone."""
    import re
    import zipfile

    version = tuple(int(p) for p in re.findall(r"\d+", torch.__version__)[:2])
    if version < SAFE_TORCH:
        raise InputError(parameter, f"'{path}' is a torch file, and this torch "
                         f"({torch.__version__}) can be made to run code from one even with "
                         "weights_only; update torch to 2.6 or later (pip install "
                         "'torch>=2.6'), or give the weights as a .safetensors file")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputError(parameter, f"'{path}' is not in torch's zip format (saved by torch "
                         f"before 1.6, or by another tool: {str(exc)[:80]}); load it in "
                         "Python and save it again with torch.save(model.state_dict(), path), "
                         "or convert it to .safetensors") from None
    odd = next((i.filename for i in infos if i.compress_type != zipfile.ZIP_STORED), None)
    if len(infos) > MAX_MEMBERS or odd is not None:
        raise InputError(parameter, f"'{path}' is not a file torch.save wrote ("
                         + (f"{len(infos)} records" if odd is None else
                            f"its record '{odd[:60]}' is compressed")
                         + "); it is damaged or crafted and not read. Give the weights as "
                         "torch.save writes them, or as .safetensors")


def _matched_names(info: dict) -> list[str]:
    """A package's band names for matching a fine-tune's bands: the BAND_NAMES its own
    training was given, where it was (they named the chips' bands for pretrained weights;
    the chips' own names, kept as the package's band_names for Classify's checks, can be
    Band_1 ...), else the chips' names."""
    given = ((info.get("training") or {}).get("parameters") or {}).get("band_names")
    if isinstance(given, list) and len(given) == len(info["band_names"]) and \
            all(isinstance(n, str) for n in given):
        return given
    return info["band_names"]


def read_checkpoint(path: str, parameter: str = "pretrained_weights") -> Checkpoint:
    """The tensors of a weights file (and its bands when it names them)."""
    torch = require("torch")
    if not os.path.exists(path):
        raise InputError(parameter, f"'{path}' does not exist")
    low = path.lower()
    if low.endswith((".dlpk", ".emd")) or os.path.isdir(path):
        pkg = read_package(path, parameter)
        info = pkg.landlearn
        # an ensemble package's first network: a fine-tune trains one network (or an
        # ensemble of networks that each start from it)
        return Checkpoint(first_member(load_package_model(path, parameter, pkg)).state_dict(),
                          [(n, wavelength(n)) for n in _matched_names(info)],
                          info.get("encoder_depth", 5), list(info.get("class_values") or []))
    if not os.path.isfile(path):  # a device or a pipe has no size to check: never read
        raise InputError(parameter, f"'{path}' is not a regular file; give a .safetensors or "
                         ".pth weights file")
    size = os.path.getsize(path)
    if size > MAX_MEMBER_BYTES:
        raise InputError(parameter, f"'{path}' is {size / MIB:.0f} MB, more than the "
                         f"{MAX_MEMBER_BYTES / MIB:.0f} MB a LandLearn network can take")
    bands = None
    try:
        if low.endswith(".safetensors"):
            from safetensors.torch import load

            with open(path, "rb") as fh:
                data = fh.read(size + 1)  # a file that grew since its size was checked
            if len(data) != size:
                raise InputError(parameter, f"'{path}' changed while it was read; try again")
            safetensors_header(data, path, parameter)  # offsets and lengths, before parsing
            bands = _safetensors_bands(data, path, parameter)
            state = load(data)
        else:
            _check_torch_file(path, parameter, torch)
            state = torch.load(path, map_location="cpu", weights_only=True)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        text = str(exc)
        if "Unsupported global" in text or "not an allowed global" in text:
            # torch's own advice (weights_only=False) would run the file's code: not an
            # option here, and not what to tell a user of a file from someone else
            raise InputError(parameter, f"'{path}' is not a plain state dict of weights: it "
                             "pickles Python objects (an optimizer's state, as fastai and "
                             "arcgis.learn save by default, or a whole model), which "
                             "LandLearn does not load. Give a .safetensors file, or one "
                             "saved with torch.save(model.state_dict(), path)") from None
        raise InputError(parameter, f"'{path}' cannot be read as weights: {text}") from exc
    state = _unwrap(state, torch)
    if not state:
        raise InputError(parameter, f"'{path}' does not hold a state dict of weights")
    _check_tensors(state, size, path, parameter)
    return Checkpoint({k.removeprefix("module."): v for k, v in state.items()}, bands)


MAX_KEY = 512  # characters of a tensor's name (timm's longest are under 100)


def _check_tensors(state: dict, size: int, path: str, parameter: str) -> None:
    """Names, sizes and values a file from others may not have: a name of millions of
    characters made the prefix search quadratic (hours, no Cancel); a view whose stride
    is 0 claims more elements than the file holds, and the band matching's mean over it
    allocated them; NaN or infinite weights made training fail later on a loss that
    blamed TRAINING_DATA."""
    for k, v in state.items():
        if len(k) > MAX_KEY:
            raise InputError(parameter, f"'{path}' names a tensor with {len(k)} characters "
                             f"(more than {MAX_KEY}); not a checkpoint LandLearn reads")
        if v.numel() * v.element_size() > size:
            raise InputError(parameter, f"'{path}': tensor '{k[:80]}' claims "
                             f"{v.numel() * v.element_size()} bytes, more than the file's "
                             f"{size}; the file is damaged or made to deceive")
        if v.is_floating_point() and not bool(v.isfinite().all()):
            raise InputError(parameter, f"'{path}': tensor '{k[:80]}' holds NaN or infinite "
                             "weights; use a checkpoint saved before training diverged")


def read_state_dict(path: str, parameter: str = "pretrained_weights") -> dict:
    """The tensors of a weights file (read_checkpoint without the bands)."""
    return read_checkpoint(path, parameter).state


def _section(key: str) -> str:
    return key.split(".", 1)[0]


def _fits(a, b) -> bool:
    """Same shape, or a 4-D convolution differing only in its input bands."""
    return tuple(a) == tuple(b) or (len(a) == 4 and len(b) == 4 and a[0] == b[0]
                                    and tuple(a[2:]) == tuple(b[2:]))


def to_model_keys(state: dict, own: dict) -> tuple[dict, str | None]:
    """(state named as the model's tensors, the prefix that was replaced or None)."""
    if any(_section(k) in ("encoder", "decoder", "segmentation_head") for k in state):
        return state, None
    enc = {k[len("encoder."):]: tuple(v.shape) for k, v in own.items() if k.startswith("encoder.")}
    score: Counter = Counter()
    for k, v in state.items():
        cuts = [0] + [i + 1 for i, ch in enumerate(k) if ch == "."]
        for i in cuts:
            if k[i:] in enc and _fits(tuple(v.shape), enc[k[i:]]):
                score[k[:i]] += 1
    if not score:
        return {}, None
    # a MoCo checkpoint holds the query encoder and its momentum copy equally well: the
    # query's ("encoder_q.") is the one trained by gradient, the one to take
    prefix = min(score, key=lambda p: (-score[p], "_k." in p or "momentum" in p, len(p), p))
    return ({f"encoder.{k[len(prefix):]}": v for k, v in state.items()
             if k.startswith(prefix) and k[len(prefix):] in enc}, prefix)


def _first_conv(own: dict) -> str | None:
    return next((k for k, v in own.items() if k.startswith("encoder.") and v.ndim == 4), None)


def _cycled(weight, in_channels: int):
    """A first-conv weight (out, c, k, k) widened or narrowed to ``in_channels``."""
    c = weight.shape[1]
    idx = [i % c for i in range(in_channels)]
    return weight[:, idx] * (c / in_channels)


def _matched(weight, source, parameter: str, names, bands):
    """Filters picked per training band (the mean filter where unmatched), rescaled so
    the first layer's response keeps its size: times (checkpoint bands / training bands)."""
    if not any(s is not None for s in source):
        raise InputError(parameter, f"none of the training bands ({', '.join(names[:12])}) "
                         f"matches a band of the checkpoint ({', '.join(n for n, _ in bands[:13])}) "
                         "by name or wavelength; name the training raster's bands (e.g. B04 or "
                         "red), or leave PRETRAINED_BANDS empty to cycle the filters")
    return _picked(weight, source)


def _picked(weight, source):
    """Columns of ``weight`` (out, c, ...) picked per ``source`` index (None: their mean),
    rescaled by c / len(source)."""
    torch = require("torch")
    mean = weight.mean(dim=1)
    cols = [weight[:, s] if s is not None else mean for s in source]
    return torch.stack(cols, dim=1) * (weight.shape[1] / len(source))


def load_weights(model, state: dict, parameter: str = "pretrained_weights",
                 bands: list | None = None, names: list[str] | None = None,
                 bands_from_user: bool = True, classes: tuple | None = None,
                 loaded: set | None = None) -> str:
    """Load a full-model or encoder-only state dict; return what was loaded, for the log.

    ``bands`` are the checkpoint's input bands, ``names`` the training bands: given both,
    the first convolution's filters are matched band by band (deep.band_matching); when
    no band matches, that is an error if the user named the bands, and the filters are
    cycled if the file named them (a package trained on other band names). The
    encoder must fit (at least 90% of its tensors); a full model's decoder must fit too
    (else it is another architecture); only the segmentation head may differ, since a
    fine-tuned model may have another class count. ``classes`` (the checkpoint's class
    values, this run's), for a LandLearn package: its head's rows follow the values (they
    were taken by position: a package of water, forest, urban fine-tuned on urban, crops,
    water learnt on from urban's row as water), and start new where the values differ.
    """
    own = model.state_dict()
    state, prefix = to_model_keys(state, own)
    first = _first_conv(own)
    load, notes = {}, []
    dec = decoder_columns(model)
    remap = None  # what was done to the first convolution's band columns, for the head's
    for k, v in state.items():
        target = own.get(k)
        if target is None or k == HEAD_INPUT and dec is not None:
            continue
        match = None
        if k == first and bands is not None and names is not None:
            if v.ndim != 4 or len(bands) != v.shape[1]:
                raise InputError("pretrained_bands", f"{len(bands)} bands are named, but the "
                                 f"checkpoint's first convolution takes {v.shape[1]}; name "
                                 "its bands in order, or choose the preset that fits")
            match = match_bands(names, bands)
            if not match.matched and not bands_from_user:
                match = None
                notes.append("no training band matched the checkpoint's band names "
                             f"({', '.join(n for n, _ in bands[:13])})")
        if match is not None:
            if not _fits(tuple(v.shape), tuple(target.shape)):
                raise InputError(parameter, f"the checkpoint's first convolution "
                                 f"{tuple(v.shape)} is not this backbone's "
                                 f"{tuple(target.shape)} (other filters or kernel size); "
                                 "choose weights saved from the same backbone")
            load[k] = _matched(v, match.source, parameter, names, bands)
            notes.append(match.describe(names))
            remap = partial(_picked, source=match.source)
        elif v.shape == target.shape:
            load[k] = v
            if k == first and not bands and target.shape[1] > 1:
                # as many bands, none named: taken in the file's order, which may not be
                # the chips' (BGR against RGB; a 13-band stack in another order): said
                notes.append("first convolution taken in the checkpoint's band order (it "
                             "names no bands); PRETRAINED_BANDS would match them by name "
                             "or wavelength")
        elif k == first and _fits(tuple(v.shape), tuple(target.shape)):
            load[k] = _cycled(v, target.shape[1])
            remap = partial(_cycled, in_channels=target.shape[1])
            notes.append(f"first convolution adapted to {target.shape[1]} bands by cycling the "
                         f"checkpoint's {v.shape[1]} band filters" + (
                             "" if bands else " (PRETRAINED_BANDS would match them by name or "
                             "wavelength)"))
    for section, what in (("encoder", "backbone"), ("decoder", "architecture")):
        mine = [k for k in own if _section(k) == section]
        if section == "decoder" and not any(_section(k) == "decoder" for k in state):
            continue
        fit = sum(1 for k in mine if k in load)
        if fit < 0.9 * len(mine):
            raise InputError(parameter, f"the weights do not match this {what}: only {fit} of "
                             f"{len(mine)} {section} tensors fit; choose weights saved from the "
                             "same architecture and backbone")
    head = [k for k in own if _section(k) == "segmentation_head"]
    if dec is not None and HEAD_INPUT in state:
        w = _head_input(state[HEAD_INPUT], own[HEAD_INPUT], dec, remap)
        if w is not None:
            load[HEAD_INPUT] = w
    other_classes = False
    if classes and classes[0] and all(k in load for k in head) and head:
        old_values, new_values = list(classes[0]), list(classes[1])
        if sorted(old_values) != sorted(new_values):
            other_classes = True
            for k in head:
                load.pop(k, None)
        elif old_values != new_values:  # the same classes in another order: rows follow
            order = [old_values.index(v) for v in new_values]
            for k in head[-2:]:  # the last convolution's weight and bias: one row a class
                load[k] = load[k][order]
            notes.append("the head's rows put in this run's class order (by class value)")
    if not all(k in load for k in head):  # a head loads whole or starts new, never in part
        for k in head:
            load.pop(k, None)
    try:
        model.load_state_dict(load, strict=False)
    except RuntimeError as exc:  # a shape no check above foresaw: the user's file, not a bug
        raise InputError(parameter, f"the weights do not fit this model: {str(exc)[:300]}; "
                         "choose weights saved from the same architecture and backbone"
                         ) from None
    if loaded is not None:  # the names taken from the file (FREEZE keeps only those)
        loaded.update(load)
    what = f"{len(load)} of {len(own)} tensors"
    if prefix:
        what += f" (encoder weights found under '{prefix}')"
    what = "; ".join([what, *notes])
    given = [k for k in state if _section(k) == "segmentation_head"]
    if given and not all(k in load for k in head):
        if other_classes:
            why = "the package's classes are other values"
        elif set(given) != set(head):
            why = "the checkpoint's head is of another kind: DETAIL_HEAD differs"
        elif tuple(state[head[-1]].shape) != tuple(own[head[-1]].shape):
            why = "different class count"
        else:
            why = "its input bands cannot be matched"
        what += f"; the classification head starts new ({why})"
    return what


def _head_input(v, target, dec: int, remap):
    """The detail head's first convolution from a checkpoint's: its decoder columns as
    they are, its band columns changed as the encoder's first convolution's were
    (``remap``: matched by name, or cycled; None: kept, cycled only if the count differs);
    None when it does not fit."""
    if v.ndim != 4 or v.shape[0] != target.shape[0] or v.shape[2:] != target.shape[2:] \
            or v.shape[1] <= dec:
        return None
    bands, want = v[:, dec:], target.shape[1] - dec
    if remap is not None:
        bands = remap(bands)
    elif bands.shape[1] != want:
        bands = _cycled(bands, want)
    if bands.shape[1] != want:
        return None
    return require("torch").cat([v[:, :dec], bands], dim=1)
