"""Package faces that import their modules on first use (PEP 562).

QGIS loads every enabled plugin when it starts, and each Processing algorithm builds its
parameters then. The parameters need a few names (the classifier types, the architectures,
the default size limit), and an eager face would import the whole package behind them, with
numpy, rasterio and GDAL's bindings, on every QGIS start whether LandLearn runs or not. A
lazy face keeps ``from landlearn.core.geo import Grid`` working and costs nothing until a
name is asked for.

Only for packages where no exported name equals a module's name: once that module is
imported, Python sets the package attribute to the module and the face is never asked.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

__all__ = ["lazy_face"]


def lazy_face(package: str, names: dict[str, str]) -> tuple[list[str], Callable, Callable]:
    """(``__all__``, ``__getattr__``, ``__dir__``) for ``package`` whose ``names`` map each
    exported name to the module (relative, e.g. ".grid") that defines it."""
    clash = sorted(n for n, m in names.items() if m.lstrip(".") == n)
    if clash:
        raise ImportError(f"{package}: names equal to their module's ({', '.join(clash)}) "
                          "cannot be loaded lazily")

    def __getattr__(name: str):  # noqa: N807 (PEP 562's name)
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)  # asked once
        return value

    def __dir__() -> list[str]:  # noqa: N807
        return sorted(set(vars(sys.modules[package])) | set(names))

    return sorted(names), __getattr__, __dir__
