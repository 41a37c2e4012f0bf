"""Malicious and broken model packages: each ends in one clear MODEL error, runs nothing,
stays within bounded memory, and leaves the raster it was meant to classify untouched."""

from __future__ import annotations

import json
import os
import struct
import zipfile

import numpy as np
import pytest

import builder
from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
from landlearn.core.classify.predictor import load_predictor

pytest.importorskip("skops")


def _load(package):
    return lambda: load_predictor(str(package), "cpu", False)


def _classify(package, image, tmp_path):
    return lambda: classify_pixels(ClassifyConfig(str(image), str(package),
                                                  str(tmp_path / "map.tif"), device="cpu"))


# -- code execution ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["exec_via_numpy_full_like", "eval_import_os_system",
                                  "os_system_function", "partial_exec", "operator_methodcaller",
                                  "numpy_load_pickle"])
def test_gadget_pipelines_never_run(bases, guard, image, tmp_path, name):
    """The issue's own chain (numpy.full_like -> ravel -> min -> exec) and its cousins:
    refused before any object is built, through Classify Pixels as a user would meet it."""
    gadget = builder.gadget_pipelines(str(guard.sentinel))[name]
    bad = builder.classical_with(bases["classical"], tmp_path / "evil.dlpk",
                                 builder.skops_bytes(gadget))
    guard.refused(_classify(bad, image, tmp_path), "model", "LandLearn loads only", keep=[image])
    assert not (tmp_path / "map.tif").exists()


@pytest.mark.parametrize("name", list(builder.handmade_gadgets("x")))
def test_handmade_skops_schemas_are_refused(bases, guard, tmp_path, name):
    schema = builder.handmade_gadgets(str(guard.sentinel))[name]
    bad = builder.classical_with(bases["classical"], tmp_path / "evil.dlpk",
                                 builder.skops_with_schema(schema))
    guard.refused(_load(bad), "model")


def test_object_arrays_and_lying_array_headers_are_refused(bases, guard, tmp_path):
    """.npy members inside the skops file: an object dtype (np.load would need pickle) or a
    header claiming a huge shape over a few bytes."""
    sio = builder.members(bases["classical"])["model.skops"]
    with zipfile.ZipFile(__import__("io").BytesIO(sio)) as zf:
        names = [n for n in zf.namelist() if n.endswith(".npy")]
        files = {n: zf.read(n) for n in zf.namelist()}
    small = np.arange(8, dtype=np.float64)
    for case, data in (("object", builder.npy_bytes(small, object_dtype=True)),
                       ("huge", builder.npy_bytes(small, shape_claim=(10**6, 10**6)))):
        changed = dict(files, **{names[0]: data})
        buf = __import__("io").BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for n, d in changed.items():
                zf.writestr(n, d)
        bad = builder.replaced(bases["classical"], tmp_path / f"{case}.dlpk",
                               model__skops=buf.getvalue())
        guard.refused(_load(bad), "model", "damaged or crafted")


def _skops_edited(data: bytes, edit) -> bytes:
    """A skops file with its schema.json passed through ``edit`` (the arrays kept)."""
    import io

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    schema = json.loads(files["schema.json"])
    edit(schema)
    return builder.skops_with_schema(schema, {n: d for n, d in files.items()
                                              if n != "schema.json"})


def _first(node, loader):
    if isinstance(node, dict):
        if node.get("__loader__") == loader:
            return node
        node = list(node.values())
    if isinstance(node, list):
        for item in node:
            found = _first(item, loader)
            if found is not None:
                return found
    return None


def test_inline_tree_claiming_more_nodes_than_it_holds_is_refused(bases, guard, tmp_path):
    """A forest kept inside the skops file (packages from before the trees files) whose
    first tree says it has 10^7 nodes over arrays of a few: scikit-learn keeps the count
    and sizes its buffer by the array, so reading the tree back ran 640 MB past it."""
    import skops.io as sio

    model, _ = load_predictor(str(bases["classical"]), "cpu", False)
    whole = sio.dumps(model.model)  # the trees inline, as old packages hold them

    def lie(schema):
        tree = _first(schema, "TreeNode")
        tree["content"]["content"]["node_count"]["content"] = "10000000"

    good = builder.classical_with(bases["classical"], tmp_path / "old.dlpk", whole)
    assert _load(good)() is not None  # the honest old layout still loads
    bad = builder.classical_with(bases["classical"], tmp_path / "evil.dlpk",
                                 _skops_edited(whole, lie))
    guard.refused(_load(bad), "model", "decision tree whose node count differs")


