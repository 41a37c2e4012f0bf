"""core/ never imports QGIS, Qt or processing (ARCHITECTURE.md), and loads without them."""

import ast
import subprocess
import sys

from paths import PYPATH, ROOT

FORBIDDEN = ("qgis", "PyQt5", "PyQt6", "processing", "sip")


def _imports(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_core_source_imports_no_qgis_or_qt():
    offenders = [(p.name, m) for p in sorted((ROOT / "core").glob("*.py"))
                 for m in _imports(p) if m.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_every_core_module_imports_with_qgis_blocked():
    modules = sorted(p.stem for p in (ROOT / "core").glob("*.py") if p.stem != "__init__")
    assert len(modules) >= 10
    code = (
        "import sys\n"
        "for m in ('qgis', 'PyQt5', 'processing'): sys.modules[m] = None\n"
        f"sys.path.insert(0, {str(PYPATH)!r})\n"
        "import importlib\n"
        f"for m in {modules!r}: importlib.import_module('landlearn.core.' + m)\n"
        "heavy = [m for m in ('torch', 'sklearn', 'segmentation_models_pytorch') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
