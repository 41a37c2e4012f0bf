"""Train Deep Learning Model: chip folders -> a U-Net (or friends) -> a self-describing package.

One epoch = every training chip once, shuffled, augmented; then the held-out blocks are
scored. The best epoch by the MONITOR figure (validation mean IoU by default) is kept
(early stopping counts epochs without improvement; deep.fit), and only the finished package is written: a cancel leaves nothing
unless the user asked for the best model so far. ENSEMBLE_SIZE > 1 trains that many
networks from consecutive seeds on the same chips and split and packages them as one
averaging model (deep.ensemble); the first network is the one ENSEMBLE_SIZE = 1 trains.
The default is 2: on the benchmark sets two networks mapped better than one at twice the
time (BENCHMARKS.md, Map quality round 13), and one trained network on a small set is
partly luck of the seed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np

from ..accuracy.calibration import Calibration, fit_calibration
from ..accuracy.metrics import Accuracy
from ..chips.training_data import read_training_data
from ..errors import Cancelled, InputError
from ..progress import NullProgress, Progress, check
from ..runtime.deps import require
from ..runtime.device import describe_device, native_bf16, resolve_device
from ..termination import Terminated, terminable
from .advice import arcgis_background, sparse_labels_note
from .architectures import auto_encoder_depth, check_encoder_depth, has_detail_head
from .band_matching import parse_bands
from .batches import auto_batch
from .chip_dataset import IGNORE, ChipData, with_background
from .chip_fit import check_batch, check_chip_size
from .ensemble import ensemble
from .evaluation import NonFiniteOutputs, calibration_groups, evaluate
from .fit import EPOCH_HEADER, EpochRecord, Fit, Setting, TrainingDiverged, epoch_line, fit_network
from .freeze import freeze_encoder
from .label_cells import label_cells
from .losses import class_weights, make_loss
from .models import build_model
from .pretrained import load_weights, read_checkpoint
from .sampling import epoch_length, sampling_factors
from .split import spatial_split
from .train_config import TrainConfig
from .train_memory import check_step_memory
from .train_package import save_trained

__all__ = ["EPOCH_HEADER", "EpochRecord", "TrainConfig", "TrainResult", "epoch_line",
           "train_model"]


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
    # an ensemble's networks (Fit.summary each); history, best_epoch and the learning rate
    # above are the first network's
    members: list = field(default_factory=list)


def _unused(classes) -> int:
    return min(set(range(1, 256)) - {c.value for c in classes} or {255})


def _class_values(data, ignore: tuple[int, ...]) -> list[int]:
    values = [c.value for c in data.classes if c.value not in ignore]
    if len(values) < 2:
        # IGNORE_CLASSES named when it took classes away, else the chips hold too few
        took = any(c.value in ignore and c.value != 0 for c in data.classes)
        # one class of ArcGIS's chips: arcgis.learn would have trained it against its 0
        foreign = getattr(data, "foreign", ())
        raise InputError("ignore_classes" if took else "training_data",
                         f"only {len(values)} class remains to learn "
                         f"({[c.name for c in data.classes]}, ignoring {list(ignore)}); a "
                         "segmentation model needs at least two classes"
                         + (f"; {arcgis_background(foreign)}" if foreign and not took else
                            "" if took else
                            # one class (buildings): what they are learnt against is the
                            # unlabelled ground, which only BACKGROUND_VALUE trains
                            f"; set BACKGROUND_VALUE (a value no class uses, e.g. "
                            f"{_unused(data.classes)}) to train the unlabelled pixels as a "
                            "class of their own, or label a second class"))
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
    data = with_background(read_training_data(config.training_data, progress),
                           config.background_value, progress)
    absent = sorted(set(config.ignore_classes) - {c.value for c in data.classes} - {0})
    if absent:  # a typo for a class that is there would otherwise pass unnoticed
        progress.warning(f"IGNORE_CLASSES: {absent} are not classes of the training data "
                         f"({', '.join(f'{c.value} {c.name}' for c in data.classes)}); "
                         "nothing is left out for them")
    values = _class_values(data, config.ignore_classes)
    names = [c.name for c in data.classes if c.value in values]
    chips = ChipData(data, values, config.background_value)

    def label(i: int):  # every label chip is read once for the split: cancellable
        if i % 64 == 0:
            check(progress)
        return chips.label_classes(i)

    split = spatial_split(data.chips, config.validation_percent, config.seed,
                          label_cells(data.chips, label, len(values))
                          if config.validation_percent else None,
                          check=lambda: check(progress))
    per_chip = _scan(chips, split.train, len(values), progress)
    counts = per_chip.sum(axis=0)
    unknown = chips.undeclared()
    if unknown:
        progress.warning(f"{unknown[0]} labelled pixels in {unknown[1]} label chips hold "
                         f"values no class is declared for ({unknown[2]}): they are left out "
                         "of training and validation. A label raster's own NoData (such as "
                         "255) is rightly left out; a class left out of the export is not: "
                         "export the training data again with it")
    sparse = sparse_labels_note(int(counts.sum()),
                                len(split.train) * data.tile_size[0] * data.tile_size[1],
                                () if config.background_value else data.foreign)
    if counts.sum() == 0:
        if split.valid and split.held_out:  # the held-out blocks took every labelled pixel
            raise InputError("validation_percent", f"the {len(split.valid)} validation chips "
                             "hold every labelled pixel the training could use; lower "
                             "VALIDATION_PERCENT (or 0), or label more places")
        raise InputError("ignore_classes", "every labelled pixel of the training chips is NoData "
                         "or an ignored class; nothing is left to learn")
    notes = [f"{len(split.train)} training chips, {len(split.valid)} validation chips in "
             f"held-out blocks"
             + (f" ({split.held_out / split.total:.0%} of the labelled pixels)" if split.total
                else "")
             + f", {len(split.dropped)} dropped for overlapping validation chips"
             + (f", {len(split.turned)} turned copies of validation chips left out"
                if split.turned else "")]
    progress.info(notes[0])
    if data.chip_bands is not None:  # said when read; kept for the package's report
        notes.append(f"trained on {data.band_count} of the chips' {data.chip_band_count} "
                     f"bands, reading bands {data.source_bands} of the raster (the others "
                     "hold no valid pixel in any chip)")
    placeless = sum(1 for i in split.valid if data.chips[i].ground is None)
    if placeless:
        # which training chips overlap a chip without georeferencing cannot be told: none
        # is dropped, and with a stride under the chip size they share its pixels
        notes.append(f"{placeless} validation chip(s) have no georeferencing: training chips "
                     "that overlap them cannot be found and dropped, so validation may share "
                     "pixels with training and read high; export georeferenced chips (or "
                     "with a stride of a whole chip)")
        progress.warning(notes[-1])
    unseen = [names[k] for k in split.unvalidated()]
    if unseen:  # no held-out block holds them (e.g. labelled in one place only)
        notes.append(f"classes without validation pixels (early stopping and the report "
                     f"cannot measure them): {unseen}")
        progress.warning(notes[-1])
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
    detail = has_detail_head(config.architecture, config.detail_head)
    if config.detail_head and not detail:
        notes.append(f"DETAIL_HEAD: the {config.architecture} architecture has no full-resolution "
                     "decoder stage; built without the detail head (unet and unetplusplus have it)")
        progress.info(notes[-1])
    # the package records the depth and head built, and the names of the bands trained
    # on (BAND_NAMES named every chip band; some were left out as empty: a fine-tune from
    # this package matches its bands by these names)
    trained = config.band_names
    if trained is not None and data.chip_bands is not None and \
            len(trained) == data.chip_band_count:
        trained = tuple(trained[b] for b in data.chip_bands)
    config = replace(config, encoder_depth=depth, detail_head=detail, band_names=trained)
    n = config.ensemble_size
    shape = (data.band_count, data.tile_size[1], data.tile_size[0])
    weight = None
    w = class_weights(counts, config.class_weighting)
    if w is not None:
        weight = torch.tensor(w, dtype=torch.float32, device=device)
        progress.info(f"Class weights ({config.class_weighting}): "
                      + ", ".join(f"{names[i]} {w[i]:.2f}" for i in range(len(w))))
    loss_fn = make_loss(config.loss, torch, weight)
    amp = device.type == "cuda" and config.mixed_precision
    amp_dtype = torch.bfloat16 if amp and native_bf16(torch, device) else torch.float16
    factors, line = sampling_factors(config.chip_sampling, per_chip, names)
    if line:
        notes.append(line)
        progress.info(line)
    fits: list[Fit] = []
    setting, batch, networks = None, config.batch_size, []
    finishing_from = None
    try:
        for k in range(n):
            seed = config.seed + k
            if k:  # the first network draws exactly what a single-network training draws
                torch.manual_seed(seed)
            if n > 1:
                progress.info(f"Network {k + 1} of {n} (seed {seed})")
            model = _network(config, data, values, ckpt, notes if k == 0 else None, progress)
            model.to(device)
            if setting is None:
                check_chip_size(torch, model, config.architecture, shape, depth)
                batch = batch or auto_batch(torch, model, device, shape, len(split.train))
                check_batch(batch, len(split.train), shape, depth, config.architecture)
                batch = check_step_memory(config.architecture, batch, shape, device,
                                          config.batch_size is not None, progress,
                                          config.detail_head)
                progress.info(f"Device: {describe_device(device)}; batch size {batch}"
                              + (f"; mixed precision {str(amp_dtype).split('.')[-1]}"
                                 if amp else "")
                              + (f"; brightness/contrast jitter {config.radiometric_jitter:g} "
                                 "(RADIOMETRIC_JITTER)" if config.radiometric_jitter else ""))
                setting = Setting(config, chips, split, factors,
                                  math.ceil(epoch_length(split.train, factors) / batch), batch,
                                  len(values), names, loss_fn, device, amp, amp_dtype)
            fits.append(Fit(seed))
            try:
                try:
                    fit_network(torch, model, setting, fits[-1], progress, (k, n))
                except torch.cuda.OutOfMemoryError:
                    # a BATCH_SIZE given, or memory another process took: said, with the
                    # fix, not "a bug in LandLearn" (review 94)
                    torch.cuda.empty_cache()
                    raise InputError("batch_size", f"the GPU ran out of memory training on "
                                     f"batches of {batch} chips of {shape[2]} x {shape[1]} "
                                     f"px ({shape[0]} bands); set a smaller BATCH_SIZE (or "
                                     "leave it empty: the largest that fits is found), or "
                                     "DEVICE=cpu") from None
            except InputError as exc:
                if not networks or not isinstance(exc, (TrainingDiverged, NonFiniteOutputs)):
                    raise
                # a later network diverged before its first epoch ended, or its first epoch
                # overflowed on the validation chips (review 94): the ensemble is the
                # networks already trained, not nothing
                fits.pop()
                notes.append(f"network {k + 1} of {n} stopped: {exc.detail.split(':')[0]}; "
                             "the model is "
                             f"the {len(networks)} network(s) trained before it")
                progress.warning(notes[-1])
                break
            model.load_state_dict(fits[-1].best_state)
            networks.append(model)
        # inside the handler too: a cancel while the trained networks score the validation
        # chips for the report (after the last epoch) lost the whole training
        finishing_from = len(notes)  # _finish adds the networks' notes: not twice
        return _finish(torch, config, data, values, names, _combined(networks), chips,
                       split, loss_fn, device, batch, amp, amp_dtype, fits, notes, t0, progress)
    except (Cancelled, Terminated) as stop:
        # Ctrl-C or SIGTERM (a terminal, a batch system's time limit) is a cancel too:
        # SAVE_ON_CANCEL kept nothing for them (review 94); the signal still ends the run
        done = [f for f in fits if f.best_state is not None]
        if config.save_on_cancel and done:
            trained = len(networks) == n
            if finishing_from is not None:
                del notes[finishing_from:]
            if len(networks) < len(done):  # the network in training: its best epoch so far
                model.load_state_dict(done[-1].best_state)
                networks.append(model)
            what = ("while the trained networks scored the validation chips" if trained else
                    f"during epoch {len(fits[-1].history) + 1}" if n == 1 else
                    f"while training network {len(fits)} of {n}")
            notes.append(f"cancelled {what}; saved the best epoch so far"
                         + ("" if n == 1 else f" of each of {len(done)} networks"))
            final = _combined(networks)
            result = _finish(torch, config, data, values, names, final, chips, split, loss_fn,
                             device, batch, amp, amp_dtype, done, notes, t0, NullProgress())
            if isinstance(stop, Terminated):
                progress.warning(f"{stop}; the best model so far was saved to "
                                 f"{result.output_model}")
                raise stop
            raise Cancelled("Cancelled by the user; the best model so far ("
                            + (f"epoch {done[0].best_epoch}" if n == 1 else
                               f"{len(done)} networks") +
                            f") was saved to {result.output_model}.",
                            saved=result.output_model) from None
        raise


def _network(config, data, values, ckpt, notes, progress):
    """A new network, with the pretrained weights when given (their note once)."""
    model = build_model(config.architecture, config.backbone, data.band_count, len(values),
                        encoder_depth=config.encoder_depth, detail_head=config.detail_head)
    if ckpt is not None:
        bands = list(config.band_names or data.band_names)
        if len(bands) != data.band_count:
            chips = data.chip_band_count or data.band_count
            raise InputError("band_names", f"{len(bands)} names for {chips} bands of the "
                             "training chips; name each band once, in order")
        given = parse_bands(config.pretrained_bands)
        loaded: set = set()
        what = load_weights(model, ckpt.state, bands=given or ckpt.bands, names=bands,
                            bands_from_user=given is not None,
                            classes=(ckpt.class_values, list(values)), loaded=loaded)
        if notes is not None:
            notes.append(f"pretrained weights from {config.pretrained_weights}: {what}")
            progress.info(notes[-1])
        if config.freeze:
            frozen = freeze_encoder(model, loaded)
            if notes is not None:
                notes.append(frozen)
                progress.info(frozen)
    return model


def _combined(networks: list):
    """The one network, or the ensemble of the trained ones (on their device)."""
    return networks[0] if len(networks) == 1 else ensemble(networks)


def _finish(torch, config, data, values, names, model, chips, split, loss_fn, device, batch,
            amp, amp_dtype, fits, notes, t0, progress):
    samples: list = []
    for k, fit in enumerate(fits):
        notes.extend(fit.notes if len(fits) == 1 else
                     [f"network {k + 1} (seed {fit.seed}): {n}" for n in fit.notes])
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
        probs, truth, chip_of, flipped, pixel, cover = (np.concatenate(part)
                                                        for part in zip(*held_out))
        # each map pixel counted once however many overlapping chips hold it (as the
        # matrix counts it), and the halves of the error split by map cells
        groups = calibration_groups(data, chip_of, pixel)
        calibration = fit_calibration(probs, truth, "validation pixels", config.seed,
                                      weights=cover, groups=groups)
        if calibration is not None:
            calibration = replace(calibration, tta=fit_calibration(
                flipped, truth, "validation pixels (TTA: 4 flips averaged)", config.seed,
                weights=cover, groups=groups))
    if calibration is not None:
        notes.append(calibration.line())
    else:
        notes.append("confidence not calibrated: " + (
            "no validation chips" if not split.valid else "too few labelled validation pixels"))
    progress.info(notes[-1])
    first = fits[0]
    result = TrainResult(config.output_model, acc, first.history, first.best_epoch,
                         first.learning_rate, batch, describe_device(device),
                         {"train": len(split.train), "valid": len(split.valid),
                          "dropped": len(split.dropped)}, time.perf_counter() - t0,
                         first.lr_history, notes, calibration, config.encoder_depth,
                         [f.summary() for f in fits] if len(fits) > 1 else [])
    save_trained(config, data, values, model, result, chips, samples, progress, split)
    progress.set_fraction(1.0)
    return result
