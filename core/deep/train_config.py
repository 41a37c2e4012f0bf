"""What Train Deep Learning Model is asked to do: the parameters, checked before a chip is
read, so that a typo in a value fails in a second, not after the chips are scanned.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError
from ..model_package.format import check_model_output
from ..seeds import check_seed
from .architectures import check_encoder_depth
from .band_matching import parse_bands
from .ensemble import MAX_MEMBERS
from .losses import check_weighting
from .monitor import check_monitor
from .sampling import SAMPLING

__all__ = ["TrainConfig"]


@dataclass(frozen=True)
class TrainConfig:
    training_data: tuple[str, ...]
    output_model: str
    architecture: str = "unet"
    backbone: str = "resnet34"
    pretrained_weights: str | None = None
    # the checkpoint's input bands: a preset (sentinel2, rgb, ...) or names, in order
    pretrained_bands: str | None = None
    # the training chips' band names for that matching, when the raster has none
    band_names: tuple[str, ...] | None = None
    freeze: bool = False  # the pretrained encoder kept as it is (deep.freeze)
    ignore_classes: tuple[int, ...] = (0,)
    # 1..255: the label chips' 0 on valid image data trained as a class of this value named
    # 'background' (arcgis.learn's reading of Classified Tiles); 0: 0 is no label
    background_value: int = 0
    epochs: int = 20
    batch_size: int | None = None  # None: auto_batch (the same on CPU and GPU)
    encoder_depth: int | None = None  # None: fitted to the chip size (U-Nets; 5 otherwise)
    # the input pixels joined to the U-Net's full-resolution decoder output (deep.detail_head);
    # other architectures are built without it (a note says so)
    detail_head: bool = True
    learning_rate: float | None = None  # None: run the LR finder
    validation_percent: float = 10.0
    early_stopping: int = 5  # patience in epochs; 0 = off
    monitor: str = "mean_iou"  # the figure that picks the best epoch (monitor.MONITORS)
    loss: str = "crossentropy"
    class_weighting: str = "none"  # or one of losses.WEIGHTINGS
    chip_sampling: str = "uniform"  # or "balanced": rare classes' chips repeated (sampling.py)
    augmentation: bool = True
    # brightness and contrast changed per chip and band by up to this (chip_dataset)
    radiometric_jitter: float = 0.0
    device: str = "auto"
    mixed_precision: bool = True  # used on CUDA only
    save_on_cancel: bool = False
    quantize: bool = False  # also an int8 ONNX graph, calibrated on training chips
    ensemble_size: int = 2  # networks trained from seeds seed, seed + 1, ...; averaged
    seed: int = 0

    def validate(self) -> None:
        check_seed(self.seed)
        if self.epochs < 1:
            raise InputError("epochs", f"{self.epochs} epochs cannot train; use 1 or more")
        if self.batch_size is not None and self.batch_size < 1:
            raise InputError("batch_size", f"{self.batch_size} is not a batch size; leave it "
                             "empty to fit the device")
        if self.learning_rate is not None and not 0 < self.learning_rate < 10:
            raise InputError("learning_rate", f"{self.learning_rate} is not a usable rate; "
                             "leave it empty to run the learning-rate finder")
        if self.encoder_depth is not None:
            check_encoder_depth(self.architecture, self.encoder_depth)
        if not isinstance(self.detail_head, bool):
            raise InputError("detail_head", f"{str(self.detail_head)[:20]} is not true or false")
        if isinstance(self.ensemble_size, bool) or not isinstance(self.ensemble_size, int) \
                or not 1 <= self.ensemble_size <= MAX_MEMBERS:
            raise InputError("ensemble_size", f"{str(self.ensemble_size)[:20]} networks: use 1 "
                             f"(one network) to {MAX_MEMBERS}")
        if not 0 <= self.validation_percent < 100:
            raise InputError("validation_percent", f"{self.validation_percent} is not a "
                             "percentage below 100")
        if self.early_stopping < 0:
            raise InputError("early_stopping", "the patience must be 0 (off) or more epochs")
        check_monitor(self.monitor)
        if not (isinstance(self.radiometric_jitter, (int, float))
                and 0 <= self.radiometric_jitter <= 1):
            raise InputError("radiometric_jitter", f"{str(self.radiometric_jitter)[:20]} is "
                             "not 0 (off) .. 1 (band scales 0..2 and shifts of one standard "
                             "deviation)")
        if self.pretrained_bands and not self.pretrained_weights:
            raise InputError("pretrained_bands", "names the bands of pretrained weights; give "
                             "PRETRAINED_WEIGHTS too, or leave it empty")
        parse_bands(self.pretrained_bands)
        if not isinstance(self.freeze, bool):
            raise InputError("freeze", f"{str(self.freeze)[:20]} is not true or false")
        if self.freeze and not self.pretrained_weights:
            raise InputError("freeze", "keeps a pretrained encoder as it is; give "
                             "PRETRAINED_WEIGHTS too, or leave FREEZE off")
        if self.band_names is not None and not self.pretrained_weights:
            raise InputError("band_names", "names the training bands for matching pretrained "
                             "weights; give PRETRAINED_WEIGHTS too, or leave it empty")
        if self.chip_sampling not in SAMPLING:
            raise InputError("chip_sampling", f"'{self.chip_sampling}' is not one of "
                             + ", ".join(SAMPLING))
        check_weighting(self.class_weighting)
        if isinstance(self.background_value, bool) or not isinstance(self.background_value, int) \
                or not 0 <= self.background_value <= 255:
            raise InputError("background_value", f"{str(self.background_value)[:20]} is not a "
                             "class value: use 1..255, or 0 to leave unlabelled pixels out")
        odd = [v for v in self.ignore_classes
               if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 255]
        if odd:  # 300 or -4 ignored nothing, unsaid (a qgis_process sweep, stop 67)
            raise InputError("ignore_classes", f"{odd[:5]} are not class values: label chips "
                             "hold 0..255; give values of the training classes, comma-separated")
        if self.background_value and self.background_value in self.ignore_classes:
            raise InputError("background_value", f"{self.background_value} is in "
                             "IGNORE_CLASSES too: take it out there, or choose another value")
        check_model_output(self.output_model, {"training_data": list(self.training_data),
                                               "pretrained_weights": self.pretrained_weights})
