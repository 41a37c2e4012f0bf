import json
import os
import subprocess
import sys

import pytest

from landlearn.processing_provider.provider import ALGORITHMS, DEPRECATED
from paths import PYPATH, SAMPLE


def test_provider_lists_every_algorithm_with_help_and_icon(provider):
    ids = sorted(a.id() for a in provider.algorithms())
    assert ids == sorted(f"landlearn:{cls.ID}" for cls in ALGORITHMS + DEPRECATED)
    assert not provider.supportsNonFileBasedOutput()  # files only: no memory or DB outputs
    for alg in provider.algorithms():
        assert alg.shortHelpString().strip()
        assert os.path.exists(os.path.join(os.path.dirname(__file__), "..", "..", "icons",
                                           f"{type(alg).ICON}.svg"))
        for param in alg.parameterDefinitions():
            assert param.help().strip(), f"{alg.id()} {param.name()} has no help text"
            assert param.name() == param.name().upper()


def test_plugin_adds_provider_menu_and_toolbar_then_unloads(qgis_iface, qgis_processing,
                                                            monkeypatch):
    from qgis.core import QgsApplication

    import landlearn
    from landlearn.core.runtime.triton_gate import DESKTOP_FLAG, triton_blocked

    monkeypatch.setenv(DESKTOP_FLAG, "")  # gone again after the test

    registry = QgsApplication.processingRegistry()
    before = registry.providerById("landlearn")
    if before is not None:
        registry.removeProvider(before)
    plugin = landlearn.classFactory(qgis_iface)
    plugin.initGui()
    try:
        # QGIS desktop: Segment's GPU kernel (triton's LLVM) stays out, said in words
        assert os.environ[DESKTOP_FLAG] == str(os.getpid()) and "QGIS desktop" in triton_blocked()
        assert registry.providerById("landlearn") is not None
        assert [a.objectName() for a in plugin.actions] == [f"landlearn_{c.ID}" for c in ALGORITHMS]
        assert all(not a.icon().isNull() for a in plugin.actions)
        actions = list(plugin.actions)
    finally:
        plugin.unload()
    assert registry.providerById("landlearn") is None  # the next test's fixture registers it again
    # the actions are gone, not left on the main window at each reload
    from qgis.PyQt import sip
    from qgis.PyQt.QtCore import QCoreApplication, QEvent

    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert actions and all(sip.isdeleted(a) for a in actions)


def test_every_parameter_has_help_and_every_algorithm_an_example(provider):
    import re

    # QGIS shows help and tooltips as HTML: <name> placeholders vanished from them
    tag = re.compile(r"<[A-Za-z_][A-Za-z_ ]*>")
    for alg in provider.algorithms():
        if alg.id().startswith("landlearn:"):
            assert "Example" in alg.shortHelpString(), alg.id()
            assert not tag.findall(alg.shortHelpString()), alg.id()
            for param in alg.parameterDefinitions():
                assert param.help().strip(), f"{alg.id()} {param.name()}"
                assert not tag.findall(param.help()), f"{alg.id()} {param.name()}"


def test_plugin_says_once_which_packages_are_missing(qgis_iface, monkeypatch):
    import importlib.util

    import landlearn

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("torch", "skops") else real(name, *a))
    plugin = landlearn.classFactory(qgis_iface)
    text = plugin.warn_missing_packages()
    from landlearn.core.runtime.deps import requirement

    assert "torch, skops" in text and "pip install" in text and requirement("torch") in text
    # onnxruntime is there: deep models with a graph classify without torch, and it says so
    assert "already classify on ONNX Runtime" in text
    monkeypatch.setattr(importlib.util, "find_spec", real)
    assert plugin.warn_missing_packages() is None


