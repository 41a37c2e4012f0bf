"""One network's training run: learning-rate finder, one-cycle schedule, epochs, early
stopping on the validation figure MONITOR names (monitor.py; mean IoU by default). Train Deep Learning Model runs it once per network
(ENSEMBLE_SIZE networks, each from its own seed).

The run fills a Fit as it goes, so a cancel in the middle still leaves the caller the best
epoch so far (SAVE_ON_CANCEL).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..progress import check
from .batches import NORM_BATCHES, epoch_batches, refresh_norm_statistics
from .evaluation import NonFiniteOutputs, evaluate
from .lr_finder import find_learning_rate
from .monitor import epoch_score, monitor_label
from .sampling import epoch_order

__all__ = ["EPOCH_HEADER", "EpochRecord", "Fit", "TrainingDiverged", "epoch_line", "fit_network",
           "peak_epoch"]


class TrainingDiverged(InputError):
    """A network's loss left the numbers before its first epoch was kept: nothing of it can
    be packaged. Its own type so that an ensemble can keep the networks trained before it
    (train_deep_learning_model) without matching the wording of the message."""


# the share of the steps over which the one-cycle schedule warms up to its peak rate
# (OneCycleLR's own default, given explicitly: early stopping counts from that epoch)
WARM_UP = 0.3


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    valid_loss: float | None
    accuracy: float | None
    mean_iou: float | None
    seconds: float


@dataclass
class Fit:
    """What one network's training reached (filled while it runs)."""
    seed: int
    history: list[EpochRecord] = field(default_factory=list)
    best_state: dict | None = None
    best_epoch: int = 0
    learning_rate: float = 0.0
    lr_history: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """The network's line in an ensemble package's .emd."""
        best = next((h for h in self.history if h.epoch == self.best_epoch), None)
        return {"seed": self.seed, "learning_rate": self.learning_rate,
                "epochs_run": len(self.history), "best_epoch": self.best_epoch,
                "best_mean_iou": best.mean_iou if best else None,
                "history": [vars(h) for h in self.history]}


def epoch_line(r: EpochRecord) -> str:
    def f(v):
        return "      -" if v is None else f"{v:7.4f}"
    return (f"{r.epoch:>5}  {r.train_loss:10.4f}  {f(r.valid_loss):>10}  {f(r.accuracy):>8}  "
            f"{f(r.mean_iou):>8}  {time.strftime('%M:%S', time.gmtime(r.seconds)):>6}")


EPOCH_HEADER = "epoch  train_loss  valid_loss  accuracy  mean_iou    time"


@dataclass(frozen=True)
class Setting:
    """What every network of one training shares."""
    config: object  # TrainConfig
    chips: object  # ChipData
    split: object
    factors: np.ndarray | None  # chip sampling (deep.sampling)
    steps_per_epoch: int
    batch: int
    classes: int
    names: list[str]
    loss_fn: object
    device: object
    amp: bool
    amp_dtype: object


def peak_epoch(epochs: int) -> int:
    """The epoch in which the one-cycle rate peaks. Why early stopping waits for it: while
    the rate still rises the validation score swings (nc_landsat7: a run stopped at epoch 7
    of 20 keeping epoch 2, OA 0.37 where its siblings reached 0.68), so epochs without a
    better score count only from the later of this epoch and the best one."""
    return max(1, math.ceil(WARM_UP * epochs))


