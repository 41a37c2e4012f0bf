"""Int8 ONNX graphs (QUANTIZE): the float graph quantised for fast CPU inference.

Static quantisation (ONNX Runtime's quantize_static, QDQ format): weights as int8 per output
channel, activations as uint8 with ranges calibrated on real training chips (the 99.999th
percentile of each activation's histogram: min/max ranges, stretched by rare outliers, cost
0.015 macro F1 on s2_osm_sparse where percentiles cost none, BENCHMARKS.md), the softmax
left in float so probabilities stay probabilities, and so are the nodes that read the input
pixels themselves (normalisation, first convolutions: ``pixel_nodes``). Dynamic
quantisation was measured and is not offered: ONNX Runtime has no fast dynamic int8
convolution (ConvInteger), so it ran at half the float graph's speed on a U-Net
(BENCHMARKS.md). Quantisation changes the map a
little; how much is measured against the float graph on chips the calibration did not see
and recorded in the package (``LandLearn.onnx_int8.agreement``), and the accuracy cost on real
data is in BENCHMARKS.md. Classify Pixels runs the int8 graph only when asked (QUANTIZE).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from collections.abc import Sequence

import numpy as np

from ..chips.training_data import TrainingData
from ..geo.raster import band_nodata
from ..model_package.onnx_graph import OPSET
from ..progress import Progress, check
from ..runtime.deps import require

__all__ = ["CHECK_CHIPS", "INT8_FILE", "agreement", "calibration_count", "evenly",
           "int8_description", "pixel_nodes", "quantize_chips", "quantize_int8", "raw_chips",
           "raw_chips_with_data"]

INT8_FILE = "model_int8.onnx"
CALIBRATION_CHIPS = 32  # ranges settle by ~16 chips; more only slows the calibration
CALIBRATION_PIXELS = 32 * 128 * 128  # ONNX Runtime holds every activation of every chip
CHECK_CHIPS = 8
# the int8 graph's classes against the float graph's on the data pixels: below the floor
# it is not shipped (a map a tenth of whose pixels change is another map), below the
# warning the log says so (the benchmark's graphs agree on 99% and more: BENCHMARKS.md)
AGREEMENT_FLOOR = 0.90
AGREEMENT_WARNING = 0.98


def calibration_count(tile: tuple[int, int]) -> int:
    """How many chips of ``tile`` (w, h) to calibrate on: 32 of 128 px, fewer of larger
    chips (the calibrator keeps all their activations in memory), at least 4."""
    return max(4, min(CALIBRATION_CHIPS, CALIBRATION_PIXELS // max(1, tile[0] * tile[1])))


def evenly(items: Sequence, n: int) -> list:
    """Up to ``n`` of ``items`` spread evenly over them (chips are ordered by place)."""
    if len(items) <= n:
        return list(items)
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, n).round()]


def raw_chips(data: TrainingData, chips: Sequence, mean) -> list[np.ndarray]:
    """Chips as the graph takes them: raw values, float32, NoData and non-finite values set
    to the model's band ``mean`` (what normalising to 0 means in Classify Pixels)."""
    return [tile for tile, _ in raw_chips_with_data(data, chips, mean)]


def raw_chips_with_data(data: TrainingData, chips: Sequence, mean
                        ) -> list[tuple[np.ndarray, np.ndarray]]:
    """``raw_chips`` with each chip's (h, w) mask of the pixels that hold data: the
    agreement is counted there only, as Classify Pixels writes NoData elsewhere (a check
    chip half NoData, its filled pixels classed alike by both graphs, read too high)."""
    mean = np.asarray(mean, np.float64)
    out = []
    for chip in chips:
        pixels, missing, nodata = data.read_image(chip)
        x = np.where(missing, mean[:, None, None], pixels.astype(np.float64))
        holes = band_nodata(pixels, nodata)
        if holes is not None:  # a band's own NoData: its mean, as chip_dataset and stream
            x = np.where(holes, mean[:, None, None], x)
        out.append((x.astype(np.float32), ~missing))
    return out


def int8_description(calibration: int, agree: float | None, checked_on: str = "held-out"
                     ) -> dict:
    """The .emd's ``LandLearn.onnx_int8`` block; ``checked_on`` says whether the agreement
    was counted on chips the calibration did not see ("held-out") or, where none was left,
    on the calibration chips themselves ("calibration": it then reads a little high)."""
    return {"file": INT8_FILE, "opset": OPSET, "input": "raw float32", "output": "probabilities",
            "quantization": "static int8 (QDQ), per-channel weights, percentile calibration",
            "calibration_chips": calibration,
            "agreement": None if agree is None else round(agree, 6),
            "agreement_checked_on": checked_on}


# operators that end the pixels' float path: the first layers that mix them into features
_FIRST_LAYERS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
_SHAPE_ONLY = ("Shape", "Size")  # read the input's shape, not its values


