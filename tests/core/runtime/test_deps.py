import re
import sys

import pytest

from landlearn.core.errors import MissingDependency
from landlearn.core.runtime import deps
from landlearn.core.runtime.device import resolve_device
from paths import ROOT


def _requirements(path):
    out = {}
    for line in (ROOT / path).read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)([<>=!].*)$", line.strip())
        if m:
            out[m.group(1).lower()] = m.group(0)
    return out


def test_ranges_and_pins_match_requirements_and_constraints():
    """The install commands name what setup.sh installs: requirements.txt's ranges, and
    constraints/numpy-1.24.txt's pins on a numpy 1.24 Python."""
    ranges, pins = _requirements("requirements.txt"), _requirements("constraints/numpy-1.24.txt")
    for module, req in deps.PIP_REQUIREMENTS.items():
        name = re.split(r"[<>=!]", req)[0].lower()
        assert ranges[name] == req
        assert pins[name] == deps.NUMPY_124_PINS[module]
    assert deps.requirement("sklearn", "1.24.2") == "scikit-learn==1.9.1"
    assert deps.requirement("sklearn", "2.2.4") == "scikit-learn>=1.6,<2"
    # the pins need numpy 1.24 (scikit-learn 1.9.1 takes >= 1.24.1): Ubuntu 22.04's 1.21
    # gets the ranges, which pip resolves with that numpy held
    assert deps.requirement("sklearn", "1.21.5") == "scikit-learn>=1.6,<2"


def test_install_commands_work_where_users_are():
    """PEP 668 system Pythons (Debian 12+, Ubuntu 23.04+) refuse plain pip: --user
    --break-system-packages, numpy pinned; Windows' OSGeo4W shell: double quotes."""
    debian = deps.install_command("torch", "sklearn", platform="linux", managed=True,
                                  numpy="2.2.4")
    if "--user" in debian:  # not in a virtual environment
        assert "--user --break-system-packages" in debian
    assert "'torch>=2.6,<3'" in debian and "'scikit-learn>=1.6,<2'" in debian
    assert debian.endswith(" numpy==2.2.4")
    old = deps.install_command("skops", platform="linux", managed=False, numpy="1.24.2")
    assert "skops==0.11.0" in old and "break-system" not in old
    windows = deps.install_command("torch", platform="win32", managed=False, numpy="1.26.4")
    assert '"torch>=2.6,<3"' in windows and "--user" not in windows
    assert windows.endswith(" numpy==1.26.4")  # the numpy OSGeo4W's GDAL is built against


def test_inside_qgis_the_command_names_qgis_own_python(monkeypatch, tmp_path):
    """Embedded in QGIS, sys.executable is QGIS (or the first python3 on PATH: a conda
    one, which would install where QGIS never looks): the command names the interpreter
    of the installation QGIS runs on, quoted where its path has a space."""
    prefix = tmp_path / "QGIS 3.40"
    (prefix / "bin").mkdir(parents=True)
    v = sys.version_info
    python = prefix / "bin" / f"python{v.major}.{v.minor}"
    python.write_text("")
    monkeypatch.setattr(sys, "executable", "/usr/bin/qgis")
    monkeypatch.setattr(sys, "exec_prefix", str(prefix))
    assert deps.own_python() == str(python)
    assert deps.python_for_pip() == f"'{python}'"
    assert deps.install_command("onnx", platform="linux", managed=False, numpy="2.2.4") \
        .startswith(f"'{python}' -m pip install")
    monkeypatch.setattr(sys, "exec_prefix", str(tmp_path / "nothing"))
    assert deps.own_python() is None and deps.python_for_pip() == "python3"


def test_missing_package_gives_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    with pytest.raises(MissingDependency) as err:
        resolve_device("cpu")
    assert err.value.package == "torch"
    assert "-m pip install" in str(err.value) and deps.requirement("torch") in str(err.value)


