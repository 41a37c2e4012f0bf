"""The compute-thread budget of LandLearn's own pools."""

import os

from landlearn.core.runtime import threads


def test_the_budget_is_the_cores_unless_held(monkeypatch):
    monkeypatch.delenv("LANDLEARN_THREADS", raising=False)
    assert threads.compute_threads() == (os.cpu_count() or 1)
    monkeypatch.setenv("LANDLEARN_THREADS", "1")
    assert threads.compute_threads() == 1
    monkeypatch.setenv("LANDLEARN_THREADS", "lots")
    assert threads.compute_threads() == (os.cpu_count() or 1)
    try:
        threads.limit_compute_threads(3)  # what a Dask worker with 3 threads sets
        assert threads.compute_threads() == 3
    finally:
        threads.limit_compute_threads(None)
    assert threads.compute_threads() == (os.cpu_count() or 1)

