"""The environment report behind Diagnostics, and the bug report of an unexpected error."""

import sys

import numpy as np
import pytest
import rasterio

from landlearn.core.runtime.deps import PIP_REQUIREMENTS, install_command
from landlearn.core.runtime.diagnostics import bug_report, environment_report, format_report


def test_report_names_versions_and_the_device():
    pytest.importorskip("torch")
    report = environment_report("cpu")
    assert report["python"] == sys.version.split()[0]
    assert report["packages"]["numpy"] == np.__version__
    assert report["packages"]["rasterio"] == rasterio.__version__
    assert set(PIP_REQUIREMENTS) <= set(report["packages"])
    assert report["device"] == "cpu" and report["device_description"].startswith("CPU (")
    for module, version in report["packages"].items():
        assert (module in report["missing"]) == (version is None and module in PIP_REQUIREMENTS)
    text = format_report(report)
    assert text.splitlines()[0] == f"Python {report['python']} on {report['platform']}"
    assert f"numpy{' ' * (28 - 5)} {np.__version__}" in text
    assert f"Device: {report['device_description']}" in text.splitlines()
    try:
        import onnxruntime
    except ImportError:
        assert report["onnxruntime_providers"] is None
    else:  # where the ONNX path runs: a light install has no torch to ask
        assert report["onnxruntime_providers"] == onnxruntime.get_available_providers()
        assert any(line.startswith("ONNX Runtime providers (Classify Pixels' ONNX path): ")
                   and "CPUExecutionProvider" in line for line in text.splitlines())


def _numba_import_raises(monkeypatch, exc: BaseException) -> None:
    import builtins

    real = builtins.__import__

    def failing(name, *args, **kwargs):
        if name == "numba" or name.startswith("numba."):
            raise exc
        return real(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "numba", raising=False)
    monkeypatch.setattr(builtins, "__import__", failing)


def test_a_package_that_is_installed_but_broken_is_reported_not_raised(monkeypatch):
    """A torchvision built for another torch raises RuntimeError on import, a DLL Windows
    cannot load an OSError: the report that should say so failed with them."""
    _numba_import_raises(monkeypatch, RuntimeError("operator torchvision::nms does not "
                                                   "exist\nmore"))
    report = environment_report("cpu")
    assert report["packages"]["numba"] == ("BROKEN (RuntimeError: operator torchvision::nms "
                                           "does not exist)")
    assert report["missing"]["numba"] == install_command("numba")


def test_a_package_whose_own_dependency_is_missing_is_broken_not_absent(monkeypatch):
    """numba installed, a library it needs not: 'NOT INSTALLED' sent users to a pip that
    answered 'already satisfied'. Only the package's own absence is absence."""
    _numba_import_raises(monkeypatch, ModuleNotFoundError("No module named 'llvmlite'",
                                                          name="llvmlite"))
    report = environment_report("cpu")
    assert report["packages"]["numba"] == ("BROKEN (ModuleNotFoundError: No module named "
                                           "'llvmlite')")


def test_missing_packages_are_reported_with_their_command_not_raised(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "numba", None)
    report = environment_report("auto")
    assert report["packages"]["torch"] is None and report["packages"]["numba"] is None
    assert report["missing"]["torch"] == install_command("torch")
    assert report["missing"]["numba"] == install_command("numba")
    assert report["device"] is None and install_command("torch") in report["device_description"]
    text = format_report(report)
    assert "NOT INSTALLED" in text
    assert f"Missing numba: install with  {install_command('numba')}" in text.splitlines()


def test_bug_report_holds_the_traceback_and_loaded_versions_only(monkeypatch):
    def fail():
        raise ValueError("the tile went sideways")

    try:
        fail()
    except ValueError as exc:
        text = bug_report(exc)
    lines = text.splitlines()
    assert lines[0] == "LandLearn bug report: please send everything below."
    assert "Traceback (most recent call last):" in text and "in fail" in text
    assert "ValueError: the tile went sideways" in text
    assert f"  numpy: {np.__version__}" in lines
    # a module that is not loaded is not imported for the report
    monkeypatch.delitem(sys.modules, "numba", raising=False)
    monkeypatch.setitem(sys.modules, "skops", None)
    text = bug_report(RuntimeError("x"))
    assert "numba" not in text and "skops" not in text and "numba" not in sys.modules


def test_a_release_outside_the_supported_range_is_marked(monkeypatch):
    from landlearn.core.runtime import diagnostics

    real = diagnostics._version
    monkeypatch.setattr(diagnostics, "_version",
                        lambda m: "1.13.1" if m == "torch" else real(m))
    report = environment_report("cpu")
    assert report["packages"]["torch"] == "UNSUPPORTED (1.13.1 is outside torch>=2.6,<3)"
    assert report["missing"]["torch"] == install_command("torch")
