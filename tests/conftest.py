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


@pytest.fixture(scope="session")
def nc_samples(sample):
    """300 samples per class from the nc_landsat7 polygons, and the scene's valid pixels:
    what the classical engines are fitted on and checked over."""
    import numpy as np
    import rasterio

    from landlearn.core.classical.samples import collect_samples
    from landlearn.core.labels.base import LabelConfig

    nc = sample / "nc_landsat7"
    image = str(nc / "landsat_multiband.tif")
    s = collect_samples(image, LabelConfig(str(nc / "landsat96_polygons.shp"), class_field="id"),
                        max_per_class=300, seed=1)
    with rasterio.open(image) as ds:
        data = ds.read()
        pixels = data.reshape(data.shape[0], -1).T.astype(np.float64)
        pixels = pixels[np.all(pixels != ds.nodata, axis=1)]
    return s, pixels


@pytest.fixture(params=["compiled", "numpy"])
def graph_engine(request, monkeypatch) -> str:
    """Both ways Segment groups pixels and merges segments: numba's compiled loops
    (segment.graph_jit) and graph.py's numpy (what runs where numba is not installed)."""
    from landlearn.core.segment import graph

    if not _compiled_or_skip(request.param):
        monkeypatch.setattr(graph, "_jit", lambda: None)
    return request.param


@pytest.fixture(params=["compiled", "scikit-learn"])
def tree_engine(request, monkeypatch) -> str:
    """Both walks of forest and boosting trees: numba's compiled one and scikit-learn's
    (what runs where numba is not installed)."""
    if not _compiled_or_skip(request.param):
        monkeypatch.setenv("LANDLEARN_NO_NUMBA", "1")
    return request.param


def _compiled_or_skip(engine: str) -> bool:
    """Whether ``engine`` is the compiled one; skips where numba is not installed."""
    from landlearn.core.classical.trees.kernel import numba_version

    if engine == "compiled" and numba_version() is None:
        pytest.skip("numba is not installed")
    return engine == "compiled"