def test_dialog_defaults_take_the_active_raster_and_canvas_extent(provider, sample, qgis_canvas):
    from qgis.core import (
        QgsApplication,
        QgsCoordinateReferenceSystem,
        QgsProcessingContext,
        QgsRasterLayer,
        QgsRectangle,
    )

    from landlearn.ui.launch import initial_parameters

    layer = QgsRasterLayer(str(sample / "nc_landsat7" / "landsat_multiband.tif"), "nc")
    assert layer.isValid()
    qgis_canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:32119"))
    qgis_canvas.setExtent(QgsRectangle(630000, 215000, 640000, 225000))
    alg = QgsApplication.processingRegistry().algorithmById("landlearn:classifypixels")
    params = initial_parameters(alg, layer, qgis_canvas)
    assert params["INPUT_RASTER"] == layer.id()
    extent = params["EXTENT"]
    assert extent.crs().authid() == "EPSG:32119"
    assert extent.xMinimum() <= 630000 and extent.xMaximum() >= 640000
    assert extent.yMinimum() <= 215000 and extent.yMaximum() >= 225000
    # what the dialog would hand to the algorithm: the extent in its own CRS
    from landlearn.processing_provider.layers import extent_of

    ctx = QgsProcessingContext()
    engine_extent = extent_of(alg, {"EXTENT": extent}, "EXTENT", ctx)
    assert engine_extent.crs == "EPSG:32119" and engine_extent.xmin <= 630000
    # where the extent decides what a model learns or an accuracy is measured on, the
    # view does not narrow it
    # (a label raster from Rasterize Labels is Train Classifier's LABEL_RASTER: a zoomed-in
    # view rasterized the labels on screen only)
    for name in ("exporttrainingdata", "trainclassifier", "assessaccuracy", "rasterizelabels",
                 "segment"):
        alg = QgsApplication.processingRegistry().algorithmById(f"landlearn:{name}")
        assert "EXTENT" in {p.name() for p in alg.parameterDefinitions()}
        params = initial_parameters(alg, layer, qgis_canvas)
        assert "EXTENT" not in params
        assert params.get("INPUT_RASTER", layer.id()) == layer.id()


@pytest.mark.parametrize("value", ["cpu", "CPU", 2, "2"])
def test_choices_accept_names_and_indices(provider, value):
    import processing

    out = processing.run("landlearn:diagnostics", {"DEVICE": value})
    assert out["DEVICE_USED"] == "cpu"
    assert out["TORCH_VERSION"].startswith("2.")


def test_diagnostics_with_a_torch_that_will_not_load_reports_it(provider, monkeypatch):
    """torch installed but broken (a DLL Windows cannot load): the report says so and the
    algorithm ends well; resolving the device again raised the same error as a bug."""
    import processing

    from landlearn.processing_provider import diagnostics

    real = diagnostics.environment_report

    def broken(device):
        report = real(device)
        report["packages"]["torch"] = "BROKEN (OSError: [WinError 126] c10.dll)"
        return report

    def never(device):
        raise OSError("[WinError 126] c10.dll")

    monkeypatch.setattr(diagnostics, "environment_report", broken)
    monkeypatch.setattr(diagnostics, "resolve_device", never)
    out = processing.run("landlearn:diagnostics", {"DEVICE": "auto"})
    assert out["DEVICE_USED"] == "none (torch is installed but cannot be loaded)"
    assert out["TORCH_VERSION"].startswith("BROKEN (OSError")

    def old(device):  # apt's torch 1.13: below LandLearn's minimum
        report = real(device)
        report["packages"]["torch"] = "UNSUPPORTED (1.13.1 is outside torch>=2.6,<3)"
        return report

    monkeypatch.setattr(diagnostics, "environment_report", old)
    out = processing.run("landlearn:diagnostics", {"DEVICE": "auto"})
    assert out["DEVICE_USED"] == "none (torch UNSUPPORTED (1.13.1 is outside torch>=2.6,<3))"


def test_bad_choice_and_unavailable_cuda_are_clear(provider, qgis_processing, tmp_path):
    import json

    import processing
    import torch
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="DEVICE: 'gpu' is not a valid choice; use one of auto"):
        processing.run("landlearn:diagnostics", {"DEVICE": "gpu"})
    if not torch.cuda.is_available():
        report = tmp_path / "env.json"
        with pytest.raises(QgsProcessingException, match="DEVICE: CUDA was requested"):
            processing.run("landlearn:diagnostics", {"DEVICE": "cuda", "REPORT": str(report)})
        # the report a user is asked for when the GPU is not found is written all the same
        written = json.loads(report.read_text())
        assert written["device_used"].startswith("none (CUDA was requested but no usable GPU")
        assert "torch" in written["packages"]



