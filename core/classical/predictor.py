"""A saved classical model, loaded without running code from the package, as the Classify
Pixels engine's predictor: raw band values in, class probabilities out.

The skops file is read only after its size, its arrays' headers and every type in its
object tree passed the checks (package_members, skops_allowlist); the trees files are
checked node by node by their stores; and the loaded model must agree with its .emd and
classify two and three pixels before a tile is read."""

from __future__ import annotations

import numpy as np

from ..accuracy.calibration import apply_temperature
from ..errors import InputError
from ..model_package.members import MAX_MEMBER_BYTES, MIB, check_npz
from ..model_package.skops_types import audit_skops
from ..runtime.deps import require
from ..runtime.fast_paths import why_not
from .boosting import FastBoostingProba
from .forest import FastForestProba
from .model_shape import checked_shape
from .neighbourhood import Neighbourhood
from .svm import FastSvmProba, check_fitted_svc
from .trees.stores import boosting_of, forest_of, join_model_trees, split_model_trees
from .versions import check_written_with


class ClassicalPredictor:
    def __init__(self, pkg, info):
        check_written_with(pkg.landlearn.get("versions"), pkg.path)
        sio = require("skops.io")
        model_limit, trees_limit = member_limits(pkg.landlearn, info)
        data = pkg.read(pkg.emd["ModelFile"], model_limit, "classifier")
        trusted = audit_skops(data, model_limit, pkg.path)
        try:
            self.model = sio.loads(data, trusted=trusted)
        except Exception as exc:  # noqa: BLE001 - every type was allowed: this is damage
            raise InputError("model", f"'{pkg.path}': its classifier cannot be read "
                             f"({type(exc).__name__}: {str(exc)[:120]})") from None
        trees = pkg.landlearn.get("trees_file")
        if trees:
            tree_data = pkg.read(trees, trees_limit, "trees")
            check_npz(tree_data, trees_limit, pkg.path, "model", "the trees file")
            join_model_trees(self.model, trees, tree_data, pkg.path)
        else:
            self.model = _checked_inline_trees(self.model, pkg.path)
        for svc in checked_shape(self.model, forest_of(self.model), boosting_of(self.model),
                                 pkg.path):
            try:
                check_fitted_svc(svc)
            except (ValueError, TypeError, AttributeError) as exc:
                raise InputError("model", f"'{pkg.path}': its SVM is damaged or crafted "
                                 f"({str(exc)[:120]}); it is not run") from None
        self.values = info.class_values
        # an object-based model takes segment features (segment_attributes), not bands
        seg = pkg.landlearn.get("segments")
        self.segment_attributes = tuple(seg["attributes"]) if seg else None
        # a pixel classifier with neighbourhood features (checked by the schema, which also
        # holds the package's padding to the widest window's half)
        hood = pkg.landlearn.get("neighbourhood")
        self.neighbourhood = (Neighbourhood(tuple(hood["sizes"]), hood["statistics"]) if hood
                              else None)
        self.features = (len(seg["features"]) if seg else
                         self.neighbourhood.feature_count(info.in_channels) if hood
                         else info.in_channels)
        self.classes = _checked_classes(self.model, info, pkg.path, self.features,
                                        "features" if seg else "bands")
        fast = [f for f in (FastSvmProba, FastForestProba, FastBoostingProba)
                if f.supports(self.model)]
        # tried on 2 and on 3 pixels: an array a package shapes (2, n) where (n,) belongs
        # (a scaler's mean, a boosting baseline) broadcasts against 2 rows alone, and
        # failed on every tile instead
        for rows in (2, 3):
            try:
                if rows == 2:
                    self.proba = fast[0](self.model) if fast else self.model.predict_proba
                trial = self.proba(np.zeros((rows, self.features)))
            except Exception as exc:  # noqa: BLE001 - a model that cannot classify pixels
                raise InputError("model", f"'{pkg.path}': its classifier does not work "
                                 f"({type(exc).__name__}: {str(exc)[:120]}); the package is "
                                 "damaged") from None
            if np.shape(trial) != (rows, len(self.values)):
                raise InputError("model", f"'{pkg.path}': its classifier gives "
                                 f"{np.shape(trial)} probabilities for {rows} pixels of "
                                 f"{len(self.values)} classes; the package is damaged")
        # the package's confidence calibration (1 = raw scores); it never changes a class
        self.temperature = info.temperature
        walk = getattr(self.proba, "walk", None)
        off = why_not()
        self.where = "CPU (scikit-learn" + (f"; {walk.engine})" if walk is not None else
                                            f"'s predict_proba; fast paths off: {off})" if off
                                            else ")")

    def __call__(self, x: np.ndarray, tta: bool = False, valid: np.ndarray | None = None,
                 calibrate: bool = True, is_canceled=None) -> np.ndarray:
        """(n, bands, h, w) -> (n, classes, h, w); pixels outside ``valid`` (n, h, w) are not
        classified and get probability 0 (the writer marks them NoData anyway).
        ``is_canceled`` is not used (Cancel is heard between batches)."""
        n, b, h, w = x.shape
        prob = np.zeros((n, h, w, len(self.classes)), dtype=np.float32)
        # all cores: the fast paths run threads, and scikit-learn's own paths are not held
        # to one OpenMP thread as gradient boosting's fits are (classical_cv), since that
        # slowdown hit small fits, not the prediction of whole tiles
        if self.neighbourhood is not None:
            valid = np.ones((n, h, w), bool) if valid is None else valid
            # each tile's features from its own block, a strip of rows at a time: exact
            # where the tile's padding holds the windows (Classify Pixels keeps only those)
            for i in range(n):
                for r0, r1, rows in self.neighbourhood.strips(x[i], valid[i], valid[i]):
                    prob[i, r0:r1][valid[i, r0:r1]] = self.proba(rows)
        else:
            flat = x.transpose(0, 2, 3, 1).reshape(-1, b)
            keep = None if valid is None else valid.reshape(-1)
            rows = flat if keep is None else flat[keep]
            if len(rows):
                out = prob.reshape(-1, len(self.classes))
                p = self.proba(rows.astype(np.float64))
                if keep is None:
                    out[:] = p
                else:
                    out[keep] = p
        if calibrate:
            prob = apply_temperature(prob, self.temperature, axis=3)
        return prob.transpose(0, 3, 1, 2)

    def calibrated_proba(self, x: np.ndarray) -> np.ndarray:
        """(rows, features) -> calibrated (rows, classes): an object model's segments."""
        return apply_temperature(self.proba(x), self.temperature)


