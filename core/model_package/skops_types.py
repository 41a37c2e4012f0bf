"""The exact types a classical model file may hold, checked before skops builds anything.

skops loads an object tree described by the schema.json inside its file. Trusting types by
module prefix ('sklearn.', 'numpy.', 'builtins.') is unsound: numpy and scipy hold file
loaders, scikit-learn holds FunctionTransformer, and builtins holds exec and eval, so a
pipeline of such steps runs an attacker's code during Classify Pixels. Here every node of
the tree must be one of the (loader, type) pairs that LandLearn's own trainers write,
listed one by one; functions, methods, partials, operators, reductions and any type not
listed are refused before any object is constructed. A decision tree's node count must
match its arrays (scikit-learn trusts it in compiled code). The list was read off the
files that every LandLearn model kind writes (tests/core re-derives it and fails if a
trainer starts writing a type that is not here).
"""

from __future__ import annotations

import io
import json
import zipfile

from ..errors import InputError
from .members import MIB, check_npz

__all__ = ["ALLOWED_NODES", "audit_skops"]

MAX_SCHEMA_BYTES = 16 * MIB
MAX_NODES = 2_000_000

ALLOWED_NODES: frozenset[tuple[str, str]] = frozenset({
    ("DictNode", "builtins.dict"),
    ("ListNode", "builtins.list"),
    ("TupleNode", "builtins.tuple"),
    ("JsonNode", "builtins.str"),
    ("TypeNode", "builtins.str"),
    ("NdArrayNode", "numpy.ndarray"),
    ("NdArrayNode", "numpy.float64"),
    ("NdArrayNode", "numpy.int64"),
    ("NdArrayNode", "numpy.uint64"),
    ("ObjectNode", "sklearn.pipeline.Pipeline"),
    ("ObjectNode", "sklearn.preprocessing._data.StandardScaler"),
    ("ObjectNode", "sklearn.preprocessing._label.LabelEncoder"),
    # random forest (its trees are stored apart, in forest_trees.npz)
    ("ObjectNode", "sklearn.ensemble._forest.RandomForestClassifier"),
    ("ObjectNode", "sklearn.tree._classes.DecisionTreeClassifier"),
    # SVM with calibrated probabilities
    ("ObjectNode", "sklearn.svm._classes.SVC"),
    ("ObjectNode", "sklearn.calibration.CalibratedClassifierCV"),
    ("ObjectNode", "sklearn.calibration._CalibratedClassifier"),
    ("ObjectNode", "sklearn.calibration._SigmoidCalibration"),
    # maximum likelihood
    ("ObjectNode", "sklearn.discriminant_analysis.QuadraticDiscriminantAnalysis"),
    # gradient boosting (its trees are stored apart, in boosting_trees.npz)
    ("ObjectNode", "sklearn.ensemble._hist_gradient_boosting.gradient_boosting."
                   "HistGradientBoostingClassifier"),
    ("ObjectNode", "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper"),
    ("ObjectNode", "sklearn._loss.loss.HalfMultinomialLoss"),
    # skops 0.11 stores the multinomial Cython loss as a plain object, 0.12+ (QGIS 3.40's
    # stack) with its LossNode; the same exact type either way
    ("ObjectNode", "sklearn._loss._loss.CyHalfMultinomialLoss"),
    ("LossNode", "sklearn._loss._loss.CyHalfMultinomialLoss"),
    ("ObjectNode", "sklearn._loss.link.MultinomialLogit"),
    ("ObjectNode", "sklearn._loss.link.Interval"),
    ("ObjectNode", "sklearn._loss.loss.HalfBinomialLoss"),
    ("LossNode", "sklearn._loss._loss.CyHalfBinomialLoss"),
    ("ObjectNode", "sklearn._loss.link.LogitLink"),
    # packages from before the trees were stored apart keep them in the skops file; the
    # predictor sends them through the same node-by-node checks as the trees files
    ("TreeNode", "sklearn.tree._tree.Tree"),
    ("ObjectNode", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"),
})


def audit_skops(data: bytes, limit: int, where: str, parameter: str = "model") -> list[str]:
    """Check a skops file's sizes and every node of its tree against ALLOWED_NODES; return
    the type names to hand skops as ``trusted`` (exactly those found, all allowed)."""

    def refuse(why: str) -> InputError:
        return InputError(parameter, f"'{where}': its classifier file {why}; LandLearn loads "
                          "only the scikit-learn types its own trainers write, so this package "
                          "is refused (nothing in it was run)")

    shapes = check_npz(data, limit, where, parameter, "the classifier file")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            info = zf.getinfo("schema.json")
            if info.file_size > MAX_SCHEMA_BYTES:
                raise refuse(f"describes its objects in {info.file_size // MIB} MB")
            schema = json.loads(zf.read(info).decode("utf-8"))
    except InputError:
        raise
    except (KeyError, ValueError, UnicodeDecodeError, RecursionError, zipfile.BadZipFile,
            OSError) as exc:
        raise refuse(f"has no readable object description ({str(exc)[:100]})") from None
    found: set[str] = set()
    stack, seen = [schema], 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise refuse(f"holds more than {MAX_NODES} objects")
        if isinstance(node, dict):
            if "__loader__" in node or "__class__" in node or "__module__" in node:
                loader = node.get("__loader__")
                key = (loader if isinstance(loader, str) else repr(loader)[:60],
                       f"{node.get('__module__')}.{node.get('__class__')}")
                if key not in ALLOWED_NODES:
                    raise refuse(f"holds a {key[0]} of type '{key[1][:120]}'")
                if key[0] == "TreeNode" and not _tree_sizes_agree(node, shapes):
                    raise refuse("holds a decision tree whose node count differs from its "
                                 "node and value arrays")
                found.add(key[1])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return sorted(found)


def _tree_sizes_agree(node: dict, shapes: dict[str, tuple[int, ...]]) -> bool:
    """A scikit-learn Tree keeps ``node_count`` as given and sizes its buffer by the nodes
    array: a count larger than the array makes every later read of the tree (its
    __getstate__, predict) run past the buffer, in compiled code, before any Python check
    could look. The count must be the rows of both arrays, read off their .npy headers."""
    try:
        state = node["content"]["content"]
        count = state["node_count"]
        if count.get("__loader__") != "JsonNode":
            return False
        n = json.loads(count["content"])
        rows = {shapes[state[k]["file"]][0] for k in ("nodes", "values")}
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RecursionError):
        return False
    return type(n) is int and rows == {n}