def test_the_diagnostics_report_never_replaces_a_file_landlearn_did_not_write(provider,
                                                                           tmp_path):
    """REPORT was written over any file (an input, the user's notes.json); now it is
    refused there, and its own report carries the mark that lets a rerun replace it."""
    import json

    import processing
    from qgis.core import QgsProcessingException

    notes = tmp_path / "notes.json"
    notes.write_text('{"mine": true}')
    with pytest.raises(QgsProcessingException, match="REPORT: .*notes.json' exists and was not "
                       "written by LandLearn"):
        processing.run("landlearn:diagnostics", {"DEVICE": "cpu", "REPORT": str(notes)})
    assert json.loads(notes.read_text()) == {"mine": True}
    with pytest.raises(QgsProcessingException, match="REPORT: .*env.txt': the report is JSON"):
        processing.run("landlearn:diagnostics", {"DEVICE": "cpu", "REPORT": str(tmp_path / "env.txt")})
    report = tmp_path / "report.json"
    for _ in range(2):  # the second run replaces the first one's report
        processing.run("landlearn:diagnostics", {"DEVICE": "cpu", "REPORT": str(report)})
        assert json.loads(report.read_text())["generator"] == "LandLearn"

def test_missing_torch_is_reported_by_diagnostics_and_fatal_only_where_needed(provider, monkeypatch,
                                                                              tmp_path):
    """Diagnostics explains a missing torch (it is the tool for that); training, which
    needs torch, fails with the install command that works on this Python."""
    import sys

    import processing
    from qgis.core import QgsProcessingException

    from small_models import nc_chips

    chips = nc_chips(tmp_path / "chips", stride=96)
    monkeypatch.setitem(sys.modules, "torch", None)
    report = processing.run("landlearn:diagnostics", {"DEVICE": "auto"})
    assert report["DEVICE_USED"] == "none (torch is not installed)"
    with pytest.raises(QgsProcessingException, match=r"(?s)'torch' is required.*-m pip install.*torch"):
        processing.run("landlearn:traindeeplearningmodel", {
            "TRAINING_DATA": str(chips), "ARCHITECTURE": "unet", "BACKBONE": "resnet18", "EPOCHS": 1,
            "DEVICE": "cpu", "OUTPUT_MODEL": str(tmp_path / "m.dlpk")})
    assert not (tmp_path / "m.dlpk").exists()


def test_an_unexpected_error_is_one_line_with_the_traceback_in_the_log(provider, sample,
                                                                       monkeypatch, tmp_path):
    """A bug (any exception that is not a LandLearn error) reaches the user as one line
    saying so; the traceback and the versions go to the log, for the bug report."""
    import processing
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    from landlearn.core.labels import rasterize_labels

    def broken(*args, **kwargs):
        raise ZeroDivisionError("the bug under test")

    monkeypatch.setattr(rasterize_labels, "open_labels", broken)

    class Log(QgsProcessingFeedback):
        errors: list = []

        def reportError(self, text, fatalError=False):  # noqa: N802, N803 - QGIS's names
            self.errors.append(text)
            super().reportError(text, fatalError)

    log = Log()
    nc = sample / "nc_landsat7"
    with pytest.raises(QgsProcessingException) as info:
        processing.run("landlearn:rasterizelabels", {
            "INPUT_RASTER": str(nc / "landsat_multiband.tif"), "LABELS": str(nc / "strata.tif"),
            "OUTPUT": str(tmp_path / "labels.tif")}, feedback=log)
    message = str(info.value)
    assert "failed unexpectedly (ZeroDivisionError: the bug under test)" in message
    assert "bug in LandLearn" in message and "Traceback" not in message
    report = "\n".join(log.errors)
    assert "Traceback" in report and "the bug under test" in report and "numpy" in report
    assert not list(tmp_path.iterdir())


