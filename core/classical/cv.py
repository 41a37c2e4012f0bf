"""Fitting a classical model together with its validation grouped by polygon.

The folds come from StratifiedGroupKFold: the pixels of one polygon are never on both
sides, because neighbouring pixels of one field are nearly identical and a random split
would report memory as accuracy. How the folds are used depends on the model: a
random forest spreads its trees over the folds (classical_forest), the SVM reuses its
fold scores for calibration (classical_svm), the others are refitted per fold.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..accuracy.calibration import fit_calibration
from ..errors import InputError
from ..progress import Progress, check
from ..runtime.deps import require
from .cv_weights import calibration_weights, counted_by, cv_accuracy
from .forest import fit_forest_with_folds
from .samples import Samples
from .svm import fit_svm_with_folds


def grouped_folds(config, s: Samples, progress: Progress) -> list | None:
    from sklearn.model_selection import StratifiedGroupKFold

    if config.cv_folds == 0:
        return None
    groups_per_class = {v: len(np.unique(s.groups[s.y == v])) for v in np.unique(s.y)}
    folds = min(config.cv_folds, max(groups_per_class.values()))
    unit = s.grouped_by  # polygon, point or "64 px block"
    if folds < 2:
        progress.warning(f"Every class comes from a single {unit}; cross-validation by {unit} "
                         f"is impossible, so no accuracy is reported. Add more labels.")
        return None
    thin = [int(v) for v, g in groups_per_class.items() if g < folds]  # plain ints: NumPy 2 reprs
    if thin:
        progress.warning(f"Class(es) {thin} have fewer {unit}s than the {folds} folds: a fold "
                         f"that holds all of a class's {unit}s is scored by a model that never "
                         "saw the class, so its cross-validated recall is understated (0 for a "
                         f"class of one {unit}). Add {unit}s of these classes.")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=config.seed)
    with warnings.catch_warnings():
        # said above in the user's terms (classes of fewer polygons than folds); scikit-
        # learn's own line reached the Processing log with its site-packages path
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        split = list(splitter.split(s.x, s.y, s.groups))
    if lopsided(split, len(s.y)):
        _, counts = np.unique(s.groups, return_counts=True)
        progress.warning(f"One {unit} holds {100 * counts.max() / len(s.y):.0f}% of the "
                         f"samples: the fold that tests it is scored by a model trained on "
                         f"{100 * min(len(t) for t, _ in split) / len(s.y):.0f}% of them, so "
                         "the cross-validated accuracy understates the model's. Label "
                         "places further apart (with neighbourhood features, polygons whose "
                         "windows nearly meet are one group), or use smaller windows.")
    if is_buffered(s):
        split, share = buffered(split, s.positions, s.reach)
        progress.info(f"Cross-validation buffered by {s.reach} px: {100 * share:.0f}% of the "
                      "training samples lay that near a fold's test samples "
                      f"({_why_near(s)}) and were left out of that fold's training")
        split = _trainable(split, s.y, progress, "the buffer took the samples near their "
                           "test samples", "label more places further apart, or use smaller "
                           "windows")
    elif getattr(s, "touches", None) is not None:
        split, share = apart(split, s.touches)
        progress.info(f"Cross-validation by {unit}: {100 * share:.0f}% of the training "
                      f"segments share a {unit} with a fold's test segments (a segment "
                      f"across two {unit}s) and were left out of that fold's training")
        split = _trainable(split, s.y, progress, f"the segments sharing a {unit} with their "
                           "test segments were left out", "segment more finely (a higher "
                           f"SPECTRAL_DETAIL), or label {unit}s further apart")
    return split


def _trainable(split: list, y: np.ndarray, progress: Progress, why: str, fix: str):
    """The folds that still have two classes to train on once some of their training
    samples were left out (``why``), or None; a fold of fewer cannot be scored. Warns of
    the folds dropped and of a fold left lopsided."""
    kept = [(t, v) for t, v in split if len(np.unique(y[t])) >= 2]
    if len(kept) < len(split):
        progress.warning(f"{len(split) - len(kept)} of {len(split)} folds had fewer than two "
                         f"classes left to train on once {why}: " + (
                             "they are not scored, so the accuracy covers the rest" if kept
                             else f"no accuracy is reported; {fix}"))
    if kept and lopsided(kept, len(y)):
        progress.warning(f"Once {why}, some fold has "
                         f"{100 * min(len(t) for t, _ in kept) / len(y):.0f}% of the "
                         "samples left to train on: the cross-validated accuracy understates "
                         f"the model's (the map's model learns from every sample). To mend: {fix}.")
    return kept or None


def apart(folds: list, touches: np.ndarray) -> tuple[list, float]:
    """The folds with each fold's training segments that share a polygon (block) with any
    of its test segments left out, and the share of training segments so left out.
    ``touches``: (sample, group) rows, every group each segment's labelled pixels fall in.
    A segment is grouped by its majority polygon only: one 60% of P1 and 40% of P2 was
    tested in P1's fold while P2's other segments trained its model, and the score read
    the shared pixels as skill (review 96). The pixel samples' analogue is ``buffered``."""
    out, left, total = [], 0, 0
    for train, test in folds:
        shared = np.unique(touches[np.isin(touches[:, 0], test), 1])
        hit = touches[np.isin(touches[:, 1], shared), 0]
        near = np.isin(train, hit)
        out.append((train[~near], test))
        left += int(near.sum())
        total += len(train)
    return out, left / max(total, 1)