def pixel_nodes(proto) -> list[str]:
    """Names of the nodes that see the input pixels themselves: every node from the graph's
    input through the normalisation (and any concatenation that carries the normalised bands
    on, as the detail head's does) to the first convolutions, those included. They are kept
    in float: one 8-bit scale over normalised bands with a long tail (16-bit reflectances)
    blurs the spectrum the network reads; on s2_osm_sparse with the detail head the int8
    map lost 0.022 macro F1 (classes agreeing with the float graph on 93.7% of check
    pixels), and kept float it lost none (98.8%) at the same speed (BENCHMARKS.md, Int8)."""
    consumers: dict[str, list] = {}
    for node in proto.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    kept: dict[str, None] = {}  # ordered, looked up by name
    tensors = [proto.graph.input[0].name]
    seen = set(tensors)
    while tensors:
        for node in consumers.get(tensors.pop(), []):
            if node.name in kept or node.op_type in _SHAPE_ONLY:
                continue
            kept[node.name] = None
            if node.op_type not in _FIRST_LAYERS:
                fresh = [t for t in node.output if t not in seen]
                seen.update(fresh)
                tensors.extend(fresh)
    return list(kept)


def quantize_int8(graph: bytes, calibration: Sequence[np.ndarray],
                  progress: Progress | None = None) -> bytes:
    """The int8 graph of the float ``graph`` (bytes), calibrated on the raw tiles
    ``calibration`` ((bands, h, w) float32 each), with the float graph's metadata. Cancel
    is heard before each calibration chip (the calibration is most of the time)."""
    if not calibration:
        raise ValueError("quantisation needs at least one calibration chip")
    onnx = require("onnx")
    require("onnxruntime")
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    proto = onnx.load_from_string(graph)
    name = proto.graph.input[0].name
    softmax = [n.name for n in proto.graph.node if n.op_type == "Softmax"]

    class Chips(CalibrationDataReader):
        def __init__(self):
            self._it = iter(calibration)

        def get_next(self):
            if progress is not None:
                check(progress)
            tile = next(self._it, None)
            return None if tile is None else {name: np.ascontiguousarray(tile[None], np.float32)}

    # the calibrator prints its progress to stdout: kept out of the QGIS log and the console
    with tempfile.TemporaryDirectory(prefix="landlearn-int8-") as tmp, \
            warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        src, pre, out = (os.path.join(tmp, f) for f in ("f32.onnx", "pre.onnx", "int8.onnx"))
        with open(src, "wb") as f:
            f.write(graph)
        # shape inference and graph fusions first, as ONNX Runtime's quantiser advises; ONNX's
        # own shape inference, not the symbolic one, which fails on LinkNet's decoder
        quant_pre_process(src, pre, skip_symbolic_shape=True)
        keep_float = softmax + pixel_nodes(onnx.load(pre))
        quantize_static(pre, out, Chips(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=keep_float,
                        calibrate_method=CalibrationMethod.Percentile)
        q = onnx.load(out)
    q.producer_name = proto.producer_name
    q.doc_string = proto.doc_string + " (int8)"
    del q.metadata_props[:]
    q.metadata_props.extend(proto.metadata_props)
    return q.SerializeToString()


def quantize_chips(graph: bytes, data: TrainingData, calibrate_from: Sequence,
                   check_from: Sequence, mean, progress: Progress | None = None
                   ) -> tuple[bytes, dict, int]:
    """(int8 graph, its .emd block, how many chips checked it): calibrated on chips spread
    over ``calibrate_from``, its classes compared with the float graph's on chips of
    ``check_from`` that the calibration did not see (calibration chips when none is left:
    the block says so)."""
    calibration = evenly(calibrate_from, calibration_count(data.tile_size))
    check_chips = evenly([c for c in check_from if c not in calibration], CHECK_CHIPS)
    checked_on = "held-out" if check_chips else "calibration"
    check_chips = check_chips or evenly(calibrate_from, CHECK_CHIPS)
    q = quantize_int8(graph, raw_chips(data, calibration, mean), progress)
    tiles = raw_chips_with_data(data, check_chips, mean)
    agree = agreement(graph, q, [t for t, _ in tiles], [v for _, v in tiles], progress)
    return q, int8_description(len(calibration), agree, checked_on), len(check_chips)


def agreement(float_graph: bytes, int8_graph: bytes, raw: Sequence[np.ndarray],
              valid: Sequence[np.ndarray] | None = None,
              progress: Progress | None = None) -> float:
    """Share of the pixels of the raw tiles ``raw`` (where ``valid``, the pixels that hold
    data, when given) whose class (argmax) is the same on both graphs: what quantisation
    changed in the map. 1.0 when no pixel holds data."""
    ort = require("onnxruntime")
    same = total = 0
    sessions = [ort.InferenceSession(g, providers=["CPUExecutionProvider"])
                for g in (float_graph, int8_graph)]
    name = sessions[0].get_inputs()[0].name
    for i, tile in enumerate(raw):
        if progress is not None:
            check(progress)
        a, b = (s.run(None, {name: np.ascontiguousarray(tile[None], np.float32)})[0].argmax(1)[0]
                for s in sessions)
        counted = np.ones(a.shape, bool) if valid is None else valid[i]
        same += int(((a == b) & counted).sum())
        total += int(counted.sum())
    return same / total if total else 1.0
