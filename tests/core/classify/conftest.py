"""A small deep model of the nc_landsat7 sample, shared by the classify tests."""

import pytest


@pytest.fixture(scope="session")
def model(tmp_path_factory):
    """A resnet18 U-Net trained for 3 epochs on nc_landsat7 chips: its package path."""
    pytest.importorskip("segmentation_models_pytorch")
    from small_models import nc_unet

    return nc_unet(tmp_path_factory.mktemp("nc5"), epochs=3)
