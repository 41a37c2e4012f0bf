"""Classify Raster Collection through processing.run and qgis_process.bin."""

import os

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from qgis_cli import QP, qgis_process
from small_models import nc_unet

pytest.importorskip("segmentation_models_pytorch")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return nc_unet(tmp_path_factory.mktemp("coll"), epochs=1, batch_size=8, stride=64,
                   validation_percent=20)


@pytest.fixture(scope="module")
def halves(sample, tmp_path_factory):
    """The nc scene as a west and an east item (sharing no pixel)."""
    scene = sample / "nc_landsat7" / "landsat_multiband.tif"
    folder = tmp_path_factory.mktemp("halves")
    with rasterio.open(scene) as src:
        for name, win in (("west", Window(0, 0, 256, 443)), ("east", Window(256, 0, 233, 443))):
            profile = dict(src.profile, width=int(win.width), height=int(win.height),
                           transform=src.window_transform(win))
            with rasterio.open(folder / f"{name}.tif", "w", **profile) as dst:
                dst.write(src.read(window=win))
    return folder, str(scene)


@pytest.mark.skipif(QP is None, reason="qgis_process.bin is not installed")
def test_both_modes_from_processing_and_qgis_process(provider, model, halves, tmp_path):
    import processing
    from qgis.core import QgsRasterLayer

    folder, scene = halves
    common = {"MODEL": model, "TILE_SIZE": 128, "PADDING": 32, "DEVICE": "cpu"}
    processing.run("landlearn:classifypixels", {**common, "INPUT_RASTER": scene,
                                                "OUTPUT": str(tmp_path / "scene.tif")})
    res = processing.run("landlearn:classifyrastercollection", {
        **common, "RASTERS": [str(folder / "west.tif"), str(folder / "east.tif")],
        "PROCESSING_MODE": "mosaicked", "OUTPUT": str(tmp_path / "mosaic.tif")})
    assert res["OUTPUT"] == str(tmp_path / "mosaic.tif")
    with rasterio.open(tmp_path / "scene.tif") as a, rasterio.open(res["OUTPUT"]) as b:
        np.testing.assert_array_equal(a.read(), b.read())
    layer = QgsRasterLayer(res["OUTPUT"], "map")
    assert layer.isValid()
    out = qgis_process("run", "landlearn:classifyrastercollection", "--",
                       *[f"{k}={v}" for k, v in common.items()], f"FOLDER={folder}",
                       "PATTERN=*.tif", "PROCESSING_MODE=each_item",
                       f"OUTPUT_FOLDER={tmp_path / 'maps'}")
    assert out.returncode == 0, out.stdout + out.stderr
    assert sorted(os.listdir(tmp_path / "maps")) == [
        "class_areas.csv", "class_areas.json", "east_classified.qml", "east_classified.tif",
        "east_classified.tif.aux.xml", "landlearn_files.json", "mosaic.vrt",
        "west_classified.qml", "west_classified.tif", "west_classified.tif.aux.xml"]
    with rasterio.open(tmp_path / "maps" / "west_classified.tif") as w, \
            rasterio.open(tmp_path / "scene.tif") as s:
        assert w.read(1).shape == (443, 256)
        assert (w.read(1) == s.read(1, window=Window(0, 0, 256, 443))).mean() > 0.95


def test_a_mixed_collection_is_refused_before_any_pixel(provider, model, halves, sample,
                                                        tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    folder, _scene = halves
    s2 = str(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif")
    with pytest.raises(QgsProcessingException, match="RASTERS: the collection mixes band counts"):
        processing.run("landlearn:classifyrastercollection", {
            "MODEL": model, "RASTERS": [str(folder / "west.tif"), s2],
            "OUTPUT": str(tmp_path / "m.tif")})
    assert os.listdir(tmp_path) == []


def test_the_output_of_the_chosen_mode_is_asked_for_before_the_run(provider, sample):
    """The dialog's defaults (mosaicked, OUTPUT not created by default) are refused by
    the parameter check, before a run starts, naming the output to give."""
    from qgis.core import QgsApplication, QgsProcessingContext

    alg = QgsApplication.processingRegistry().algorithmById("landlearn:classifyrastercollection")
    context = QgsProcessingContext()
    base = {"FOLDER": str(sample / "nc_landsat7"), "MODEL": str(sample / "m.dlpk")}
    ok, message = alg.checkParameterValues(dict(base), context)
    assert not ok and message.startswith("OUTPUT: PROCESSING_MODE=mosaicked writes one map")
    ok, message = alg.checkParameterValues(dict(base, PROCESSING_MODE="each_item"), context)
    assert not ok and message.startswith("OUTPUT_FOLDER: PROCESSING_MODE=each_item")
    ok, _ = alg.checkParameterValues(dict(base, OUTPUT="/tmp/mosaic.tif"), context)
    assert ok
    ok, _ = alg.checkParameterValues(dict(base, PROCESSING_MODE=1, OUTPUT_FOLDER="/tmp/x"),
                                     context)
    assert ok
    # the other mode's output as well: never written, yet returned and loaded into the
    # project ("not correctly generated"), or a dead folder handed to the next model step
    ok, message = alg.checkParameterValues(
        dict(base, OUTPUT="/tmp/mosaic.tif", OUTPUT_FOLDER="/tmp/x"), context)
    assert not ok and message == ("OUTPUT_FOLDER: PROCESSING_MODE=mosaicked writes OUTPUT "
                                  "only; leave OUTPUT_FOLDER empty")
    ok, message = alg.checkParameterValues(
        dict(base, PROCESSING_MODE=1, OUTPUT="/tmp/mosaic.tif", OUTPUT_FOLDER="/tmp/x"), context)
    assert not ok and message.startswith("OUTPUT: PROCESSING_MODE=each_item writes "
                                         "OUTPUT_FOLDER only")


def test_an_output_given_as_an_expression_is_left_to_the_run(provider, sample):
    """In the modeler an output may be an expression, known only when the model runs."""
    from qgis.core import (
        QgsApplication,
        QgsProcessingContext,
        QgsProcessingOutputLayerDefinition,
        QgsProperty,
    )

    alg = QgsApplication.processingRegistry().algorithmById("landlearn:classifyrastercollection")
    out = QgsProcessingOutputLayerDefinition(QgsProperty.fromExpression("@folder || '/m.tif'"))
    ok, message = alg.checkParameterValues(
        {"FOLDER": str(sample / "nc_landsat7"), "MODEL": str(sample / "m.dlpk"), "OUTPUT": out},
        QgsProcessingContext())
    assert ok, message
