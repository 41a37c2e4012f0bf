"""Fixtures shared by the core tests of several packages (classical, classify)."""

import pytest


@pytest.fixture(scope="session")
def rf(sample, tmp_path_factory):
    """A random forest package trained on the nc_landsat7 polygons with the defaults:
    (package path, ClassicalResult, RecordingProgress of its training)."""
    pytest.importorskip("sklearn")
    pytest.importorskip("skops")
    from landlearn.core.classical.train_classifier import ClassicalConfig, train_classical
    from landlearn.core.labels.base import LabelConfig
    from landlearn.core.progress import RecordingProgress

    nc = sample / "nc_landsat7"
    polys = LabelConfig(str(nc / "landsat96_polygons.shp"), class_field="id",
                        class_name_field="label")
    out = tmp_path_factory.mktemp("rf") / "rf.dlpk"
    progress = RecordingProgress()
    result = train_classical(ClassicalConfig(str(nc / "landsat_multiband.tif"), polys, str(out)),
                             progress)
    return out, result, progress
