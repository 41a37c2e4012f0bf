"""The RBF SVM: grouped out-of-fold scores that serve both validation and calibration, and a
kernel evaluation fast enough for whole scenes.

Training: the k fold SVMs and the final one are independent, so they are fitted in
threads (libsvm releases the GIL). The fold SVMs score the polygons they never saw;
those scores give the cross-validated accuracy, and the same scores fit the Platt
sigmoids that turn the final SVM's decision values into probabilities. Each fold SVM is
standardised by its own training part, so nothing of a fold's test samples reaches its
scores; the final SVM by all samples. Probabilities
are therefore calibrated on unseen polygons, not on random pixels of the training
polygons, and the whole fit costs k+1 SVMs instead of (k+1) x (calibration folds + 1).
The model is saved as scikit-learn's own CalibratedClassifierCV (ensemble=False).

Prediction: libsvm evaluates the kernel one pixel and one support vector at a time
(5 s for 183,000 pixels x 900 support vectors here). The RBF kernel is one matrix
product, exp(2g x.s - g|x|^2 - g|s|^2), and the pairwise decisions a second one, so
numpy/BLAS do the same arithmetic about twenty times faster. The result is checked
against scikit-learn's predict_proba in the tests.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..progress import Progress, check
from ..runtime.fast_paths import fast_paths, why_not
from ..runtime.threads import compute_threads


def _threads() -> int:
    return max(1, min(4, compute_threads()))


def _ovr_scores(svc, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """One-vs-rest decision values in the columns of ``classes`` (-1 for a class the
    model never saw: below any score a class can get, since scores are votes +- 1/3)."""
    d = svc.decision_function(x)
    if len(classes) == 2:
        return d.reshape(-1, 1)
    out = np.full((len(x), len(classes)), -1.0)
    if d.ndim == 1:
        # a fold SVM that saw two of the classes: its margin (+-3 and more) made votes as
        # the others' are (scikit-learn's one-vs-rest rule for one pair: the winner's vote,
        # and the margin squashed into +-1/3), not stacked raw beside their vote scores
        c = d / (3 * (np.abs(d) + 1))
        d = np.stack([(d <= 0) - c, (d > 0) + c], axis=1)
    out[:, np.searchsorted(classes, svc.classes_)] = d
    return out


def fit_svm_with_folds(config, x: np.ndarray, y: np.ndarray, folds: list | None,
                       progress: Progress, groups: np.ndarray | None = None):
    """(pipeline, out-of-fold predictions, tested mask, out-of-fold calibrated
    probabilities in the order of np.unique(y)), the last three None without ``folds``.

    ``folds`` are the grouped validation folds; without them (no cross-validation asked
    or possible) the calibration uses up to 3 folds of whole ``groups`` (polygons) where
    every class has two, else stratified random folds, and nothing is reported.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    gamma = config.svm_gamma if config.svm_gamma in ("scale", "auto") else float(config.svm_gamma)
    scaler = StandardScaler().fit(x)
    xs = scaler.transform(x)
    classes = np.unique(y)
    calib_folds = folds
    if not calib_folds:
        # random pixels of one polygon on both sides made the sigmoids near certain
        per_class = (min(len(np.unique(groups[y == c])) for c in classes)
                     if groups is not None else 0)
        if per_class >= 2:
            calib_folds = list(StratifiedGroupKFold(min(3, per_class), shuffle=True,
                                                    random_state=config.seed)
                               .split(xs, y, groups))
        else:
            n = int(min(3, max(2, np.bincount(np.searchsorted(classes, y)).min())))
            calib_folds = list(StratifiedKFold(n, shuffle=True, random_state=config.seed)
                               .split(xs, y))
    usable = [(tr, te) for tr, te in calib_folds if len(np.unique(y[tr])) >= 2]

    def fit(index):
        """(scaler, SVM) of ``index``'s samples: each fold standardised by its own training
        part (a scaler fitted on every sample had seen the test fold's mean and spread:
        review 96), the final SVM by all samples, the scaler the map keeps."""
        own = scaler if index is everything else StandardScaler().fit(x[index])
        return own, SVC(C=config.svm_c, gamma=gamma, kernel="rbf").fit(
            own.transform(x[index]), y[index])

    everything = np.arange(len(y))
    check(progress)  # the worker threads stay away from QGIS objects
    with ThreadPoolExecutor(_threads()) as pool:
        models = list(pool.map(fit, [everything] + [tr for tr, _ in usable]))
    check(progress)
    final = models[0][1]
    scores = np.zeros((len(y), 1 if len(classes) == 2 else len(classes)))
    tested = np.zeros(len(y), dtype=bool)
    for (_, te), (own, model) in zip(usable, models[1:]):
        scores[te] = _ovr_scores(model, own.transform(x[te]), classes)
        tested[te] = True
    calibrated = CalibratedClassifierCV(SVC(C=config.svm_c, gamma=gamma, kernel="rbf"),
                                        method="sigmoid", ensemble=False)
    if fast_paths():
        # the fold scores are already there: fit the sigmoids on them (private classes)
        from sklearn.calibration import _CalibratedClassifier

        calibrators, few = _sigmoids(final, xs, y, classes, scores, tested,
                                     _trained(usable, y, classes))
        if few:
            progress.warning(f"Class(es) {few}: no cross-validation fold scored them with an "
                             "SVM trained on them (one polygon or two each), so their "
                             "probabilities are calibrated on the training samples and read "
                             "high; label more polygons of them.")
        calibrated.calibrated_classifiers_ = [_CalibratedClassifier(
            final, calibrators, method="sigmoid", classes=classes)]
        calibrated.classes_ = classes
        calibrated.n_features_in_ = final.n_features_in_
    else:
        # the public way to the same model: scikit-learn refits the fold SVMs to get the
        # same out-of-fold scores. cross_val_predict needs folds that cover every sample,
        # and raises "Only 2 class/es in training fold" for a fold that trained two of
        # three or more classes (one of more than two it scores at float64's lowest for
        # the classes it lacks: scikit-learn's own behaviour, kept)
        two = len(classes) > 2 and any(len(np.unique(y[tr])) <= 2 for tr, _ in usable)
        # the folds' test sets must also cover every sample: a fold the buffer or cv.apart
        # left one class to train on was dropped from the folds before they reached here
        covered = sum(len(te) for _, te in usable) == len(y)
        whole = len(usable) == len(calib_folds) and not two and covered
        if two:
            progress.warning("A cross-validation fold trains two classes only (the others' "
                             "polygons all lie in it), which scikit-learn's public "
                             "calibration cannot take: the SVM's probabilities are "
                             "calibrated on folds of random pixels instead, which read a "
                             "little high (the fast path calibrates by polygon; it is off: "
                             f"{why_not()}).")
        elif folds and not covered:
            progress.warning("Some cross-validation fold had fewer than two classes left to "
                             "train on and is not scored, so the folds do not cover every "
                             "sample, which scikit-learn's public calibration needs: the "
                             "SVM's probabilities are calibrated on folds of random pixels "
                             "instead, which read a little high (the fast path calibrates by "
                             f"polygon; it is off: {why_not()}).")
        n = int(min(3, max(2, np.bincount(np.searchsorted(classes, y)).min())))
        calibrated = _public_calibration(config, gamma, x, y, usable if whole else list(
            StratifiedKFold(n, shuffle=True, random_state=config.seed).split(xs, y)))
    pipeline = Pipeline([("standardscaler", scaler), ("calibratedclassifiercv", calibrated)])
    if not folds:
        return pipeline, None, None, None
    if fast_paths():
        proba = _cross_fitted(final, xs, y, classes, scores, tested, usable)
    else:  # the public path's sigmoids saw every fold's scores (named in the notes)
        proba = _calibrate(calibrated.calibrated_classifiers_[0], scores)
    return pipeline, classes[np.argmax(proba, axis=1)], tested, proba


