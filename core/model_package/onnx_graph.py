"""The ONNX graph inside a deep package: what its metadata says, and reading it safely.

Since 0.2 a deep package carries, beside its safetensors weights, an ONNX graph of the same
network (``LandLearn.onnx`` in the .emd names it). The graph takes raw band values
(float32, NoData already replaced by the band mean): the z-score normalisation is folded
in, and it ends in a softmax, so it gives class probabilities. ONNX Runtime runs it
without torch.

Its metadata holds LandLearn's description (``landlearn`` = the .emd) and the keys QGIS's
Deepness plugin reads: ``model_type``, ``class_names`` ({"0": name, ...}, one per output
channel), ``resolution`` (cm per pixel), ``tiles_size`` (and ``tile_size``, the key its
code reads), ``tiles_overlap`` (percent) and
``standardization_mean`` / ``standardization_std``. Deepness scales every band by 1/255
before standardising; mean 0 and std 1/255 undo that, so the graph sees raw values there
too.

An ONNX file is data (operators from the standard domains, initialisers), but a crafted one
may point at external files for its tensors or be huge: the member is size-checked against
the weights it mirrors before it is read, it is loaded from memory (so no external-data path
can resolve), and its inputs and outputs must match the .emd before it runs.
"""

from __future__ import annotations

import json

from ..errors import InputError
from .format import PackagedModel
from .members import MIB, PackageFiles

__all__ = ["NOT_EXPORTABLE", "OPSET", "deepness_metadata", "has_onnx", "no_graph_advice",
           "onnx_description", "read_onnx"]

MAX_NETWORK_BYTES = 256 * MIB  # float32 weights of one network, twice the largest's
GRAPH_SLACK = 32 * MIB  # a graph's operators and metadata beside its tensors
OPSET = 17  # ONNX Runtime 1.14+ (2023), OpenCV 4.8+, Deepness, OTB-TF: all run opset 17


# architectures whose graph cannot take any tile size, and why (their packages run on torch)
NOT_EXPORTABLE = {
    "pspnet": "its pyramid pooling (adaptive average pooling) has no ONNX form for a tile "
              "size that varies",
}


def no_graph_advice(pkg) -> str:
    """What to do with a package that holds no ONNX graph: Export Model adds one, unless
    its architecture has none (PSPNet was told to add one, which Export Model refused;
    a sweep, stop 69)."""
    arch = str(pkg.landlearn.get("architecture", "")).lower()
    if arch in NOT_EXPORTABLE:
        return f"a {arch} network has no ONNX graph ({NOT_EXPORTABLE[arch]}): use RUNTIME=torch"
    return ("it was trained without onnx installed, or its network could not be exported; "
            "add one with Export Model, or use RUNTIME=torch")


def _key(int8: bool) -> str:
    return "onnx_int8" if int8 else "onnx"


def has_onnx(pkg: PackagedModel, int8: bool = False) -> bool:
    """Whether the package carries the float graph (or, ``int8``, the quantised one)."""
    return pkg.kind == "deep" and isinstance(pkg.landlearn.get(_key(int8)), dict)


def onnx_description(file: str) -> dict:
    """The .emd's ``LandLearn.onnx`` block for a graph stored as ``file``."""
    return {"file": file, "opset": OPSET, "input": "raw float32", "output": "probabilities"}


def deepness_metadata(emd: dict) -> dict[str, str]:
    """ONNX metadata_props (JSON-encoded values) that Deepness and LandLearn read."""
    info = emd["LandLearn"]
    by_value = {int(c["Value"]): c["Name"] for c in emd["Classes"]}
    names = {str(i): str(by_value.get(v, f"Class {v}")) for i, v in
             enumerate(info["class_values"])}
    tile = int(emd.get("ImageWidth", 256))
    pad = int(info.get("padding", emd.get("ModelPadding", 32)))
    bands = int(info["in_channels"])
    meta = {
        "model_type": "Segmentor",
        "class_names": names,
        "tiles_size": tile,  # the key Deepness's documentation names
        "tile_size": tile,  # the key its code reads (model_base.py)
        "tiles_overlap": min(50, round(100 * 2 * pad / tile)),
        # Deepness divides by 255, then standardises: these give back the raw values
        "standardization_mean": [0.0] * bands,
        "standardization_std": [1.0 / 255.0] * bands,
        # Deepness's defaults zero every probability under 0.5 before its argmax (with five
        # land-cover classes, most unsure pixels then became class 0) and smooth the map
        # with a median filter; LandLearn's map is the plain argmax, so both are off
        "seg_thresh": 0.0,
        "seg_small_segment": 0,
    }
    cell = info.get("cell_size")
    if cell and info.get("crs_units") in ("metre", "meter", "m"):
        meta["resolution"] = round(float(cell[0]) * 100, 4)
    out = {k: json.dumps(v) for k, v in meta.items()}
    out["landlearn"] = json.dumps(emd)
    return out


def read_onnx(pkg: PackagedModel, int8: bool = False) -> bytes:
    """The package's ONNX graph (``int8``: the quantised one), its size checked against the
    weights it mirrors."""
    block = pkg.landlearn.get(_key(int8))
    if not isinstance(block, dict) and int8:
        raise InputError("quantize", f"'{pkg.path}' holds no int8 graph; make one with Export "
                         "Model (QUANTIZE, with the training data as CALIBRATION_DATA) or train "
                         "with QUANTIZE, or classify without QUANTIZE")
    if not isinstance(block, dict):
        raise InputError(pkg.parameter, f"'{pkg.path}' holds no ONNX graph: "
                         f"{no_graph_advice(pkg)}")
    with PackageFiles(pkg.source, pkg.parameter) as files:
        weights = files.size(pkg.emd["ModelFile"])
        # the graph holds the same tensors as the weights (int8: a quarter of them, and
        # their scales), plus its operators and metadata. The weights' size is what the zip
        # declares, and ONNX Runtime never reads them: a declared size is also held to what
        # the largest network LandLearn trains can take (about 130 MB; vgg16_bn and
        # resnext50 U-Nets), per network of an ensemble
        members = pkg.landlearn.get("ensemble_members") or 1
        weights = min(weights, MAX_NETWORK_BYTES * members)
        return files.read(block["file"], int(weights * 1.25) + GRAPH_SLACK, "ONNX graph")