def _why_near(s) -> str:
    return ("they touch a test sample across a polygon's edge" if s.reach == 1
            else "their neighbourhood windows overlap")


def _segments_apart(s) -> bool:
    """Whether some object sample touches two groups, so that ``apart`` may have left it
    out of a fold's training."""
    touches = getattr(s, "touches", None)
    return touches is not None and len(np.unique(touches, axis=0)) > len(s.y)


def is_buffered(s) -> bool:
    """Whether ``s`` (Samples, or a stand-in without places) asks for buffered folds."""
    return getattr(s, "positions", None) is not None and getattr(s, "reach", 0) > 0


def buffered(folds: list, positions: np.ndarray, reach: int) -> tuple[list, float]:
    """The folds with each fold's training samples within ``reach`` px (Chebyshev) of any
    of its test samples left out, and the share of training samples so left out. A label
    raster's blocks are cut straight through its labels: a pixel just across a block edge
    shares nearly all of its neighbourhood windows with the test pixel beside it, and the
    score read memory as skill (a 63 px window: most of a 124 px block's pixels)."""
    from scipy.spatial import cKDTree

    out, left, total = [], 0, 0
    for train, test in folds:
        tree = cKDTree(positions[test])
        d, _ = tree.query(positions[train], k=1, p=np.inf, distance_upper_bound=reach + 0.5)
        near = np.isfinite(d)
        out.append((train[~near], test))
        left += int(near.sum())
        total += len(train)
    return out, left / max(total, 1)


LOPSIDED = 0.5  # a fold trained on less than this share of what k folds give each


def lopsided(folds: list, n: int) -> bool:
    """Whether some fold's model trains on less than LOPSIDED of the (k - 1) / k of the
    ``n`` samples each of k even folds trains on: one group (a cluster of polygons whose
    neighbourhood windows meet) holds most of them. Two folds train on about half each,
    which is not lopsided."""
    if not folds:
        return False
    k = len(folds)
    return min(len(train) for train, _ in folds) < LOPSIDED * (k - 1) / k * n


