"""classify.predictor: one loader for both kinds of package, and what each predictor returns."""

import numpy as np
import pytest

from landlearn.core.accuracy.calibration import apply_temperature
from landlearn.core.classify.predictor import load_predictor


def test_a_classical_package_gets_the_classical_predictor(svm):
    from landlearn.core.classical.predictor import ClassicalPredictor

    out, _, _ = svm
    predictor, info = load_predictor(str(out), "cuda")  # the device is not used by sklearn
    assert isinstance(predictor, ClassicalPredictor)
    assert info.kind == "classical" and info.in_channels == 5
    assert info.class_values == list(range(1, 8)) and info.class_names[0] == "developed"
    x = np.random.default_rng(0).uniform(50, 120, (2, 5, 4, 3))
    prob = predictor(x)
    assert prob.shape == (2, 7, 4, 3) and prob.dtype == np.float32
    np.testing.assert_allclose(prob.sum(axis=1), 1.0, atol=1e-5)
    # the package's calibration tempers the SVM's probabilities; classes do not change
    assert predictor.temperature == info.temperature != 1.0
    raw = predictor.proba(x.transpose(0, 2, 3, 1).reshape(-1, 5)).reshape(2, 4, 3, 7)
    np.testing.assert_allclose(prob, apply_temperature(raw.transpose(0, 3, 1, 2),
                                                       info.temperature), atol=1e-6)
    np.testing.assert_array_equal(prob.argmax(1), raw.argmax(-1))


def test_a_deep_package_gets_the_deep_predictor_on_the_named_device(model):
    torch = pytest.importorskip("torch")
    from landlearn.core.deep.predictor import DeepPredictor

    predictor, info = load_predictor(model, "cpu", runtime="torch")
    assert isinstance(predictor, DeepPredictor)
    assert predictor.device == torch.device("cpu") and not predictor.amp
    assert info.kind == "deep" and info.in_channels == 5 and len(info.class_values) == 7
    x = np.random.default_rng(0).normal(size=(2, 5, 64, 64)).astype(np.float32)
    prob = predictor(x)
    assert prob.shape == (2, 7, 64, 64) and prob.dtype == np.float32
    np.testing.assert_allclose(prob.sum(axis=1), 1.0, atol=1e-5)
    # softmax(logits / T) with the temperature fitted on the validation chips
    assert predictor.temperature == info.temperature != 1.0
    with torch.no_grad():
        logits = predictor.model(torch.from_numpy(x)).numpy()
    z = logits / info.temperature
    want = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(prob, want / want.sum(1, keepdims=True), atol=1e-5)
    again, _ = load_predictor(model, torch.device("cpu"), runtime="torch")  # a torch.device too
    np.testing.assert_allclose(again(x), prob, atol=1e-6)


def test_a_file_that_is_no_package_is_refused(tmp_path):
    from landlearn.core.errors import InputError

    (tmp_path / "junk.dlpk").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="^MODEL: .* is no zip archive"):
        load_predictor(str(tmp_path / "junk.dlpk"), "cpu")


def test_runtime_auto_takes_onnx_runtime_on_the_cpu_with_the_same_probabilities(model):
    pytest.importorskip("onnxruntime")
    from landlearn.core.deep.onnx_predictor import OnnxPredictor
    from landlearn.core.errors import InputError

    fast, info = load_predictor(model, "cpu")
    slow, _ = load_predictor(model, "cpu", runtime="torch")
    assert isinstance(fast, OnnxPredictor) and fast.takes_raw and "ONNX Runtime" in fast.where
    # the graph's own count of what a pass holds per pixel (classify.memory), in the range
    # of what its architecture's table says
    from landlearn.core.classify.memory import PASS_BYTES_PER_PX

    assert 50 < fast.graph_per_px < 2 * PASS_BYTES_PER_PX[info.architecture]
    raw = info.mean[None, :, None, None] + np.random.default_rng(1).normal(
        size=(2, 5, 64, 64)).astype(np.float32) * info.std[None, :, None, None]
    z = (raw - info.mean[None, :, None, None]) / info.std[None, :, None, None]
    for tta in (False, True):
        np.testing.assert_allclose(fast(raw.astype(np.float32), tta),
                                   slow(z.astype(np.float32), tta), atol=1e-4)
    with pytest.raises(InputError, match="^RUNTIME: 'tensorrt' is not one of auto"):
        load_predictor(model, "cpu", runtime="tensorrt")


