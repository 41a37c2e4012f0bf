"""Will a network pass fit? The memory a deep model's batch of tiles takes, against what the
device has free.

tiling.py bounds a tile's bands and class scores; the network's activations are far
larger (a U-Net holds every encoder stage for its skip connections): TILE_SIZE=8192 with
a U-Net asked ~30 GB of a 24 GB machine and the kernel killed qgis_process with no
message. The bytes per pixel are measured (bench/bench_activation_memory.py, a pass's
peak growth from 256 to 1024 px tiles, float32, CPU) and taken at their low end, so a
pass that fits is never refused; a pass refused would not have fitted.
"""

from __future__ import annotations

import os
import sys

from ..errors import InputError
from ..runtime.device import may_have_cuda
from .tiling import tile_bytes

__all__ = ["PASS_BYTES_PER_PX", "available_memory", "fit_batch", "local_cpu",
           "worker_memory_room"]

# Peak growth per tile pixel of one network pass, per architecture: 70% of the least
# measured (rounded down to tens) over resnet18/50, efficientnet-b0 and mobilenet_v2 from
# 256 to 1024 px tiles (4 bands, 7 classes; BENCHMARKS.md, "memory of a network pass"), as
# larger tiles cost a little less per pixel (U-Net resnet18: 619 B/px to 1024 px, 483 from
# 1024 to 2048). An architecture not listed (an ArcGIS model) takes the least of them.
PASS_BYTES_PER_PX = {
    "unet": 390, "unetplusplus": 550, "deeplabv3plus": 420, "fpn": 370, "pspnet": 150,
    "linknet": 300, "manet": 300,
}
# what the process itself, the reader and the writer keep in RAM beside the pass (not on
# a GPU, where the pass is alone)
HEADROOM = 1 << 30


def pass_bytes(tile: int, batch: int, info) -> int:
    per_px = PASS_BYTES_PER_PX.get((info.architecture or "").lower(),
                                   min(PASS_BYTES_PER_PX.values()))
    return batch * (tile * tile * per_px + tile_bytes(tile, info))


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


def fit_batch(config, info, device, tile: int, pad: int, batch: int, progress,
              share: int = 1, cap: int | None = None) -> int:
    """``batch`` (an automatic one lowered to fit), or an InputError naming TILE_SIZE or
    BATCH_SIZE and what would fit, where one pass of ``batch`` tiles of ``tile`` px cannot
    fit in the memory left: a ``share`` of it where that many local workers pass at once,
    at most ``cap`` (a Dask worker's own memory limit)."""
    if info.kind == "classical":
        return batch
    free = available_memory(device)
    if free is None:
        progress.info("the free memory of this device is not known: the network pass's "
                      "memory is not checked")
        return batch
    room, where = free[0] // max(1, share), free[1]
    if cap is not None:
        room = min(room, cap)
    shown = (f"{room / 1e9:.1f} GB {where}" + (f" for each of {share} workers" if share > 1
                                               else ""))
    if pass_bytes(tile, batch, info) <= room:
        return batch
    if config.batch_size is None:
        while batch > 1 and pass_bytes(tile, batch, info) > room:
            batch -= 1
        if pass_bytes(tile, batch, info) <= room:
            progress.info(f"batch lowered to {batch} tiles: more would not fit in the {shown}")
            return batch
    need = pass_bytes(tile, batch, info)
    tiles = room // pass_bytes(tile, 1, info)
    least = max(32, -(-(2 * pad + 16) // 32) * 32)  # geometry's least tile at this padding
    if batch > 1 and tiles >= 1:  # an explicit BATCH_SIZE: fewer tiles fit
        what, advice = "batch_size", f"use a BATCH_SIZE of at most {tiles}"
    else:
        fits = tile
        while fits > least and pass_bytes(fits, 1, info) > room:
            fits -= 32
        what = "tile_size"
        if pass_bytes(fits, 1, info) > room:  # not even the least tile: no size to offer
            advice = (f"no tile fits with PADDING {pad} px (the least is {least} px)"
                      if config.padding is not None else "no tile fits")
        else:
            advice = f"use a TILE_SIZE of at most {fits} px" + (
                " and BATCH_SIZE 1" if batch > 1 else "")
    raise InputError(what, f"one network pass over {batch} tile{'s' * (batch > 1)} of {tile} "
                     f"px takes about {need / 1e9:.1f} GB, and there are {shown}; {advice}, "
                     "or free memory (other programs, a GPU shared with others)")


def local_cpu(device: str | None) -> bool:
    """Whether ``device`` (DEVICE's text) runs on this machine's CPU, asked without
    importing torch: cpu, or auto where no CUDA GPU can be."""
    name = (device or "auto").strip().lower()
    return name == "cpu" or (name == "auto" and not may_have_cuda())


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

    return int(limit) - int(psutil.Process().memory_info().rss)
