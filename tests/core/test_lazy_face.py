"""Lazy package faces: every exported name resolves to its module's object on first use,
and a face loads none of its modules (nor numpy) until asked."""

import importlib
import subprocess
import sys

import pytest

from landlearn.core.lazy_face import lazy_face
from paths import PYPATH

LAZY = ("geo", "classical", "deep")


@pytest.mark.parametrize("name", LAZY)
def test_every_name_of_a_lazy_face_is_its_modules_object(name):
    face = importlib.import_module(f"landlearn.core.{name}")
    assert face.__all__ == sorted(face._NAMES)
    for export, module in face._NAMES.items():
        source = importlib.import_module(f"landlearn.core.{name}{module}")
        assert getattr(face, export) is getattr(source, export)
    assert set(face.__all__) <= set(dir(face))
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        face.nothing_here  # noqa: B018


def test_a_name_equal_to_its_modules_cannot_be_lazy():
    # once the module is imported, Python sets the package attribute to the module and the
    # face would hand out the module instead of the function
    with pytest.raises(ImportError, match="accuracy.*assess_accuracy"):
        lazy_face("accuracy", {"assess_accuracy": ".assess_accuracy", "Accuracy": ".metrics"})


def test_the_dialogs_constants_load_without_numpy_or_rasterio():
    """What the Processing dialogs read when QGIS starts: the faces and the constant modules
    import nothing heavy; asking a face for a name loads its module then."""
    code = (
        f"import sys; sys.path.insert(0, {str(PYPATH)!r})\n"
        "from landlearn.core.geo.limits import DEFAULT_MAX_GPX\n"
        "from landlearn.core.classical.model_types import MODEL_TYPES\n"
        "from landlearn.core.deep.architectures import ARCHITECTURES, BACKBONES\n"
        "from landlearn.core.deep.ensemble import MAX_MEMBERS\n"
        "from landlearn.core.deep.losses import LOSSES\n"
        "import landlearn.core.geo as geo\n"
        "heavy = sorted(m for m in ('numpy', 'rasterio', 'osgeo', 'scipy', 'sklearn', 'torch')\n"
        "               if m in sys.modules)\n"
        "assert heavy == [], heavy\n"
        "geo.Grid\n"
        "assert 'rasterio' in sys.modules and 'landlearn.core.geo.grid' in sys.modules\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
