"""A random forest of the nc_landsat7 samples, shared by the forest and forest-store tests."""

import pytest


@pytest.fixture(scope="session")
def nc_forest(nc_samples):
    """(StandardScaler + 40-tree forest grown over grouped folds, the scene's valid pixels)."""
    pytest.importorskip("sklearn")
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from landlearn.core.classical.cv import grouped_folds
    from landlearn.core.classical.forest import fit_forest_with_folds
    from landlearn.core.classical.train_classifier import ClassicalConfig
    from landlearn.core.labels.base import LabelConfig
    from landlearn.core.progress import NullProgress

    s, pixels = nc_samples
    config = ClassicalConfig("unused.tif", LabelConfig("unused.gpkg"), "unused.dlpk", trees=40)
    scaler = StandardScaler().fit(s.x)
    forest, _, _, _ = fit_forest_with_folds(config, scaler.transform(s.x), s.y,
                                         grouped_folds(config, s, NullProgress()), NullProgress())
    return Pipeline([("standardscaler", scaler), ("randomforestclassifier", forest)]), pixels