def test_engine_here_says_what_load_predictor_takes(model, rf):
    """What a Dask worker reports before any block (the same decision as load_predictor)."""
    pytest.importorskip("onnxruntime")
    import torch

    from landlearn.core.classify.predictor import engine_here
    from landlearn.core.deep.onnx_predictor import OnnxPredictor

    gpu = torch.cuda.is_available()
    for runtime, device in (("auto", "cpu"), ("torch", "cpu"), ("auto", "auto")):
        said = engine_here(model, runtime, device, False)
        predictor, _ = load_predictor(model, device, runtime=runtime)
        took = "onnxruntime" if isinstance(predictor, OnnxPredictor) else "torch"
        assert said.startswith(took + " on ")
        assert said.endswith("cuda" if gpu and device == "auto" else "cpu")
    assert engine_here(model, "auto", "cpu", True) == "onnxruntime int8 on cpu"
    assert engine_here(str(rf[0]), "auto", "auto", False) == "scikit-learn"


def test_a_classical_model_refuses_onnx_runtime(rf):
    from landlearn.core.errors import InputError

    with pytest.raises(InputError, match="^RUNTIME: .* runs on scikit-learn; use RUNTIME=auto"):
        load_predictor(str(rf[0]), "cpu", runtime="onnxruntime")


def test_quantize_is_refused_where_there_is_no_int8_graph_to_run(model, rf):
    pytest.importorskip("onnxruntime")
    from landlearn.core.errors import InputError

    with pytest.raises(InputError, match="^QUANTIZE: .*holds no int8 graph; make one with "
                                         "Export Model"):
        load_predictor(model, "cpu", quantize=True)
    with pytest.raises(InputError, match="^QUANTIZE: the int8 graph runs on ONNX Runtime"):
        load_predictor(model, "cpu", runtime="torch", quantize=True)
    with pytest.raises(InputError, match="^QUANTIZE: the int8 graph is for the CPU"):
        load_predictor(model, "cuda", quantize=True)
    with pytest.raises(InputError, match="^QUANTIZE: .* runs on scikit-learn; QUANTIZE is for "
                                         "deep models"):
        load_predictor(str(rf[0]), "cpu", quantize=True)


