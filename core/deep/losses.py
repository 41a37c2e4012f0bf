"""Losses that skip NoData and ignored classes (index IGNORE) the same way cross-entropy does."""

from __future__ import annotations

from ..errors import InputError

__all__ = ["IGNORE", "LOSSES", "WEIGHTINGS", "check_weighting", "class_weights", "make_loss"]

# the training index of NoData and ignored classes, skipped by every loss (chip_dataset.py
# maps labels onto it); here rather than beside the chips so that the dialogs read LOSSES
# when QGIS starts without importing numpy
IGNORE = 255
LOSSES = [("crossentropy", "Cross-entropy"), ("dice", "Dice"), ("focal", "Focal (gamma 2)"),
          ("crossentropy_dice", "Cross-entropy + Dice")]
# CLASS_WEIGHTING: a class's loss weight from its share of the training chips' labelled
# pixels; the square root pulls less hard towards rare classes (a class on 1% of the pixels
# weighs 10x, not 100x, one on all of them), for labels where full inverse weights paint
# the rare classes over the map
WEIGHTINGS = [("none", "None"), ("inverse_frequency", "Inverse frequency"),
              ("inverse_sqrt_frequency", "Inverse square root of frequency")]


def check_weighting(method: str) -> None:
    """CLASS_WEIGHTING's name, checked before anything is read."""
    if method not in dict(WEIGHTINGS):
        raise InputError("class_weighting", f"'{method}' is not one of "
                         + ", ".join(dict(WEIGHTINGS)))


def class_weights(counts, method: str):
    """Per-class loss weights (mean 1 over the classes present; 0 for a class with no
    training pixel), or None for "none"."""
    import numpy as np

    check_weighting(method)
    if method == "none":
        return None
    counts = np.asarray(counts, dtype=np.float64)
    freq = counts / counts.sum()
    w = np.where(freq > 0, 1.0 / np.maximum(freq, 1e-12), 0.0)
    if method == "inverse_sqrt_frequency":
        w = np.sqrt(w)
    return w / w[w > 0].mean()


def make_loss(name: str, torch, weight=None):
    fn = torch.nn.functional

    def ce(logits, target):
        valid = target != IGNORE
        if not bool(valid.any()) or (weight is not None
                                     and not bool((weight[target[valid]] > 0).any())):
            # nothing to learn from (torch's mean over no pixel is NaN, and so is its
            # weighted mean over pixels that all weigh 0: a class only the validation area
            # holds gets weight 0, and one such batch made the epoch's loss NaN): a zero
            # loss, zero gradient, as dice and focal give
            return logits.sum() * 0.0
        return fn.cross_entropy(logits, target, weight=weight, ignore_index=IGNORE)

    def focal(logits, target, gamma: float = 2.0):
        logp = fn.log_softmax(logits, dim=1)
        valid = target != IGNORE
        t = target.clamp(max=logits.shape[1] - 1)
        lp = logp.gather(1, t[:, None])[:, 0]
        loss = -((1 - lp.exp()) ** gamma) * lp
        if weight is not None:
            loss = loss * weight[t]
        return (loss * valid).sum() / valid.sum().clamp(min=1)

    def dice(logits, target, eps: float = 1.0):
        p = logits.softmax(dim=1)
        valid = (target != IGNORE)[:, None].to(p.dtype)
        onehot = fn.one_hot(target.clamp(max=logits.shape[1] - 1), logits.shape[1])
        onehot = onehot.permute(0, 3, 1, 2).to(p.dtype) * valid
        p = p * valid
        inter = (p * onehot).sum(dim=(0, 2, 3))
        union = p.sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3))
        score = (2 * inter + eps) / (union + eps)
        w = weight if weight is not None else torch.ones_like(score)
        present = onehot.sum(dim=(0, 2, 3)) > 0
        w = w * present
        return 1 - (score * w).sum() / w.sum().clamp(min=1e-6)

    def ce_dice(logits, target):
        # the sum nnU-Net trains with: cross-entropy's per-pixel gradient plus Dice's
        # per-class overlap, which a class of a few pixels moves as much as a common one
        return ce(logits, target) + dice(logits, target)

    losses = {"crossentropy": ce, "dice": dice, "focal": focal, "crossentropy_dice": ce_dice}
    if name not in losses:
        raise InputError("loss", f"'{name}' is not one of {', '.join(losses)}")
    return losses[name]