def fit_network(torch, model, s: Setting, fit: Fit, progress, part: tuple[int, int] = (0, 1)
                ) -> Fit:
    """Train ``model`` in place from ``fit.seed``; ``part``: (this network, networks) for
    the progress bar. Returns ``fit`` with the best epoch's weights in ``best_state``
    (``model`` itself ends at its last epoch)."""
    config, chips, split, batch = s.config, s.chips, s.split, s.batch
    rng = np.random.default_rng(fit.seed)

    def train_batches(i):
        order = rng.permutation(split.train)
        start = (i * batch) % max(len(order) - batch + 1, 1)
        return chips.batch(order[start:start + batch], torch, s.device, config.augmentation, rng)

    lr = config.learning_rate
    if lr is None:
        lr, fit.lr_history = find_learning_rate(torch, model, train_batches, s.loss_fn,
                                                s.device, steps=60, progress=progress)
        check(progress)
        fit.notes.append(f"Learning-rate finder chose {lr:.2e}" if len(fit.lr_history) >= 8
                         else f"Learning-rate finder stopped after {len(fit.lr_history)} steps "
                         f"(the loss was not a number or rose at once): {lr:.2e}, the usual "
                         "rate, is used; LEARNING_RATE sets one")
        progress.info(fit.notes[-1])
    fit.learning_rate = lr
    # FREEZE: a frozen encoder's weights are not the optimiser's (no decay either)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr,
                            weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, epochs=config.epochs,
                                                steps_per_epoch=s.steps_per_epoch,
                                                pct_start=WARM_UP)
    peak = peak_epoch(config.epochs)
    # float16 needs loss scaling (bfloat16 does not); on the device's own type, which is
    # CUDA wherever training autocasts (a CPU scaler lets the tests drive this path)
    scaler = torch.amp.GradScaler(s.device.type, enabled=s.amp and s.amp_dtype == torch.float16)
    norm_chips = np.random.default_rng(fit.seed).permutation(split.train)[:NORM_BATCHES * batch]
    best = (-1.0, math.inf)
    progress.info(EPOCH_HEADER)
    total_steps = config.epochs * s.steps_per_epoch
    member, members = part
    for epoch in range(1, config.epochs + 1):
        te = time.perf_counter()
        model.train()
        losses = []
        skipped = 0  # float16 steps whose loss was not a number (the scaler skips them)
        diverged = None
        for step, chosen in enumerate(epoch_batches(epoch_order(split.train, s.factors, rng),
                                                    batch)):
            check(progress)
            x, y = chips.batch(chosen, torch, s.device, config.augmentation, rng,
                               config.radiometric_jitter)
            opt.zero_grad(set_to_none=True)
            with torch.autocast(s.device.type, dtype=s.amp_dtype, enabled=s.amp):
                loss = s.loss_fn(model(x).float(), y)
            value = float(loss.detach())
            if not math.isfinite(value) and not scaler.is_enabled():
                # a NaN step makes every weight NaN for good (float16 training's scaler
                # skips such steps itself): stop, rather than package a broken network
                detail = (f"the training loss became {value} at epoch {epoch}, step "
                          f"{step + 1}")
                if fit.best_state is None:
                    raise TrainingDiverged("training_data", f"{detail}: the chips hold values the "
                                     "network cannot take (an undeclared NoData such as "
                                     "-9999, or extreme values). Set the raster's NoData "
                                     "value and export again, or lower LEARNING_RATE")
                # the epochs before (hours on a big folder, earlier ensemble members) are
                # not lost for it: stop, keep the best, as a non-finite validation does
                diverged = f"training stopped: {detail}; the best epoch ({fit.best_epoch}) is kept"
                break
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            if math.isfinite(value):
                losses.append(value)
            else:
                skipped += 1
            done = ((epoch - 1) * s.steps_per_epoch + step + 1) / total_steps
            progress.set_fraction((member + done) / members * 0.95)
        if skipped and not diverged:
            diverged = _skipped_steps(fit, epoch, skipped, len(losses), progress)
        if diverged:
            fit.notes.append(diverged)
            progress.warning(diverged)
            break
        refresh_norm_statistics(torch, model, chips, norm_chips, batch, s.device, progress)
        try:
            vloss, acc = evaluate(torch, model, chips, split.valid, s.loss_fn, s.device, batch,
                                  s.classes, s.names, s.amp, s.amp_dtype, progress)
        except NonFiniteOutputs as exc:
            if fit.best_state is None:
                raise
            # one overflowing epoch must not lose the epochs before it: stop, keep the best
            fit.notes.append(f"training stopped at epoch {epoch}: {exc.detail}; the best "
                             f"epoch ({fit.best_epoch}) is kept")
            progress.warning(fit.notes[-1])
            break
        rec = EpochRecord(epoch, float(np.mean(losses)), vloss, acc.overall if acc else None,
                          acc.mean_iou if acc else None, time.perf_counter() - te)
        fit.history.append(rec)
        progress.info(epoch_line(rec))
        score = epoch_score(config.monitor, acc, vloss, rec.train_loss)
        if fit.best_state is None or score > best:
            best, fit.best_epoch = score, epoch
            fit.best_state = copy.deepcopy({name: v.detach().cpu()
                                            for name, v in model.state_dict().items()})
        since = max(fit.best_epoch, peak)
        if config.early_stopping and epoch - since >= config.early_stopping:
            fit.notes.append(f"early stopping after epoch {epoch}: no better "
                             + monitor_label(config.monitor, acc is not None)
                             + f" in the {epoch - since} epochs since epoch {since}")
            progress.info(fit.notes[-1])
            break
    return fit


def _skipped_steps(fit: Fit, epoch: int, skipped: int, kept: int, progress) -> str | None:
    """Float16 steps whose loss overflowed: the scaler skipped them, and they were averaged
    into the epoch's training loss (NaN; without validation chips that NaN made epoch 1
    the best, silently). Said per epoch; an epoch with no finite step trained nothing:
    the run stops (keeping the best epoch) or, with none yet, says how to train."""
    if kept:
        note = (f"epoch {epoch}: {skipped} of {skipped + kept} training steps had a loss "
                "that float16 could not hold (or chips with values that are no number) and "
                "were skipped; train_loss averages the rest")
        fit.notes.append(note)
        progress.warning(note)
        return None
    detail = f"every training step of epoch {epoch} had a loss that float16 could not hold"
    if fit.best_state is None:
        raise TrainingDiverged("mixed_precision", f"{detail}: this GPU computes in float16 (it has "
                         "no native bfloat16) and the network's values overflow it; set "
                         "MIXED_PRECISION off to train in float32, or look for extreme values "
                         "in the chips (an undeclared NoData such as -9999)")
    return f"training stopped: {detail}; the best epoch ({fit.best_epoch}) is kept"