def _public_calibration(config, gamma, x: np.ndarray, y: np.ndarray, folds: list):
    """CalibratedClassifierCV of a StandardScaler + SVC pipeline on ``folds`` (index arrays,
    as the package stores its parameters: a splitter object is a type the package reader
    refuses), so that each fold is standardised by its own training part as the fast path
    does; fitted on the globally scaled samples, the folds' scores had seen their test
    samples' mean and spread (review 96). Returned in the package's shape, the scaler
    (fitted on all samples, as the final model's) taken out for the pipeline's first step."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    def svc():
        return SVC(C=config.svm_c, gamma=gamma, kernel="rbf")

    calibrated = CalibratedClassifierCV(make_pipeline(StandardScaler(), svc()),
                                        method="sigmoid", ensemble=False, cv=folds).fit(x, y)
    inner = calibrated.calibrated_classifiers_[0]  # ensemble=False: fitted on all samples
    inner.estimator = inner.estimator[-1]
    calibrated.set_params(estimator=svc())
    return calibrated


def _cross_fitted(final, xs, y, classes, scores, tested, usable) -> np.ndarray:
    """Out-of-fold probabilities of each fold's scores through sigmoids fitted on the other
    folds' scores: the map's sigmoids are fitted on all of them, and judging the validation
    (its accuracy, its calibration error before a temperature) by those same sigmoids was
    judging them on what they were fitted to."""
    from types import SimpleNamespace

    trained = _trained(usable, y, classes)
    proba = np.zeros((len(y), len(classes)))
    for _, te in usable:
        others = tested.copy()
        others[te] = False
        calibrators, _ = _sigmoids(final, xs, y, classes, scores, others, trained, others)
        proba[te] = _calibrate(SimpleNamespace(calibrators=calibrators, classes=classes),
                               scores[te])
    return proba


def _trained(folds: list, y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """(samples, classes): whether the fold SVM that scored a sample was trained on each
    class (a class's polygons all in one fold leave that fold's SVM without it)."""
    out = np.zeros((len(y), len(classes)), dtype=bool)
    for train, test in folds:
        out[np.ix_(test, np.isin(classes, y[train]))] = True
    return out


def _sigmoids(final, xs, y, classes, scores, tested, trained,
              own_rows: np.ndarray | None = None) -> tuple[list, list]:
    """Platt sigmoids (as CalibratedClassifierCV fits them) of each one-vs-rest column, on
    the samples whose fold SVM knew that class. Fitted on every sample, a class one fold
    never saw sat at the lowest score there (-1), so its sigmoid fell as the SVM's score for
    it rose and the map almost never showed it. A class no fold scored while knowing it
    gets a sigmoid of the full SVM's own scores (named in ``few``), of the ``own_rows``
    samples only when given (a held-out fold's are kept out of its own sigmoids)."""
    from sklearn.calibration import _SigmoidCalibration

    columns = [classes[1]] if len(classes) == 2 else list(classes)
    own = None
    calibrators, few = [], []
    for j, c in enumerate(columns):
        use = tested & trained[:, int(np.searchsorted(classes, c))]
        positive = y[use] == c
        if positive.sum() >= 2 and (~positive).sum() >= 2:
            calibrators.append(_SigmoidCalibration().fit(scores[use, j], positive))
            continue
        if own is None:
            own = _ovr_scores(final, xs, classes)
        rows = slice(None) if own_rows is None else own_rows
        calibrators.append(_SigmoidCalibration().fit(own[rows, j], y[rows] == c))
        few.append(c.item() if hasattr(c, "item") else c)
    return calibrators, few


def _calibrate(cc, scores: np.ndarray) -> np.ndarray:
    """Calibrated probabilities from one-vs-rest scores, as _CalibratedClassifier does."""
    n_classes = len(cc.classes)
    proba = np.zeros((len(scores), n_classes))
    if n_classes == 2:
        proba[:, 1] = cc.calibrators[0].predict(scores[:, 0])
        proba[:, 0] = 1.0 - proba[:, 1]
    else:
        for i, calibrator in enumerate(cc.calibrators):
            proba[:, i] = calibrator.predict(scores[:, i])
        total = proba.sum(axis=1, keepdims=True)
        proba = np.divide(proba, total, out=np.full_like(proba, 1.0 / n_classes),
                          where=total != 0)
    proba[(1.0 < proba) & (proba <= 1.0 + 1e-5)] = 1.0
    return proba


def check_fitted_svc(svc) -> None:
    """Raise ValueError unless a loaded SVC's fitted arrays agree with each other.

    libsvm is handed these arrays as raw pointers and reads as many values as its support
    vector and class counts say: a crafted file with a shorter coefficient, intercept or
    probability array would make it read past them (a crash, or other memory as numbers).
    scikit-learn checks only that the support counts add up, so every shape is checked
    here before anything predicts, and only the kernel LandLearn trains is accepted."""
    n = len(getattr(svc, "classes_", ()))
    pairs = n * (n - 1) // 2
    sv = getattr(svc, "support_vectors_", None)
    if svc.kernel != "rbf" or getattr(svc, "_impl", None) != "c_svc" or \
            getattr(svc, "_sparse", True) is not False:
        raise ValueError("not the RBF C-SVM that LandLearn trains")
    if n < 2 or not isinstance(sv, np.ndarray) or sv.ndim != 2 or sv.dtype != np.float64:
        raise ValueError("no support vectors of two or more classes")
    rows = sv.shape[0]
    expect = {"support_": (rows,), "_n_support": (n,), "_dual_coef_": (n - 1, rows),
              "_intercept_": (pairs,)}
    for name, shape in expect.items():
        a = getattr(svc, name, None)
        if not isinstance(a, np.ndarray) or a.shape != shape:
            raise ValueError(f"{name} is not of shape {shape}")
    for name in ("_probA", "_probB"):
        a = getattr(svc, name, None)
        if not isinstance(a, np.ndarray) or a.shape not in ((0,), (pairs,)):
            raise ValueError(f"{name} is not of shape (0,) or ({pairs},)")
    counts = svc._n_support
    if not np.issubdtype(counts.dtype, np.integer) or counts.min() < 0 or \
            int(counts.sum()) != rows:
        raise ValueError("its support vector counts do not add up to its support vectors")
    if not np.isfinite(float(svc._gamma)):
        raise ValueError("its gamma is not a number")


class FastSvmProba:
    """predict_proba of a StandardScaler + CalibratedClassifierCV(SVC rbf) pipeline."""

    @staticmethod
    def supports(model) -> bool:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        steps = getattr(model, "steps", [])
        if not fast_paths() or len(steps) != 2 or not isinstance(steps[0][1], StandardScaler):
            return False
        cal = steps[1][1]
        if not isinstance(cal, CalibratedClassifierCV) or len(cal.calibrated_classifiers_) != 1:
            return False
        cc = cal.calibrated_classifiers_[0]
        return (isinstance(cc.estimator, SVC) and cc.estimator.kernel == "rbf"
                and cc.method == "sigmoid")

    def __init__(self, model):
        scaler, cal = model.steps[0][1], model.steps[1][1]
        self.cc = cc = cal.calibrated_classifiers_[0]
        svc = cc.estimator
        self.mean = scaler.mean_ if scaler.with_mean else 0.0
        self.scale = scaler.scale_ if scaler.with_std else 1.0
        g = float(svc._gamma)
        sv = svc.support_vectors_
        # exponent = [x, |x|^2, 1] @ [2g s; -g; -g|s|^2]
        self.kernel_rhs = np.vstack([2 * g * sv.T, np.full((1, len(sv)), -g),
                                     -g * (sv ** 2).sum(axis=1)[None]]).astype(np.float32)
        self.n_classes = len(svc.classes_)
        starts = np.concatenate([[0], np.cumsum(svc.n_support_)])
        self.blocks = [(int(starts[c]), int(starts[c + 1])) for c in range(self.n_classes)]
        # class c's support vectors weighted for each of its n_classes-1 pairings
        self.coef = [np.ascontiguousarray(svc.dual_coef_[:, a:b].T, dtype=np.float32)
                     for a, b in self.blocks]
        self.intercept = svc.intercept_
        self.classes = svc.classes_
        # about 16 MB of kernel per chunk, whatever the support vectors (a floor of 256
        # rows made 7 GB per thread of a package claiming 7 million of them)
        self.rows = max(1, (1 << 22) // max(len(sv), 1))

    def ovo(self, xs: np.ndarray) -> np.ndarray:
        """libsvm's pairwise decision values (sum of coef * K + intercept) for scaled rows."""
        # float32 keeps the exponent to ~1e-6 of |x|^2 (standardised data: small numbers)
        # and halves the memory traffic of the largest array
        a = np.empty((len(xs), xs.shape[1] + 2), dtype=np.float32)
        a[:, :-2] = xs
        a[:, -2] = (xs ** 2).sum(axis=1)
        a[:, -1] = 1.0
        k = a @ self.kernel_rhs
        np.exp(k, out=k)
        part = [k[:, a0:b0] @ coef for (a0, b0), coef in zip(self.blocks, self.coef)]
        n = self.n_classes
        out = np.empty((len(xs), n * (n - 1) // 2))
        p = 0
        for i in range(n):
            for j in range(i + 1, n):
                # class i's vectors carry their coefficient against j in row j-1, class j's
                # vectors theirs against i in row i
                out[:, p] = part[i][:, j - 1] + part[j][:, i] + self.intercept[p]
                p += 1
        return out

    def _chunk(self, x: np.ndarray) -> np.ndarray:
        from sklearn.utils.multiclass import _ovr_decision_function

        dec = self.ovo((x - self.mean) / self.scale)
        if self.n_classes == 2:
            scores = dec  # the public dual_coef_/intercept_ already make positive = classes_[1]
        else:
            scores = _ovr_decision_function(dec < 0, -dec, self.n_classes)
        return _calibrate(self.cc, scores)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        parts = [x[i:i + self.rows] for i in range(0, len(x), self.rows)]
        if len(parts) <= 1:
            return self._chunk(x) if len(x) else np.zeros((0, len(self.cc.classes)))
        from threadpoolctl import threadpool_limits

        # one BLAS thread per chunk thread: nested pools on 2 cores ran 2.4x slower
        with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(_threads()) as pool:
            return np.concatenate(list(pool.map(self._chunk, parts)))
