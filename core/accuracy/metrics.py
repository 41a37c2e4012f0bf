"""Accuracy from a confusion matrix: the numbers users must be able to trust.

Rows are the reference (truth), columns the prediction, over the evaluated classes only:
NoData and ignored classes never enter, in training, validation or accuracy assessment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def confusion_matrix(truth: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    """Counts of (truth index, predicted index) for indices in 0..n-1; other truths skipped."""
    truth = np.asarray(truth).ravel().astype(np.int64)
    pred = np.asarray(pred).ravel().astype(np.int64)
    keep = (truth >= 0) & (truth < n)
    return np.bincount(truth[keep] * n + pred[keep], minlength=n * n).reshape(n, n)


def _div(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros_like(a), where=b > 0)


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
        return _div(np.diag(self.matrix), self.matrix.sum(axis=0))

    @property
    def recall(self) -> np.ndarray:  # producer's accuracy
        return _div(np.diag(self.matrix), self.matrix.sum(axis=1))

    @property
    def f1(self) -> np.ndarray:
        p, r = self.precision, self.recall
        return _div(2 * p * r, p + r)

    @property
    def iou(self) -> np.ndarray:
        tp = np.diag(self.matrix)
        return _div(tp, self.matrix.sum(axis=0) + self.matrix.sum(axis=1) - tp)

    @property
    def support(self) -> np.ndarray:
        return self.matrix.sum(axis=1)

    @property
    def overall(self) -> float:
        n = float(self.matrix.sum())  # not the rounded total: a weighted matrix is fractional
        return float(np.trace(self.matrix) / n) if n > 0 else 0.0

    @property
    def kappa(self) -> float:
        n = float(self.matrix.sum())
        if not n > 0:
            return 0.0
        # in floats: the products of two national maps' class totals overflow int64
        rows, cols = (self.matrix.sum(axis=a).astype(np.float64) for a in (0, 1))
        expected = float((rows * cols).sum()) / float(n) ** 2
        return (self.overall - expected) / (1 - expected) if expected < 1 else 0.0

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
            "overall_accuracy": self.overall, "kappa": self.kappa, "mean_iou": self.mean_iou,
            "macro_f1": self.macro_f1, "pixels": self.total, "classes": self.names,
            "confusion_matrix": self.matrix.tolist(),
            **({} if self.counts is None else {"samples": self.samples,
                                                "sample_counts": self.counts.tolist()}),
            "per_class": {name: {"precision": float(self.precision[i]),
                                 "recall": float(self.recall[i]), "f1": float(self.f1[i]),
                                 "iou": float(self.iou[i]), "support": round(float(self.support[i]))}
                          for i, name in enumerate(self.names)},
        }

    def table(self) -> str:
        lines = [f"{'class':<20} {'precision':>9} {'recall':>7} {'F1':>6} {'IoU':>6} {'pixels':>9}"]
        for i, name in enumerate(self.names):
            lines.append(f"{name[:20]:<20} {self.precision[i]:9.3f} {self.recall[i]:7.3f} "
                         f"{self.f1[i]:6.3f} {self.iou[i]:6.3f} {self.support[i]:9.0f}")
        lines.append(f"overall accuracy {self.overall:.3f}, kappa {self.kappa:.3f}, "
                     f"mean IoU {self.mean_iou:.3f}, macro F1 {self.macro_f1:.3f}")
        return "\n".join(lines)
