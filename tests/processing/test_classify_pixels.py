"""Classify Pixels through processing.run and qgis_process.bin: identical, styled maps."""

import os

import numpy as np
import pytest
import rasterio

from qgis_cli import QP, qgis_process
from small_models import nc_unet

pytest.importorskip("segmentation_models_pytorch")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return nc_unet(tmp_path_factory.mktemp("cp"), epochs=1, batch_size=8, stride=64,
                   validation_percent=20)


@pytest.mark.skipif(QP is None, reason="qgis_process.bin is not installed")
def test_processing_run_and_qgis_process_give_the_same_styled_map(provider, sample, model,
                                                                   tmp_path):
    import processing
    from qgis.core import QgsRasterLayer

    image = str(sample / "nc_landsat7" / "landsat_multiband.tif")
    params = {"INPUT_RASTER": image, "MODEL": model, "TILE_SIZE": 128, "PADDING": 32,
              "DEVICE": "cpu", "BLEND": "weighted"}
    cli, py = tmp_path / "cli.tif", tmp_path / "py.tif"
    out = qgis_process("run", "landlearn:classifypixels", "--",
                       *[f"{k}={v}" for k, v in params.items()], f"OUTPUT={cli}",
                       f"OUTPUT_CONFIDENCE={tmp_path / 'cli_conf.tif'}")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "MPix/s" in out.stdout and "developed" in out.stdout
    res = processing.run("landlearn:classifypixels", {**params, "OUTPUT": str(py),
                                                      "OUTPUT_CONFIDENCE": str(tmp_path / "py_conf.tif")})
    assert res["OUTPUT"] == str(py) and res["OUTPUT_PROBABILITIES"] is None
    for a, b in (("cli.tif", "py.tif"), ("cli_conf.tif", "py_conf.tif")):
        with rasterio.open(tmp_path / a) as x, rasterio.open(tmp_path / b) as y:
            np.testing.assert_array_equal(x.read(), y.read())
    layer = QgsRasterLayer(str(py), "map")
    assert layer.isValid() and layer.renderer().type() == "paletted"
    assert "developed" in [c.label for c in layer.renderer().classes()]


def test_errors_name_the_parameter_and_write_nothing(provider, sample, model, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    s2 = str(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif")
    base = {"INPUT_RASTER": s2, "MODEL": model, "DEVICE": "cpu", "OUTPUT": str(tmp_path / "o.tif")}
    with pytest.raises(QgsProcessingException, match="BANDS: the model expects bands"):
        processing.run("landlearn:classifypixels", base)
    with pytest.raises(QgsProcessingException, match="BANDS: the model was trained on 5 bands"):
        processing.run("landlearn:classifypixels", {**base, "BANDS": [1, 2]})
    with pytest.raises(QgsProcessingException, match="BLEND: 'soft' is not a valid choice"):
        processing.run("landlearn:classifypixels", {**base, "BLEND": "soft"})
    assert os.listdir(tmp_path) == []
