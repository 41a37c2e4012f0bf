"""A trained model, ready to turn normalised pixel batches into class probabilities.

Built from a package without running any code from it. Inference uses eval mode, no
gradients, autocast on CUDA and optional test-time augmentation (flips), and always
returns float32 probabilities on the CPU, so the streaming engine never sees torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .deps import require
from .errors import InputError
from .model_package import PackagedModel, read_package, read_weights


@dataclass
class ModelInfo:
    kind: str
    class_values: list[int]
    class_names: list[str]
    class_colors: list[tuple[int, int, int]]
    band_names: list[str]
    source_bands: list[int] | None
    source_band_count: int | None
    in_channels: int
    mean: np.ndarray
    std: np.ndarray
    dtype: str | None
    cell_size: tuple[float, float] | None
    crs_units: str | None
    tile: int
    padding: int
    # the training pixels' own statistics, for the value check: deep models normalise
    # with them, classical ones standardise inside the model (mean 0, std 1 above)
    value_mean: np.ndarray
    value_std: np.ndarray

    @property
    def classes(self):
        from .classes import ClassInfo

        return [ClassInfo(v, n, c) for v, n, c in
                zip(self.class_values, self.class_names, self.class_colors)]


def model_info(pkg: PackagedModel) -> ModelInfo:
    info = pkg.landlearn
    try:
        values = [int(v) for v in info["class_values"]]
        by_value = {int(c["Value"]): c for c in pkg.emd["Classes"]}
        norm = info["normalization"]
        return ModelInfo(
            kind=info.get("kind", "deep"), class_values=values,
            class_names=[str(by_value[v]["Name"]) for v in values],
            class_colors=[tuple(int(x) for x in by_value[v]["Color"][:3]) for v in values],
            band_names=list(info["band_names"]), source_bands=info.get("source_bands"),
            source_band_count=info.get("source_band_count"),
            in_channels=int(info["in_channels"]), mean=np.asarray(norm["mean"], np.float32),
            std=np.asarray(norm["std"], np.float32), dtype=info.get("dtype"),
            cell_size=tuple(info["cell_size"]) if info.get("cell_size") else None,
            crs_units=info.get("crs_units"), tile=int(pkg.emd.get("ImageWidth", 256)),
            padding=int(info.get("padding", pkg.emd.get("ModelPadding", 32))),
            value_mean=np.asarray(norm.get("sample_mean", norm["mean"]), np.float64),
            value_std=np.asarray(norm.get("sample_std", norm["std"]), np.float64))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError("model", f"'{pkg.path}' has an incomplete model description "
                         f"(.emd): {exc}") from exc


class DeepPredictor:
    def __init__(self, pkg: PackagedModel, info: ModelInfo, device, mixed_precision: bool = True):
        from .models import build_model

        self.torch = torch = require("torch")
        lk = pkg.landlearn
        # the .emd passed the schema, so this network has a bounded size; its shapes are
        # what the weights must match before they are read
        self.model = build_model(lk["architecture"], lk["encoder"], info.in_channels,
                                 len(info.class_values))
        state = read_weights(pkg, {k: tuple(v.shape) for k, v in self.model.state_dict().items()})
        try:
            self.model.load_state_dict(state)
        except RuntimeError as exc:
            raise InputError("model", f"the weights in '{pkg.path}' do not fit its own "
                             f"description: {str(exc).splitlines()[0]}") from exc
        if not all(bool(torch.isfinite(v).all()) for v in state.values()
                   if v.is_floating_point()):
            raise InputError("model", f"'{pkg.path}': its weights hold values that are not "
                             "numbers (NaN or infinity); the model cannot classify")
        self.model.to(device).eval()
        self.device = device
        self.amp = device.type == "cuda" and mixed_precision
        self.amp_dtype = (torch.bfloat16 if self.amp and torch.cuda.is_bf16_supported()
                          else torch.float16)

    def __call__(self, x: np.ndarray, tta: bool = False, valid: np.ndarray | None = None
                 ) -> np.ndarray:
        """(n, bands, h, w) normalised float32 -> (n, classes, h, w) float32 probabilities.

        ``valid`` is not used: a convolution needs the whole tile, NoData set to the mean."""
        torch = self.torch
        with torch.inference_mode():
            t = torch.from_numpy(x).to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
                prob = self.model(t).float().softmax(1)
                if tta:
                    for dims in ((3,), (2,), (2, 3)):
                        prob += self.model(t.flip(dims)).float().softmax(1).flip(dims)
                    prob /= 4
            return prob.cpu().numpy()


def load_predictor(path: str, device, mixed_precision: bool = True):
    """(predictor, info); ``device`` is a torch.device or a name (resolved for deep models)."""
    pkg = read_package(path, "model")
    info = model_info(pkg)
    if info.kind == "classical":
        from .classical_predictor import ClassicalPredictor

        return ClassicalPredictor(pkg, info), info
    if isinstance(device, str):
        from .device import resolve_device

        device = resolve_device(device)
    return DeepPredictor(pkg, info, device, mixed_precision), info
