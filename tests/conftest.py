"""Shared test setup: the plugin importable as ``landlearn``, and the real data sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from paths import SAMPLE, SHARED, ensure_importable

ensure_importable()


@pytest.fixture(scope="session")
def shared() -> Path:
    """../shared/data: the real data sets; tests that need them skip when absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED


@pytest.fixture(scope="session")
def sample() -> Path:
    assert SAMPLE.is_dir(), "sample_data/ is part of the repo and must be present"
    return SAMPLE
