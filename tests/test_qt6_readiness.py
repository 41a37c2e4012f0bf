"""QGIS 4 (Qt6) readiness, scanned on the whole tree with QGIS's migration rules
(scripts/qt6_scan.py): no direct PyQt5 import, no exec_(), enums in their scoped form.
metadata.txt may declare Qt6 support only while this passes."""

import importlib.util
import sys

import pytest

from paths import ROOT

pytest.importorskip("qgis.core")


def _scan():
    spec = importlib.util.spec_from_file_location("qt6_scan", ROOT / "scripts" / "qt6_scan.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["qt6_scan"] = module
    spec.loader.exec_module(module)
    return module


def test_no_qt6_blockers_anywhere():
    scan = _scan()
    left = [f"{p.relative_to(ROOT)}:{line}: {what}" for p in scan.files()
            for line, what, _ in scan.problems(p)]
    assert left == []
    metadata = (ROOT / "metadata.txt").read_text()
    assert "supportsQt6=True" in metadata


def test_the_scan_finds_what_it_looks_for(tmp_path, monkeypatch):
    scan = _scan()
    bad = tmp_path / "bad.py"
    bad.write_text("from qgis.PyQt.QtCore import Qt\nfrom PyQt5.QtWidgets import QDialog\n"
                   "from qgis.core import QgsProcessingParameterNumber as N\n"
                   "a = Qt.AlignLeft\nb = Qt.AlignmentFlag.AlignLeft\nc = N.Integer\n"
                   "d = QDialog().exec_()\n")
    found = {what: scoped for _, what, scoped in scan.problems(bad)}
    assert found["Qt.AlignLeft"] == "Qt.AlignmentFlag.AlignLeft"
    assert found["N.Integer"] == "N.Type.Integer"
    assert "exec_()" in found and "from PyQt5.QtWidgets import ..." in found
    assert "Qt.AlignmentFlag" not in found
