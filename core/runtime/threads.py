"""How many threads LandLearn's own thread pools use for compute (tree walks, SVM kernels).

All the cores by default. A Dask worker process holds them to its own thread count
(classify.distributed.worker), so that several single-thread workers on one machine do not
each run a pool as wide as the machine; LANDLEARN_THREADS sets it for a whole process
(benchmarks comparing one thread with one worker use it).
"""

from __future__ import annotations

import os

_limit: int | None = None


def compute_threads() -> int:
    return limited_threads() or max(1, os.cpu_count() or 1)


def limited_threads() -> int | None:
    """The thread count a Dask worker or LANDLEARN_THREADS set, or None (the libraries'
    own defaults: ONNX Runtime takes the physical cores, not os.cpu_count())."""
    if _limit is not None:
        return _limit
    try:
        env = int(os.environ.get("LANDLEARN_THREADS", "0"))
    except ValueError:
        env = 0
    return env if env > 0 else None


def limit_compute_threads(threads: int | None) -> None:
    """Hold the pools to ``threads`` (None: back to the default)."""
    global _limit
    _limit = None if threads is None else max(1, int(threads))
