"""A saved classical model, loaded without running code from the package, as the Classify
Pixels engine's predictor: raw band values in, class probabilities out."""

from __future__ import annotations

import os
import zipfile

import numpy as np

from .classical_tree_files import join_model_trees
from .deps import require
from .errors import InputError

# skops loads only what these prefixes name; anything else in a file is refused.
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")


class ClassicalPredictor:
    def __init__(self, pkg, info):
        from .classical_boosting import FastBoostingProba
        from .classical_forest import FastForestProba
        from .classical_svm import FastSvmProba

        sio = require("skops.io")
        data = _read_member(pkg.path, pkg.emd["ModelFile"])
        untrusted = sio.get_untrusted_types(data=data)
        bad = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
        if bad:
            raise InputError("model", f"'{pkg.path}' holds types LandLearn does not load: {bad}")
        self.model = sio.loads(data, trusted=untrusted)
        trees = pkg.emd.get("LandLearn", {}).get("trees_file")
        if trees:
            join_model_trees(self.model, trees, _read_member(pkg.path, trees), pkg.path)
        self.classes = list(self.model.classes_)
        self.values = info.class_values
        if [int(c) for c in self.classes] != self.values:
            raise InputError("model", f"'{pkg.path}': the classifier's classes {self.classes} "
                             f"differ from its description {self.values}")
        fast = [f for f in (FastSvmProba, FastForestProba, FastBoostingProba)
                if f.supports(self.model)]
        self.proba = fast[0](self.model) if fast else self.model.predict_proba
        walk = getattr(self.proba, "walk", None)
        self.where = "CPU (scikit-learn" + (f"; {walk.engine})" if walk is not None else ")")

    def __call__(self, x: np.ndarray, tta: bool = False, valid: np.ndarray | None = None
                 ) -> np.ndarray:
        """(n, bands, h, w) -> (n, classes, h, w); pixels outside ``valid`` (n, h, w) are not
        classified and get probability 0 (the writer marks them NoData anyway)."""
        n, b, h, w = x.shape
        flat = x.transpose(0, 2, 3, 1).reshape(-1, b)
        keep = None if valid is None else valid.reshape(-1)
        prob = np.zeros((len(flat), len(self.classes)), dtype=np.float32)
        rows = flat if keep is None else flat[keep]
        if len(rows):
            # all cores: the fast paths run threads, and scikit-learn's own paths are not held
            # to one OpenMP thread as gradient boosting's fits are (classical_cv), since
            # that slowdown hit small fits, not the prediction of whole tiles
            p = self.proba(rows.astype(np.float64))
            if keep is None:
                prob[:] = p
            else:
                prob[keep] = p
        return prob.reshape(n, h, w, -1).transpose(0, 3, 1, 2)


def _read_member(path: str, name: str) -> bytes:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            return zf.read(name)
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    with open(os.path.join(folder, name), "rb") as fh:
        return fh.read()
