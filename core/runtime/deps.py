"""Optional heavy packages, imported only when an algorithm runs.

QGIS must load the plugin on a machine without torch or scikit-learn; only running an
algorithm that needs one fails, with the exact command that installs a version that works
with that QGIS's Python and numpy, as that platform's Python takes it.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import re
import sys
from types import ModuleType

from ..errors import MissingDependency
from .skops_import import import_skops

# import name -> the releases LandLearn works with: requirements.txt's ranges, and the pins
# of constraints/numpy-1.24.txt for a numpy 1.24 Python (QGIS 3.22 on Debian 12), where
# newer skops and numba would pull a numpy that QGIS was not built against (a test checks
# both against those files)
PIP_REQUIREMENTS: dict[str, str] = {
    "torch": "torch>=2.6,<3",
    "torchvision": "torchvision>=0.21",
    "segmentation_models_pytorch": "segmentation-models-pytorch>=0.5,<0.7",
    "safetensors": "safetensors>=0.4,<1",
    "sklearn": "scikit-learn>=1.6,<2",
    "skops": "skops>=0.11,<1",
    "numba": "numba>=0.60",
    "scipy": "scipy>=1.10,<2",
    "onnx": "onnx>=1.16,<2",
    "onnxruntime": "onnxruntime>=1.18,<2",
    "distributed": "distributed==2026.8.0",
}
NUMPY_124_PINS: dict[str, str] = {
    "torch": "torch==2.15.0",
    "torchvision": "torchvision==0.29.2",
    "segmentation_models_pytorch": "segmentation-models-pytorch==0.6.0",
    "safetensors": "safetensors==0.8.0",
    "sklearn": "scikit-learn==1.9.1",
    "skops": "skops==0.11.0",
    "numba": "numba==0.60.0",
    "scipy": "scipy==1.10.1",
    "onnx": "onnx==1.23.2",
    "onnxruntime": "onnxruntime==1.32.0",
    "distributed": "distributed==2026.8.0",
}
# only for Classify Pixels on a Dask cluster: not worth a warning when QGIS starts
SCALE_OUT = ("distributed",)


def _numpy_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("numpy")
    except PackageNotFoundError:
        return None


def requirement(module: str, numpy: str | None = None) -> str:
    """The pip requirement for ``module`` on this Python (its numpy decides)."""
    numpy = numpy if numpy is not None else (_numpy_version() or "")
    try:
        major, minor = (int(p) for p in numpy.split(".")[:2])
    except ValueError:
        major, minor = 2, 0
    # the pins were tested on numpy 1.24 only (Debian 12): scikit-learn 1.9.1 needs 1.24.1,
    # so an older numpy (Ubuntu 22.04's 1.21) gets the ranges, for pip to resolve with it
    pins = NUMPY_124_PINS if (major, minor) == (1, 24) else PIP_REQUIREMENTS
    return pins.get(module, module)


def own_python() -> str | None:
    """The interpreter of the Python installation this process runs on, or None. Inside
    QGIS desktop or qgis_process, ``sys.executable`` is QGIS itself, or whatever python3
    came first on PATH (embedded Python guesses: a conda or pyenv one, which would mix
    its packages and standard library with QGIS's), so the installation's own
    interpreter is looked for under ``sys.exec_prefix``."""
    exe = os.path.realpath(sys.executable or "")
    if os.path.basename(exe).lower().startswith("python") and \
            exe.startswith(os.path.realpath(sys.exec_prefix) + os.sep):
        return sys.executable
    v = sys.version_info
    candidates = [os.path.join(sys.exec_prefix, "bin", f"python{v.major}.{v.minor}"),
                  os.path.join(sys.exec_prefix, "bin", "python3"),
                  os.path.join(sys.exec_prefix, "python.exe")]
    return next((c for c in candidates if os.path.isfile(c)), None)


def python_for_pip() -> str:
    """The interpreter QGIS runs on, as a user would type it to install packages for it
    (quoted where its path has a space: C:\\Program Files\\QGIS 3.40\\...)."""
    exe = sys.executable or ""
    if not os.path.basename(exe).lower().startswith("python"):
        exe = own_python() or ""
    if not exe:
        if sys.platform == "win32":
            return "python"  # the OSGeo4W Shell's python is QGIS's
        if sys.platform == "darwin":
            bundled = os.path.join(os.path.dirname(sys.executable or ""), "bin", "python3")
            exe = bundled if os.path.exists(bundled) else "python3"
        else:
            return "python3"
    if " " in exe:
        quote = '"' if sys.platform == "win32" else "'"
        return f"{quote}{exe}{quote}"
    return exe


def externally_managed() -> bool:
    """PEP 668: a system Python that refuses plain pip installs (Debian 12+, Ubuntu 23.04+)."""
    import sysconfig

    if sys.prefix != sys.base_prefix:
        return False  # a virtual environment is never externally managed
    return os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))


def install_command(*modules: str, platform: str | None = None,
                    managed: bool | None = None, numpy: str | None = None,
                    pin_numpy: bool = True) -> str:
    """The command that installs ``modules`` into the Python QGIS runs on, as it works there:

    - Windows (OSGeo4W): ``python -m pip install ...`` typed in the OSGeo4W Shell, in
      double quotes (cmd.exe does not know single quotes);
    - a virtual environment: plain ``pip install``;
    - a system Python marked externally managed (PEP 668): ``--user
      --break-system-packages``, since QGIS runs on that Python and cannot use a venv; the
      system numpy is pinned in the command, so pip never replaces the one QGIS needs;
    - other Pythons (macOS QGIS.app, older Linux): ``--user``.
    """
    platform = platform or sys.platform
    numpy = numpy if numpy is not None else (_numpy_version() or "")
    managed = externally_managed() if managed is None else managed
    quote = '"' if platform == "win32" else "'"
    reqs = [requirement(m, numpy) for m in modules]
    if numpy and pin_numpy:  # everywhere: QGIS's GDAL is built against the numpy it ships
        reqs.append(f"numpy=={numpy}")
    args = " ".join(f"{quote}{r}{quote}" if any(c in r for c in "<>*") else r for r in reqs)
    if platform == "win32" or sys.prefix != sys.base_prefix:
        flags = ""
    elif managed:
        flags = " --user --break-system-packages"
    else:
        flags = " --user"
    return f"{python_for_pip()} -m pip install{flags} {args}"


def _keep_triton_out() -> None:
    """Make ``import triton`` fail before torch looks for it.

    PyPI torch ships triton, whose library registers LLVM command-line options when it is
    loaded; inside QGIS desktop, Mesa's libLLVM is already loaded and that registration
    crashes QGIS (found by the Xvfb GUI test). torch treats a missing triton as "no
    torch.compile on GPU", so it is left out of torch's import everywhere; Segment's own
    GPU kernel lets it in where no other LLVM can be (runtime/triton_gate).
    """
    if "triton" not in sys.modules:
        sys.modules["triton"] = None  # type: ignore[assignment]


def _numbers(version: str) -> tuple[int, ...]:
    """'2.15.0+cu132' -> (2, 15, 0): the release numbers a requirement compares."""
    match = re.match(r"\d+(\.\d+)*", version)
    return tuple(int(p) for p in match.group(0).split(".")) if match else ()


def unsupported(module: str, version: str | None) -> str | None:
    """Why ``version`` of ``module`` is outside the range LandLearn works with
    (PIP_REQUIREMENTS), or None ('' bounds only: a pin such as distributed's is the
    release tested, not a known break)."""
    if not version or not _numbers(version):  # none, or 'unknown': nothing to compare
        return None
    spec = PIP_REQUIREMENTS.get(module.split(".")[0], "")
    have = _numbers(version)
    for op, bound in re.findall(r"(>=|<)\s*([0-9][0-9.]*)", spec):
        want = _numbers(bound)
        if (op == ">=" and have < want) or (op == "<" and have >= want):
            return f"{version} is outside {spec}"
    return None


@functools.cache
def too_old(module: str) -> str | None:
    """Why the installed ``module`` is older than LandLearn's minimum (None: new enough, or
    not installed): a Debian apt torch 1.13 imported, then failed deep inside a run."""
    from importlib.metadata import PackageNotFoundError, version

    top = module.split(".")[0]
    dist = re.split(r"[<>=!\s]", PIP_REQUIREMENTS.get(top, top))[0]
    try:
        have = version(dist)
    except PackageNotFoundError:
        return None
    why = unsupported(top, have)
    floor = re.search(r">=\s*([0-9][0-9.]*)", PIP_REQUIREMENTS.get(top, ""))
    if why and floor and _numbers(have) < _numbers(floor.group(1)):
        return f"{dist} {have} is older than {floor.group(1)}, the oldest LandLearn works with"
    return None


def require(module: str) -> ModuleType:
    """Import ``module`` or raise MissingDependency naming the exact install command."""
    _keep_triton_out()  # whatever imports torch, directly or not
    top = module.split(".")[0]  # skops.io is installed as skops
    old = too_old(top)
    if old:
        raise MissingDependency(re.split(r"[<>=!]", PIP_REQUIREMENTS.get(top, top))[0],
                                install_command(top), reason=old)
    try:
        if top == "skops":
            return import_skops(module)
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(
            re.split(r"[<>=!]", PIP_REQUIREMENTS.get(top, top))[0],
            install_command(top),
            reason=str(exc),
        ) from exc
    except Exception as exc:  # noqa: BLE001 - installed, but it will not load
        # a DLL Windows cannot load (OSError: [WinError 126] ... c10.dll), a torchvision
        # built for another torch (RuntimeError): said as such, with the command that
        # installs a working release, not as a bug in LandLearn
        first = (str(exc).splitlines() or [""])[0][:200]
        raise MissingDependency(
            re.split(r"[<>=!]", PIP_REQUIREMENTS.get(top, top))[0],
            # that package alone: its dependencies (numpy, whose files QGIS holds open on
            # Windows; gigabytes of CUDA wheels for torch) stay as they are
            install_command(top, pin_numpy=False) + " --force-reinstall --no-deps",
            reason=f"it is installed but cannot be loaded ({type(exc).__name__}: {first})",
        ) from exc


GDAL_BINDINGS = ("sudo apt install python3-gdal    (Debian, Ubuntu: GDAL's Python bindings "
                 "for the system's GDAL; a venv sees them when made with "
                 "--system-site-packages)\n    or: conda install -c conda-forge gdal "
                 "(QGIS's own Python has them)")


def require_gdal() -> None:
    """Refuse, before any work, a Python without GDAL's bindings: the labels, class-name
    sidecars and VRTs go through them. pip cannot install them by name (they must match
    the system's GDAL), so rasterio's wheel alone, which a Dask worker needs, is not
    enough for a script; a pip-only install classified a whole map, then failed on
    'No module named osgeo' with nothing written (a sweep, stop 71). Workers never call
    this."""
    try:
        importlib.import_module("osgeo.gdal")
    except ImportError as exc:
        raise MissingDependency("osgeo", GDAL_BINDINGS, reason=str(exc)[:200]) from None
    except Exception as exc:  # noqa: BLE001 - installed, but its library will not load
        raise MissingDependency("osgeo", GDAL_BINDINGS, reason=f"it is installed but cannot "
                                f"be loaded ({type(exc).__name__}: {str(exc)[:160]})") from None


def missing_packages() -> list[str]:
    """Import names of the engine packages that are not installed, found without importing
    them (so the check is instant and cannot disturb QGIS)."""
    import importlib.util

    return [m for m in PIP_REQUIREMENTS if importlib.util.find_spec(m) is None]


TORCH_STACK = ("torch", "torchvision", "segmentation_models_pytorch")


def light_install_hint(missing: list[str]) -> str | None:
    """For users who only classify with deep models from others: ONNX Runtime and onnx
    are enough (about 100 MB where the torch stack takes several GB). None when it does not
    apply."""
    if not any(m in TORCH_STACK for m in missing):
        return None
    if "onnxruntime" in missing or "onnx" in missing:
        # onnx too: every graph is parsed and checked before ONNX Runtime loads it
        return ("Only classifying with deep models trained elsewhere? onnxruntime and onnx run "
                "them (about 100 MB instead of several GB for torch): "
                f"{install_command('onnxruntime', 'onnx')}")
    return ("Deep models with an ONNX graph (trained with onnx installed) already classify on "
            "ONNX Runtime; "
            "torch is needed to train, and for older packages.")


def is_installed(module: str) -> bool:
    """Whether ``module`` can be imported, asked without importing it (a module blocked in
    sys.modules, or one whose finder refuses it, counts as missing)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def is_available(module: str) -> bool:
    try:
        require(module)
    except MissingDependency:
        return False
    return True
