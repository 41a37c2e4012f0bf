"""Train Deep Learning Model: chip folders -> a U-Net (or friends) -> a self-describing package.

One epoch = every training chip once, shuffled, augmented; then the held-out blocks are
scored. The best epoch by validation mean IoU is kept (early stopping counts epochs without
improvement), and only the finished package is written: a cancel leaves nothing unless the
user asked for the best model so far.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field, replace

import numpy as np

from ..accuracy.calibration import Calibration, fit_calibration
from ..accuracy.metrics import Accuracy
from ..chips.training_data import read_training_data
from ..errors import Cancelled, InputError
from ..model_package.format import check_model_output
from ..progress import NullProgress, Progress, check
from ..runtime.deps import require
from ..runtime.device import describe_device, resolve_device
from ..termination import terminable
from .advice import sparse_labels_note
from .architectures import auto_encoder_depth, check_encoder_depth
from .band_matching import parse_bands
from .batches import NORM_BATCHES, auto_batch, epoch_batches, refresh_norm_statistics
from .chip_dataset import IGNORE, ChipData
from .evaluation import calibration_groups, evaluate
from .losses import make_loss
from .lr_finder import find_learning_rate
from .models import build_model
from .pretrained import load_weights, read_checkpoint
from .sampling import SAMPLING, epoch_length, epoch_order, sampling_factors
from .split import spatial_split
from .train_package import save_trained


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
    ignore_classes: tuple[int, ...] = (0,)
    epochs: int = 20
    batch_size: int | None = None  # None: auto_batch (the same on CPU and GPU)
    encoder_depth: int | None = None  # None: fitted to the chip size (U-Nets; 5 otherwise)
    learning_rate: float | None = None  # None: run the LR finder
    validation_percent: float = 10.0
    early_stopping: int = 5  # patience in epochs; 0 = off
    loss: str = "crossentropy"
    class_weighting: str = "none"  # or "inverse_frequency"
    chip_sampling: str = "uniform"  # or "balanced": rare classes' chips repeated (sampling.py)
    augmentation: bool = True
    device: str = "auto"
    mixed_precision: bool = True  # used on CUDA only
    save_on_cancel: bool = False
    quantize: bool = False  # also an int8 ONNX graph, calibrated on training chips
    seed: int = 0

    def validate(self) -> None:
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
        if self.early_stopping < 0:
            raise InputError("early_stopping", "the patience must be 0 (off) or more epochs")
        if self.pretrained_bands and not self.pretrained_weights:
            raise InputError("pretrained_bands", "names the bands of pretrained weights; give "
                             "PRETRAINED_WEIGHTS too, or leave it empty")
        parse_bands(self.pretrained_bands)
        if self.band_names is not None and not self.pretrained_weights:
            raise InputError("band_names", "names the training bands for matching pretrained "
                             "weights; give PRETRAINED_WEIGHTS too, or leave it empty")
        if self.chip_sampling not in SAMPLING:
            raise InputError("chip_sampling", f"'{self.chip_sampling}' is not one of "
                             + ", ".join(SAMPLING))
        if self.class_weighting not in ("none", "inverse_frequency"):
            raise InputError("class_weighting", f"'{self.class_weighting}' is not none or "
                             "inverse_frequency")
        check_model_output(self.output_model, {"training_data": list(self.training_data),
                                               "pretrained_weights": self.pretrained_weights})


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    valid_loss: float | None
    accuracy: float | None
    mean_iou: float | None
    seconds: float


@dataclass
class TrainResult:
    output_model: str
    accuracy: Accuracy | None
    history: list[EpochRecord]
    best_epoch: int
    learning_rate: float
    batch_size: int
    device: str
    chips: dict[str, int]
    seconds: float
    lr_history: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    calibration: Calibration | None = None
    encoder_depth: int = 5


def epoch_line(r: EpochRecord) -> str:
    def f(v):
        return "      -" if v is None else f"{v:7.4f}"
    return (f"{r.epoch:>5}  {r.train_loss:10.4f}  {f(r.valid_loss):>10}  {f(r.accuracy):>8}  "
            f"{f(r.mean_iou):>8}  {time.strftime('%M:%S', time.gmtime(r.seconds)):>6}")


EPOCH_HEADER = "epoch  train_loss  valid_loss  accuracy  mean_iou    time"


def _class_values(data, ignore: tuple[int, ...]) -> list[int]:
    values = [c.value for c in data.classes if c.value not in ignore]
    if len(values) < 2:
        raise InputError("training_data", f"only {len(values)} class remains to learn "
                         f"({[c.name for c in data.classes]}, ignoring {list(ignore)}); a "
                         "segmentation model needs at least two classes")
    return values


def _scan(chips: ChipData, indices: list[int], n: int, progress: Progress) -> np.ndarray:
    """(chips, classes) labelled pixels per class index of each of ``indices`` (fills the
    cache as it goes)."""
    counts = np.zeros((len(indices), n), dtype=np.int64)
    for k, i in enumerate(indices):
        if k % 16 == 0:
            check(progress)
        _, y = chips.load(i)
        counts[k] = np.bincount(y[y != IGNORE].ravel(), minlength=n)[:n]
    return counts


def _encoder_depth(config: TrainConfig, tile: tuple[int, int], ckpt, progress) -> int:
    """ENCODER_DEPTH when given; else a LandLearn package's own depth when training starts
    from one (its decoder only fits a network of that depth); else fitted to the chips."""
    if config.encoder_depth is not None:
        return config.encoder_depth
    if ckpt is not None and ckpt.encoder_depth is not None:
        try:  # the same rule as ENCODER_DEPTH's (a package's .emd passed its schema already)
            depth = check_encoder_depth(config.architecture, ckpt.encoder_depth)
        except InputError:
            progress.info(f"The pretrained package's encoder depth {ckpt.encoder_depth} does not "
                          f"fit {config.architecture}: its decoder is not used")
        else:
            progress.info(f"Encoder depth {depth}, as in the pretrained package")
            return depth
    depth = auto_encoder_depth(config.architecture, min(tile))
    if depth != 5:
        progress.info(f"Encoder depth {depth} for {tile[0]} x {tile[1]} px chips: the deepest "
                      f"map stays {min(tile) >> depth} px wide (ENCODER_DEPTH sets it)")
    return depth


@terminable
def train_model(config: TrainConfig, progress: Progress | None = None) -> TrainResult:

    progress = progress or NullProgress()
    config.validate()
    torch = require("torch")
    require("segmentation_models_pytorch")
    device = resolve_device(config.device)
    t0 = time.perf_counter()
    data = read_training_data(config.training_data, progress)
    values = _class_values(data, config.ignore_classes)
    names = [c.name for c in data.classes if c.value in values]
    split = spatial_split(data.chips, config.validation_percent, config.seed)
    chips = ChipData(data, values)
    per_chip = _scan(chips, split.train, len(values), progress)
    counts = per_chip.sum(axis=0)
    sparse = sparse_labels_note(int(counts.sum()),
                                len(split.train) * data.tile_size[0] * data.tile_size[1])
    if counts.sum() == 0:
        raise InputError("ignore_classes", "every labelled pixel of the training chips is NoData "
                         "or an ignored class; nothing is left to learn")
    notes = [f"{len(split.train)} training chips, {len(split.valid)} validation chips in "
             f"held-out blocks, {len(split.dropped)} dropped for overlapping validation chips"]
    progress.info(notes[0])
    missing = [names[i] for i in range(len(values)) if counts[i] == 0]
    if missing:
        notes.append(f"classes without training pixels (cannot be learnt): {missing}")
        progress.warning(notes[-1])
    if sparse:
        notes.append(sparse)
        progress.warning(sparse)
    torch.manual_seed(config.seed)
    ckpt = read_checkpoint(config.pretrained_weights) if config.pretrained_weights else None
    depth = _encoder_depth(config, data.tile_size, ckpt, progress)
    config = replace(config, encoder_depth=depth)  # the package records the depth built
    model = build_model(config.architecture, config.backbone, data.band_count, len(values),
                        encoder_depth=depth)
    if ckpt is not None:
        bands = list(config.band_names or data.band_names)
        if len(bands) != data.band_count:
            raise InputError("band_names", f"{len(bands)} names for {data.band_count} bands of "
                             "the training chips; name each band once, in order")
        given = parse_bands(config.pretrained_bands)
        what = load_weights(model, ckpt.state, bands=given or ckpt.bands, names=bands,
                            bands_from_user=given is not None)
        notes.append(f"pretrained weights from {config.pretrained_weights}: {what}")
        progress.info(notes[-1])
    model.to(device)
    shape = (data.band_count, data.tile_size[1], data.tile_size[0])
    batch = config.batch_size or auto_batch(torch, model, device, shape, len(split.train))
    weight = None
    if config.class_weighting == "inverse_frequency":
        freq = counts / counts.sum()
        w = np.where(freq > 0, 1.0 / np.maximum(freq, 1e-12), 0.0)
        weight = torch.tensor(w / w[w > 0].mean(), dtype=torch.float32, device=device)
    loss_fn = make_loss(config.loss, torch, weight)
    rng = np.random.default_rng(config.seed)
    amp = device.type == "cuda" and config.mixed_precision
    amp_dtype = torch.bfloat16 if amp and torch.cuda.is_bf16_supported() else torch.float16
    progress.info(f"Device: {describe_device(device)}; batch size {batch}"
                  + (f"; mixed precision {str(amp_dtype).split('.')[-1]}" if amp else ""))

    def train_batches(i):
        order = rng.permutation(split.train)
        start = (i * batch) % max(len(order) - batch + 1, 1)
        return chips.batch(order[start:start + batch], torch, device, config.augmentation, rng)

    lr, lr_history = config.learning_rate, []
    if lr is None:
        lr, lr_history = find_learning_rate(torch, model, train_batches, loss_fn, device,
                                            steps=60,
                                            progress=progress)
        check(progress)
        progress.info(f"Learning-rate finder chose {lr:.2e}")
    factors, line = sampling_factors(config.chip_sampling, per_chip, names)
    if line:
        notes.append(line)
        progress.info(line)
    steps_per_epoch = math.ceil(epoch_length(split.train, factors) / batch)
    if min(batch, len(split.train)) < 2 and min(shape[1], shape[2]) >> depth <= 1:
        raise InputError("batch_size" if batch < 2 else "training_data",
                         f"{shape[2]} x {shape[1]} px chips shrink to one pixel in the encoder, "
                         "where BatchNorm needs at least 2 chips per batch; "
                         + ("set BATCH_SIZE to 2 or more" if batch < 2 else
                            "export more training chips") + ", or export larger chips")
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, epochs=config.epochs,
                                                steps_per_epoch=steps_per_epoch)
    scaler = torch.amp.GradScaler("cuda", enabled=amp and amp_dtype == torch.float16)
    history: list[EpochRecord] = []
    norm_chips = np.random.default_rng(config.seed).permutation(split.train)[
        :NORM_BATCHES * batch]
    best = (-1.0, math.inf)
    best_state, best_epoch, stale = None, 0, 0
    progress.info(EPOCH_HEADER)
    total_steps = config.epochs * steps_per_epoch
    try:
        for epoch in range(1, config.epochs + 1):
            te = time.perf_counter()
            model.train()
            order = epoch_order(split.train, factors, rng)
            losses = []
            for s, chosen in enumerate(epoch_batches(order, batch)):
                check(progress)
                x, y = chips.batch(chosen, torch, device, config.augmentation, rng)
                opt.zero_grad(set_to_none=True)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
                    loss = loss_fn(model(x).float(), y)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                sched.step()
                losses.append(float(loss.detach()))
                progress.set_fraction(((epoch - 1) * steps_per_epoch + s + 1) / total_steps * 0.95)
            refresh_norm_statistics(torch, model, chips, norm_chips, batch, device, progress)
            vloss, acc = evaluate(torch, model, chips, split.valid, loss_fn, device, batch,
                                  len(values), names, amp, amp_dtype, progress)
            rec = EpochRecord(epoch, float(np.mean(losses)), vloss,
                              acc.overall if acc else None, acc.mean_iou if acc else None,
                              time.perf_counter() - te)
            history.append(rec)
            progress.info(epoch_line(rec))
            score = (acc.mean_iou, -vloss) if acc else (-rec.train_loss, 0.0)
            if best_state is None or score > best:
                best, best_epoch, stale = score, epoch, 0
                best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
            else:
                stale += 1
                if config.early_stopping and stale >= config.early_stopping:
                    notes.append(f"early stopping after epoch {epoch}: no better validation "
                                 f"mean IoU for {stale} epochs")
                    progress.info(notes[-1])
                    break
    except Cancelled:
        if config.save_on_cancel and best_state is not None:
            model.load_state_dict(best_state)
            notes.append(f"cancelled during epoch {len(history) + 1}; saved the best epoch so far")
            result = _finish(torch, config, data, values, names, model, chips, split, loss_fn,
                             device, batch, amp, amp_dtype, history, best_epoch, lr, lr_history,
                             notes, t0, NullProgress())
            raise Cancelled(f"Cancelled by the user; the best model so far (epoch {best_epoch}) "
                            f"was saved to {result.output_model}.") from None
        raise
    model.load_state_dict(best_state)
    return _finish(torch, config, data, values, names, model, chips, split, loss_fn, device,
                   batch, amp, amp_dtype, history, best_epoch, lr, lr_history, notes, t0, progress)


def _finish(torch, config, data, values, names, model, chips, split, loss_fn, device, batch,
            amp, amp_dtype, history, best_epoch, lr, lr_history, notes, t0, progress):
    samples: list = []
    eval_on = split.valid or split.train
    if not split.valid:
        notes.append("no validation chips (VALIDATION_PERCENT = 0): the metrics below are on the "
                     "training chips and overstate accuracy")
    held_out: list = []
    _, acc = evaluate(torch, model, chips, eval_on, loss_fn, device, batch, len(values), names,
                      amp, amp_dtype, progress, keep=samples,
                      gather=held_out if split.valid else None)
    calibration = None
    if held_out:
        calibration = fit_calibration(np.concatenate([p for p, _, _ in held_out]),
                                      np.concatenate([t for _, t, _ in held_out]),
                                      "validation pixels", config.seed,
                                      groups=calibration_groups(
                                          data, np.concatenate([c for _, _, c in held_out])))
    if calibration is not None:
        notes.append(calibration.line())
    else:
        notes.append("confidence not calibrated: " + (
            "no validation chips" if not split.valid else "too few labelled validation pixels"))
    progress.info(notes[-1])
    result = TrainResult(config.output_model, acc, history, best_epoch, lr, batch,
                         describe_device(device),
                         {"train": len(split.train), "valid": len(split.valid),
                          "dropped": len(split.dropped)}, time.perf_counter() - t0,
                         lr_history, notes, calibration, config.encoder_depth)
    save_trained(config, data, values, model, result, chips, samples, progress, split)
    progress.set_fraction(1.0)
    return result
