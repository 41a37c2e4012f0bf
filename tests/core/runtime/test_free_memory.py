"""Free memory as the checks before a pass or a training step read it."""

from landlearn.core.runtime import free_memory


def test_the_free_memory_is_read_from_the_system_and_unknown_where_nothing_says():
    """The CPU's from the system, less the process's headroom; ONNX Runtime's CUDA device
    (no torch device: torch may be absent, or CPU-only) is not known, not a crash
    (review, stop 68); outside a Dask worker there is no worker limit."""
    from types import SimpleNamespace

    free = free_memory.available_memory(None)
    assert free is not None and free[1] == "of memory available"
    assert free_memory.available_memory(SimpleNamespace(type="cpu"))[1] == "of memory available"
    assert free_memory.available_memory(SimpleNamespace(type="cuda")) is None
    assert free_memory.worker_memory_room() is None