def test_loading_the_plugin_imports_only_the_standard_library():
    """QGIS loads LandLearn on every start (and qgis_process on every call): registering the
    provider and building every dialog's parameters must not import numpy, rasterio, GDAL's
    bindings, scikit-learn or torch; the engine loads when an algorithm runs (~0.4 s of
    every start before, BENCHMARKS "QGIS start")."""
    code = (
        "import json, os, sys\n"
        f"sys.path.insert(0, {str(PYPATH)!r})\n"
        "from qgis.core import QgsApplication\n"
        "app = QgsApplication([], False); app.initQgis()\n"
        "sys.path.append(os.path.join(QgsApplication.pkgDataPath(), 'python', 'plugins'))\n"
        "from processing.core.Processing import Processing\n"
        "Processing.initialize()\n"
        "before = set(sys.modules)\n"
        "import landlearn\n"
        "plugin = landlearn.classFactory(None)\n"
        "plugin.initProcessing()\n"
        "algs = plugin.provider.algorithms()\n"
        "params = sum(len(a.parameterDefinitions()) + len(a.create().parameterDefinitions())\n"
        "             for a in algs)\n"
        "helps = all(a.shortHelpString() for a in algs)\n"
        "new = sorted({m.split('.')[0] for m in set(sys.modules) - before})\n"
        "plugin.unload()\n"
        "print(json.dumps([len(algs), params, helps, new]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    algs, params, helps, new = json.loads(out.stdout.strip().splitlines()[-1])
    assert algs == len(ALGORITHMS + DEPRECATED) and params > 20 * algs and helps
    assert "landlearn" in new
    assert [m for m in new if m != "landlearn" and m not in sys.stdlib_module_names] == []


def test_outputs_default_to_the_formats_landlearn_writes(provider):
    """A user whose default raster output is .img (Processing options) still gets .tif
    temporary outputs: LandLearn writes GeoTIFFs (and GeoPackage polygons)."""
    from qgis.core import QgsApplication, QgsSettings

    settings = QgsSettings()
    key = "Processing/Configuration/DefaultOutputRasterLayerExt"
    old = settings.value(key)
    settings.setValue(key, "img")
    try:
        alg = QgsApplication.processingRegistry().algorithmById("landlearn:segment")
        assert alg.parameterDefinition("OUTPUT").defaultFileExtension() == "tif"
        assert alg.parameterDefinition("OUTPUT_POLYGONS").defaultFileExtension() == "gpkg"
        assert provider.supportedOutputRasterLayerExtensions() == ["tif", "tiff"]
    finally:
        if old is None:
            settings.remove(key)
        else:
            settings.setValue(key, old)


def test_a_package_missing_from_qgis_python_is_named_not_called_a_bug(provider, monkeypatch):
    """rasterio is imported by every engine module: without it a run said 'a bug in
    LandLearn'; it names the package and how to install it."""
    import processing
    from qgis.core import QgsProcessingException

    from landlearn.processing_provider.segment import SegmentAlgorithm

    def perform(self, *args):
        raise ModuleNotFoundError("No module named 'rasterio'", name="rasterio")

    monkeypatch.setattr(SegmentAlgorithm, "perform", perform)
    with pytest.raises(QgsProcessingException) as info:
        processing.run("landlearn:segment", {"INPUT_RASTER": str(
            SAMPLE / "nc_landsat7" / "landsat_multiband.tif"), "OUTPUT": "TEMPORARY_OUTPUT"})
    text = str(info.value)
    assert "needs the Python package 'rasterio'" in text and "python3-rasterio" in text
    assert "bug" not in text


def test_choice_options_are_only_ever_appended(provider):
    """Dialogs, saved graphical models (.model3) and scripts store a choice as its position:
    an option inserted or moved would make every saved BACKBONE 0 or MODEL_TYPE 1 train
    something else, silently. choice_order.json holds the order as released; a new option
    goes at the end (and into that file)."""
    import json
    from pathlib import Path

    released = json.loads((Path(__file__).parent / "choice_order.json").read_text())
    for alg_name, keys in released.items():
        alg = provider.algorithm(alg_name)
        assert alg is not None, alg_name
        for key, names in keys.items():
            now = list(alg._choices[key].names)
            assert now[:len(names)] == names, (alg_name, key, now)


def test_small_numbers_keep_their_decimals_in_the_dialog(provider):
    """QGIS's spin box keeps 6 decimals unless a parameter says otherwise: a cell size of
    0.0000027 degrees (0.3 m) became 0.000003, and a learning rate of 5e-7 became 0."""
    seen = []
    for alg in provider.algorithms():
        for key in ("CELL_SIZE", "LEARNING_RATE"):
            param = alg.parameterDefinition(key)
            if param is not None:
                seen.append((alg.name(), key))
                assert param.metadata()["widget_wrapper"]["decimals"] == 12, (alg.name(), key)
    assert ("classifypixels", "CELL_SIZE") in seen and ("exporttrainingdata", "CELL_SIZE") in seen
    assert ("traindeeplearningmodel", "LEARNING_RATE") in seen

