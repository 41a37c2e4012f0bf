"""The house rules of core/ (ARCHITECTURE.md), checked on every module of every subpackage:

- core/ never imports QGIS, Qt or processing, and every module loads without them and
  without torch or scikit-learn;
- no import circle, counting imports inside functions too;
- imports run down the layers only: the root (errors, progress, files, staged_folder, scratch,
  termination, uninterrupted, lazy_face) imports nothing of LandLearn's above it; runtime/ and geo/ import only the
  root (and themselves); model_package/ only those; workflows anything below them and
  each other, circle-free;
- no LandLearn import hides inside a function (only optional heavy packages are imported
  where first needed; ruff's TID253 keeps them off module level);
- the tests mirror the package: tests/core/<package>/test_<module>.py for every module.
"""

import ast
import subprocess
import sys
from pathlib import Path

from paths import PYPATH, ROOT

FORBIDDEN = ("qgis", "PyQt5", "PyQt6", "processing", "sip")
CORE = ROOT / "core"
ROOT_MODULES = {"errors", "progress", "files", "staged_folder", "scratch", "termination",
                "uninterrupted", "lazy_face"}
LOWER = {"runtime": set(), "geo": set(), "model_package": {"runtime", "geo"}}
# the compiled tree walk and the GPU kernel are themselves optional heavy packages (numba,
# triton): imported where used
LAZY_SIBLINGS = {("classical.trees.kernel", "classical.trees.kernel_jit"),
                 ("segment.mean_shift", "segment.mean_shift_jit"),
                 ("segment.joint_shift", "segment.joint_shift_jit"),
                 ("segment.joint_shift", "segment.joint_shift_triton"),
                 ("segment.graph", "segment.graph_jit")}


def modules() -> dict[str, Path]:
    """'geo.grid' -> path, for every module below core/ (packages by their __init__)."""
    out = {}
    for path in sorted(CORE.rglob("*.py")):
        parts = list(path.relative_to(CORE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            out[".".join(parts)] = path
    return out


def _resolve(name: str, node: ast.ImportFrom, known: dict) -> list[str]:
    """The core modules an import statement in module ``name`` refers to."""
    is_pkg = known[name].name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    if node.level:
        base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
        target = base + (node.module.split(".") if node.module else [])
    elif node.module and node.module.startswith("landlearn.core"):
        target = node.module.split(".")[2:]
    else:
        return []
    out = []
    for alias in node.names:
        sub = ".".join(target + [alias.name])
        out.append(sub if sub in known else ".".join(target))
    return [m for m in out if m in known]


def graph() -> tuple[dict[str, set[str]], list[tuple[str, str]]]:
    """(imports of each module, (module, target) pairs imported inside functions)."""
    known = modules()
    edges, lazy = {m: set() for m in known}, []
    for name, path in known.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        inner = {id(n) for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef,
                                                                    ast.AsyncFunctionDef))
                 for n in ast.walk(fn)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for target in _resolve(name, node, known):
                    if target != name:
                        edges[name].add(target)
                        if id(node) in inner:
                            lazy.append((name, target))
    return edges, lazy


def _third_party(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_core_source_imports_no_qgis_or_qt():
    offenders = [(str(p.relative_to(CORE)), m) for p in sorted(CORE.rglob("*.py"))
                 for m in _third_party(p) if m.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_every_core_module_imports_with_qgis_blocked():
    names = sorted(modules())
    assert len(names) >= 60 and "classical.trees.walk" in names
    code = (
        "import sys\n"
        "for m in ('qgis', 'PyQt5', 'processing'): sys.modules[m] = None\n"
        f"sys.path.insert(0, {str(PYPATH)!r})\n"
        "import importlib\n"
        f"for m in {names!r}:\n"
        "    if not m.endswith('_jit'): importlib.import_module('landlearn.core.' + m)\n"
        "heavy = [m for m in ('torch', 'sklearn', 'segmentation_models_pytorch') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_no_import_circle_in_core():
    edges, _ = graph()
    # a package imports its own modules through its face; that is not a circle
    def strip(m, t):
        return not (t.startswith(m + ".") or m.startswith(t + ".") and modules()[t].name == "__init__.py")

    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(t for t in edges[node] if strip(node, t)):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for m in sorted(edges):
        if m not in state:
            visit(m, [])
    assert cycles == []


def _layer(module: str) -> str:
    top = module.split(".")[0]
    return "root" if top in ROOT_MODULES else top


def test_imports_run_down_the_layers():
    edges, _ = graph()
    wrong = []
    for m, targets in edges.items():
        mine = _layer(m)
        for t in targets:
            theirs = _layer(t)
            if theirs in (mine, "root"):
                continue
            if mine == "root" or (mine in LOWER and theirs not in LOWER[mine]):
                wrong.append((m, t))
    assert wrong == []


def test_no_landlearn_import_inside_a_function():
    _, lazy = graph()
    assert [pair for pair in lazy if pair not in LAZY_SIBLINGS] == []


def test_the_graph_sees_the_imports():
    """The checks above are only as good as the graph: it must see real edges."""
    edges, lazy = graph()
    assert "geo.grid" in edges["classify.classify_pixels"]
    assert "classical.trees.kernel_jit" in edges["classical.trees.kernel"]
    assert ("classical.trees.kernel", "classical.trees.kernel_jit") in lazy
    assert sum(len(t) for t in edges.values()) > 150


def test_tests_mirror_the_package():
    """Every core module has tests/core/<package>/test_<module>.py of its own."""
    tests = ROOT / "tests" / "core"
    missing = [str(p.relative_to(CORE)) for p in sorted(CORE.rglob("*.py"))
               if p.name != "__init__.py" and not
               (tests / p.relative_to(CORE).parent / f"test_{p.stem}.py").exists()]
    assert missing == []
