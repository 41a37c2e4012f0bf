"""Chips of the Sentinel-2 sample and a model trained on them, shared by the deep tests."""

import pytest


@pytest.fixture(scope="session")
def chips(sample, tmp_path_factory):
    """64 px chips of the Sentinel-2 sample with its sparse OSM labels (8 classes)."""
    from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
    from landlearn.core.labels.base import LabelConfig

    s2 = sample / "s2_osm_sparse"
    out = tmp_path_factory.mktemp("train") / "chips"
    export_training_data(ExportConfig(str(s2 / "s2l1c_10bands_10m_subset.tif"),
                                      LabelConfig(str(s2 / "osm_landuse_subset.gpkg"),
                                                  class_field="fclass"),
                                      str(out), tile_size_x=64, tile_size_y=64, stride_x=32,
                                      stride_y=32))
    return out


@pytest.fixture(scope="session")
def trained(chips, tmp_path_factory):
    """A resnet18 U-Net trained 2 epochs on ``chips``, with an int8 graph:
    (package, TrainResult, RecordingProgress)."""
    pytest.importorskip("torch")
    pytest.importorskip("segmentation_models_pytorch")
    from landlearn.core.deep.train_deep_learning_model import TrainConfig, train_model
    from landlearn.core.progress import RecordingProgress

    out = tmp_path_factory.mktemp("model") / "s2.dlpk"
    progress = RecordingProgress()
    result = train_model(TrainConfig((str(chips),), str(out), backbone="resnet18", epochs=2,
                                     batch_size=16, learning_rate=3e-3, validation_percent=20,
                                     device="cpu", quantize=True, ensemble_size=1), progress)
    return out, result, progress
