"""The predictor for a package, deep or classical: what Classify Pixels runs tiles through.

Classical packages run on scikit-learn (classical.predictor). Deep packages run on torch
(deep.predictor) or, when they carry an ONNX graph, on ONNX Runtime (deep.onnx_predictor):
RUNTIME=auto takes ONNX Runtime on the CPU (faster there, and no torch to import) and
torch on a GPU. All take (n, bands, h, w) tiles, normalised or raw (``takes_raw``), and
give (n, classes, h, w) float32 probabilities, calibrated with the package's temperature
when it has one (accuracy.calibration; the class map does not change).
"""

from __future__ import annotations

from ..classical.predictor import ClassicalPredictor
from ..deep.onnx_predictor import OnnxPredictor
from ..deep.predictor import DeepPredictor
from ..errors import InputError
from ..model_package.format import read_package
from ..model_package.info import ModelInfo, model_info
from ..model_package.onnx_graph import has_onnx, no_graph_advice
from ..runtime.deps import is_installed, too_old
from ..runtime.device import DEVICES, cuda_index, may_have_cuda, onnx_may_have_cuda, resolve_device

__all__ = ["RUNTIMES", "ModelInfo", "engine_here", "engine_of", "load_predictor"]

RUNTIMES = ("auto", "onnxruntime", "torch")


def _runtime_for(pkg, runtime: str, name: str) -> str:
    """RUNTIME=auto decided for a deep package on this machine: ONNX Runtime (with onnx
    beside it: a graph is parsed and checked before it runs) on the CPU, torch where a GPU
    may be used or the package has no graph."""
    if runtime != "auto":
        return runtime
    # an onnxruntime or onnx below LandLearn's minimum counts as absent: torch runs it
    onnx_ok = all(is_installed(m) and not too_old(m) for m in ("onnxruntime", "onnx"))
    use_onnx = has_onnx(pkg) and onnx_ok and (
        name == "cpu" or (name == "auto" and not may_have_cuda()))
    if not use_onnx and not is_installed("torch") and has_onnx(pkg):
        use_onnx = True  # torch-free install: ONNX Runtime names what is missing
    return "onnxruntime" if use_onnx else "torch"


def engine_here(path: str, runtime: str, device: str, quantize: bool) -> str:
    """What a deep package would run on in this process, as 'runtime on device' ('scikit-
    learn' for a classical one), decided as load_predictor decides it, without loading the
    network: for a Dask run, whose workers each decide RUNTIME and DEVICE=auto for
    themselves (a GPU worker's torch blocks beside a CPU worker's ONNX Runtime blocks give
    a map with seams at near ties)."""
    return engine_of(read_package(path, "model"), runtime, device, quantize)


def engine_of(pkg, runtime: str, device: str, quantize: bool) -> str:
    """``engine_here`` of a package already read."""
    if pkg.kind != "deep":
        return "scikit-learn"
    if quantize:
        return "onnxruntime int8 on cpu"
    chosen = _runtime_for(pkg, runtime, device)
    if chosen == "onnxruntime":
        gpu = device.startswith("cuda") or (device == "auto" and onnx_may_have_cuda())
        return f"onnxruntime on {'cuda' if gpu else 'cpu'}"
    return f"torch on {resolve_device(device).type}"


def load_predictor(path: str, device, mixed_precision: bool = False, runtime: str = "auto",
                   quantize: bool = False):
    """(predictor, info); ``device`` is a torch.device or a name (resolved for deep models).
    ``quantize`` runs the package's int8 graph (ONNX Runtime on the CPU)."""
    if runtime not in RUNTIMES:
        raise InputError("runtime", f"'{runtime}' is not one of {', '.join(RUNTIMES)}")
    pkg = read_package(path, "model")
    info = model_info(pkg)
    if info.kind == "classical":
        if runtime == "onnxruntime":
            raise InputError("runtime", f"'{path}' is a {pkg.landlearn.get('model_type')} "
                             "model, which runs on scikit-learn; use RUNTIME=auto")
        if quantize:
            raise InputError("quantize", f"'{path}' is a {pkg.landlearn.get('model_type')} "
                             "model, which runs on scikit-learn; QUANTIZE is for deep models, "
                             "leave it off")
        return ClassicalPredictor(pkg, info), info
    name = device if isinstance(device, str) else device.type
    if isinstance(name, str) and name not in DEVICES and not name.startswith("cuda"):
        resolve_device(name)  # the DEVICE error, named as everywhere
    if name.startswith("cuda"):
        cuda_index(name)  # 'cuda:x' named as a DEVICE error, not a ValueError
    if not isinstance(device, str) and device.type == "cuda" and device.index is not None:
        name = f"cuda:{device.index}"
    if quantize:
        if runtime == "torch":
            raise InputError("quantize", "the int8 graph runs on ONNX Runtime, not torch; use "
                             "RUNTIME=auto or onnxruntime with QUANTIZE, or leave QUANTIZE off")
        if name.startswith("cuda"):
            raise InputError("quantize", "the int8 graph is for the CPU (ONNX Runtime's int8 "
                             "kernels); use DEVICE=cpu or auto with QUANTIZE, or leave it off "
                             "on a GPU")
        return OnnxPredictor(pkg, info, "cpu", int8=True), info
    runtime = _runtime_for(pkg, runtime, name)
    if runtime == "onnxruntime":
        if not has_onnx(pkg):
            raise InputError("runtime", f"'{path}' holds no ONNX graph: "
                             f"{no_graph_advice(pkg)}")
        if name == "auto":  # ONNX Runtime's own CUDA provider decides, torch or not
            gpu = onnx_may_have_cuda()
            return OnnxPredictor(pkg, info, "cuda" if gpu else "cpu", cpu_if_no_gpu=True), info
        return OnnxPredictor(pkg, info, name if name.startswith("cuda") else "cpu"), info
    if isinstance(device, str):
        device = resolve_device(device)
    return DeepPredictor(pkg, info, device, mixed_precision), info