def fit_validated(config, s: Samples, progress: Progress):
    """(fitted model, grouped cross-validation Accuracy or None, how it was validated,
    confidence Calibration or None): the temperature is fitted on the same out-of-fold
    probabilities the accuracy is scored on."""
    folds = grouped_folds(config, s, progress)
    how = f"{len(folds)}-fold cross-validation grouped by {s.grouped_by}" if folds else "none"
    if folds and is_buffered(s):
        how += (f", each fold's training samples within {s.reach} px of its test samples "
                f"left out ({_why_near(s)})")
    elif folds and getattr(s, "touches", None) is not None:
        how += (f", each fold's training segments that share a {s.grouped_by} with its test "
                "segments left out")
    # a forest needs a tree per fold; with fewer trees it is refitted per fold below
    if config.model_type == "random_forest" and folds and config.trees >= len(folds):
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(s.x)
        forest, pred, tested, proba = fit_forest_with_folds(config, scaler.transform(s.x), s.y,
                                                            folds, progress)
        # lopsided folds (one group of most samples) keep their fold trees: regrowing the
        # forest on all samples there was measured no better on s2 with 3,7,15 px windows
        # (one cluster of 96%; 3 seeds: OA 0.620 / macro F1 0.469 regrown against 0.629 /
        # 0.471 kept, BENCHMARKS round 15), so not done; the warning in grouped_folds stays
        # buffered folds (a label raster with windows) trained each fold's trees on what
        # the buffer left: the map's forest is grown on every sample instead
        unseen = not _class_was_trained(folds, s.y).all()
        # a 1 px buffer (polygons that touch) leaves out a few samples along polygon
        # edges (slovenia_s2: 7%): the fold trees grew on nearly all, and stay the forest
        # segments sharing a polygon with a fold's test segments left out of its training:
        # 26-32% of them on s2's adjacent OSM polygons (review 96); the forest regrown on
        # every segment scored held-out OA 0.475 / 0.562 against 0.465 / 0.560 kept (s2,
        # MIN_SEGMENT_SIZE 20 / 5, 3 seeds, 2026-12-06)
        regrow = (is_buffered(s) and s.reach > 1) or _segments_apart(s)
        if not unseen and not regrow:
            model = Pipeline([("standardscaler", scaler), ("randomforestclassifier", forest)])
            how += (f" (each fold scored by the ~{config.trees // len(folds)} trees grown "
                    f"without it; the model is all {config.trees})")
        else:
            # a class all of whose polygons one fold holds: that fold's trees never saw it,
            # and as 1/k of the map's forest they would always vote against it
            check(progress)
            why = ("some fold's trees never saw a class" if unseen
                   else "the folds' trees grew on what the buffer left" if is_buffered(s)
                   else "the folds' trees grew without the segments that share a "
                   f"{s.grouped_by} with their test segments")
            progress.info(f"{why[0].upper()}{why[1:]}: the map's forest of {config.trees} "
                          "trees is grown again on all samples.")
            model = _fit(config, s.x, s.y)
            how += (f" (each fold scored by the ~{config.trees // len(folds)} trees grown "
                    f"without it; the model is a forest of {config.trees} grown on all "
                    f"samples, since {why})")
    elif config.model_type == "svm":
        model, pred, tested, proba = fit_svm_with_folds(config, s.x, s.y, folds, progress,
                                                        s.groups)
        if folds:
            how += "; probabilities calibrated on the same out-of-fold scores"
    else:
        thin = _thin(config, s.y, s.x.shape[1], folds)
        pred, tested, proba = (_refit_per_fold(config, s, folds, progress, thin) if folds
                               else (None, None, None))
        model = _fit(config, s.x, s.y, thin)
    if pred is None or not tested.any():
        return model, None, "none", None
    if counted_by(s):
        how += f"; {counted_by(s)}"
    if config.model_type == "random_forest":
        return model, cv_accuracy(s, pred, tested), how, None  # see FOREST_NOT_CALIBRATED
    classes = np.unique(s.y)
    fit_on = tested & _class_was_trained(folds, s.y)
    index = np.searchsorted(classes, s.y[fit_on])
    calibration = fit_calibration(proba[fit_on], index,
                                  f"out-of-fold {'segments' if s.segments else 'samples'} "
                                  f"(grouped by {s.grouped_by}, weighted to the labelled "
                                  "pixels' class shares" + (", each segment by its labelled "
                                  "pixels)" if s.labelled_pixels is not None else ")"),
                                  config.seed, weights=calibration_weights(s, classes)[fit_on],
                                  groups=s.groups[fit_on])
    return model, cv_accuracy(s, pred, tested), how, calibration


# why a random forest keeps its raw vote shares (the reports say it)
FOREST_NOT_CALIBRATED = (
    "a random forest's out-of-fold votes come from the 1/k of its trees grown without each "
    "fold; they are more extreme than the whole forest's, so a temperature fitted on them "
    "flattens the map's confidence: on held-out areas of nc, s2, slovenia and nb_aerial the "
    "raw vote shares had the lower calibration error (BENCHMARKS.md, Map quality)")


def _class_was_trained(folds: list, y: np.ndarray) -> np.ndarray:
    """Samples whose class the fold model that scored them was trained on. A polygon of a
    class with one or two polygons is often scored by a model that never saw the class:
    it must be wrong, and fitting the temperature on such samples flattened a forest's
    probabilities (T ~ 10 on nb_aerial) for the full model, which did see the class."""
    seen = np.zeros(len(y), dtype=bool)
    for train, test in folds:
        seen[test] = np.isin(y[test], np.unique(y[train]))
    return seen


def make_estimator(config, thin: bool = False):
    """The estimators fitted as they are; the SVM (classical_svm) and, with cross-validation,
    the random forest (classical_forest) are assembled from their fold models instead.
    ``thin``: a class has no more samples than there are features (maximum likelihood)."""
    require("sklearn")
    from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    t = config.model_type
    if t == "random_forest":
        est = RandomForestClassifier(n_estimators=config.trees, max_depth=config.max_depth,
                                     n_jobs=-1, random_state=config.seed)
    elif t == "maximum_likelihood":
        # Gaussian maximum likelihood = one full-covariance Gaussian per class with equal
        # priors (as in ArcGIS/ERDAS); a little regularisation keeps thin classes invertible.
        est = QuadraticDiscriminantAnalysis(reg_param=1e-3)
        if thin and "solver" in QuadraticDiscriminantAnalysis().get_params():
            # scikit-learn >= 1.8's SVD solver refuses a class whose samples do not span
            # the features (a small polygon of 9 px on 10 bands); a shrunk covariance
            # (Ledoit-Wolf) is what a thin class can support
            est = QuadraticDiscriminantAnalysis(solver="eigen", shrinkage="auto")
    elif t == "hist_gradient_boosting":
        # no early stopping: its 10% hold-out ("auto" past 10,000 samples) is random
        # pixels, of the same polygons as the rest, and the folds' models (fewer samples)
        # stopped elsewhere than the model they vouch for
        est = HistGradientBoostingClassifier(max_depth=config.max_depth, random_state=config.seed,
                                             early_stopping=False)
    else:
        raise ValueError(f"{t} is fitted by its own module")
    return make_pipeline(StandardScaler(), est)