def test_svm_arrays_shorter_than_its_counts_are_refused(bases, guard, tmp_path, monkeypatch):
    """An SVM whose dual coefficients are cut to one column while its support vector counts
    stay: libsvm reads as many as the counts say, past the array. Refused before anything
    predicts, with scikit-learn's own path (fast paths off) as with the fast one."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    rng = np.random.default_rng(0)
    x = rng.normal(size=(140, 5)) + np.repeat(np.arange(7), 20)[:, None]
    y = np.repeat(np.arange(1, 8), 20)
    svm = Pipeline([("s", StandardScaler()), ("c", CalibratedClassifierCV(
        SVC(kernel="rbf"), ensemble=False, cv=2))]).fit(x, y)
    good = builder.classical_with(bases["classical"], tmp_path / "svm.dlpk",
                                  builder.skops_bytes(svm))
    assert _load(good)() is not None
    svc = svm[-1].calibrated_classifiers_[0].estimator
    svc._dual_coef_ = np.ascontiguousarray(svc._dual_coef_[:, :1])
    bad = builder.classical_with(bases["classical"], tmp_path / "evil.dlpk",
                                 builder.skops_bytes(svm))
    monkeypatch.setenv("LANDLEARN_NO_FAST_PATHS", "1")
    guard.refused(_load(bad), "model", r"its SVM is damaged or crafted \(_dual_coef_ is not")


# -- sizes: bombs and lying headers --------------------------------------------------

def test_zip_bomb_member_is_not_inflated(bases, guard, tmp_path):
    """256 MB of zeros deflated to a quarter MB as the classifier file: refused unread."""
    files = builder.members(bases["classical"])
    bad = builder.with_deflated_member(tmp_path / "bomb.dlpk", files, "model.skops", 256 << 20)
    assert bad.stat().st_size < 2 << 20
    guard.refused(_load(bad), "model", "more than|zip bomb")


def test_member_claiming_6_gib_is_refused_before_reading(bases, guard, tmp_path):
    bad = builder.replaced(bases["classical"], tmp_path / "big.dlpk")
    builder.lying_size(bad, "model.skops", 6 << 30)
    guard.refused(_load(bad), "model")


def test_deep_weights_larger_than_the_network_are_refused(bases, guard, tmp_path):
    if "deep" not in bases:
        pytest.skip("segmentation-models-pytorch is not installed")
    files = builder.members(bases["deep"])
    bad = builder.with_deflated_member(tmp_path / "bomb.dlpk", files, "unet.safetensors",
                                       512 << 20)
    guard.refused(_load(bad), "model", "more than the .* such a model can need|zip bomb")


def _deep(bases):
    if "deep" not in bases:
        pytest.skip("segmentation-models-pytorch is not installed")
    return bases["deep"]


@pytest.mark.parametrize("case", ["truncated_header", "header_claims_terabyte", "not_json",
                                  "offsets_overlap", "offset_past_end", "length_lies",
                                  "missing_tensor", "extra_tensor", "wrong_shape", "nan_weights",
                                  "unknown_dtype", "truncated_body"])
def test_broken_safetensors_are_refused(bases, guard, tmp_path, case):
    base = _deep(bases)
    data = builder.members(base)["unet.safetensors"]
    header, body = builder.safetensors_parts(data)
    names = [k for k in header if k != "__metadata__"]
    first = next(k for k in names if header[k]["dtype"] == "F32" and header[k]["shape"])
    if case == "truncated_header":
        new = data[:5]
    elif case == "header_claims_terabyte":
        new = struct.pack("<Q", 1 << 40) + data[8:]
    elif case == "not_json":
        new = struct.pack("<Q", 4) + b"{{{{" + body
    elif case == "offsets_overlap":
        header[names[1]]["data_offsets"] = list(header[first]["data_offsets"])
        new = builder.safetensors_bytes(header, body)
    elif case == "offset_past_end":
        s, e = header[first]["data_offsets"]
        header[first]["data_offsets"] = [s + len(body), e + len(body)]
        new = builder.safetensors_bytes(header, body)
    elif case == "length_lies":
        header[first]["shape"] = [s * 2 for s in header[first]["shape"]]
        new = builder.safetensors_bytes(header, body)
    elif case == "missing_tensor":
        s, e = header.pop(names[-1])["data_offsets"]
        new = builder.safetensors_bytes(header, body[:s] + body[e:])
    elif case == "extra_tensor":
        header["evil.weight"] = {"dtype": "F32", "shape": [1], "data_offsets": [len(body),
                                                                                 len(body) + 4]}
        new = builder.safetensors_bytes(header, body + b"\0\0\0\0")
    elif case == "wrong_shape":
        header[first]["shape"] = [int(np.prod(header[first]["shape"]))]  # same bytes, flat
        new = builder.safetensors_bytes(header, body)
    elif case == "nan_weights":
        s, e = header[first]["data_offsets"]
        nan = np.full((e - s) // 4, np.nan, dtype=np.float32).tobytes()
        new = builder.safetensors_bytes(header, body[:s] + nan + body[e:])
    elif case == "unknown_dtype":
        header[first]["dtype"] = "PY_OBJECT"
        new = builder.safetensors_bytes(header, body)
    else:
        new = data[:-100]
    bad = builder.replaced(base, tmp_path / "bad.dlpk", unet__safetensors=new)
    guard.refused(_load(bad), "model")


# -- schema violations ---------------------------------------------------------------

SCHEMA_CASES = {
    "in_channels_million": lambda e: e["LandLearn"].update(in_channels=1_000_000),
    "in_channels_text": lambda e: e["LandLearn"].update(in_channels="5"),
    "class_value_0": lambda e: e["LandLearn"].update(class_values=[0, 1, 2]),
    "class_value_256": lambda e: e["LandLearn"].update(class_values=[1, 2, 256]),
    "class_value_260": lambda e: (e["LandLearn"].update(class_values=[1, 2, 260]),
                                  e["Classes"].append({"Value": 260, "Name": "x",
                                                       "Color": [1, 2, 3]})),
    "class_negative": lambda e: e["LandLearn"].update(class_values=[-1, 2, 3]),
    "class_repeated": lambda e: e["LandLearn"].update(class_values=[1, 1, 2]),
    "class_undescribed": lambda e: e.update(Classes=e["Classes"][:1]),
    "class_colour_bad": lambda e: e["Classes"][0].update(Color=[999, 0, 0]),
    "tile_zero": lambda e: e.update(ImageWidth=0),
    "tile_billion": lambda e: e.update(ImageWidth=10**9, ImageHeight=10**9),
    "padding_negative": lambda e: e["LandLearn"].update(padding=-5),
    "model_file_traversal": lambda e: e.update(ModelFile="../../etc/passwd.safetensors"),
    "model_file_absolute": lambda e: e.update(ModelFile="/etc/passwd"),
    "model_file_folder": lambda e: e.update(ModelFile="report/x.safetensors"),
    "band_names_short": lambda e: e["LandLearn"].update(band_names=["a"]),
    "mean_nan": lambda e: e["LandLearn"]["normalization"].update(mean=[float("nan")] * 5),
    "mean_text": lambda e: e["LandLearn"]["normalization"].update(mean=["1"] * 5),
    "std_negative": lambda e: e["LandLearn"]["normalization"].update(std=[-1.0] * 5),
    "source_bands_zero": lambda e: e["LandLearn"].update(source_bands=[0, 1, 2, 3, 4]),
    "source_bands_past_count": lambda e: e["LandLearn"].update(source_bands=[1, 2, 3, 4, 99]),
    "kind_pickle": lambda e: e["LandLearn"].update(kind="pickle"),
    "architecture_code": lambda e: e["LandLearn"].update(architecture="os.system"),
    "encoder_unknown": lambda e: e["LandLearn"].update(encoder="timm-evil"),
    "newer_version": lambda e: e["LandLearn"].update(version=99),
    "cell_size_negative": lambda e: e["LandLearn"].update(cell_size=[-1, 1]),
    "dtype_object": lambda e: e["LandLearn"].update(dtype="object"),
    "not_landlearn": lambda e: e.pop("LandLearn"),
    "landlearn_is_list": lambda e: e.update(LandLearn=[1, 2]),
}


@pytest.mark.parametrize("kind", ["deep", "classical"])
@pytest.mark.parametrize("case", list(SCHEMA_CASES))
def test_schema_violations_are_refused_before_anything_is_built(bases, guard, tmp_path, kind,
                                                                 case):
    if kind not in bases:
        pytest.skip(f"no {kind} base")
    if kind == "classical" and case in ("architecture_code", "encoder_unknown"):
        pytest.skip("deep fields")
    names = {"model_file_traversal": "../model.skops", "model_file_absolute": "/etc/passwd",
             "model_file_folder": "report/model.skops"}

    def edit(e):
        if kind == "classical" and case in names:
            e["ModelFile"] = names[case]
        else:
            SCHEMA_CASES[case](e)
    bad = builder.with_emd(bases[kind], tmp_path / "bad.dlpk", edit)
    guard.refused(_load(bad), "model")


@pytest.mark.parametrize("case", ["not_json", "huge", "deep_nesting", "not_object"])
def test_emd_that_is_not_a_small_json_object_is_refused(bases, guard, tmp_path, case):
    base = bases["classical"]
    data = {"not_json": b"\x00\xff{not json", "huge": b" " * (9 << 20) + b"{}",
            "deep_nesting": b"[" * 100_000 + b"]" * 100_000, "not_object": b"[1, 2]"}[case]
    bad = builder.replaced(base, tmp_path / "bad.dlpk", **{builder.emd_name(base).replace(
        ".", "__"): data})
    guard.refused(_load(bad), "model")


# -- zip structure -------------------------------------------------------------------

def test_truncated_zip_says_so(bases, guard, tmp_path):
    bad = tmp_path / "cut.dlpk"
    bad.write_bytes(bases["classical"].read_bytes()[:-100])
    guard.refused(_load(bad), "model", "truncated or damaged")


def test_zip_without_or_with_two_emds(bases, guard, tmp_path):
    base = bases["classical"]
    name = builder.emd_name(base)
    none = builder.replaced(base, tmp_path / "none.dlpk", **{name.replace(".", "__"): None})
    guard.refused(_load(none), "model", "holds 0 .emd files")
    two = builder.replaced(base, tmp_path / "two.dlpk", other__emd=builder.members(base)[name])
    guard.refused(_load(two), "model", "holds 2 .emd files")


def test_member_named_by_the_emd_is_missing(bases, guard, tmp_path):
    bad = builder.replaced(bases["classical"], tmp_path / "bad.dlpk", model__skops=None)
    guard.refused(_load(bad), "model", "does not hold 'model.skops'")


def test_unpacked_folder_cannot_reach_outside_itself(bases, guard, tmp_path):
    """An unpacked .emd names a file through a symbolic link to a file outside its folder."""
    folder = tmp_path / "unpacked"
    folder.mkdir()
    with zipfile.ZipFile(bases["classical"]) as zf:
        zf.extractall(folder)
    secret = tmp_path / "secret.skops"
    secret.write_bytes((folder / "model.skops").read_bytes())
    (folder / "model.skops").unlink()
    os.symlink(secret, folder / "model.skops")
    emd = folder / builder.emd_name(bases["classical"])
    guard.refused(_load(emd), "model", "leads outside the package folder")
    # the same with the folder itself given, and with a ModelFile that climbs out
    guard.refused(_load(folder), "model", "leads outside the package folder")
    data = json.loads(emd.read_text())
    data["ModelFile"] = "../secret.skops"
    emd.write_text(json.dumps(data))
    guard.refused(_load(emd), "model", "plain file name")


def test_arcgis_package_is_refused_without_running_anything(guard, tmp_path):
    """An ArcGIS .dlpk carries a Python model file; LandLearn does not load it."""
    bad = builder.write_zip(tmp_path / "arcgis.dlpk", {
        "model.emd": json.dumps({"Framework": "PyTorch", "ModelConfiguration": "_unet",
                                 "InferenceFunction": "evil.py", "ModelFile": "m.pth"}).encode(),
        "evil.py": f"open({str(guard.sentinel)!r}, 'w')".encode()})
    guard.refused(_load(bad), "model", "not a LandLearn model package")


def test_valid_bases_still_classify(bases, guard, image, tmp_path):
    """The checks refuse the crafted, not the genuine: both bases classify the sample."""
    import rasterio

    for kind, package in bases.items():
        out = tmp_path / f"{kind}.tif"
        classify_pixels(ClassifyConfig(str(image), str(package), str(out), device="cpu"))
        with rasterio.open(out) as ds:
            assert ds.read(1).any()
    guard.after({})


def test_package_geometry_cannot_ask_for_huge_tiles(tmp_path):
    """A valid-looking .emd with 1024 bands, 255 classes and ImageWidth 8192 would make one
    default tile 343 GB: the default tile shrinks to fit, an explicit TILE_SIZE or
    BATCH_SIZE that does not fit is refused, and so is a weighted-blend strip that would
    not fit in memory."""
    from types import SimpleNamespace

    from rasterio.windows import Window

    from landlearn.core.classify.tiling import MAX_MEMORY, TILE_MEMORY
    from landlearn.core.classify.tiling import batch_size as _batch_size
    from landlearn.core.classify.tiling import check_strip as _check_strip
    from landlearn.core.classify.tiling import geometry as _geometry
    from landlearn.core.classify.tiling import tile_bytes as _tile_bytes
    from landlearn.core.errors import InputError

    info = SimpleNamespace(in_channels=1024, class_values=list(range(1, 256)), tile=8192,
                           padding=16, kind="deep")

    def cfg(**kw):
        return ClassifyConfig("in.tif", "m.dlpk", str(tmp_path / "o.tif"), **kw)

    tile, pad = _geometry(cfg(), info)
    assert _tile_bytes(tile, info) <= TILE_MEMORY and tile % 32 == 0 and tile >= 256
    with pytest.raises(InputError, match="^TILE_SIZE: a 8192 px tile"):
        _geometry(cfg(tile_size=8192), info)
    assert _batch_size(cfg(), SimpleNamespace(type="cpu"), tile, info) * \
        _tile_bytes(tile, info) <= 2 * TILE_MEMORY
    with pytest.raises(InputError, match="^BATCH_SIZE: 64 tiles"):
        _batch_size(cfg(batch_size=64), SimpleNamespace(type="cpu"), tile, info)
    with pytest.raises(InputError, match="^BLEND: weighted blending"):
        _check_strip(cfg(blend="weighted"), info, tile, pad, Window(0, 0, 200_000, 100))
    assert MAX_MEMORY > TILE_MEMORY


def test_trees_and_forests_outside_the_checked_last_step_are_refused(bases, guard, tmp_path,
                                                                    monkeypatch):
    """skops allows the types, not where they sit: a bare decision tree, or a forest inside
    a calibrated classifier, reached scikit-learn's compiled tree walk with no node check
    (a node that is its own child loops for ever). Only the pipeline's last-step forest
    or boosting model may hold trees, and every part takes the model's feature count."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(140, 5)) + np.repeat(np.arange(7), 20)[:, None]
    y = np.repeat(np.arange(1, 8), 20)
    forest = Pipeline([("s", StandardScaler()),
                       ("f", RandomForestClassifier(n_estimators=3, random_state=0))]).fit(x, y)
    good = builder.classical_with(bases["classical"], tmp_path / "rf.dlpk",
                                  builder.skops_bytes(forest))
    assert _load(good)() is not None
    # the forest's own trees do not count toward the cap on parts (TREES may be thousands)
    from landlearn.core.classical import model_shape

    monkeypatch.setattr(model_shape, "MAX_PARTS", 5)
    assert _load(bases["classical"])() is not None  # 10 trees, 4 other parts
    monkeypatch.setattr(model_shape, "MAX_PARTS", 10_000)
    bare = Pipeline([("s", StandardScaler()), ("t", DecisionTreeClassifier())]).fit(x, y)
    bare[-1].tree_.children_left[0] = 0  # the root its own left child
    bad = builder.classical_with(bases["classical"], tmp_path / "tree.dlpk",
                                 builder.skops_bytes(bare))
    guard.refused(_load(bad), "model", "holds a decision tree outside its forest")
    wrapped = Pipeline([("s", StandardScaler()), ("c", CalibratedClassifierCV(
        RandomForestClassifier(n_estimators=3, random_state=0), ensemble=False, cv=2))]).fit(x, y)
    bad = builder.classical_with(bases["classical"], tmp_path / "wrapped.dlpk",
                                 builder.skops_bytes(wrapped))
    guard.refused(_load(bad), "model", "holds a (random forest elsewhere|decision tree outside)")
    forest[-1].n_features_in_ = 1000  # its trees' feature indices checked against 1000
    bad = builder.classical_with(bases["classical"], tmp_path / "wide.dlpk",
                                 builder.skops_bytes(forest))
    guard.refused(_load(bad), "model", "has a part taking 1000 features where the model "
                                       "takes 5")
