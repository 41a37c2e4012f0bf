"""runtime.triton_gate: triton is let in only where it cannot clash with another LLVM, and
the reason it is not is said in words."""

import os
import subprocess
import sys
import textwrap

import pytest

from landlearn.core.runtime import triton_gate
from landlearn.core.runtime.triton_gate import DESKTOP_FLAG, triton_blocked


@pytest.fixture
def gate(monkeypatch):
    monkeypatch.delenv(DESKTOP_FLAG, raising=False)
    monkeypatch.setattr(triton_gate.sys, "modules", dict(sys.modules))
    monkeypatch.setitem(triton_gate.sys.modules, "triton", None)  # as torch's import leaves it
    monkeypatch.setattr(triton_gate.sys, "platform", "linux")
    return monkeypatch


def test_qgis_desktop_keeps_triton_out(gate):
    gate.setattr(triton_gate, "_installed", lambda: True)
    gate.setenv(DESKTOP_FLAG, str(os.getpid()))
    assert "QGIS desktop" in triton_blocked() and "qgis_process" in triton_blocked()


def test_another_llvm_in_the_process_keeps_it_out(gate):
    gate.setattr(triton_gate, "_installed", lambda: True)
    gate.setattr(triton_gate, "_other_llvm_loaded", lambda: True)
    assert "another LLVM" in triton_blocked()
    gate.setattr(triton_gate, "_other_llvm_loaded", lambda: False)
    assert triton_blocked() is None


def test_missing_triton_and_other_systems_are_named(gate):
    gate.setattr(triton_gate, "_installed", lambda: False)
    assert "not installed" in triton_blocked()
    gate.setattr(triton_gate.sys, "platform", "win32")
    assert "Linux" in triton_blocked()


def test_installed_looks_on_the_path_past_the_block(gate):
    """Found on the path, without lifting the None in sys.modules (another thread could
    import triton through that gap)."""
    seen = []

    def find(name):
        seen.append(triton_gate.sys.modules.get("triton", "absent"))
        return object()

    gate.setattr(triton_gate.importlib.machinery.PathFinder, "find_spec", find)
    triton_gate._installed.cache_clear()
    try:
        assert triton_gate._installed() is True and seen == [None]
    finally:
        triton_gate._installed.cache_clear()


def test_the_desktop_flag_belongs_to_its_own_process(gate):
    """A process QGIS desktop starts (qgis_process, a Dask worker) inherits the variable
    with another process's id: triton is not kept out of it."""
    gate.setattr(triton_gate, "_installed", lambda: True)
    gate.setattr(triton_gate, "_other_llvm_loaded", lambda: False)
    gate.setenv(DESKTOP_FLAG, str(os.getpid() + 1))
    assert triton_blocked() is None
    gate.setenv(DESKTOP_FLAG, str(os.getpid()))
    assert "QGIS desktop" in triton_blocked()


def test_an_llvm_in_the_maps_is_seen(monkeypatch, tmp_path):
    maps = tmp_path / "maps"
    maps.write_text("7f00-7f10 r-xp 0 08:01 1 /usr/lib/x86_64-linux-gnu/libLLVM-15.so.1\n")
    real = open

    def fake(path, *args, **kw):
        return real(maps if path == "/proc/self/maps" else path, *args, **kw)

    monkeypatch.setattr("builtins.open", fake)
    assert triton_gate._other_llvm_loaded() is True
    maps.write_text("7f00-7f10 r-xp 0 08:01 1 /venv/llvmlite/binding/libllvmlite.so\n")
    assert triton_gate._other_llvm_loaded() is False  # numba's LLVM is linked in, hidden


def test_the_maps_of_this_process_are_read():
    """Linux: a process that loaded no LLVM library says so (a real /proc/self/maps)."""
    if not os.path.exists("/proc/self/maps"):
        pytest.skip("no /proc")
    code = textwrap.dedent("""
        from landlearn.core.runtime.triton_gate import _other_llvm_loaded
        print(_other_llvm_loaded())
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert done.stdout.strip() == "False", done.stderr


def test_load_triton_lifts_the_block_torch_left():
    pytest.importorskip("torch")
    if not triton_gate._installed():
        pytest.skip("triton is not installed")
    code = textwrap.dedent("""
        from landlearn.core.runtime.deps import require
        import sys
        require("torch")
        assert sys.modules["triton"] is None  # kept out of torch's import
        from landlearn.core.runtime.triton_gate import load_triton, triton_blocked
        assert triton_blocked() is None, triton_blocked()
        print(load_triton().__name__, sys.modules["triton"] is not None)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    env.pop(DESKTOP_FLAG, None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.stdout.strip() == "triton True", done.stderr[-2000:]
