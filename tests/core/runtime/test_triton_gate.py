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
    gate.setenv(DESKTOP_FLAG, "1")
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


def test_installed_looks_past_the_block_and_puts_it_back(gate):
    gate.setattr(triton_gate.importlib.util, "find_spec", lambda name: object())
    assert triton_gate._installed() is True
    assert triton_gate.sys.modules["triton"] is None  # the block is back for torch


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
