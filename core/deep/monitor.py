"""Which validation figure picks a network's best epoch and drives early stopping (MONITOR,
as arcgis.learn's ``monitor``): mean IoU (LandLearn's default), validation loss (ArcGIS's
default), overall accuracy, or macro F1.

Each figure has the validation loss (or the mean IoU, for the loss itself) as its tie-break,
so two epochs with one accuracy keep the one that fits better. Without validation chips
(VALIDATION_PERCENT 0) every monitor falls back to the training loss: nothing else is there.
"""

from __future__ import annotations

import math

from ..errors import InputError

__all__ = ["MONITORS", "check_monitor", "epoch_score", "monitor_label"]

# value -> what the log and the report call it
MONITORS = {
    "mean_iou": "validation mean IoU",
    "valid_loss": "validation loss",
    "accuracy": "validation accuracy",
    "macro_f1": "validation macro F1",
}


def check_monitor(monitor: str) -> None:
    if monitor not in MONITORS:
        raise InputError("monitor", f"'{str(monitor)[:30]}' is not one of "
                         + ", ".join(MONITORS))


def monitor_label(monitor: str, validated: bool = True) -> str:
    return MONITORS[monitor] if validated else "training loss"


def epoch_score(monitor: str, acc, valid_loss: float | None, train_loss: float
                ) -> tuple[float, float]:
    """The epoch's score, larger is better; ``acc``: the validation metrics (None without
    validation chips, then the training loss decides)."""
    if acc is None or valid_loss is None or not math.isfinite(valid_loss) or \
            not getattr(acc, "total", 1):
        # no labelled validation pixel (the loss is NaN): every comparison with NaN is
        # false, and epoch 1 was kept whatever followed
        return -train_loss, 0.0
    if monitor == "valid_loss":
        return -valid_loss, acc.mean_iou
    attribute = {"mean_iou": "mean_iou", "accuracy": "overall", "macro_f1": "macro_f1"}
    return getattr(acc, attribute[monitor]), -valid_loss
