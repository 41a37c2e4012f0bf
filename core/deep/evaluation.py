"""Evaluating a network on chips during and after training: the validation loss and
confusion matrix, sample predictions for the report, and the held-out pixels (with their
spatial blocks) the confidence temperature is fitted on."""

from __future__ import annotations

import numpy as np

from ..accuracy.metrics import Accuracy
from ..errors import InputError
from ..progress import check
from .chip_dataset import IGNORE

__all__ = ["CALIBRATION_PIXELS", "Coverage", "NonFiniteOutputs", "calibration_groups", "evaluate"]

CALIBRATION_PIXELS = 200_000  # validation pixels the temperature is fitted on, at most


class Coverage:
    """How many of the evaluated chips of its folder cover each pixel of a chip, so that the
    confusion matrix counts every labelled map pixel once. With a stride of half a chip
    most held-out pixels lie in four validation chips (a quarter: sixteen), and the
    matrix counted them that many times: its supports were several times the labels held
    out, and the middle of each held-out block outweighed its edges. Chips of other
    folders are other images (dates) of the place: their pixels count apart."""

    def __init__(self, chips, indices, tile: tuple[int, int]):
        self.tile = tile
        self.where: dict[int, tuple] = {}  # chip -> (folder, bounds, pixel size)
        by_folder: dict[int, list[int]] = {}
        for i in indices:
            c = chips[i]
            if c.bounds is not None and c.bounds[2] > c.bounds[0] and c.bounds[3] > c.bounds[1]:
                size = ((c.bounds[2] - c.bounds[0]) / tile[0], (c.bounds[3] - c.bounds[1]) / tile[1])
                self.where[i] = (c.folder, c.bounds, size)
                by_folder.setdefault(c.folder, []).append(i)
        self.peers = {f: (np.array(ix), np.array([chips[i].bounds for i in ix], dtype=np.float64))
                      for f, ix in by_folder.items()}

    def weights(self, index: int) -> np.ndarray:
        """(h, w) 1 / the evaluated chips covering each pixel of chip ``index``."""
        w, h = self.tile
        if index not in self.where:
            return np.ones((h, w))
        folder, (left, bottom, right, top), (px, py) = self.where[index]
        ix, b = self.peers[folder]
        near = (b[:, 0] < right) & (left < b[:, 2]) & (b[:, 1] < top) & (bottom < b[:, 3])
        # peers of another pixel size (an ArcGIS export from several resolutions) cannot be
        # laid on this chip's pixels: they count apart
        same = np.isclose((b[:, 2] - b[:, 0]) / w, px) & np.isclose((b[:, 3] - b[:, 1]) / h, py)
        cover = np.zeros((h + 1, w + 1), np.int32)  # a difference array: corners +-1
        for l_, b_, r_, t_ in b[near & same]:
            c0 = int(round((max(l_, left) - left) / px))
            c1 = int(round((min(r_, right) - left) / px))
            r0 = int(round((top - min(t_, top)) / py))
            r1 = int(round((top - max(b_, bottom)) / py))
            if c1 > c0 and r1 > r0:
                cover[r0, c0] += 1
                cover[r0, c1] -= 1
                cover[r1, c0] -= 1
                cover[r1, c1] += 1
        cover = cover.cumsum(0).cumsum(1)[:h, :w]
        return 1.0 / np.maximum(cover, 1)  # float64: 3 x float32(1/3) is not 1


class NonFiniteOutputs(InputError):
    """NaN or infinite logits on validation chips: the epoch cannot be scored (the training
    loop keeps its best epoch so far and stops, where it has one)."""


