"""The exact-type allow-list is what LandLearn's trainers write: no more, no less."""

import io
import json
import zipfile

import numpy as np
import pytest

from landlearn.core.classical.train_classifier import ClassicalConfig, train_classical
from landlearn.core.labels.base import LabelConfig
from landlearn.core.model_package.skops_types import ALLOWED_NODES, audit_skops

pytest.importorskip("skops")

# trees kept inside the skops file by packages from before the trees files
LEGACY = {("TreeNode", "sklearn.tree._tree.Tree"),
          ("ObjectNode", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor")}
# the same type stored by another loader in another skops series (0.11 / 0.12+): one of
# each pair is written here, the other where the other series is installed
SERIES = {("ObjectNode", "sklearn._loss._loss.CyHalfMultinomialLoss"),
          ("LossNode", "sklearn._loss._loss.CyHalfMultinomialLoss")}


def _nodes(skops_bytes: bytes) -> set:
    schema = json.loads(zipfile.ZipFile(io.BytesIO(skops_bytes)).read("schema.json"))
    found, stack = set(), [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__loader__" in node:
                found.add((node["__loader__"], f"{node.get('__module__')}.{node.get('__class__')}"))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def test_every_model_kind_writes_only_allowed_types_and_all_are_used(sample, tmp_path):
    nc = sample / "nc_landsat7"
    image = str(nc / "landsat_multiband.tif")
    polygons = LabelConfig(str(nc / "landsat96_polygons.shp"), class_field="id")
    written = set()
    runs = [(kind, polygons, folds) for kind in ("random_forest", "svm", "maximum_likelihood",
                                                 "hist_gradient_boosting") for folds in (0, 3)]
    # two classes: gradient boosting's binomial loss, the SVM's single calibrator
    two = tmp_path / "two.tif"
    import rasterio

    with rasterio.open(nc / "strata.tif") as ds:
        strata, profile = ds.read(1), ds.profile
    profile.update(dtype="uint8", nodata=0)
    with rasterio.open(two, "w", **profile) as out:
        out.write(np.where(strata == 5, 1, np.where(strata == 1, 2, 0)).astype(np.uint8), 1)
    runs += [(kind, LabelConfig(str(two)), 3) for kind in ("hist_gradient_boosting", "svm",
                                                          "random_forest")]
    for i, (kind, labels, folds) in enumerate(runs):
        out = tmp_path / f"m{i}.dlpk"
        train_classical(ClassicalConfig(image, labels, str(out), model_type=kind, trees=12,
                                        max_samples_per_class=80, cv_folds=folds))
        data = zipfile.ZipFile(out).read("model.skops")
        nodes = _nodes(data)
        assert nodes <= ALLOWED_NODES, (kind, nodes - ALLOWED_NODES)
        assert audit_skops(data, 1 << 30, str(out))  # and the audit lets it through
        written |= nodes
    unused = ALLOWED_NODES - written
    assert unused <= LEGACY | SERIES, unused - LEGACY - SERIES
    assert len(SERIES - unused) == 1  # exactly one of the pair is what this skops writes


def test_audit_returns_exactly_the_types_found_and_refuses_any_other():
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from landlearn.core.errors import InputError

    x = np.random.default_rng(0).random((20, 3))
    scaler = sio.dumps(StandardScaler().fit(x))
    found = audit_skops(scaler, 1 << 20, "m.dlpk")
    assert "sklearn.preprocessing._data.StandardScaler" in found and "numpy.ndarray" in found
    assert found == sorted(found) and {("ObjectNode", "sklearn.preprocessing._data.StandardScaler")} \
        <= _nodes(scaler)
    assert sio.loads(scaler, trusted=found).mean_.shape == (3,)  # enough for skops to load it
    logistic = sio.dumps(LogisticRegression().fit(x, np.arange(20) % 2))
    with pytest.raises(InputError, match=r"^MODEL: 'm.dlpk': its classifier file holds a ObjectNode "
                                         r"of type 'sklearn.linear_model._logistic.LogisticRegression'; "
                                         "LandLearn loads only"):
        audit_skops(logistic, 1 << 20, "m.dlpk")
    # a hand-made schema naming a builtin function, as an attacker would write it
    evil = _zipped({"schema.json": json.dumps({"__loader__": "FunctionNode", "__module__": "builtins",
                                               "__class__": "eval", "content": "x"})})
    with pytest.raises(InputError, match="holds a FunctionNode of type 'builtins.eval'"):
        audit_skops(evil, 1 << 20, "m.dlpk")
    with pytest.raises(InputError, match="has no readable object description"):
        audit_skops(_zipped({"other.json": "{}"}), 1 << 20, "m.dlpk")


def _zipped(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return buf.getvalue()
