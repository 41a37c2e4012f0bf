"""Mutated packages, a fixed budget of them from a fixed seed: every mutant either loads and
classifies, or ends in one MODEL error; no other exception, bounded memory, no crash.

Mutations reach every layer: bytes of the zip itself (so the zip library fails), bytes of
a member rewritten into a valid zip (so the member's own parser fails), fields of the
.emd, nodes of the skops schema, and the zip's structure (members dropped, doubled,
renamed, recompressed).
"""

from __future__ import annotations

import io
import json
import os
import random
import zipfile

import numpy as np
import pytest

from landlearn.core.classify.predictor import load_predictor

# zip members written twice on purpose (one of the structure mutations)
pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")

# a fixed seed and budget in CI; LANDLEARN_FUZZ_SEED / LANDLEARN_FUZZ_SCALE widen a sweep by hand
SEED = int(os.environ.get("LANDLEARN_FUZZ_SEED", "20261130"))
SCALE = float(os.environ.get("LANDLEARN_FUZZ_SCALE", "1"))
BUDGET = {"classical": int(160 * SCALE), "deep": int(60 * SCALE)}
ODD_VALUES = [None, -1, 0, 1, 255, 256, 1e308, -1e308, float("nan"), float("inf"), 2**63, "x" * 5000,
              "../../etc/passwd", "/etc/passwd", [], {}, [1, 2, 3], True, "builtins.eval",
              {"__loader__": "FunctionNode", "__module__": "os", "__class__": "system"}]


def _paths(node, prefix=()):
    """Every (path, value) in a JSON tree."""
    yield prefix, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _set(tree, path, value):
    if not path:
        return value
    node = tree
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return tree


def _mutate_json(data: bytes, rng: random.Random) -> bytes:
    tree = json.loads(data)
    path, _ = rng.choice(list(_paths(tree)))
    return json.dumps(_set(tree, path, rng.choice(ODD_VALUES))).encode()


def _flip(data: bytes, rng: random.Random, n: int | None = None) -> bytes:
    out = bytearray(data)
    for _ in range(n or rng.randint(1, 8)):
        at = rng.randrange(len(out))
        out[at] = rng.randrange(256)
    return bytes(out)


def _rezip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, d in files.items():
            zf.writestr(n, d)
    return buf.getvalue()


def mutant(base: bytes, rng: random.Random) -> bytes:
    files = {}
    with zipfile.ZipFile(io.BytesIO(base)) as zf:
        for info in zf.infolist():
            files[info.filename] = zf.read(info)
    emd = next(n for n in files if n.endswith(".emd"))
    kind = rng.choice(["zip_bytes", "truncate", "emd_field", "emd_bytes", "member_bytes",
                       "skops_schema", "skops_member", "structure"])
    if kind == "zip_bytes":
        return _flip(base, rng)
    if kind == "truncate":
        return base[:rng.randrange(len(base))]
    if kind == "emd_field":
        files[emd] = _mutate_json(files[emd], rng)
    elif kind == "emd_bytes":
        files[emd] = _flip(files[emd], rng)
    elif kind == "member_bytes":
        name = rng.choice([n for n in files if n != emd])
        files[name] = _flip(files[name], rng, rng.choice([1, 4, 64]))
    elif kind in ("skops_schema", "skops_member") and "model.skops" in files:
        inner = {}
        with zipfile.ZipFile(io.BytesIO(files["model.skops"])) as zf:
            for n in zf.namelist():
                inner[n] = zf.read(n)
        if kind == "skops_schema":
            inner["schema.json"] = _mutate_json(inner["schema.json"], rng)
        else:
            name = rng.choice([n for n in inner if n != "schema.json"])
            inner[name] = _flip(inner[name], rng)
        files["model.skops"] = _rezip(inner)
    else:
        action = rng.choice(["drop", "double", "rename", "junk", "deflate"])
        name = rng.choice(list(files))
        if action == "drop":
            files.pop(name)
        elif action == "double":
            buf = io.BytesIO(_rezip(files))
            with zipfile.ZipFile(buf, "a") as zf:
                zf.writestr(name, files[name][: len(files[name]) // 2])
            return buf.getvalue()
        elif action == "rename":
            files[rng.choice(["../" + name, "/abs/" + name, name.upper(), "report/" + name])] = \
                files.pop(name)
        elif action == "junk":
            files["junk.bin"] = bytes(rng.randrange(256) for _ in range(1000))
        else:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for n, d in files.items():
                    zf.writestr(n, d)
            return _flip(buf.getvalue(), rng, 2)
    return _rezip(files)


def _exercise(predictor, info) -> None:
    """A loaded mutant must classify without crashing (any values are its own business)."""
    x = np.random.default_rng(0).normal(size=(1, info.in_channels, 64, 64)).astype(np.float32)
    out = predictor(x, valid=np.ones((1, 64, 64), bool))
    assert out.shape == (1, len(info.class_values), 64, 64)


@pytest.mark.parametrize("kind", ["classical", "deep"])
def test_mutated_packages_end_in_a_model_error_or_work(bases, guard, tmp_path, kind):
    if kind not in bases:
        pytest.skip(f"no {kind} base")
    base = bases[kind].read_bytes()
    rng = random.Random(SEED + len(kind))
    outcomes = {"loaded": 0, "refused": 0}
    path = tmp_path / "mutant.dlpk"
    for i in range(BUDGET[kind]):
        path.write_bytes(mutant(base, rng))

        def load():
            predictor, info = load_predictor(str(path), "cpu", False)
            _exercise(predictor, info)

        try:
            error = guard.outcome(load, "model")
        except BaseException as exc:
            path.rename(tmp_path / f"crash_{i}.dlpk")
            raise AssertionError(f"mutant {i}: {type(exc).__name__}: {exc} (kept as "
                                 f"crash_{i}.dlpk)") from exc
        outcomes["loaded" if error is None else "refused"] += 1
    # the budget must have reached both outcomes, or the mutations are too weak or too strong
    assert outcomes["refused"] > BUDGET[kind] // 3 and outcomes["loaded"] > 0, outcomes
