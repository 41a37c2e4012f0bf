"""Importing skops without its two hidden costs.

skops builds its lists of trusted types when ``skops.io`` is imported:

- It walks every scikit-learn package, importing each one, torch's array-API adapter
  included. A classical model would then cost a 2 s torch import and bring torch into
  QGIS. The adapter is hidden while skops loads (the walk skips what fails to import)
  unless torch is already there.
- It names each numpy and scipy ufunc with ``skops.io._utils.whichmodule``. numpy 1.24's
  ufuncs have no ``__module__``, so each name is searched through every loaded module,
  with a warnings context entered and an error message formatted per module. That is
  ~140,000 look-ups: 0.74 s in a plain Python and 1.9 s beside QGIS's thousand modules,
  paid by the first classical model of a session. While skops.io loads, its whichmodule
  is wrapped by one that makes the same search (same modules, same order, same first
  match; a test compares them) with one warnings context per search and no message per
  miss.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

from .fast_paths import fast_paths

# scikit-learn's vendored array-API adapter for torch; importing it imports torch
_SKLEARN_TORCH_ADAPTER = "sklearn.externals.array_api_compat.torch"
_UTILS = "skops.io._utils"
_MISSING = object()


def fast_whichmodule(original):
    """skops' whichmodule(obj, name), searching the loaded modules more cheaply."""

    def whichmodule(obj, name: str) -> str:
        module_name = getattr(obj, "__module__", None)
        if module_name is not None or "." in name:
            return original(obj, name)  # no search, or a dotted path: skops' own way
        with warnings.catch_warnings():
            # as skops does for each module: numpy.core's aliases warn when read
            warnings.simplefilter("ignore", DeprecationWarning)
            for module_name, module in sys.modules.copy().items():
                if module_name in ("__main__", "__mp_main__") or module is None:
                    continue
                if name != "<locals>" and getattr(module, name, _MISSING) is obj:
                    return module_name
        return "__main__"

    whichmodule.__wrapped__ = original
    return whichmodule


class _PatchUtils(importlib.abc.MetaPathFinder):
    """Finds skops.io._utils as usual and wraps its whichmodule once it has run."""

    def find_spec(self, name, path, target=None):
        if name != _UTILS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            if callable(getattr(module, "whichmodule", None)):
                module.whichmodule = fast_whichmodule(module.whichmodule)

        spec.loader.exec_module = exec_module
        return spec


def import_skops(module: str) -> ModuleType:
    """``importlib.import_module(module)`` for a skops module, without the costs above."""
    if "skops.io" in sys.modules:
        return importlib.import_module(module)
    hide_adapter = "torch" not in sys.modules and _SKLEARN_TORCH_ADAPTER not in sys.modules
    # the adapter is hidden whatever the skops series (a plain import rule); the search is
    # wrapped only on the tested series (another one's private module search may differ)
    finder = _PatchUtils() if fast_paths("skops") else None
    if finder:
        sys.meta_path.insert(0, finder)
    if hide_adapter:
        sys.modules[_SKLEARN_TORCH_ADAPTER] = None  # type: ignore[assignment]
    try:
        return importlib.import_module(module)
    finally:
        if finder:
            sys.meta_path.remove(finder)
        if hide_adapter and sys.modules.get(_SKLEARN_TORCH_ADAPTER, 0) is None:
            del sys.modules[_SKLEARN_TORCH_ADAPTER]
