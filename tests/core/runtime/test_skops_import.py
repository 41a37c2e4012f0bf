"""The cheaper module search installed while skops loads names every object as skops'
own search does."""

import sys
import types

import numpy as np
import pytest

from landlearn.core.runtime.skops_import import fast_whichmodule

pytest.importorskip("skops")


def _original():
    from skops.io import _utils

    return getattr(_utils.whichmodule, "__wrapped__", _utils.whichmodule)


def test_every_numpy_and_scipy_ufunc_gets_skops_own_module_name():
    import scipy.special

    original = _original()
    fast = fast_whichmodule(original)
    ufuncs = [getattr(m, a) for m in (np, scipy.special) for a in dir(m)
              if isinstance(getattr(m, a), np.ufunc)]
    assert len(ufuncs) > 300
    for u in ufuncs:
        assert fast(u, u.__name__) == original(u, u.__name__), u.__name__


def test_first_loaded_module_wins_and_unknown_objects_are_main(monkeypatch):
    original = _original()
    fast = fast_whichmodule(original)

    class NoModule:
        """An object without __module__, as numpy 1.24's ufuncs are."""

        __slots__ = ()

        def __getattribute__(self, name):
            if name == "__module__":
                raise AttributeError(name)
            return object.__getattribute__(self, name)

    thing = NoModule()
    assert fast(thing, "thing") == original(thing, "thing") == "__main__"
    first, second = types.ModuleType("ll_first"), types.ModuleType("ll_second")
    first.thing = second.thing = thing
    monkeypatch.setitem(sys.modules, "ll_first", first)
    monkeypatch.setitem(sys.modules, "ll_second", second)
    assert fast(thing, "thing") == original(thing, "thing") == "ll_first"
    # objects that know their module, and dotted names, are skops' own business
    assert fast(np.ndarray, "ndarray") == "numpy"
    assert fast(np.linalg.norm, "linalg.norm") == original(np.linalg.norm, "linalg.norm")
