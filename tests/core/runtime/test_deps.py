import re
import sys

import pytest

from landlearn.core.errors import MissingDependency
from landlearn.core.runtime import deps
from landlearn.core.runtime.device import resolve_device
from paths import ROOT


def test_pins_match_requirements_txt():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if m:
            pins[m.group(1).lower()] = m.group(0)
    for req in deps.PIP_REQUIREMENTS.values():
        assert pins[req.split("==")[0].lower()] == req


def test_missing_package_gives_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    with pytest.raises(MissingDependency) as err:
        resolve_device("cpu")
    assert err.value.package == "torch"
    assert "-m pip install" in str(err.value) and "torch==2.15.0" in str(err.value)


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
print("torch" in sys.modules, "skops.io" in sys.modules, hasattr(skops_utils.whichmodule, "__wrapped__"))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout.split()
    # no torch; skops loaded with its module search made cheap
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
    assert err.value.install_command.endswith("-m pip install scikit-learn==1.9.1") or \
        err.value.install_command.endswith("-m pip install --user scikit-learn==1.9.1")
    assert not deps.is_available("sklearn")
    assert "sklearn" in deps.missing_packages()
    assert sys.modules["triton"] is None  # require keeps triton out, whatever it imports
