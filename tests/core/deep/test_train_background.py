"""Train Deep Learning Model with BACKGROUND_VALUE: the ground between sparse labels as a
class of its own, as arcgis.learn trains ArcGIS Pro's Classified Tiles."""

import numpy as np
import pytest
import rasterio

from small_models import quick_config


@pytest.mark.heavy
def test_a_model_of_features_on_a_background_maps_the_background(chips, sample, tmp_path):
    """The s2 sample's OSM polygons label a minority of each chip: without a background
    every pixel of the map is one of the 8 land uses; with BACKGROUND_VALUE 99 the ground
    between them is a class, in the package, the report's classes and the map."""
    pytest.importorskip("torch")
    pytest.importorskip("segmentation_models_pytorch")
    from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
    from landlearn.core.deep.train_deep_learning_model import train_model
    from landlearn.core.model_package.format import read_package

    out = tmp_path / "background.dlpk"
    result = train_model(quick_config(chips, out, epochs=1, background_value=99))
    info = read_package(str(out)).landlearn
    assert info["class_values"][-1] == 99 and len(info["class_values"]) == 9
    assert info["training"]["parameters"]["background_value"] == 99
    assert result.accuracy.names[-1] == "background"
    image = sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif"
    classify_pixels(ClassifyConfig(str(image), str(out), str(tmp_path / "map.tif"),
                                   device="cpu"))
    with rasterio.open(tmp_path / "map.tif") as ds:
        mapped = ds.read(1)
    assert 0.05 < np.mean(mapped == 99) < 0.95  # the ground between the land uses
