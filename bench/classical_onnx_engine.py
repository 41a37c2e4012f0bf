"""The skl2onnx conversion and the ONNX Runtime predictor that bench_classical_onnx.py
measures against LandLearn's classical predictor (split from it: the benchmark's own file
holds the timing, comparison and reporting). skl2onnx and onnxruntime are imported where
used; the benchmark puts bench/site (skl2onnx 1.19.1) on the path first."""

from __future__ import annotations

import time

import numpy as np

__all__ = ["TARGET_OPSET", "OrtClassical", "bool_attributes_as_ints", "convert", "ort_session"]

TARGET_OPSET = 21


# --- conversion -----------------------------------------------------------------------------

class bool_attributes_as_ints:  # noqa: N801
    """skl2onnx 1.19.1 puts Python bools into int-list node attributes of tree ensembles
    (nodes_missing_value_tracks_true); protobuf >= 7.34 refuses them. While this context is
    open, such bools are cast to int (in this process only; skl2onnx's files are untouched)."""

    def __enter__(self):
        import skl2onnx.common._container as container

        self.container, self.make_node = container, container.make_node
        make_node = self.make_node

        def fixed(*args, **kwargs):
            for key, value in kwargs.items():
                if isinstance(value, list) and any(isinstance(v, (bool, np.bool_)) for v in value):
                    kwargs[key] = [int(v) if isinstance(v, (bool, np.bool_)) else v for v in value]
            return make_node(*args, **kwargs)

        container.make_node = fixed
        return self

    def __exit__(self, *exc):
        self.container.make_node = self.make_node


def _convert(model, n_bands: int):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    final = model.steps[-1][1] if hasattr(model, "steps") else model
    return convert_sklearn(model, initial_types=[("input", FloatTensorType([None, n_bands]))],
                           options={id(final): {"zipmap": False}}, target_opset=TARGET_OPSET)


def convert(model, n_bands: int) -> dict:
    """Plain skl2onnx first; on failure, the same with the bool workaround."""
    out = {"plain_error": None, "workaround": False}
    try:
        t = time.perf_counter()
        onx = _convert(model, n_bands)
        out["seconds"] = time.perf_counter() - t
    except Exception as exc:  # noqa: BLE001 - recorded, then retried
        cause = exc.__cause__ or exc
        out["plain_error"] = f"{type(exc).__name__}: {str(exc)[:160]} <- " \
                             f"{type(cause).__name__}: {str(cause)[:160]}"
        out["workaround"] = True
        try:
            with bool_attributes_as_ints():
                t = time.perf_counter()
                onx = _convert(model, n_bands)
                out["seconds"] = time.perf_counter() - t
        except Exception as exc2:  # noqa: BLE001
            out["error"] = f"{type(exc2).__name__}: {str(exc2)[:300]}"
            return out
    out["bytes"] = onx.SerializeToString()
    out["ops"] = sorted({f"{n.domain or 'ai.onnx'}:{n.op_type}" for n in onx.graph.node})
    out["opsets"] = sorted({(o.domain or "ai.onnx", o.version) for o in onx.opset_import})
    return out


# --- the ONNX Runtime predictor swapped into classify_pixels --------------------------------

def ort_session(data: bytes):
    import onnxruntime as ort

    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


class OrtClassical:
    """What ClassicalPredictor does, with ONNX Runtime in place of scikit-learn: raw band
    values in, probabilities out; only the .emd is read from the package."""

    def __init__(self, onnx_file: str):
        with open(onnx_file, "rb") as f:
            self.session = ort_session(f.read())
        self.prob_name = self.session.get_outputs()[1].name
        self.where = "CPU (ONNX Runtime, skl2onnx graph)"

    def proba(self, x: np.ndarray) -> np.ndarray:
        return self.session.run([self.prob_name], {"input": np.asarray(x, np.float32)})[0]

    def __call__(self, x, tta=False, valid=None):
        n, b, h, w = x.shape
        flat = x.transpose(0, 2, 3, 1).reshape(-1, b)
        keep = None if valid is None else valid.reshape(-1)
        rows = flat if keep is None else flat[keep]
        prob = None
        if len(rows):
            p = self.proba(rows)
            prob = np.zeros((len(flat), p.shape[1]), dtype=np.float32)
            prob[slice(None) if keep is None else keep] = p
        else:
            prob = np.zeros((len(flat), self.n_classes), dtype=np.float32)
        return prob.reshape(n, h, w, -1).transpose(0, 3, 1, 2)
