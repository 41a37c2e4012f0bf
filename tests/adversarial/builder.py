"""Malicious and broken model packages, written the way an attacker or a bad copy would.

Every gadget here, if it ever ran, would create the sentinel file named by SENTINEL (a
path the tests choose), so "no code ran" is checked by that file never appearing.
Packages are small: two bases (a random forest trained on the embedded sample, a U-Net
with random weights, both valid) and edits of them.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import numpy as np

from paths import SAMPLE

NC = SAMPLE / "nc_landsat7"
IMAGE = NC / "landsat_multiband.tif"


# -- valid bases --------------------------------------------------------------------

def classical_base(folder: Path) -> Path:
    """A small random forest package (10 trees), trained on the North Carolina sample."""
    from landlearn.core.classical.train_classifier import ClassicalConfig, train_classical
    from landlearn.core.labels.base import LabelConfig

    out = folder / "rf.dlpk"
    train_classical(ClassicalConfig(str(IMAGE), LabelConfig(str(NC / "landsat96_polygons.shp"),
                                                            class_field="id"), str(out),
                                    trees=10, max_samples_per_class=60, cv_folds=0))
    return out


def deep_emd(stem: str, bands: int = 5, classes=(1, 2, 3), tile: int = 64) -> dict:
    """A complete LandLearn .emd for a resnet18 U-Net: what Train Model writes."""
    return {
        "Framework": "PyTorch", "ModelConfiguration": "LandLearn",
        "ModelType": "ImageClassification", "ModelFile": f"{stem}.safetensors",
        "ImageHeight": tile, "ImageWidth": tile, "ExtractBands": list(range(bands)),
        "ModelPadding": 16,
        "Classes": [{"Value": v, "Name": f"class {v}", "Color": [v * 20, 100, 50]}
                    for v in classes],
        "LandLearn": {
            "format": "landlearn-model", "version": 1, "kind": "deep",
            "architecture": "unet", "encoder": "resnet18", "in_channels": bands,
            "class_values": list(classes), "band_names": [f"Band_{i + 1}" for i in range(bands)],
            "source_bands": list(range(1, bands + 1)), "source_band_count": bands,
            "dtype": "uint8", "nodata": None,
            "normalization": {"method": "zscore", "mean": [60.0] * bands, "std": [20.0] * bands},
            "cell_size": [28.5, 28.5], "crs_units": "metre", "padding": 16,
        },
    }


def deep_weights(bands: int = 5, classes: int = 3) -> bytes:
    import torch
    from safetensors.torch import save

    from landlearn.core.deep.models import build_model

    torch.manual_seed(0)
    model = build_model("unet", "resnet18", bands, classes)
    return save({k: v.contiguous() for k, v in model.state_dict().items()})


def deep_base(folder: Path) -> Path:
    out = folder / "unet.dlpk"
    write_zip(out, {"unet.emd": json.dumps(deep_emd("unet")).encode(),
                    "unet.safetensors": deep_weights()})
    return out


# -- zip plumbing -------------------------------------------------------------------

def members(package: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(package) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def write_zip(path: Path, files: dict[str, bytes], deflate: bool = False) -> Path:
    mode = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=mode) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def replaced(base: Path, out: Path, **changes) -> Path:
    """``base`` with members replaced (name=bytes), removed (name=None) or added."""
    files = members(base)
    for name, data in changes.items():
        name = name.replace("__", ".")
        if data is None:
            files.pop(name, None)
        else:
            files[name] = data
    return write_zip(out, files)


def emd_name(package: Path) -> str:
    return next(n for n in members(package) if n.endswith(".emd"))


def with_emd(base: Path, out: Path, edit) -> Path:
    """``base`` with its .emd edited by ``edit(emd)`` (in place or returning a new one)."""
    files = members(base)
    name = emd_name(base)
    emd = json.loads(files[name])
    new = edit(emd)
    files[name] = json.dumps(emd if new is None else new).encode()
    return write_zip(out, files)


def lying_size(path: Path, member: str, claimed: int) -> Path:
    """Rewrite ``member``'s uncompressed size in both zip headers to ``claimed`` (zip64 when
    needed): a member that says it is huge while its bytes are few."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    # central directory entry: signature, ..., sizes at offsets 20 (compressed) and 24
    at = data.find(b"PK\x01\x02")
    while at != -1:
        n = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46:at + 46 + n] == name:
            struct.pack_into("<I", data, at + 24, min(claimed, 0xFFFFFFFE))
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))
    return path


def with_deflated_member(path: Path, files: dict[str, bytes], name: str, raw_size: int) -> Path:
    """A zip whose member ``name`` inflates to ``raw_size`` zeros (a real zip bomb),
    written in 1 MiB pieces so the test itself never holds it."""
    with zipfile.ZipFile(path, "w") as zf:
        for n, d in files.items():
            if n != name:
                zf.writestr(n, d)
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        zero = bytes(1 << 20)
        with zf.open(info, "w", force_zip64=True) as fh:
            for _ in range(raw_size >> 20):
                fh.write(zero)
    return path


# -- safetensors -------------------------------------------------------------------

def safetensors_parts(data: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def safetensors_bytes(header: dict, body: bytes, claimed_len: int | None = None) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if claimed_len is None else claimed_len) + raw + body


# -- skops gadgets -----------------------------------------------------------------