def single_openmp_thread(model_type: str):
    """Gradient boosting's OpenMP threads spin against each other (and torch's) on small
    machines: fitting 1,800 samples took 37 s on 2 threads and 0.9 s on 1 here."""
    from contextlib import nullcontext

    if model_type != "hist_gradient_boosting":
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


def _thin(config, y: np.ndarray, features: int, folds: list) -> bool | None:
    """Maximum likelihood: shrunk covariances when any of its fits (a fold's or the map's)
    has a class of no more samples than features. Decided once, so that the folds that
    score the model and fit its temperature fit the same estimator as the map (a fold's 28
    samples of a 35-sample class under 30 features were shrunk, the map's were not)."""
    if config.model_type != "maximum_likelihood":
        return None
    parts = [y] + [y[train] for train, _ in folds or []]
    least = []
    for part in parts:
        counts = np.unique(part, return_counts=True)[1]
        counts = counts[counts >= 2]  # a fold drops its one-sample classes (_refit_per_fold)
        if len(counts) >= 2:  # else _refit_per_fold skips the fold (the map has two or more)
            least.append(int(counts.min()))
    return bool(least) and min(least) <= features


def _fit(config, x, y, thin: bool | None = None):
    if config.model_type == "maximum_likelihood":
        values, counts = np.unique(y, return_counts=True)
        if counts.min() < 2:
            raise InputError("labels", f"class {int(values[np.argmin(counts)])} has one "
                             "sample: maximum likelihood needs at least two per class (a "
                             "covariance) and far more for a good one; label more of it, or "
                             "use MODEL_TYPE random_forest")
        if thin is None:
            thin = bool(counts.min() <= x.shape[1])
    thin = bool(thin)
    with single_openmp_thread(config.model_type):
        try:
            model = make_estimator(config, thin).fit(x, y)
        except np.linalg.LinAlgError as exc:  # a class of identical pixels has no covariance
            raise InputError("labels", "maximum likelihood cannot fit a class whose samples "
                             f"are all alike ({str(exc)[:120]}); label more varied pixels of "
                             "each class, or use MODEL_TYPE random_forest") from None
    if config.model_type == "maximum_likelihood":
        # Gaussian maximum likelihood takes equal priors (as ArcGIS and ERDAS do), not the
        # sampling proportions, which say how many pixels were drawn, not how common a class is
        qda = model.steps[-1][1]
        qda.priors_ = np.full(len(qda.classes_), 1.0 / len(qda.classes_))
    return model


def _refit_per_fold(config, s: Samples, folds: list, progress: Progress,
                    thin: bool | None = None):
    """(out-of-fold predictions, tested mask, out-of-fold probabilities in the order of
    np.unique(y); a class a fold never saw gets 0 there)."""
    classes = np.unique(s.y)
    pred = np.zeros(len(s.y), dtype=s.y.dtype)
    tested = np.zeros(len(s.y), dtype=bool)
    proba = np.zeros((len(s.y), len(classes)))
    for k, (train, test) in enumerate(folds):
        check(progress)
        if config.model_type == "maximum_likelihood":
            # a class with one sample in this fold's training part: unseen by its model
            # (scored 0 for it), as a class the fold has none of
            values, counts = np.unique(s.y[train], return_counts=True)
            train = train[np.isin(s.y[train], values[counts >= 2])]
        if len(np.unique(s.y[train])) < 2:
            continue
        model = _fit(config, s.x[train], s.y[train], thin)
        with single_openmp_thread(config.model_type):
            p = model.predict_proba(s.x[test])
        proba[np.ix_(test, np.searchsorted(classes, model.classes_))] = p
        pred[test] = model.classes_[np.argmax(p, axis=1)]
        tested[test] = True
        progress.set_fraction(0.1 + 0.8 * (k + 1) / len(folds))
    return pred, tested, proba
