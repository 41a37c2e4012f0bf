"""A trained deep model, ready to turn normalised pixel batches into class probabilities.

Built from a package without running any code from it: the network the .emd describes is
built first, and the weights are read only once their header matches it. Inference uses
eval mode, no gradients, autocast on CUDA and optional test-time augmentation (flips), and
always returns float32 probabilities on the CPU, so the streaming engine never sees torch.

Without mixed precision, CUDA runs true float32: cuDNN's default TF32 convolutions (10-bit
mantissa) moved probabilities by up to 0.37 against the CPU on nc_landsat7 (H200,
BENCHMARKS.md "The GPU paths on a lent H200"), which is not what a user turning autocast off asks for.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext

import numpy as np

from ..accuracy.calibration import apply_temperature
from ..errors import InputError
from ..model_package.format import PackagedModel, read_weights
from ..model_package.info import ModelInfo
from ..runtime.deps import require
from ..runtime.device import native_bf16, out_of_memory_advice
from .models import build_model

__all__ = ["DeepPredictor"]


class DeepPredictor:
    def __init__(self, pkg: PackagedModel, info: ModelInfo, device,
                 mixed_precision: bool = False):
        self.torch = torch = require("torch")
        lk = pkg.landlearn
        # the .emd passed the schema, so this network has a bounded size; its shapes are
        # what the weights must match before they are read
        self.model = build_model(lk["architecture"], lk["encoder"], info.in_channels,
                                 len(info.class_values), pkg.parameter,
                                 lk.get("encoder_depth", 5), lk.get("ensemble_members", 1),
                                 lk.get("detail_head", False))
        state = read_weights(pkg, {k: tuple(v.shape) for k, v in self.model.state_dict().items()})
        try:
            self.model.load_state_dict(state)
        except RuntimeError as exc:
            raise InputError("model", f"the weights in '{pkg.path}' do not fit its own "
                             f"description: {str(exc).splitlines()[0]}") from exc
        self.model.to(device).eval()
        # confidence calibration (1 = raw softmax): one pass, and the TTA mean of four
        self.temperature, self.tta_temperature = info.temperature, info.tta_temperature
        self.device = device
        self.amp = device.type == "cuda" and mixed_precision
        self.strict = device.type == "cuda" and not mixed_precision
        self.amp_dtype = (torch.bfloat16 if self.amp and native_bf16(torch, device)
                          else torch.float16)

    def __call__(self, x: np.ndarray, tta: bool = False, valid: np.ndarray | None = None,
                 calibrate: bool = True, is_canceled=None) -> np.ndarray:
        """(n, bands, h, w) normalised float32 -> (n, classes, h, w) float32 probabilities
        (with ``calibrate``, tempered by the package's temperature).

        ``valid`` is not used: a convolution needs the whole tile, NoData set to the mean.
        Nor is ``is_canceled`` (ONNX Runtime's): LandLearn's own networks, rebuilt from the
        package's architecture, run one batch in bounded time; Cancel is heard between."""
        torch = self.torch
        try:
            with torch.inference_mode(), self._float32():
                t = torch.from_numpy(x).to(self.device, non_blocking=True)
                with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
                    prob = self.model(t).float().softmax(1)
                    if tta:
                        for dims in ((3,), (2,), (2, 3)):
                            prob += self.model(t.flip(dims)).float().softmax(1).flip(dims)
                        prob /= 4
                out = prob.cpu().numpy()
        except torch.cuda.OutOfMemoryError:
            # the automatic batch fits TILE_MEMORY, not a small GPU's free memory
            torch.cuda.empty_cache()
            raise InputError("batch_size", out_of_memory_advice(x.shape)) from None
        if self.amp and not np.isfinite(out).all():
            # float16 autocast overflowed on an nc_landsat7 model (H200): NaN probabilities,
            # 6% of the pixels agreeing with float32
            raise InputError("mixed_precision", f"{str(self.amp_dtype).split('.')[-1]} "
                             "autocast overflowed in this model (probabilities that are not "
                             "numbers); turn MIXED_PRECISION off to classify in float32")
        if not calibrate:
            return out
        return apply_temperature(out, self.tta_temperature if tta else self.temperature)

    def _float32(self):
        """cuDNN without TF32 while this model runs (a process-wide flag: restored after)."""
        return _no_tf32(self.torch) if self.strict else nullcontext()


@contextmanager
def _no_tf32(torch):
    cudnn = torch.backends.cudnn
    before = cudnn.allow_tf32
    cudnn.allow_tf32 = False
    try:
        yield
    finally:
        cudnn.allow_tf32 = before