def gadget_pipelines(sentinel: str) -> dict[str, object]:
    """scikit-learn pipelines whose transform steps would run code on predict_proba."""
    import builtins
    import functools
    import operator
    import os

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    code = f"open({sentinel!r}, 'w').write('ran')"
    x = np.random.default_rng(0).random((30, 5))
    y = np.arange(30) % 7 + 1
    final = LogisticRegression(max_iter=50).fit(x, y)
    exec_chain = [
        ("full", FunctionTransformer(np.full_like, kw_args={"fill_value": code, "dtype": object})),
        ("ravel", FunctionTransformer(np.ravel)),
        ("min", FunctionTransformer(builtins.min)),
        ("exec", FunctionTransformer(builtins.exec)),
    ]
    shell = f"touch {sentinel}"
    return {
        "exec_via_numpy_full_like": Pipeline(exec_chain + [("clf", final)]),
        "eval_import_os_system": Pipeline([
            ("full", FunctionTransformer(np.full_like, kw_args={
                "fill_value": f"__import__('os').system({shell!r})", "dtype": object})),
            ("ravel", FunctionTransformer(np.ravel)),
            ("min", FunctionTransformer(builtins.min)),
            ("eval", FunctionTransformer(builtins.eval)), ("clf", final)]),
        "os_system_function": Pipeline([("sys", FunctionTransformer(os.system,
                                                                      kw_args={})),
                                        ("clf", final)]),
        "partial_exec": Pipeline([("p", FunctionTransformer(functools.partial(exec, code))),
                                  ("clf", final)]),
        "operator_methodcaller": Pipeline([("m", FunctionTransformer(
            operator.methodcaller("__reduce__"))), ("clf", final)]),
        "numpy_load_pickle": Pipeline([("load", FunctionTransformer(
            functools.partial(np.load, allow_pickle=True))), ("clf", final)]),
    }


def classical_with(base: Path, out: Path, skops: bytes) -> Path:
    """``base`` with another classifier file and a .emd that names no trees file (as an
    attacker would write it: a valid .emd beside the gadget)."""
    files = members(base)
    name = emd_name(base)
    emd = json.loads(files[name])
    trees = emd["LandLearn"].pop("trees_file", None)
    files.pop(trees, None)
    files[name] = json.dumps(emd).encode()
    files["model.skops"] = skops
    return write_zip(out, files)


def skops_bytes(obj) -> bytes:
    import skops.io as sio

    return sio.dumps(obj)


def skops_with_schema(schema: dict | str, extra: dict[str, bytes] | None = None) -> bytes:
    """A skops file written by hand: any schema (a dict, or raw JSON text), any members
    (what skops.dumps refuses to write)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("schema.json", schema if isinstance(schema, str) else json.dumps(schema))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


def handmade_gadgets(sentinel: str) -> dict[str, dict | str]:
    """Hand-written skops schemas reaching code through node kinds skops itself offers."""
    node = {"__class__": "Pipeline", "__module__": "sklearn.pipeline", "__loader__": "ObjectNode",
            "content": {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
                        "content": {}}}

    def wrap(inner):
        return {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
                "content": {"steps": inner}, "protocol": 2, "_skops_version": "0.11.0"}

    return {
        "function_node_os_system": wrap({"__class__": "system", "__module__": "os",
                                         "__loader__": "FunctionNode", "content": {}}),
        "type_node_subprocess": wrap({"__class__": "Popen", "__module__": "subprocess",
                                      "__loader__": "TypeNode"}),
        "object_node_builtin_eval": wrap({"__class__": "eval", "__module__": "builtins",
                                          "__loader__": "ObjectNode"}),
        "ndarray_node_calls_eval": wrap({"__class__": "eval", "__module__": "builtins",
                                         "__loader__": "NdArrayNode", "type": "json",
                                         "content": [], "shape": []}),
        "method_node": wrap({"__class__": "method", "__module__": "builtins",
                             "__loader__": "MethodNode", "content": {"func": "system",
                                                                     "obj": node}}),
        "partial_node": wrap({"__class__": "partial", "__module__": "functools",
                              "__loader__": "PartialNode", "content": {}}),
        "operator_node": wrap({"__class__": "attrgetter", "__module__": "operator",
                               "__loader__": "OperatorFuncNode", "content": {}}),
        "reduce_node_eval": wrap({"__class__": "eval", "__module__": "builtins",
                                  "__loader__": "ReduceNode", "content": {}}),
        "sparse_node": wrap({"__class__": "csr_matrix", "__module__": "scipy.sparse",
                             "__loader__": "SparseMatrixNode", "type": "scipy", "file": "x.npz"}),
        "unknown_loader": wrap({"__class__": "Pipeline", "__module__": "sklearn.pipeline",
                                "__loader__": "PickleNode"}),
        "cached_node": wrap({"__loader__": "CachedNode", "__id__": 1}),
        "prefix_trusted_but_unknown": wrap({"__class__": "FunctionTransformer",
                                            "__module__": "sklearn.preprocessing._function_transformer",
                                            "__loader__": "ObjectNode", "content": node["content"]}),
        "nested_deep": json.dumps(wrap("DEEP")).replace('"DEEP"', "[" * 20000 + "]" * 20000),
    }


def npy_bytes(array: np.ndarray, shape_claim: tuple | None = None, object_dtype=False) -> bytes:
    """An .npy member; optionally claiming another shape, or an object dtype (pickle)."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    raw = buf.getvalue()
    if shape_claim is None and not object_dtype:
        return raw
    header_len = struct.unpack("<H", raw[8:10])[0]
    header = raw[10:10 + header_len].decode("latin1")
    if shape_claim is not None:
        header = header.replace(str(array.shape), str(shape_claim))
    if object_dtype:
        header = header.replace(repr(array.dtype.str), "'|O'")
    header = header.rstrip()
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return raw[:8] + struct.pack("<H", len(header)) + header.encode("latin1") + \
        raw[10 + header_len:]
