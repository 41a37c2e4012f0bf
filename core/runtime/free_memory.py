"""How much memory a computation may still take: free memory of a torch CUDA device, the
system's available memory for the CPU, and a Dask worker's own limit. Shared by Classify
Pixels' pass check (classify.memory) and Train Deep Learning Model's step check
(deep.train_memory); None wherever nothing can say, and the callers then refuse nothing.
"""

from __future__ import annotations

import os
import sys

__all__ = ["HEADROOM", "available_memory", "worker_memory_room"]

# what the process itself, the reader and the writer keep in RAM beside the computation
# (not on a GPU, where the computation is alone)
HEADROOM = 1 << 30


def available_memory(device) -> tuple[int, str] | None:
    """(bytes free, where) for a pass on ``device``: free memory of a torch CUDA device
    (with what torch's cache holds unused, which it hands back to the pass), or the
    system's available memory for the CPU (``device`` None or of type cpu); None where
    nothing can say (ONNX Runtime's CUDA provider, whose free memory torch need not be
    there to read): then nothing is refused, and the log says so."""
    if device is not None and getattr(device, "type", None) == "cuda":
        if type(device).__name__ != "device":  # ONNX Runtime's: no torch device
            return None
        import torch

        free, _total = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(free + cached), f"free on {torch.cuda.get_device_name(device)}"
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        return int(psutil.virtual_memory().available) - HEADROOM, "of memory available"
    if sys.platform.startswith("linux") and os.path.exists("/proc/meminfo"):
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 - HEADROOM, "of memory available"
    return None


def worker_memory_room() -> int | None:
    """What this Dask worker may still take before its nanny restarts it (its memory limit
    less what it holds), or None outside a worker or without a limit. Local workers each
    get a share of the machine: the machine's free memory alone let every one of them
    start a pass that together they could not hold (review, stop 68)."""
    try:
        from distributed import get_worker

        limit = get_worker().memory_manager.memory_limit
    except (ImportError, ValueError, AttributeError):
        return None
    if not limit:
        return None
    import psutil  # a dependency of distributed

    # the nanny terminates a worker at 95% of its limit
    return int(0.95 * int(limit)) - int(psutil.Process().memory_info().rss)