def test_classical_models_never_import_torch(sample, tmp_path):
    """skops walks every scikit-learn package when it loads, torch's array-API adapter
    included; a classical training and map must still leave torch (2 s to import, and
    triton's LLVM clashes with QGIS desktop's) unimported, and skops' ufunc naming goes
    through skops_import's cheaper search."""
    import subprocess

    pytest.importorskip("skops")
    nc = sample / "nc_landsat7"
    script = f"""
import sys
sys.path.insert(0, {str(ROOT / 'tests')!r})
from paths import ensure_importable
ensure_importable()
from landlearn.core.classical.train_classifier import ClassicalConfig, train_classical
from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
from landlearn.core.labels.base import LabelConfig
image = {str(nc / 'landsat_multiband.tif')!r}
train_classical(ClassicalConfig(image, LabelConfig({str(nc / 'landsat96_polygons.shp')!r},
                class_field="id"), {str(tmp_path / 'm.dlpk')!r}, model_type="svm",
                max_samples_per_class=50, cv_folds=2))
classify_pixels(ClassifyConfig(image, {str(tmp_path / 'm.dlpk')!r}, {str(tmp_path / 'm.tif')!r}))
import sklearn.externals.array_api_compat  # the adapter stays importable afterwards
import skops.io._utils as skops_utils
from landlearn.core.runtime.fast_paths import fast_paths
print("torch" in sys.modules, "skops.io" in sys.modules,
      hasattr(skops_utils.whichmodule, "__wrapped__") == fast_paths("skops"))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout.split()
    # no torch; skops loaded, its module search made cheap on the tested skops series only
    assert out[-3:] == ["False", "True", "True"]


def test_require_imports_or_names_the_pip_package(monkeypatch):
    import json as real_json

    # whether an earlier test let torch load triton or not, require() keeps it out from here
    monkeypatch.delitem(sys.modules, "triton", raising=False)
    assert deps.require("json") is real_json and deps.is_available("json")
    assert "sklearn" not in deps.missing_packages()
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(MissingDependency) as err:
        deps.require("sklearn")
    # the import name is sklearn, the package pip knows is scikit-learn, pinned
    assert err.value.package == "scikit-learn"
    numpy = __import__("numpy").__version__
    assert re.search(r"-m pip install( --user)?( --break-system-packages)? "
                     r"(scikit-learn==1\.9\.1|'scikit-learn>=1\.6,<2') numpy==" + re.escape(numpy),
                     err.value.install_command), err.value.install_command
    assert not deps.is_available("sklearn")
    assert "sklearn" in deps.missing_packages()
    assert sys.modules["triton"] is None  # require keeps triton out, whatever it imports


def test_a_submodule_is_installed_as_its_package_and_a_broken_one_is_said(monkeypatch):
    """skops.io is installed as skops (pip knows no skops.io); a package that is there but
    will not load (a DLL Windows cannot load) is a MissingDependency with the cause and a
    reinstall, not a traceback reported as LandLearn's bug."""
    import importlib

    real = importlib.import_module

    def fake(name, *args):
        if name == "skops.io":
            raise ModuleNotFoundError("No module named 'skops'", name="skops")
        if name == "torch":
            raise OSError("[WinError 126] The specified module could not be found. Error "
                          "loading c10.dll")
        return real(name, *args)

    monkeypatch.setattr(deps, "import_skops", fake)
    monkeypatch.setattr(deps.importlib, "import_module", fake)
    with pytest.raises(MissingDependency) as err:
        deps.require("skops.io")
    assert err.value.package == "skops"
    assert re.search(r" (skops==0\.11\.0|'skops>=0\.11,<1') numpy==", err.value.install_command)
    assert "skops.io" not in err.value.install_command
    with pytest.raises(MissingDependency) as err:
        deps.require("torch")
    assert err.value.package == "torch" and err.value.install_command.endswith(
        " --force-reinstall --no-deps")
    assert "numpy==" not in err.value.install_command  # numpy is not reinstalled with it
    assert "installed but cannot be loaded (OSError: [WinError 126]" in str(err.value)


def test_the_light_install_is_offered_to_classify_only_users():
    assert deps.light_install_hint(["skops"]) is None
    hint = deps.light_install_hint(["torch", "onnxruntime"])
    assert "onnxruntime and onnx run them" in hint
    assert deps.install_command("onnxruntime", "onnx") in hint
    assert "onnxruntime and onnx" in deps.light_install_hint(["torch", "onnx"])
    assert "already classify on ONNX Runtime" in deps.light_install_hint(["torch"])


def test_is_installed_asks_without_importing(monkeypatch):
    assert deps.is_installed("json") and not deps.is_installed("no_such_module_landlearn")
    monkeypatch.setitem(sys.modules, "json", None)  # blocked counts as missing
    assert not deps.is_installed("json")
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    assert deps.is_installed("colorsys") and "colorsys" not in sys.modules  # not imported


def test_a_release_older_than_supported_is_named_before_it_is_imported(monkeypatch):
    """Debian's apt torch 1.13 imported fine and failed deep inside a run as a LandLearn
    bug: below the range's minimum it is a MissingDependency with the command; newer than
    the range only Diagnostics marks (a pin, distributed's, is no bound)."""
    import importlib.metadata as md

    real = md.version

    def fake(dist):
        return {"torch": "1.13.1", "scikit-learn": "3.0.0"}.get(dist) or real(dist)

    monkeypatch.setattr(md, "version", fake)
    deps.too_old.cache_clear()
    try:
        with pytest.raises(MissingDependency) as err:
            deps.require("torch")
        assert "torch 1.13.1 is older than 2.6, the oldest LandLearn works with" in str(err.value)
        assert deps.too_old("sklearn") is None  # newer than the range: not refused here
    finally:
        deps.too_old.cache_clear()
    assert deps.unsupported("sklearn", "3.0.0") == "3.0.0 is outside scikit-learn>=1.6,<2"
    assert deps.unsupported("torch", "2.15.0+cu132") is None
    assert deps.unsupported("distributed", "2025.1.0") is None
    assert deps.unsupported("onnx", "unknown") is None


def test_a_python_without_gdals_bindings_is_refused_before_any_work(sample, tmp_path,
                                                                    monkeypatch):
    """pip installs rasterio (GDAL inside) but not osgeo, which must match the system's
    GDAL: a pip-only script classified a whole map, then failed on 'No module named osgeo'
    with nothing written (a sweep, stop 71). Now refused first, with how to get them."""
    from landlearn.core.labels.base import LabelConfig
    from landlearn.core.labels.rasterize_labels import LabelRasterConfig, write_label_raster

    class NoOsgeo:
        def find_spec(self, name, path=None, target=None):
            if name == "osgeo" or name.startswith("osgeo."):
                raise ImportError("no GDAL Python bindings here (test)")
            return None

    for name in [m for m in sys.modules if m == "osgeo" or m.startswith("osgeo.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [NoOsgeo(), *sys.meta_path])
    nc = sample / "nc_landsat7"
    out = tmp_path / "labels.tif"
    with pytest.raises(MissingDependency, match=r"'osgeo' .*\n    sudo apt install "
                                                r"python3-gdal .*\n    or: conda install"):
        write_label_raster(LabelRasterConfig(str(nc / "landsat_multiband.tif"),
                                             LabelConfig(str(nc / "strata.tif")), str(out)))
    assert list(tmp_path.iterdir()) == []
