"""What LandLearn will run on: package versions and the device, for the diagnostics tool.

The first thing to ask when "it does not work on my machine": which GDAL, which torch,
which device. Missing optional packages are reported with their install command rather
than raised, because this report is how users find out what to install.
"""

from __future__ import annotations

import importlib
import platform
import sys

from ..errors import MissingDependency
from .deps import (
    PIP_REQUIREMENTS,
    _keep_triton_out,
    install_command,
    light_install_hint,
    unsupported,
)
from .device import describe_device, resolve_device

_CORE_MODULES = ("numpy", "rasterio", "osgeo.gdal")


def _version(module: str) -> str | None:
    if module.split(".")[0] in ("torch", "torchvision", "segmentation_models_pytorch"):
        _keep_triton_out()
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] == module.split(".")[0]:
            return None  # the package itself is absent
        first = (str(exc).splitlines() or [""])[0][:160]  # one it needs is: broken
        return f"BROKEN ({type(exc).__name__}: {first})"
    except Exception as exc:  # noqa: BLE001 - installed but broken: what this report is for
        # a torchvision built for another torch (RuntimeError), a DLL Windows cannot load
        # (OSError): reported, not raised, or the report that would say so never came
        first = (str(exc).splitlines() or [""])[0][:160]
        return f"BROKEN ({type(exc).__name__}: {first})"
    if module == "osgeo.gdal":
        return mod.__version__
    return str(getattr(mod, "__version__", "unknown"))


def environment_report(device: str = "auto") -> dict:
    report: dict = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {},
        "missing": {},
    }
    for module in _CORE_MODULES + tuple(PIP_REQUIREMENTS):
        version = _version(module)
        if version and not version.startswith("BROKEN") and module in PIP_REQUIREMENTS:
            why = unsupported(module, version)
            version = f"UNSUPPORTED ({why})" if why else version
        report["packages"][module] = version
        if (version is None or version.startswith(("BROKEN", "UNSUPPORTED"))) and \
                module in PIP_REQUIREMENTS:
            report["missing"][module] = install_command(module)
    try:
        dev = resolve_device(device)
        report["device"] = str(dev)
        report["device_description"] = describe_device(dev)
    except MissingDependency as exc:
        report["device"] = None
        report["device_description"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - a torch that is installed but will not load
        report["device"] = None
        report["device_description"] = (f"torch cannot be loaded ({type(exc).__name__}: "
                                        f"{(str(exc).splitlines() or [''])[0][:160]})")
    report["onnxruntime_providers"] = _onnx_providers()
    return report


def _onnx_providers() -> list[str] | None:
    """ONNX Runtime's execution providers: where Classify Pixels' ONNX path runs (a light
    install with onnxruntime-gpu and no torch classifies on the GPU through it)."""
    try:
        import onnxruntime

        return list(onnxruntime.get_available_providers())
    except Exception:  # noqa: BLE001 - not installed, or broken: the package list says which
        return None


def format_report(report: dict) -> str:
    lines = [f"Python {report['python']} on {report['platform']}"]
    for module, version in report["packages"].items():
        lines.append(f"  {module:<28} {version or 'NOT INSTALLED'}")
    lines.append(f"Device: {report['device_description']}")
    if report.get("onnxruntime_providers"):
        lines.append("ONNX Runtime providers (Classify Pixels' ONNX path): "
                     + ", ".join(report["onnxruntime_providers"]))
    for module, cmd in report["missing"].items():
        lines.append(f"Missing {module}: install with  {cmd}")
    hint = light_install_hint(list(report["missing"]))
    if hint:
        lines.append(hint)
    return "\n".join(lines)


def bug_report(exc: BaseException) -> str:
    """The traceback of an unexpected error and the versions in use, for a bug report.

    Only modules already imported are named (importing torch now would take seconds and
    could fail for its own reasons); the device is the one torch already chose, if any.
    """
    import traceback

    lines = ["LandLearn bug report: please send everything below.",
             "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip(),
             f"Python {sys.version.split()[0]} on {platform.platform()}"]
    for module in _CORE_MODULES + tuple(PIP_REQUIREMENTS) + ("qgis.core",):
        mod = sys.modules.get(module)
        if mod is not None:
            version = getattr(mod, "__version__", None)
            if module == "qgis.core":
                version = getattr(getattr(mod, "Qgis", None), "QGIS_VERSION", None)
            lines.append(f"  {module}: {version or 'loaded'}")
    torch = sys.modules.get("torch")
    if torch is not None and getattr(torch, "cuda", None) is not None:
        lines.append(f"  CUDA available: {torch.cuda.is_available()}")
    return "\n".join(lines)
