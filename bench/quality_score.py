"""Scoring for bench_quality: a package's map (as Classify Pixels writes it) against the
held-out reference, and the same for a small ensemble of packages (their calibrated
probabilities averaged), so that test-time augmentation and ensembles are judged on the
very models the plain rows score.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio

from landlearn.core.accuracy.calibration import apply_temperature, expected_calibration_error
from landlearn.core.accuracy.metrics import Accuracy, confusion_matrix
from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
from landlearn.core.model_package.format import read_package


@dataclass
class Failed:
    """A default that does not run on this set: what the user is told."""

    model: str
    seed: int
    message: str


@dataclass
class Run:
    model: str
    seed: int
    acc: Accuracy
    boundary: float | None
    ece_raw: float
    ece_cal: float
    temperature: float
    train_s: float
    classify_s: float
    package: str = ""
    probabilities: str = ""  # the calibrated OUTPUT_PROBABILITIES raster


def as_names(values: np.ndarray, names: dict[int, str]) -> np.ndarray:
    lut = np.array([""] * 256, dtype=object)
    for v, n in names.items():
        lut[v] = n
    lut[0] = ""
    return lut[values]


def boundaries(names: np.ndarray) -> np.ndarray:
    b = np.zeros(names.shape, bool)
    b[:, 1:] |= names[:, 1:] != names[:, :-1]
    b[:, :-1] |= names[:, 1:] != names[:, :-1]
    b[1:] |= names[1:] != names[:-1]
    b[:-1] |= names[1:] != names[:-1]
    return b


def _dilate(m: np.ndarray) -> np.ndarray:
    p = np.pad(m, 1)
    return np.any([p[1 + dy:1 + dy + m.shape[0], 1 + dx:1 + dx + m.shape[1]]
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)


def boundary_f(pred: np.ndarray, truth: np.ndarray) -> float:
    """F-score of class boundaries within 1 px, inside the scored area."""
    scored = truth != ""
    inner = scored & ~_dilate(~scored)  # the scored area's own edge is no class boundary
    pb, tb = boundaries(pred) & inner, boundaries(truth) & inner
    if not pb.any() or not tb.any():
        return 0.0
    precision = (pb & _dilate(tb)).sum() / pb.sum()
    recall = (tb & _dilate(pb)).sum() / tb.sum()
    return float(2 * precision * recall / max(precision + recall, 1e-12))


def _package_classes(package: str, tta: bool = False) -> tuple[dict[int, str], list[str],
                                                                float]:
    """(value -> name, the probability bands' class names in order, the temperature
    Classify Pixels applied: the TTA map's own with ``tta``, where the package has one)."""
    pkg = read_package(package)
    names_of = {int(c["Value"]): str(c["Name"]) for c in pkg.emd["Classes"]}
    info = pkg.landlearn
    order = [names_of.get(v, "") for v in info["class_values"]]
    cal = info.get("calibration") or {}
    t = float(cal.get("temperature", 1.0))
    return names_of, order, float((cal.get("tta") or {}).get("temperature", t)) if tta else t


def judge(qs, model: str, seed: int, pred: np.ndarray, prob: np.ndarray, order: list[str],
          temp: float, train_s: float, classify_s: float) -> Run:
    """Run from a map of class names and its (classes, h, w) calibrated probabilities."""
    classes = sorted(set(np.unique(qs.truth[qs.truth != ""])) | set(order) - {""})
    index = {n: i for i, n in enumerate(classes)}
    scored = qs.truth != ""
    t = np.array([index[n] for n in qs.truth[scored]])
    p = np.array([index.get(n, -1) for n in pred[scored]])
    keep = p >= 0
    acc = Accuracy(confusion_matrix(t[keep], p[keep], len(classes)), classes)
    pr = prob.reshape(prob.shape[0], -1).T[scored.reshape(-1)]
    ok = keep & (pr.sum(1) > 0)
    truth_idx = np.array([order.index(n) if n in order else -1 for n in qs.truth[scored]])
    ok &= truth_idx >= 0
    cal = pr[ok]
    raw = apply_temperature(cal, 1.0 / temp)
    return Run(model, seed, acc, boundary_f(pred, qs.truth) if qs.wall_to_wall else None,
               expected_calibration_error(raw, truth_idx[ok]),
               expected_calibration_error(cal, truth_idx[ok]), temp, train_s, classify_s)


def score(qs, model: str, seed: int, package: str, tmp, train_s: float,
          tta: bool = False) -> Run:
    """Classify the set's image as a user does (OUTPUT_PROBABILITIES on; TEST_TIME_
    AUGMENTATION when ``tta``) and judge the map."""
    stem = f"{qs.key}_{model}_{seed}" + ("_tta" if tta else "")
    out, prob = tmp / f"{stem}.tif", tmp / f"{stem}_p.tif"
    t0 = time.perf_counter()
    classify_pixels(ClassifyConfig(qs.image, package, str(out), output_probabilities=str(prob),
                                   test_time_augmentation=tta))
    classify_s = time.perf_counter() - t0
    names_of, order, temp = _package_classes(package, tta)
    with rasterio.open(out) as ds:
        pred = as_names(ds.read(1), names_of)
    with rasterio.open(prob) as ds:
        pr = ds.read()
    run = judge(qs, model + ("+tta" if tta else ""), seed, pred, pr, order, temp, train_s,
                classify_s)
    run.package, run.probabilities = package, str(prob)
    return run


def ensemble(qs, model: str, members: list[Run]) -> Run:
    """The members' calibrated probabilities averaged (one package's class order: they come
    from the same chips), scored as one map; its time is the members' sum."""
    _, order, _ = _package_classes(members[0].package)
    total = None
    for m in members:
        if _package_classes(m.package)[1] != order:
            raise ValueError(f"{m.package}: another class order; cannot average")
        with rasterio.open(m.probabilities) as ds:
            p = ds.read().astype(np.float64)
        total = p if total is None else total + p
    mean = (total / len(members)).astype(np.float32)
    labelled = mean.sum(0) > 0
    pred = np.where(labelled, np.array(order, dtype=object)[mean.argmax(0)], "")
    return judge(qs, model, -1, pred, mean, order, 1.0,
                 sum(m.train_s for m in members), sum(m.classify_s for m in members))


def prior_em(qs, run: Run, chips, iterations: int = 200, tol: float = 1e-7) -> Run:
    """An ablation scored post hoc: ``run``'s calibrated probabilities moved from the
    training chips' class shares to the mapped area's, estimated from the map itself by
    expectation-maximisation (Saerens, Latinne & Decaestecker 2002: reweight each pixel's
    probabilities by target/training shares, take the mean as the new target shares,
    repeat). No label of the mapped area is used, only where it is: nc's east half (the
    area mapped; its truth is wall to wall), or the whole image for polygon hold-outs.
    The question: does the map lose to the shift of class proportions between the two
    areas (nc: developed 17% of the west half's labels, 45% of the east's)?"""
    import json

    shares = json.loads((Path(chips) / "landlearn_manifest.json").read_text())["class_pixels"]
    names_of, order, _ = _package_classes(run.package)
    value_of = {n: v for v, n in names_of.items()}
    source = np.array([shares.get(str(value_of.get(n)), 0) for n in order],
                      dtype=np.float64) + 1
    source /= source.sum()
    with rasterio.open(run.probabilities) as ds:
        p = ds.read().astype(np.float64)
    labelled = p.sum(0) > 0
    area = labelled & (qs.truth != "") if qs.wall_to_wall else labelled
    x = p[:, area]
    target = source.copy()
    for _ in range(iterations):
        q = x * (target / source)[:, None]
        q /= q.sum(0, keepdims=True)
        new = q.mean(1)
        done = np.abs(new - target).max() < tol
        target = new
        if done:
            break
    adjusted = p * (target / source)[:, None, None]
    adjusted /= np.where(labelled, adjusted.sum(0), 1.0)
    pred = np.where(labelled, np.array(order, dtype=object)[adjusted.argmax(0)], "")
    print(f"  EM shares ({qs.key}, seed {run.seed}): " + ", ".join(
        f"{n} {a:.3f}->{b:.3f}" for n, a, b in zip(order, source, target)), flush=True)
    return judge(qs, f"{run.model} prior-EM", run.seed, pred, adjusted.astype(np.float32),
                 order, 1.0, run.train_s, run.classify_s)


def prior_corrected(qs, run: Run, chips, taus: list[float]) -> list[Run]:
    """An ablation scored post hoc (no option of the product): ``run``'s calibrated
    probabilities divided by the training chips' class shares to the power tau, for each
    of ``taus`` (logit adjustment, Menon et al. 2021; tau 1 = every class equally likely a
    priori, as a random forest trained on 500 samples per class sees them), renormalised,
    argmax. The question it answers: are the rare classes lost to the training area's class
    proportions (then this lifts macro F1), or not separated at all? The probabilities are
    read once for all taus."""
    import json

    shares = json.loads((Path(chips) / "landlearn_manifest.json").read_text())["class_pixels"]
    names_of, order, _ = _package_classes(run.package)
    value_of = {n: v for v, n in names_of.items()}
    prior = np.array([shares.get(str(value_of.get(n)), 0) for n in order], dtype=np.float64) + 1
    prior /= prior.sum()
    with rasterio.open(run.probabilities) as ds:
        p = ds.read().astype(np.float64)
    labelled = p.sum(0) > 0
    runs = []
    for tau in taus:
        adjusted = p / prior[:, None, None] ** tau
        adjusted /= np.where(labelled, adjusted.sum(0), 1.0)
        pred = np.where(labelled, np.array(order, dtype=object)[adjusted.argmax(0)], "")
        runs.append(judge(qs, f"{run.model} prior^-{tau:g}", run.seed, pred,
                          adjusted.astype(np.float32), order, 1.0, run.train_s,
                          run.classify_s))
    return runs
