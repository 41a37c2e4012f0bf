"""How much each out-of-fold prediction counts in the cross-validated accuracy and in the
temperature fitted on the same predictions.

A classifier's samples are drawn class-balanced (MAX_SAMPLES_PER_CLASS), while its map is
judged per pixel. So each scored sample stands for a share of its class's labelled pixels:

- a pixel sample stands for one pixel, and its class's samples share out the class's
  labelled pixels evenly (as before 2026-12-06: pixel models are unchanged);
- a segment (object_samples) stands for the pixels of it that carry its class inside the
  labels, so its class's labelled pixels are shared out in proportion to those. Counted
  once each, a 4 px segment weighed as much as a 4,000 px field: small segments are the
  hard ones, and on s2_osm_sparse the cross-validated overall accuracy read 0.35-0.40
  where the map scored 0.48-0.56 per pixel on held-out polygons (review 96).

Within a class the shares only rescale, so per class the recall of pixel samples is the
recall as scored; what moves are the classes' weights against each other (overall
accuracy, kappa, precision) and, for segments, big segments against small ones.
"""

from __future__ import annotations

import numpy as np

from ..accuracy.metrics import Accuracy
from .samples import Samples

__all__ = ["calibration_weights", "counted_by", "cv_accuracy"]


def _units(s: Samples) -> np.ndarray:
    """What each sample stands for: its labelled pixels (a segment) or 1 (a pixel)."""
    if s.labelled_pixels is None:
        return np.ones(len(s.y), dtype=np.float64)
    return np.asarray(s.labelled_pixels, dtype=np.float64)


def _class_totals(s: Samples, values, fallback: np.ndarray) -> np.ndarray:
    """The labelled pixels of each class of ``values`` before the cap per class; where a
    class's count is missing, ``fallback`` (what its samples hold)."""
    totals = s.labelled_pixels_per_class if s.labelled_pixels is not None else s.available
    return np.array([totals.get(int(v), 0) or f for v, f in zip(values, fallback)],
                    dtype=np.float64)


def counted_by(s: Samples) -> str | None:
    """How the cross-validated figures count segments, for the validation line of the log,
    the report and the package; None for pixel samples, whose report says it already."""
    if s.labelled_pixels is None:
        return None
    return ("counted by labelled pixels: each test segment weighs the pixels of it that "
            "carry its class in the labels")


def cv_accuracy(s: Samples, pred: np.ndarray, tested: np.ndarray) -> Accuracy:
    """The out-of-fold confusion matrix, each tested sample weighing its share of its
    class's labelled pixels (the module's docstring), the samples as counted kept beside
    it. A class's samples that no fold could test (its polygons all in a fold whose
    training lacked two classes) leave its tested ones to stand for all its pixels."""
    values = [c.value for c in s.classes]
    index = {v: i for i, v in enumerate(values)}
    n = len(values)
    truth = np.array([index[int(v)] for v in s.y[tested]], dtype=np.int64)
    guess = np.array([index[int(v)] for v in pred[tested]], dtype=np.int64)
    cm = np.bincount(truth * n + guess, minlength=n * n).reshape(n, n)
    if s.labelled_pixels is None:
        units = cm.astype(np.float64)  # each pixel sample one unit: the counts themselves
    else:
        units = np.bincount(truth * n + guess, weights=_units(s)[tested],
                            minlength=n * n).reshape(n, n)
    scored = units.sum(axis=1)
    labelled = _class_totals(s, values, scored)
    return Accuracy(units * (labelled / np.maximum(scored, 1))[:, None],
                    [c.name for c in s.classes], counts=cm)


def calibration_weights(s: Samples, classes: np.ndarray) -> np.ndarray:
    """Per sample: its share of its class's labelled pixels, the class's drawn samples
    sharing them, so that the temperature is fitted on the predictions as the map's pixels
    meet them (a segment's probability is that of each of its pixels). ``classes``: the
    sorted class values (np.unique(s.y))."""
    units = _units(s)
    index = np.searchsorted(classes, s.y)
    drawn = np.bincount(index, weights=units, minlength=len(classes))
    labelled = _class_totals(s, classes, np.maximum(drawn, 1))
    return units * (labelled / np.maximum(drawn, 1))[index]
