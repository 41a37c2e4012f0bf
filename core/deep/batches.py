"""Batches for training: their size, their order within an epoch, and BatchNorm's
statistics between epochs.

Kept apart from the training loop because each of these fixed a failure measured on small
real training sets (BENCHMARKS.md, Map quality): validation losses that exploded, and
torch refusing a batch of one 32 px chip.
"""

from __future__ import annotations

import numpy as np

from ..progress import NullProgress, Progress, check

__all__ = ["NORM_BATCHES", "auto_batch", "epoch_batches", "refresh_norm_statistics"]

NORM_BATCHES = 32  # batches of training chips BatchNorm's statistics are re-estimated on


def auto_batch(torch, model, device, shape, n_train: int) -> int:
    """Chips per step: up to 16, about 8 x 256 x 256 px per batch, never more than the
    training chips; on CUDA the same, halved until a step (with room for the optimizer) fits.

    Why the same on a GPU: "the largest batch that fits" (up to 32 before) left s2's 27
    training chips one step per epoch; U-Nets trained that way on an H200 scored OA 0.588
    (nc) and 0.509 (s2), and 0.677 and 0.598 with these batches, 3 seeds each (BENCHMARKS.md,
    "Map quality at GPU speed"). A small training set needs steps, not throughput; the GPU
    is fast at these batches too.
    """
    pixels = shape[1] * shape[2]
    size = int(max(2, min(16, 8 * 256 * 256 // pixels, n_train)))
    if device.type != "cuda":
        return size
    while size > 1:
        try:
            x = torch.zeros((2 * size, *shape), device=device)  # twice: the optimizer's room
            model(x).float().mean().backward()
            model.zero_grad(set_to_none=True)
            return size
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            size //= 2
    return 1


def epoch_batches(order, batch: int) -> list:
    """``order`` cut into batches of ``batch`` chips; a last batch of one chip takes the
    epoch's first chip as a second.

    Why: BatchNorm in training mode normalises each channel over the batch and the pixels;
    32 px chips leave a 1 x 1 px map at the encoder's fifth level, where one chip is one
    value per channel and torch refuses it (found on enmap_potsdam: 14 + 2 tiles of 32 px).
    """
    out = [order[s:s + batch] for s in range(0, len(order), batch)]
    if len(out) > 1 and len(out[-1]) == 1:
        out[-1] = np.concatenate([out[-1], order[:1]])
    return out


def refresh_norm_statistics(torch, model, chips, indices, batch, device,
                            progress: Progress | None = None) -> None:
    """Re-estimate BatchNorm's running statistics on training chips (no augmentation)
    with the weights as they are now, before the model is evaluated or kept.

    During training BatchNorm normalises with each batch's own statistics and keeps a
    running average (momentum 0.1) for evaluation. With few steps per epoch and a high
    learning rate that average trails far behind the weights: on nc_landsat7's west half
    (55 chips, 4 steps per epoch) the validation loss went 21 -> 1820 -> 15134 while the
    training loss fell, early stopping kept epoch 1, and the east half scored OA 0.028.
    torch's own update_bn recomputes the averages over these batches."""
    from torch.optim.swa_utils import update_bn

    # at least two chips a batch: BATCH_SIZE 1 (or a small GPU's automatic batch) made
    # every batch one chip, all dropped, and the refresh silently never ran (no gradients
    # here, so two chips take less memory than one training step)
    batch = max(int(batch), 2)
    batches = [indices[s:s + batch] for s in range(0, len(indices), batch)]
    batches = [b for b in batches if len(b) > 1]  # one chip's statistics are no average
    if not batches:
        return
    def inputs():
        for b in batches:
            check(progress or NullProgress())  # up to 32 forward passes: cancellable
            yield chips.batch(b, torch, device, False, None)[0]

    with torch.no_grad():
        update_bn(inputs(), model)
