"""Whether LandLearn's own GPU kernels (Triton) may load in this process.

torch is imported with triton kept out (deps._keep_triton_out): triton's library carries
its own LLVM and registers LLVM's command-line options when it loads, and where another
LLVM is already loaded (Mesa's, inside QGIS desktop) that registration aborts the process.
Only Segment's joint mean shift on CUDA needs triton, so it is let in there alone, in
processes where no other LLVM can be: not QGIS desktop (the plugin says so when its GUI
starts, since Mesa may load later, when a 3D view opens), and not a process that already
has another LLVM mapped.
"""

from __future__ import annotations

import functools
import importlib
import importlib.machinery
import os
import sys

__all__ = ["DESKTOP_FLAG", "triton_blocked", "load_triton"]

# set by the plugin's GUI (QGIS desktop) to its process id: qgis_process, scripts and Dask
# workers leave it out, and a process QGIS desktop starts inherits another process's id
DESKTOP_FLAG = "LANDLEARN_NO_TRITON"


def _other_llvm_loaded() -> bool:
    """Whether a shared LLVM library (Mesa's libLLVM) is mapped into this process (Linux)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            return any("libLLVM" in line for line in maps)
    except OSError:
        return False


def triton_blocked() -> str | None:
    """None when triton can be loaded here; else why not, in words for the log."""
    if os.environ.get(DESKTOP_FLAG) == str(os.getpid()):  # not a child process of it
        return ("inside QGIS desktop triton's LLVM would clash with the graphics driver's; "
                "run Segment from qgis_process or a Python script for the GPU kernel")
    if "triton" in sys.modules and sys.modules["triton"] is not None:
        return None
    if not sys.platform.startswith("linux"):
        return "triton (the GPU kernel's compiler) ships with torch on Linux only"
    if not _installed():
        return "triton (the GPU kernel's compiler, part of torch's Linux wheels) is not installed"
    if _other_llvm_loaded():
        return "another LLVM is loaded in this process, and triton's would clash with it"
    return None


@functools.cache
def _installed() -> bool:
    """Whether triton is installed, found on the path without touching sys.modules (where
    torch's import left the None that keeps it out)."""
    try:
        return importlib.machinery.PathFinder.find_spec("triton") is not None
    except (ImportError, ValueError):
        return False


@functools.cache
def load_triton():
    """Import triton (after ``triton_blocked`` said None), lifting the block torch's
    import put on it."""
    if sys.modules.get("triton", False) is None:
        del sys.modules["triton"]
    return importlib.import_module("triton")
