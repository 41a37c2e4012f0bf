"""Evaluating a network on chips during and after training: the validation loss and
confusion matrix, sample predictions for the report, and the held-out pixels (with their
spatial blocks) the confidence temperature is fitted on."""

from __future__ import annotations

import numpy as np

from ..accuracy.metrics import Accuracy, confusion_matrix
from ..progress import check
from .chip_dataset import IGNORE

__all__ = ["CALIBRATION_PIXELS", "calibration_groups", "evaluate"]

CALIBRATION_PIXELS = 200_000  # validation pixels the temperature is fitted on, at most


def evaluate(torch, model, chips, indices, loss_fn, device, batch, n, names, amp, amp_dtype,
             progress, keep: list | None = None, gather: list | None = None):
    """(mean loss, Accuracy) over ``indices``; None, None without validation chips.

    ``gather`` collects (probabilities, true class) of up to CALIBRATION_PIXELS labelled
    pixels, spread evenly over the batches, for the temperature fit."""
    if not indices:
        return None, None
    model.eval()
    per_batch = -(-CALIBRATION_PIXELS // -(-len(indices) // batch))
    pick = np.random.default_rng(0)
    cm = np.zeros((n, n), dtype=np.int64)
    losses, weights = [], []
    with torch.no_grad():
        for s in range(0, len(indices), batch):
            check(progress)
            part = indices[s:s + batch]
            x, y = chips.batch(part, torch, device, False, None)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
                logits = model(x).float()
            valid = int((y != IGNORE).sum())
            if valid:
                losses.append(float(loss_fn(logits, y)))
                weights.append(valid)
            pred = logits.argmax(1)
            yt = y.cpu().numpy()
            if gather is not None and valid:
                where = np.flatnonzero(yt.reshape(-1) != IGNORE)
                where = np.sort(pick.choice(where, min(per_batch, len(where)), replace=False))
                prob = logits.softmax(1).permute(0, 2, 3, 1).reshape(-1, n).cpu().numpy()
                chip = np.asarray(part)[where // (yt.shape[1] * yt.shape[2])]
                gather.append((prob[where], yt.reshape(-1)[where], chip))
            cm += confusion_matrix(np.where(yt == IGNORE, -1, yt), pred.cpu().numpy(), n)
            if keep is not None and len(keep) < 8:
                for j in range(len(part)):
                    if len(keep) < 8:
                        keep.append((part[j], yt[j], pred[j].cpu().numpy()))
    loss = float(np.average(losses, weights=weights)) if losses else float("nan")
    return loss, Accuracy(cm, names)


def calibration_groups(data, chip_of_pixel: np.ndarray) -> np.ndarray:
    """Per gathered pixel, the spatial block of its chip (overlapping chips share pixels,
    blocks do not), or the chip itself when all lie in one block."""
    uniq, inverse = np.unique(chip_of_pixel, return_inverse=True)
    keys: dict = {}
    block = np.array([keys.setdefault(data.chips[int(i)].block_key, len(keys)) for i in uniq])
    return (block if len(keys) >= 2 else np.arange(len(uniq)))[inverse]