def _checked_inline_trees(model, where: str):
    """Trees kept inside the skops file (packages from before the trees files) go through
    their store and back, so they get the same node-by-node checks before any walk."""
    try:
        light, name, data = split_model_trees(model)
    except Exception as exc:  # noqa: BLE001 - a model whose trees cannot even be listed
        raise InputError("model", f"'{where}': its trees are damaged ({type(exc).__name__}: "
                         f"{str(exc)[:120]})") from None
    return model if data is None else join_model_trees(light, name, data, where)


def _checked_classes(model, info, where: str, features: int, what: str) -> list:
    """The classifier's classes and feature count must be those its .emd describes."""
    # plain Python values, so messages read [1, 2] and not NumPy 2's [np.int64(1), ...]
    classes = [c.item() if hasattr(c, "item") else c for c in getattr(model, "classes_", [])]
    try:
        same = [int(c) for c in classes] == info.class_values
    except (TypeError, ValueError):
        same = False
    if not same:
        raise InputError("model", f"'{where}': the classifier's classes {classes[:20]} "
                         f"differ from its description {info.class_values}")
    bands = getattr(model, "n_features_in_", None)
    if bands is not None and bands != features:
        raise InputError("model", f"'{where}': the classifier takes {bands} {what} but its "
                         f"description says {features}")
    return classes


def member_limits(landlearn: dict, info) -> tuple[int, int]:
    """Ceilings for the classifier and trees files, from what the .emd says was trained:
    an SVM keeps at most every sample as a support vector, a tree at most two nodes per
    sample. A lying .emd raises them only up to MAX_MEMBER_BYTES."""
    training = landlearn.get("training") if isinstance(landlearn.get("training"), dict) else {}
    counts = training.get("samples_per_class")
    params = training.get("parameters") if isinstance(training.get("parameters"), dict) else {}
    try:
        samples = sum(int(v) for v in counts.values()) if isinstance(counts, dict) else 10**6
        trees = int(params.get("trees", 100))
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(Infinity)
        samples, trees = 10**6, 100
    samples = min(max(samples, 1), 10**8)
    trees = min(max(trees, 1), 10**5)
    features = 0
    for key in ("segments", "neighbourhood"):  # what the classifier takes instead of bands
        part = landlearn.get(key)
        if isinstance(part, dict) and isinstance(part.get("features"), list):
            features = max(features, len(part["features"]))
    n_classes, bands = len(info.class_values), max(info.in_channels, features)
    model = 32 * MIB + 16 * samples * (bands + n_classes + 4)
    node = 64 + 8 * n_classes
    forest = trees * 2 * samples * node
    boosting = 1000 * n_classes * 2 * samples * (48 + 32)  # up to 1000 iterations
    return min(model, MAX_MEMBER_BYTES), min(max(forest, boosting) + MIB, MAX_MEMBER_BYTES)