def test_a_deep_model_classifies_with_torch_hidden_from_the_import_system(model, sample,
                                                                         tmp_path):
    """The light install (onnxruntime, no torch): Classify Pixels runs a deep package end to
    end on ONNX Runtime and never imports torch; RUNTIME=torch names the install command."""
    import subprocess
    import sys

    pytest.importorskip("onnxruntime")
    from paths import ROOT

    script = f"""
import importlib.abc, sys
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "segmentation_models_pytorch"):
            raise ModuleNotFoundError(f"No module named {{name!r}} (hidden by the test)")
sys.meta_path.insert(0, NoTorch())
sys.path.insert(0, {str(ROOT / 'tests')!r})
from paths import ensure_importable
ensure_importable()
import rasterio
from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
from landlearn.core.errors import MissingDependency
image = {str(sample / 'nc_landsat7' / 'landsat_multiband.tif')!r}
r = classify_pixels(ClassifyConfig(image, {model!r}, {str(tmp_path / 'm.tif')!r}))
with rasterio.open({str(tmp_path / 'm.tif')!r}) as ds:
    print(r.device, (ds.read(1) > 0).sum(), "torch" in sys.modules)
try:
    classify_pixels(ClassifyConfig(image, {model!r}, {str(tmp_path / 'n.tif')!r}, runtime="torch"))
except MissingDependency as exc:
    print("missing", exc.package, "pip install" in exc.install_command)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    first, second = out.stdout.strip().splitlines()[-2:]
    assert first.startswith("ONNX Runtime") and first.endswith(" False")
    assert int(first.split()[-2]) > 150_000
    assert second == "missing torch True"


def test_runtime_auto_needs_onnx_beside_onnx_runtime(model, monkeypatch):
    """Every graph is parsed by onnx before ONNX Runtime loads it: without onnx, auto takes
    torch where it is installed (it stopped on the missing onnx), and a torch-free install
    is told to add onnx."""
    pytest.importorskip("onnxruntime")
    from landlearn.core.classify import predictor as pred
    from landlearn.core.deep.predictor import DeepPredictor
    from landlearn.core.errors import MissingDependency

    real = pred.is_installed
    monkeypatch.setattr(pred, "is_installed", lambda m: m != "onnx" and real(m))
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)
    chosen, _ = load_predictor(model, "cpu")
    assert isinstance(chosen, DeepPredictor)
    monkeypatch.setattr(pred, "is_installed", lambda m: m not in ("onnx", "torch") and real(m))
    with pytest.raises(MissingDependency, match="onnx"):
        load_predictor(model, "cpu")


def _claim_cuda(monkeypatch):
    """An onnxruntime that lists a CUDA provider it cannot start: the CPU build here, which
    (like onnxruntime-gpu without its CUDA libraries) then runs on the CPU, saying so only
    in its own log."""
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("a CUDA provider that may start (onnxruntime-gpu on a GPU machine)")
    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])


def test_a_cuda_provider_that_does_not_start_is_an_error_not_a_silent_cpu_run(model,
                                                                              monkeypatch):
    from landlearn.core.errors import InputError
    from landlearn.core.runtime import device

    _claim_cuda(monkeypatch)
    for name in ("cuda", "cuda:1"):
        gpu = name[-1] if ":" in name else "0"
        with pytest.raises(InputError, match=f"^DEVICE: ONNX Runtime .* could not start its "
                           f"CUDA provider on GPU {gpu}"):
            load_predictor(model, name, runtime="onnxruntime")
    # DEVICE=auto asks ONNX Runtime itself (a torch-free onnxruntime-gpu install has a GPU
    # too), and says where it ran when the provider does not start
    monkeypatch.setattr(device, "onnx_may_have_cuda", lambda: True)
    monkeypatch.setattr("landlearn.core.classify.predictor.onnx_may_have_cuda", lambda: True)
    chosen, _ = load_predictor(model, "auto", runtime="onnxruntime")
    assert chosen.device.type == "cpu" and "its CUDA provider did not start" in chosen.where


def test_a_malformed_gpu_name_is_a_device_error(model):
    from landlearn.core.errors import InputError

    for runtime in ("onnxruntime", "torch"):
        with pytest.raises(InputError, match="^DEVICE: 'cuda:x' is not a device; use cuda, "
                           "cuda:N"):
            load_predictor(model, "cuda:x", runtime=runtime)


def test_out_of_memory_names_batch_size_on_both_runtimes(model, monkeypatch):
    """A GPU too small for the automatic batch: torch raised its own error, and ONNX
    Runtime's failure blamed the package (export it again) instead of the batch."""
    torch = pytest.importorskip("torch")
    from landlearn.core.errors import InputError

    x = np.zeros((3, 5, 64, 64), np.float32)
    onnx, _ = load_predictor(model, "cpu", runtime="onnxruntime")

    class Session:
        def run(self, *a):
            raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Failed to "
                               "allocate memory for requested buffer of size 123456")

    onnx.session = Session()
    with pytest.raises(InputError, match="^BATCH_SIZE: the device ran out of memory on a "
                       "batch of 3 tiles of 64 x 64 px; set a smaller BATCH_SIZE or TILE_SIZE"):
        onnx(x)
    deep, _ = load_predictor(model, "cpu", runtime="torch")

    def oom(t):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(deep, "model", oom)
    with pytest.raises(InputError, match="^BATCH_SIZE: the device ran out of memory"):
        deep(x)


def test_onnx_runtime_threads_follow_a_dask_workers_share(model, monkeypatch):
    """A Dask worker holds its libraries to its threads; ONNX Runtime's own pool took
    every core in each of several single-thread workers."""
    from landlearn.core.runtime.threads import limit_compute_threads

    monkeypatch.delenv("LANDLEARN_THREADS", raising=False)

    limit_compute_threads(1)
    try:
        held, _ = load_predictor(model, "cpu", runtime="onnxruntime")
    finally:
        limit_compute_threads(None)
    assert held.session.get_session_options().intra_op_num_threads == 1
    free, _ = load_predictor(model, "cpu", runtime="onnxruntime")
    assert free.session.get_session_options().intra_op_num_threads == 0  # ORT's default
