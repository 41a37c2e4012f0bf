"""Accuracy from a confusion matrix: the numbers users must be able to trust.

Rows are the reference (truth), columns the prediction, over the evaluated classes only:
NoData and ignored classes never enter, in training, validation or accuracy assessment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def confusion_matrix(truth: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    """Counts of (truth index, predicted index) for indices in 0..n-1; other truths skipped.
    A prediction outside 0..n-1 is a caller's mistake, raised (it landed in another cell)."""
    truth = np.asarray(truth).ravel().astype(np.int64)
    pred = np.asarray(pred).ravel().astype(np.int64)
    keep = (truth >= 0) & (truth < n)
    bad = keep & ((pred < 0) | (pred >= n))
    if bad.any():
        raise ValueError(f"predicted index {int(pred[bad][0])} is outside the {n} classes")
    return np.bincount(truth[keep] * n + pred[keep], minlength=n * n).reshape(n, n)


def _div(a, b, undefined: float = 0.0):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.full_like(a, undefined), where=b > 0)


def number(x) -> float | None:
    """JSON has no NaN: an undefined accuracy is null."""
    return None if np.isnan(x) else float(x)


def shown(x) -> str:
    """An accuracy for people: three decimals, or n/a where it is undefined."""
    return "n/a" if np.isnan(x) else f"{x:.3f}"


@dataclass
class Accuracy:
    matrix: np.ndarray
    names: list[str]
    # a weighted matrix (cross-validation on class-balanced samples, each weighing the
    # labelled pixels its class has per sample scored): the samples as counted; else None
    counts: np.ndarray | None = None

    @property
    def total(self) -> int:
        return int(round(float(self.matrix.sum())))

    @property
    def samples(self) -> int:
        """The samples behind the matrix (its total when it counts them)."""
        return int((self.matrix if self.counts is None else self.counts).sum())

    @property
    def counted_overall(self) -> float:
        """Overall accuracy of the samples as counted, unweighted."""
        m = self.matrix if self.counts is None else self.counts
        return float(np.trace(m) / m.sum()) if m.sum() else 0.0

    @property
    def precision(self) -> np.ndarray:  # user's accuracy
        """NaN for a class the map never paints: undefined, not 0 (the area-weighted
        table says n/a there too)."""
        return _div(np.diag(self.matrix), self.matrix.sum(axis=0), np.nan)

    @property
    def recall(self) -> np.ndarray:  # producer's accuracy
        """NaN for a class the reference never has."""
        return _div(np.diag(self.matrix), self.matrix.sum(axis=1), np.nan)

    @property
    def f1(self) -> np.ndarray:
        """0 where precision or recall is undefined: such a class counts as missed in the
        macro mean (scikit-learn's rule); NaN for a class in neither the reference nor the
        map (not measured, left out of the mean)."""
        p, r = np.nan_to_num(self.precision), np.nan_to_num(self.recall)
        return np.where(self._present(), _div(2 * p * r, p + r), np.nan)

    @property
    def iou(self) -> np.ndarray:
        """NaN for a class in neither the reference nor the map: not measured, and left out
        of the means; shown 0.000, it read as a class missed entirely (sweep, stop 69)."""
        tp = np.diag(self.matrix)
        return _div(tp, self.matrix.sum(axis=0) + self.matrix.sum(axis=1) - tp, np.nan)

    @property
    def support(self) -> np.ndarray:
        return self.matrix.sum(axis=1)

    @property
    def overall(self) -> float:
        n = float(self.matrix.sum())  # not the rounded total: a weighted matrix is fractional
        return float(np.trace(self.matrix) / n) if n > 0 else 0.0

    @property
    def kappa(self) -> float:
        """NaN where undefined: no samples, or one class in both the reference and the
        map (chance agreement 1; a perfect water mask scored on water points read 0.000,
        "no better than chance")."""
        n = float(self.matrix.sum())
        if not n > 0:
            return float("nan")
        # in floats: the products of two national maps' class totals overflow int64
        rows, cols = (self.matrix.sum(axis=a).astype(np.float64) for a in (0, 1))
        expected = float((rows * cols).sum()) / float(n) ** 2
        return (self.overall - expected) / (1 - expected) if expected < 1 else float("nan")

    def _present(self) -> np.ndarray:
        """Classes that occur in the reference or in the map (scikit-learn's rule): one in
        neither would drag the means to 0 unfairly, but one the map paints where the
        reference has none is an error the means must show (before 2026-12-05 only the
        reference's classes were averaged, and such a class raised macro F1)."""
        return (self.support > 0) | (self.matrix.sum(axis=0) > 0)

    @property
    def mean_iou(self) -> float:
        m = self._present()
        return float(self.iou[m].mean()) if m.any() else 0.0

    @property
    def macro_f1(self) -> float:
        m = self._present()
        return float(self.f1[m].mean()) if m.any() else 0.0

    def to_json(self) -> dict:
        return {
            "overall_accuracy": self.overall, "kappa": number(self.kappa),
            "mean_iou": self.mean_iou,
            "macro_f1": self.macro_f1, "pixels": self.total, "classes": self.names,
            "confusion_matrix": self.matrix.tolist(),
            **({} if self.counts is None else {"samples": self.samples,
                                                "sample_counts": self.counts.tolist()}),
            "per_class": {name: {"precision": number(self.precision[i]),
                                 "recall": number(self.recall[i]), "f1": number(self.f1[i]),
                                 "iou": number(self.iou[i]), "support": round(float(self.support[i]))}
                          for i, name in enumerate(self.names)},
        }

    def table(self) -> str:
        lines = [f"{'class':<20} {'precision':>9} {'recall':>7} {'F1':>6} {'IoU':>6} {'pixels':>9}"]
        for i, name in enumerate(self.names):
            lines.append(f"{name[:20]:<20} {shown(self.precision[i]):>9} "
                         f"{shown(self.recall[i]):>7} "
                         f"{shown(self.f1[i]):>6} {shown(self.iou[i]):>6} {self.support[i]:9.0f}")
        lines.append(f"overall accuracy {self.overall:.3f}, kappa {shown(self.kappa)}, "
                     f"mean IoU {self.mean_iou:.3f}, macro F1 {self.macro_f1:.3f}")
        return "\n".join(lines)
