"""How much memory a computation may still take: free memory of a torch CUDA device, the
system's available memory for the CPU, and a Dask worker's own limit. Shared by Classify
Pixels' pass check (classify.memory) and Train Deep Learning Model's step check
(deep.train_memory); None wherever nothing can say, and the callers then refuse nothing.
"""

from __future__ import annotations

import os
import sys

__all__ = ["HEADROOM", "available_memory", "cgroup_room", "worker_memory_room"]

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
    free = _system_available()
    room = cgroup_room()
    where = "of memory available"
    if room is not None and (free is None or room < free):
        free, where = room, "of memory available to this process's cgroup (its container's or job's limit)"
    if free is None:
        return None
    # a small machine keeps a quarter aside rather than the whole GiB: 900 MB free left
    # -0.1 GB and refused a pass of 28 MB (review, stop 69)
    return free - min(HEADROOM, max(free, 0) // 4), where


def _system_available() -> int | None:
    """The system's available memory (what the kernel can give without swapping)."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        return int(psutil.virtual_memory().available)
    if sys.platform.startswith("linux") and os.path.exists("/proc/meminfo"):
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    return None


_PROC_CGROUP = "/proc/self/cgroup"
_CGROUP_ROOT = "/sys/fs/cgroup"
_UNLIMITED = 1 << 60  # cgroup v1 writes 'no limit' as about 2**63


def cgroup_room() -> int | None:
    """What the memory cgroups above this process (a Docker or Kubernetes container, a
    Slurm job) still let it take: the least, over its cgroup and those above it, of the
    limit less what is used (page cache the kernel can drop aside); None without a
    limit. The system's available memory counts the whole host: in a 4 GB container on a
    64 GB host a 10 GB pass was let through and the kernel killed qgis_process unsaid
    (review, stop 69)."""
    try:
        with open(_PROC_CGROUP) as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    rooms = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":  # cgroup v2
            base, files = _CGROUP_ROOT, ("memory.max", "memory.current", "inactive_file")
        elif "memory" in controllers.split(","):  # cgroup v1
            base = os.path.join(_CGROUP_ROOT, "memory")
            files = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
        else:
            continue
        for folder in _cgroup_folders(base, path):
            limit, used = _read_int(os.path.join(folder, files[0])), \
                _read_int(os.path.join(folder, files[1]))
            if limit is None or used is None or limit >= _UNLIMITED:
                continue
            dropped = _stat_value(os.path.join(folder, "memory.stat"), files[2])
            rooms.append(limit - max(used - dropped, 0))
    return min(rooms) if rooms else None


def _cgroup_folders(base: str, path: str) -> list[str]:
    """The cgroup's folder and those above it up to the mount (inside a container the
    mount is often the container's own cgroup, and the host's path is not there)."""
    folders, rel = [], path.strip("/")
    while True:
        folder = os.path.join(base, rel) if rel else base
        if os.path.isdir(folder):
            folders.append(folder)
        if not rel:
            return folders
        rel = os.path.dirname(rel)


def _read_int(path: str) -> int | None:
    try:
        with open(path) as fh:
            text = fh.read(64).strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # cgroup v2 writes 'max' for no limit


def _stat_value(path: str, key: str) -> int:
    try:
        with open(path) as fh:
            for line in fh:
                name, _, value = line.partition(" ")
                if name == key and value.strip().isdigit():
                    return int(value)
    except OSError:
        pass
    return 0


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
