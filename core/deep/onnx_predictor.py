"""A deep package's ONNX graph on ONNX Runtime: Classify Pixels without torch.

The graph (model_package.onnx_graph) takes raw band values and gives class probabilities,
so the classify engine hands it raw tiles (NoData set to the band mean, which is what
normalising to 0 means) instead of normalised ones. Loaded from memory, never from a path,
and external data is refused twice: a graph holding an external-data tensor (or control
flow, or foreign operators: model_package.onnx_checks) is refused before ONNX Runtime sees
it, and ONNX Runtime is pointed at an empty folder for
external initialisers (loaded from bytes, it would otherwise read them from the working
directory: a crafted graph could take a user's file as its weights). Its inputs and outputs
are checked against the package's .emd before it runs.

Cancel is heard inside a batch: ONNX Runtime's ``run`` returns only once the whole graph
has run, and a package's graph may be slow beyond reason (10^5 heavy operators, each
within the size checks), so a check between batches alone left Cancel unheard for
minutes. Given ``is_canceled``, the graph runs in a helper thread while the caller asks
every POLL_S; a cancel sets its RunOptions' ``terminate`` (ONNX Runtime stops before the
next operator) and becomes Cancelled. The caller asks, not a watcher thread, because
LandLearn's algorithms run on QGIS's main thread: a Cancel click is an event, heard only
when that thread lets QGIS handle its events (processing_provider.feedback does so inside
is_canceled), which a thread blocked in ``run`` never did.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np

from ..accuracy.calibration import apply_temperature
from ..errors import Cancelled, InputError
from ..model_package.format import PackagedModel
from ..model_package.info import ModelInfo
from ..model_package.onnx_checks import check_graph
from ..model_package.onnx_graph import read_onnx
from ..runtime.deps import require
from ..runtime.device import cuda_index, out_of_memory_advice
from ..runtime.threads import limited_threads

__all__ = ["OnnxPredictor"]

_EXTERNAL_FOLDER = "session.model_external_initializers_file_folder_path"
POLL_S = 0.1  # how often a running graph asks is_canceled (as often as QGIS's own dialog)


class OnnxPredictor:
    takes_raw = True  # raw band values in; the normalisation is inside the graph
    engine = "onnxruntime"  # what a pass's memory is sized for (classify.memory)

    def __init__(self, pkg: PackagedModel, info: ModelInfo, device: str = "cpu",
                 int8: bool = False, cpu_if_no_gpu: bool = False):
        """``device``: 'cpu', 'cuda' or 'cuda:N'. ``cpu_if_no_gpu`` (DEVICE=auto): a CUDA
        provider that does not start gives a CPU session, said in ``where``; asked for by
        name, it is an error."""
        ort = self._ort = require("onnxruntime")
        data = read_onnx(pkg, int8)
        cuda = device.startswith("cuda")
        if cuda and "CUDAExecutionProvider" not in ort.get_available_providers():
            raise InputError("device", "ONNX Runtime on CUDA was asked for, but this "
                             f"onnxruntime {ort.__version__} has no CUDA provider; install "
                             "onnxruntime-gpu, or use RUNTIME=torch or DEVICE=cpu")
        # no external data, control flow, foreign operators or tensors of tens of GB
        # and its own count of the bytes a pass holds per tile pixel (classify.memory)
        self.graph_per_px = check_graph(data, pkg.path, bands=info.in_channels)
        self._path = pkg.path
        fallback = ""
        if cuda:
            gpu = cuda_index(device)
            self.session = self._session(ort, data, [("CUDAExecutionProvider",
                                                      {"device_id": str(gpu)})])
            if "CUDAExecutionProvider" not in self.session.get_providers():
                # listed as available, but its CUDA or cuDNN libraries did not load: ONNX
                # Runtime then runs on the CPU with only a line in its own log
                if not cpu_if_no_gpu:
                    raise InputError("device", f"ONNX Runtime {ort.__version__} could not "
                                     f"start its CUDA provider on GPU {gpu} (the CUDA and "
                                     "cuDNN versions onnxruntime-gpu needs are missing?); "
                                     "use RUNTIME=torch, DEVICE=cpu, or install the CUDA "
                                     "libraries of this onnxruntime-gpu")
                cuda, fallback = False, " (its CUDA provider did not start)"
        else:
            self.session = self._session(ort, data, ["CPUExecutionProvider"])
        self._check_signature(pkg, info)
        # confidence calibration (1 = raw softmax): one pass, and the TTA mean of four
        self.temperature, self.tta_temperature = info.temperature, info.tta_temperature
        self.device = SimpleNamespace(type="cuda" if cuda else "cpu")
        where = f"CUDA (GPU {gpu})" if cuda else f"CPU ({os.cpu_count()} logical cores){fallback}"
        self.where = f"ONNX Runtime {ort.__version__} on {where}" + (
            ", int8 graph" if int8 else "")

    def _session(self, ort, data: bytes, providers: list):
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        threads = limited_threads()
        if threads:  # a Dask worker's share of the machine (ORT's own pool: every core)
            options.intra_op_num_threads = threads
        try:
            with tempfile.TemporaryDirectory(prefix="landlearn-onnx-") as empty:
                options.add_session_config_entry(_EXTERNAL_FOLDER, empty)
                # the ONNX graph checked above, never bytes read as ORT's own format
                options.add_session_config_entry("session.load_model_format", "ONNX")
                return ort.InferenceSession(data, options, providers=providers)
        except Exception as exc:  # noqa: BLE001 - any failure to load is a damaged graph
            raise InputError("model", f"'{self._path}': its ONNX graph cannot be loaded "
                             f"({str(exc).splitlines()[0][:160]}); export it again with "
                             "Export Model, or classify with RUNTIME=torch") from None

    def _check_signature(self, pkg: PackagedModel, info: ModelInfo) -> None:
        ins, outs = self.session.get_inputs(), self.session.get_outputs()

        def channels(values) -> object:
            return values[0].shape[1] if len(values) == 1 and len(values[0].shape) == 4 else None

        if channels(ins) != info.in_channels or channels(outs) != len(info.class_values):
            raise InputError("model", f"'{pkg.path}': its ONNX graph takes "
                             f"{[v.shape for v in ins]} and gives {[v.shape for v in outs]}, "
                             f"not the {info.in_channels} bands and "
                             f"{len(info.class_values)} classes its .emd describes; the "
                             "package was altered (export the graph again with Export Model)")
        # LandLearn's graphs take float32 tiles of any batch and size (Classify Pixels picks
        # the tile): a fixed size (a Deepness copy) would fail on the first tile
        fixed = [d for d in (ins[0].shape[0], ins[0].shape[2], ins[0].shape[3])
                 if isinstance(d, int)]
        if ins[0].type != "tensor(float)" or fixed:
            raise InputError("model", f"'{pkg.path}': its ONNX graph takes {ins[0].type} "
                             f"{ins[0].shape}, not float32 tiles of any batch and size as "
                             "LandLearn's graphs do (a Deepness graph has a fixed size); "
                             "export the graph again with Export Model")
        self._input = ins[0].name
        self._classes = len(info.class_values)
        self._check_description(pkg)

    def _check_description(self, pkg: PackagedModel) -> None:
        """The graph carries the .emd it was exported with (metadata 'landlearn'): its
        classes, bands and normalisation must be the package's. A graph moved in from
        another package of as many bands and classes ran under this .emd's class values
        (a wrong legend) and normalised as that package did (another map than torch's)."""
        raw = self.session.get_modelmeta().custom_metadata_map.get("landlearn")
        if raw is None:
            return  # a graph without LandLearn's description: the shapes were checked
        try:
            theirs = json.loads(raw)["LandLearn"]
            mine = pkg.landlearn
            differs = [key for key in ("class_values", "in_channels") if
                       theirs.get(key) != mine.get(key)]
            for key in ("mean", "std"):
                a = np.asarray(theirs["normalization"][key], np.float64)
                b = np.asarray(mine["normalization"][key], np.float64)
                if a.shape != b.shape or not np.allclose(a, b, rtol=1e-6, atol=0):
                    differs.append(f"normalization {key}")
        except (ValueError, KeyError, TypeError, AttributeError):
            differs = ["its description cannot be read"]
        if differs:
            raise InputError("model", f"'{pkg.path}': its ONNX graph was exported for another "
                             f"model ({', '.join(differs)} differ from the .emd's); the "
                             "package was altered: export the graph again with Export "
                             "Model, or classify with RUNTIME=torch")

    def _run(self, x: np.ndarray, is_canceled: Callable[[], bool] | None = None
             ) -> np.ndarray:
        feed = {self._input: np.ascontiguousarray(x, np.float32)}
        try:
            if is_canceled is None:  # no thread: nobody to ask
                out = self.session.run(None, feed)[0]
            else:
                out = self._run_heard(feed, is_canceled)[0]
        except Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - the checked graph failed on a checked tile
            if _out_of_memory(str(exc)):
                raise InputError("batch_size", out_of_memory_advice(x.shape)) from None
            raise InputError("model", f"'{self._path}': its ONNX graph failed on a tile of "
                             f"{list(x.shape)} ({str(exc).splitlines()[0][:160]}); export it "
                             "again with Export Model, or classify with RUNTIME=torch") from None
        want = (x.shape[0], self._classes, x.shape[2], x.shape[3])
        if out.shape != want or out.dtype != np.float32:
            # a graph that changes the tile's size would put its classes elsewhere on the map
            raise InputError("model", f"'{self._path}': its ONNX graph gave {out.dtype} "
                             f"{list(out.shape)} for a tile of {list(x.shape)}, not the "
                             f"{list(want)} float32 probabilities of LandLearn's graphs; "
                             "export it again with Export Model")
        return out

    def _run_heard(self, feed: dict, is_canceled: Callable[[], bool]) -> list:
        """``session.run`` in a helper thread, ``is_canceled`` asked here every POLL_S (a
        run shorter than that is never asked: the engine asks between batches). Cancelled,
        or interrupted (Ctrl+C in a script), the run is terminated and waited for: no graph
        keeps running, its memory taken, once this returns."""
        options = self._ort.RunOptions()
        result: dict = {}

        def work() -> None:
            try:
                result["out"] = self.session.run(None, feed, options)
            except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
                result["error"] = exc

        thread = threading.Thread(target=work, name="landlearn-onnx-run", daemon=True)
        thread.start()
        try:
            while True:
                thread.join(POLL_S)
                if not thread.is_alive():
                    break
                if is_canceled():
                    options.terminate = True  # ONNX Runtime stops before its next operator
                    thread.join()
                    raise Cancelled()
        finally:
            if thread.is_alive():  # is_canceled raised, or KeyboardInterrupt
                options.terminate = True
                thread.join()
        if "error" in result:
            raise result["error"]
        return result["out"]

    def __call__(self, x: np.ndarray, tta: bool = False, valid: np.ndarray | None = None,
                 calibrate: bool = True, is_canceled: Callable[[], bool] | None = None
                 ) -> np.ndarray:
        """(n, bands, h, w) raw float32 -> (n, classes, h, w) float32 probabilities (with
        ``calibrate``, tempered by the package's temperature). ``is_canceled`` (the
        engine's progress.is_canceled) is asked while the graph runs: True stops it, and
        Cancelled is raised."""
        prob = self._run(x, is_canceled)
        if tta:
            for axes in ((3,), (2,), (2, 3)):
                prob = prob + np.flip(self._run(np.flip(x, axes), is_canceled), axes)
            prob /= 4
        if not calibrate:
            return prob
        return apply_temperature(prob, self.tta_temperature if tta else self.temperature)


def _out_of_memory(message: str) -> bool:
    text = message.lower()
    return "out of memory" in text or "failed to allocate memory" in text

