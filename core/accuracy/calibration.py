"""Confidence that means what it says: temperature scaling and the calibration error.

A network's softmax maximum and a forest's vote share are scores, not probabilities: a
U-Net trained to a low loss says 0.99 where it is right 80% of the time, a forest of
shallow votes says 0.5 where it is right 90%. Temperature scaling (Guo et al. 2017)
fits one number T on held-out pixels: probabilities p become p^(1/T), renormalised,
which is softmax(logits / T) for a network. The class with the highest probability
never changes, so maps stay identical; only the confidence and probability outputs move.

T is fitted by minimising the Brier score on held-out predictions (the
validation chips of a network, the out-of-fold predictions of a classical model). The
calibration error "after" is cross-fitted: T fitted on one half of the held-out pixels
and scored on the other, both ways, so the report does not grade T on its own data. The
halves are whole groups when the caller has them (a network's validation blocks, a
classical model's polygons): pixels of one chip are alike, and a split through them
graded T on near-copies of its own data. When T fitted on one half does not lower the
error on the other, the scores are kept raw (T = 1) and the report says why: a
temperature that does not transfer within the held-out data will not transfer to a map
(measured: s2's U-Net, T 1.37 from few validation chips, raised the held-out error from
0.040 to 0.123; BENCHMARKS.md, Map quality).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..model_package.schema import MAX_TEMPERATURE, MIN_TEMPERATURE

__all__ = ["BINS", "Calibration", "MAX_TEMPERATURE", "MIN_TEMPERATURE", "Reliability",
           "apply_temperature", "expected_calibration_error", "fit_calibration",
           "fit_temperature", "reliability"]

BINS = 15
MIN_SAMPLES = 50  # fewer held-out predictions than this fit noise, not a temperature
MAX_VALUES = 4_000_000  # held-out predictions x classes a fit works on (a sample beyond)


def apply_temperature(prob: np.ndarray, temperature: float, axis: int = 1) -> np.ndarray:
    """p^(1/T) renormalised along ``axis`` (float32): softmax(log p / T), so the argmax
    is kept; rows of zeros (pixels not classified) stay zero.

    Each row is first divided by its largest value, so its top class stays 1 and no row
    underflows to all zeros however small T is; a power and a sum then cost 2.7x less
    than going through log and exp (18 vs 49 ms per million pixels of 7 classes)."""
    prob = np.asarray(prob, dtype=np.float32)
    if temperature == 1.0:
        return prob
    top = prob.max(axis=axis, keepdims=True)
    out = prob / np.where(top > 0, top, 1)
    np.power(out, np.float32(1.0 / temperature), out=out)
    total = out.sum(axis=axis, keepdims=True)
    out /= np.where(total > 0, total, 1)
    return out


def _brier(prob: np.ndarray, onehot: np.ndarray, beta: float, weights) -> float:
    per = ((apply_temperature(prob, 1.0 / beta) - onehot) ** 2).sum(axis=1)
    return float(np.average(per, weights=weights))


def fit_temperature(prob: np.ndarray, truth: np.ndarray, weights: np.ndarray | None = None
                    ) -> float:
    """The T in [MIN_TEMPERATURE, MAX_TEMPERATURE] that minimises the Brier score of
    ``truth`` (class indices) under p^(1/T), found by golden-section search over log(1/T).

    The Brier score rather than the log-likelihood of Guo et al.: both are proper scores,
    but the Brier score is bounded. A forest's vote share of exactly 0 for the true class
    (12% of nc's out-of-fold samples) or a Gaussian's underflow makes the log-likelihood
    infinite whatever T is, and a floor under it pushed T to 5-9 and the cross-fitted
    calibration error from 0.09-0.13 up to 0.18-0.24; with the Brier score it went down
    to 0.04-0.09 for all four classical models, and a softmax's T is recovered as well.
    ``weights`` weigh each prediction (e.g. class-balanced samples back to the labelled
    pixels' class proportions)."""
    prob = np.asarray(prob, dtype=np.float32)
    truth = np.asarray(truth, dtype=np.int64)
    onehot = np.zeros(prob.shape, np.float32)
    onehot[np.arange(len(truth)), truth] = 1
    lo, hi = math.log(1 / MAX_TEMPERATURE), math.log(1 / MIN_TEMPERATURE)
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = _brier(prob, onehot, math.exp(a), weights), _brier(prob, onehot, math.exp(b), weights)
    while hi - lo > 1e-4:
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = _brier(prob, onehot, math.exp(a), weights)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = _brier(prob, onehot, math.exp(b), weights)
    return float(1 / math.exp((lo + hi) / 2))


@dataclass(frozen=True)
class Reliability:
    """Per confidence bin (equal width over 0..1): pixels, mean confidence, accuracy."""

    counts: tuple[int, ...]
    confidence: tuple[float, ...]
    accuracy: tuple[float, ...]
    weight: tuple[float, ...] | None = None  # summed weights, when predictions are weighted

    @property
    def ece(self) -> float:
        mass = self.weight if self.weight is not None else self.counts
        n = sum(mass)
        return float(sum(m * abs(a - f) for m, a, f in
                         zip(mass, self.accuracy, self.confidence)) / n) if n else 0.0

    def to_json(self) -> dict:
        return {"counts": list(self.counts), "confidence": [round(v, 5) for v in self.confidence],
                "accuracy": [round(v, 5) for v in self.accuracy]}


def reliability(prob: np.ndarray, truth: np.ndarray, bins: int = BINS,
                weights: np.ndarray | None = None) -> Reliability:
    prob = np.asarray(prob)
    conf = prob.max(axis=1)
    right = prob.argmax(axis=1) == np.asarray(truth)
    which = np.minimum((conf * bins).astype(np.int64), bins - 1)
    counts = np.bincount(which, minlength=bins)
    w = np.ones(len(conf)) if weights is None else np.asarray(weights, dtype=np.float64)
    mass = np.bincount(which, weights=w, minlength=bins)
    conf_sum = np.bincount(which, weights=w * conf, minlength=bins)
    right_sum = np.bincount(which, weights=w * right, minlength=bins)
    safe = np.where(mass > 0, mass, 1)
    return Reliability(tuple(int(c) for c in counts), tuple(float(v) for v in conf_sum / safe),
                       tuple(float(v) for v in right_sum / safe),
                       None if weights is None else tuple(float(m) for m in mass))


def expected_calibration_error(prob: np.ndarray, truth: np.ndarray, bins: int = BINS,
                               weights: np.ndarray | None = None) -> float:
    """The pixel-weighted gap between confidence and accuracy over ``bins`` bins."""
    return reliability(prob, truth, bins, weights).ece


@dataclass(frozen=True)
class Calibration:
    """What the package stores (LandLearn.calibration) and the report shows."""

    temperature: float
    samples: int
    fitted_on: str
    ece_before: float
    ece_after: float
    before: Reliability
    after: Reliability
    kept_raw: bool = False  # T did not lower the cross-fitted error: temperature 1
    # a deep model's own calibration of the test-time augmented map (TTA): four flipped
    # passes averaged are less sure than one, so one T cannot serve both
    tta: Calibration | None = None

    def to_json(self) -> dict:
        out = {"method": "temperature", "temperature": round(self.temperature, 6),
               "samples": self.samples, "fitted_on": self.fitted_on,
               "ece_before": round(self.ece_before, 5), "ece_after": round(self.ece_after, 5),
               "reliability_before": self.before.to_json(),
               "reliability_after": self.after.to_json(), "kept_raw": self.kept_raw}
        if self.tta is not None:
            out["tta"] = self.tta.to_json()
        return out

    def line(self) -> str:
        tta = "" if self.tta is None else "; with TTA " + self.tta._summary()
        return self._summary() + tta

    def _summary(self) -> str:
        if self.kept_raw:
            return (f"confidence left raw: a temperature fitted on half of {self.samples} "
                    f"{self.fitted_on} did not lower the calibration error on the other half "
                    f"({self.ece_before:.3f} -> {self.ece_after:.3f})")
        return (f"confidence calibrated on {self.samples} {self.fitted_on}: temperature "
                f"{self.temperature:.3f}, expected calibration error {self.ece_before:.3f} -> "
                f"{self.ece_after:.3f} (after: cross-fitted on halves)")


def fit_calibration(prob: np.ndarray, truth: np.ndarray, fitted_on: str, seed: int = 0,
                    weights: np.ndarray | None = None,
                    groups: np.ndarray | None = None) -> Calibration | None:
    """Temperature and reliability from held-out (n, classes) probabilities and the true
    class indices; None when there are too few to fit (the model keeps T = 1).

    ``weights`` make the predictions count as the pixels they stand for: a classical
    model's samples are drawn class-balanced (500 per class), but its map meets the
    classes in their own proportions, and a fit on the balanced samples flattened the
    confidence of a forest whose map is 99% forest."""
    prob = np.asarray(prob, dtype=np.float32)
    truth = np.asarray(truth, dtype=np.int64)
    if len(truth) < MIN_SAMPLES or prob.ndim != 2 or prob.shape[1] < 2:
        return None
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    g = None if groups is None else np.asarray(groups)
    if prob.size > MAX_VALUES:  # bounded time with many classes: an even sample
        keep = np.sort(np.random.default_rng(seed).choice(
            len(truth), MAX_VALUES // prob.shape[1], replace=False))
        prob, truth = prob[keep], truth[keep]
        w = None if w is None else w[keep]
        g = None if g is None else g[keep]
    temperature = fit_temperature(prob, truth, w)
    half = _halves(len(truth), g, seed)
    after = np.empty_like(prob)
    for part in (half, ~half):
        t = fit_temperature(prob[~part], truth[~part], None if w is None else w[~part])
        after[part] = apply_temperature(prob[part], t)
    before_bins, after_bins = reliability(prob, truth, weights=w), reliability(after, truth,
                                                                               weights=w)
    kept_raw = after_bins.ece >= before_bins.ece
    return Calibration(1.0 if kept_raw else temperature, len(truth), fitted_on,
                       before_bins.ece, after_bins.ece, before_bins, after_bins, kept_raw)


def _halves(n: int, groups: np.ndarray | None, seed: int) -> np.ndarray:
    """A boolean half of n predictions: whole groups when there are at least 2, else
    predictions at random. Groups go largest first to the half with fewer predictions (in
    an order the seed shuffles among equals): split by count, one block of a few pixels
    could be all the data a temperature was fitted on."""
    rng = np.random.default_rng(seed)
    if groups is not None:
        uniq, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
        if len(uniq) >= 2:
            order = rng.permutation(len(uniq))
            order = order[np.argsort(-counts[order], kind="stable")]
            first, sizes = np.zeros(len(uniq), bool), [0, 0]
            for g in order:
                side = 0 if sizes[0] <= sizes[1] else 1
                first[g] = side == 0
                sizes[side] += int(counts[g])
            return first[inverse.ravel()]
    return rng.permutation(n) % 2 == 0