def evaluate(torch, model, chips, indices, loss_fn, device, batch, n, names, amp, amp_dtype,
             progress, keep: list | None = None, gather: list | None = None):
    """(mean loss, Accuracy) over ``indices``; None, None without validation chips. The
    confusion matrix counts each labelled pixel of a folder once however many of the
    chips cover it (Coverage); the loss is the chips' mean.

    ``gather`` collects (probabilities, true class, chip, probabilities with TTA, pixel
    index in its chip, coverage weight) of up to CALIBRATION_PIXELS labelled pixels, spread
    evenly over the batches, for the temperature fits (three more passes per validation
    chip, on the final evaluation only)."""
    if not indices:
        return None, None
    model.eval()
    per_batch = -(-CALIBRATION_PIXELS // -(-len(indices) // batch))
    pick = np.random.default_rng(0)
    coverage = Coverage(chips.data.chips, indices, chips.data.tile_size)
    cm = np.zeros((n, n), dtype=np.float64)
    losses, weights = [], []
    with torch.no_grad():
        for s in range(0, len(indices), batch):
            check(progress)
            part = indices[s:s + batch]
            x, y = chips.batch(part, torch, device, False, None)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
                logits = model(x).float()
            if not bool(torch.isfinite(logits).all()):
                # NaN logits argmax to some class: the epoch's score, early stopping and the
                # temperature fit would all be silently wrong
                raise NonFiniteOutputs("mixed_precision" if amp else "learning_rate",
                                       "the network's outputs on validation chips are not "
                                       "finite " + (f"in {str(amp_dtype).split('.')[-1]} (too "
                                                    "large for it); turn MIXED_PRECISION off "
                                                    "to train in float32" if amp else
                                                    "(the weights diverged); lower "
                                                    "LEARNING_RATE"))
            valid = int((y != IGNORE).sum())
            if valid:
                losses.append(float(loss_fn(logits, y)))
                weights.append(valid)
            pred = logits.argmax(1)
            yt = y.cpu().numpy()
            weight = np.stack([coverage.weights(int(i)) for i in part])
            if gather is not None and valid:
                where = np.flatnonzero(yt.reshape(-1) != IGNORE)
                # each picked pixel stands for the batch's labelled pixels it was drawn from:
                # a sparse batch taken whole weighed as much as a dense one sampled at 8%
                stands_for = len(where) / min(per_batch, len(where))
                where = np.sort(pick.choice(where, min(per_batch, len(where)), replace=False))
                prob = logits.softmax(1)
                tta = _flipped_mean(torch, model, x, prob, device, amp, amp_dtype)
                area = yt.shape[1] * yt.shape[2]
                gather.append((_pixels(prob, n)[where], yt.reshape(-1)[where],
                               np.asarray(part)[where // area], _pixels(tta, n)[where],
                               where % area, weight.reshape(-1)[where] * stands_for))
            labelled = yt != IGNORE
            cm += np.bincount(yt[labelled].astype(np.int64) * n + pred.cpu().numpy()[labelled],
                              weights=weight[labelled], minlength=n * n).reshape(n, n)
            if keep is not None and len(keep) < 8:
                for j in range(len(part)):
                    if len(keep) < 8:
                        keep.append((part[j], yt[j], pred[j].cpu().numpy()))
    loss = float(np.average(losses, weights=weights)) if losses else float("nan")
    return loss, Accuracy(cm, names)


def _flipped_mean(torch, model, x, prob, device, amp, amp_dtype):
    """The probabilities Classify Pixels' TTA gives: the mean over the tile and its three
    flips (as deep.predictor computes them), for TTA's own temperature."""
    out = prob.clone()
    with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
        for dims in ((3,), (2,), (2, 3)):
            out += model(x.flip(dims)).float().softmax(1).flip(dims)
    return out / 4


def _pixels(prob, n: int) -> np.ndarray:
    """(batch, n, h, w) tensor -> (pixels, n) numpy, in the label array's pixel order."""
    return prob.permute(0, 2, 3, 1).reshape(-1, n).cpu().numpy()


def calibration_groups(data, chip_of_pixel: np.ndarray, pixel_in_chip: np.ndarray) -> np.ndarray:
    """Per gathered pixel, the chip-sized cell of map space it lies in, so that the halves
    of the cross-fitted calibration error share no map pixel. Grouped by the block of its
    chip instead, the four (stride 1/2) or sixteen (1/4) chips of one block overlap each
    other and their neighbours: T was graded on copies of the pixels it was fitted on.
    Cells are counted from each folder's (or shared grid's) held-out corner, so a pixel's
    centre is never on a cell edge. A chip without georeferencing is its own group (which
    chips overlap cannot be told); with one cell only, every map pixel is a group."""
    w, h = data.tile_size
    uniq, inverse = np.unique(chip_of_pixel, return_inverse=True)
    chips = [data.chips[int(i)] for i in uniq]
    space = np.array([(c.folder if c.region is None else c.region) if c.bounds is not None
                      else -1 - k for k, c in enumerate(chips)], np.int64)
    bounds = np.array([c.bounds if c.bounds is not None else (0.0, 0.0, w, h) for c in chips],
                      np.float64)
    px, py = (bounds[:, 2] - bounds[:, 0]) / w, (bounds[:, 3] - bounds[:, 1]) / h
    cx = bounds[:, 0][inverse] + (pixel_in_chip % w + 0.5) * px[inverse]
    cy = bounds[:, 3][inverse] - (pixel_in_chip // w + 0.5) * py[inverse]
    left, top, size_x, size_y = (np.zeros(len(uniq)) for _ in range(4))
    for s in np.unique(space):
        at = space == s
        left[at], top[at] = bounds[at, 0].min(), bounds[at, 3].max()
        size_x[at], size_y[at] = (px[at] * w).max(), (py[at] * h).max()
    sp = space[inverse]

    def cells(fraction: float) -> np.ndarray:
        col = np.floor((cx - left[inverse]) / (size_x[inverse] * fraction)).astype(np.int64)
        row = np.floor((top[inverse] - cy) / (size_y[inverse] * fraction)).astype(np.int64)
        return np.unique(np.stack([sp, row, col], 1), axis=0, return_inverse=True)[1].ravel()

    groups = cells(1.0)
    return groups if len(np.unique(groups)) >= 2 else cells(1.0 / max(w, h))
