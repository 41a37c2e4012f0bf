"""QGIS 4 (Qt6) readiness: what PyQt6 and QGIS 4's PyQGIS no longer accept.

Follows the rules of QGIS's own PyQt5 -> PyQt6 migration script:
- no direct PyQt5/PyQt6 import (``qgis.PyQt`` picks the right one);
- no ``exec_()`` (``exec()`` works with both);
- enums in their scoped form: ``Qt.AlignmentFlag.AlignLeft``, not ``Qt.AlignLeft``, and the
  same for QGIS's own classes (``QgsProcessingParameterNumber.Type.Integer``). PyQt5 5.15 and
  QGIS 3.22 accept the scoped form already; Qt6 builds accept only it.

Run from the checkout with QGIS's Python on the path: ``python scripts/qt6_scan.py``
lists what is left (``--fix`` rewrites the enums); tests/test_qt6_readiness.py runs the
same check.
"""

from __future__ import annotations

import ast
import enum
import importlib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ["plugin.py", "__init__.py", "ui", "processing_provider", "core", "scripts", "tests",
           "bench"]


def files() -> list[Path]:
    out = []
    for name in SCANNED:
        path = ROOT / name
        out += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return [p for p in out if ".venv" not in p.parts]


def _is_enum_member(obj) -> bool:
    """An enum member: a sip/PyQt5 enum (an int of an enum type, not a plain int constant)
    or a Python enum (QGIS 3.40's Qgis enums, PyQt6's)."""
    return isinstance(obj, enum.Enum) or (isinstance(obj, int) and type(obj) not in (int, bool))


def _scope_name(owner, member) -> str | None:
    """The name under which ``owner`` holds the enum of ``member``: its own name (Qt.AlignmentFlag)
    or an alias (QGIS 3.40 keeps QgsProcessingParameterNumber.Type for the enum that moved to
    Qgis.ProcessingNumberParameterType)."""
    kind = type(member)
    if getattr(owner, kind.__name__, None) is kind:
        return kind.__name__
    return next((name for name in dir(owner) if not name.startswith("_")
                 and getattr(owner, name, None) is kind), None)


def problems(path: Path) -> list[tuple[int, str, str | None]]:
    """(line, what, scoped replacement or None) for each Qt6 blocker in ``path``."""
    text = path.read_text()
    tree = ast.parse(text, filename=str(path))
    found = []
    imported = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ("PyQt5", "PyQt6"):
                    found.append((node.lineno, f"import {alias.name}", None))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            top = node.module.split(".")[0]
            if top in ("PyQt5", "PyQt6"):
                found.append((node.lineno, f"from {node.module} import ...", None))
            elif top == "qgis":
                try:
                    module = importlib.import_module(node.module)
                except ImportError:
                    continue
                for alias in node.names:
                    obj = getattr(module, alias.name, None)
                    if obj is not None:
                        imported[alias.asname or alias.name] = obj
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "exec_":
            found.append((node.lineno, "exec_()", None))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                node.value.id in imported:
            owner = imported[node.value.id]
            member = getattr(owner, node.attr, None)
            scope = _scope_name(owner, member) if _is_enum_member(member) else None
            if scope:
                found.append((node.lineno, f"{node.value.id}.{node.attr}",
                              f"{node.value.id}.{scope}.{node.attr}"))
    return sorted(found)


def fix(path: Path) -> int:
    """Rewrite unscoped enums in ``path`` to their scoped form; return how many."""
    text = path.read_text()
    n = 0
    for _line, what, scoped in problems(path):
        if scoped:
            new = re.sub(rf"\b{re.escape(what)}\b(?!\.)", scoped, text)
            n += new != text
            text = new
    path.write_text(text)
    return n


def main() -> int:
    do_fix = "--fix" in sys.argv
    total = 0
    for path in files():
        if do_fix:
            fix(path)
        for line, what, scoped in problems(path):
            total += 1
            print(f"{path.relative_to(ROOT)}:{line}: {what}" + (f" -> {scoped}" if scoped else ""))
    print(f"{total} Qt6 blocker(s)")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
