"""Exporting a trained network to ONNX: the graph every deep package carries since 0.2.

The graph folds in what Classify Pixels does around the network (z-score normalisation
before, softmax after), so any ONNX runtime gets class probabilities from raw band values:
ONNX Runtime in Classify Pixels without torch, QGIS's Deepness plugin, OpenCV, OTB. The
batch, height and width are dynamic (a fully convolutional network takes any tile); the
Deepness copy fixes height and width to the training tile, which Deepness requires. The
TorchScript exporter is used: it needs neither onnxscript nor a network download, and it
covers every architecture LandLearn trains (checked by a test against ONNX Runtime).
"""

from __future__ import annotations

import copy
import io
import warnings

import numpy as np

from ..model_package.onnx_graph import NOT_EXPORTABLE, OPSET, deepness_metadata
from ..runtime.deps import require

__all__ = ["NOT_EXPORTABLE", "NotExportable", "deepness_copy", "export_onnx", "onnx_difference",
           "spread_like"]

INPUT, OUTPUT = "input", "probabilities"


class NotExportable(Exception):
    """The network has no faithful ONNX graph; the message says why."""


def _deployed(model, mean: np.ndarray, std: np.ndarray):
    """``model`` between the normalisation Classify Pixels applies and a softmax."""
    torch = require("torch")

    class Deployed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = model
            safe = np.where(std > 0, std, 1.0)  # as Classify Pixels: a constant band stays 0
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
            self.register_buffer("scale", torch.tensor(1.0 / safe, dtype=torch.float32)
                                 .view(1, -1, 1, 1))

        def forward(self, x):
            return self.net((x - self.mean) * self.scale).softmax(1)

    return Deployed().eval()


def _stats(emd: dict) -> tuple[np.ndarray, np.ndarray]:
    norm = emd["LandLearn"]["normalization"]
    return np.asarray(norm["mean"], np.float64), np.asarray(norm["std"], np.float64)


def export_onnx(model, emd: dict) -> bytes:
    """The ONNX graph (bytes) of ``model`` (any device; a CPU copy is exported) as the
    package described by ``emd`` runs it, with LandLearn's and Deepness's metadata."""
    arch = str(emd["LandLearn"].get("architecture", "")).lower()
    if arch in NOT_EXPORTABLE:
        raise NotExportable(NOT_EXPORTABLE[arch])
    torch = require("torch")
    onnx = require("onnx")
    mean, std = _stats(emd)
    net = copy.deepcopy(model).float().cpu().eval()
    wrapped = _deployed(net, mean, std)
    bands = int(emd["LandLearn"]["in_channels"])
    dummy = torch.from_numpy(np.tile(mean.astype(np.float32)[None, :, None, None], (1, 1, 64, 64)))
    axes = {0: "batch", 2: "height", 3: "width"}
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes
        torch.onnx.export(wrapped, (dummy,), buf, dynamo=False, opset_version=OPSET,
                          input_names=[INPUT], output_names=[OUTPUT],
                          dynamic_axes={INPUT: axes, OUTPUT: axes}, do_constant_folding=True)
    proto = onnx.load_from_string(buf.getvalue())
    proto.producer_name = "LandLearn"
    proto.doc_string = (f"{emd['LandLearn'].get('architecture')} "
                        f"({emd['LandLearn'].get('encoder')}), {bands} bands in (raw values, "
                        f"float32), class probabilities out")
    for key, value in deepness_metadata(emd).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString()


def deepness_copy(data: bytes, tile: int) -> bytes:
    """The graph with height and width fixed to ``tile``: Deepness reads its tile size
    from the input shape and needs square, fixed outputs."""
    onnx = require("onnx")
    proto = onnx.load_from_string(data)
    for value in list(proto.graph.input) + list(proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        for i in (2, 3):
            dims[i].ClearField("dim_param")
            dims[i].dim_value = tile
    return proto.SerializeToString()


def spread_like(mean, std, tile: int = 64) -> np.ndarray:
    """Two raw tiles of values spread like bands of ``mean`` and ``std``: what the export is
    checked on when no real chip is at hand."""
    mean, std = np.asarray(mean, np.float64), np.asarray(std, np.float64)
    noise = np.random.default_rng(0).standard_normal((2, len(mean), tile, tile))
    return mean[None, :, None, None] + noise * std[None, :, None, None]


def onnx_difference(data: bytes, model, emd: dict, raw: np.ndarray) -> float:
    """Largest difference in class probability between the graph on ONNX Runtime and
    ``model`` on torch for the raw tiles ``raw`` (n, bands, h, w): the export's check."""
    torch = require("torch")
    ort = require("onnxruntime")
    mean, std = _stats(emd)
    net = copy.deepcopy(model).float().cpu().eval()
    x = ((raw - mean[None, :, None, None]) / np.where(std > 0, std, 1.0)[None, :, None, None])
    with torch.no_grad():
        want = net(torch.from_numpy(x.astype(np.float32))).softmax(1).numpy()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = session.run(None, {INPUT: raw.astype(np.float32)})[0]
    return float(np.abs(got - want).max())
