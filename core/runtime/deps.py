"""Optional heavy packages, imported only when an algorithm runs.

QGIS must load the plugin on a machine without torch or scikit-learn; only running an
algorithm that needs one fails, with the exact command that installs the pinned version.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

from ..errors import MissingDependency
from .skops_import import import_skops

# import name -> pip requirement, kept equal to requirements.txt (a test checks it).
PIP_REQUIREMENTS: dict[str, str] = {
    "torch": "torch==2.15.0",
    "torchvision": "torchvision==0.29.2",
    "segmentation_models_pytorch": "segmentation-models-pytorch==0.6.0",
    "safetensors": "safetensors==0.8.0",
    "sklearn": "scikit-learn==1.9.1",
    "skops": "skops==0.11.0",
    "numba": "numba==0.60.0",
}


def python_for_pip() -> str:
    """The interpreter QGIS runs on, as a user would type it to install packages for it."""
    exe = sys.executable or ""
    if os.path.basename(exe).lower().startswith("python"):
        return exe
    if sys.platform == "win32":
        return "python"  # the OSGeo4W Shell's python is QGIS's
    return "python3"


def install_command(*modules: str) -> str:
    reqs = " ".join(PIP_REQUIREMENTS.get(m, m) for m in modules)
    user = "" if sys.platform == "win32" or sys.prefix != sys.base_prefix else " --user"
    return f"{python_for_pip()} -m pip install{user} {reqs}"


def _keep_triton_out() -> None:
    """Make ``import triton`` fail before torch looks for it.

    PyPI torch ships triton, whose library registers LLVM command-line options when it is
    loaded; inside QGIS desktop, Mesa's libLLVM is already loaded and that registration
    crashes QGIS (found by the Xvfb GUI test). LandLearn never compiles kernels, and torch
    treats a missing triton as "no torch.compile on GPU", so it is left out everywhere.
    """
    if "triton" not in sys.modules:
        sys.modules["triton"] = None  # type: ignore[assignment]


def require(module: str) -> ModuleType:
    """Import ``module`` or raise MissingDependency naming the exact install command."""
    _keep_triton_out()  # whatever imports torch, directly or not
    try:
        if module.split(".")[0] == "skops":

            return import_skops(module)
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(
            PIP_REQUIREMENTS.get(module, module).split("==")[0],
            install_command(module),
            reason=str(exc),
        ) from exc


def missing_packages() -> list[str]:
    """Import names of the engine packages that are not installed, found without importing
    them (so the check is instant and cannot disturb QGIS)."""
    import importlib.util

    return [m for m in PIP_REQUIREMENTS if importlib.util.find_spec(m) is None]


def is_available(module: str) -> bool:
    try:
        require(module)
    except MissingDependency:
        return False
    return True
