"""Export Training Data through processing.run and qgis_process.bin: same folder either way."""

import json
import os

import numpy as np
import pytest
import rasterio

from cancel_checks import cancelling_feedback, fingerprints, tree
from chip_checks import check_chips, manifest
from qgis_cli import QP, qgis_process


def _run(params):
    import processing

    return processing.run("landlearn:exporttrainingdata", params)


def _same_folders(a, b):
    ma, mb = manifest(a), manifest(b)
    assert ma == mb and len(ma["chips"]) > 0
    for name in ("esri_accumulated_stats.json", "esri_model_definition.emd", "map.txt"):
        assert (a / name).read_text() == (b / name).read_text(), name
    for chip in ma["chips"]:
        for key in ("image", "label"):
            with rasterio.open(a / chip[key]) as x, rasterio.open(b / chip[key]) as y:
                np.testing.assert_array_equal(x.read(), y.read())
                assert x.transform == y.transform and x.nodata == y.nodata


@pytest.mark.skipif(QP is None, reason="qgis_process.bin is not installed")
def test_processing_run_and_qgis_process_write_the_same_folder(provider, sample, tmp_path):
    s2 = sample / "s2_osm_sparse"
    params = {"INPUT_RASTER": str(s2 / "s2l1c_10bands_10m_subset.tif"),
              "LABELS": str(s2 / "osm_landuse_subset.gpkg"), "CLASS_FIELD": "fclass",
              "TILE_SIZE_X": 128, "TILE_SIZE_Y": 96, "STRIDE_X": 96, "STRIDE_Y": 64,
              "MIN_LABELED_FRACTION": 0.05}
    cli, py = tmp_path / "cli", tmp_path / "py"
    out = qgis_process("run", "landlearn:exporttrainingdata", "--",
                       *[f"{k}={v}" for k, v in params.items()], "BANDS=3", "BANDS=2",
                       "BANDS=1", f"OUTPUT_FOLDER={cli}")
    assert out.returncode == 0, out.stdout + out.stderr
    res = _run({**params, "BANDS": [3, 2, 1], "OUTPUT_FOLDER": str(py)})
    assert f"CHIP_COUNT:\t{res['CHIP_COUNT']}" in out.stdout
    assert res["OUTPUT_FOLDER"] == str(py) and res["CLASS_COUNT"] == 8
    assert manifest(py)["source_bands"] == [3, 2, 1]
    # the chips are the source's bands 3, 2, 1 at their windows
    check_chips(py, params["INPUT_RASTER"], bands=[3, 2, 1])
    _same_folders(cli, py)
    assert "labelled pixels in the chips" in out.stdout


def test_selected_polygons_numeric_field_and_summary(provider, sample, tmp_path):
    from qgis.core import QgsProcessingFeedback, QgsProject, QgsVectorLayer

    nc = sample / "nc_landsat7"
    layer = QgsVectorLayer(str(nc / "landsat96_polygons.shp"), "polys", "ogr")
    QgsProject.instance().addMapLayer(layer)
    try:
        layer.selectByExpression('"id" IN (1, 5)')
        assert 0 < layer.selectedFeatureCount() < layer.featureCount()

        class Log(QgsProcessingFeedback):
            lines = []

            def pushInfo(self, info):
                self.lines.append(info)

        import processing

        log = Log()
        res = processing.run("landlearn:exporttrainingdata", {
            "INPUT_RASTER": str(nc / "landsat_multiband.tif"), "LABELS": layer.id(),
            "CLASS_FIELD": "id", "SELECTED_FEATURES_ONLY": True, "TILE_SIZE_X": 64,
            "TILE_SIZE_Y": 64, "STRIDE_X": 32, "STRIDE_Y": 32,
            "OUTPUT_FOLDER": str(tmp_path / "sel")}, feedback=log)
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
    m = manifest(tmp_path / "sel")
    assert [c["Value"] for c in m["classes"]] == [1, 5] and res["CLASS_COUNT"] == 2
    assert res["LABELLED_PIXELS"] == sum(int(v) for v in m["class_pixels"].values())
    assert any("chips of 64 x 64 px" in line for line in log.lines)


def test_mask_polygons_from_a_layer_in_qgis_keep_the_chips_inside(provider, sample, tmp_path):
    """MASK_POLYGONS as a memory layer (copied for the engine), its east polygon selected
    and passed as a selection: only chips wholly inside that polygon are written, and the
    log says how many it left out. (A selection was dropped: both polygons masked, unsaid;
    a feature limit or filter expression, which cannot be applied, is refused by name.)"""
    from qgis.core import (
        QgsFeature,
        QgsGeometry,
        QgsProcessingException,
        QgsProcessingFeatureSourceDefinition,
        QgsProcessingFeedback,
        QgsProject,
        QgsVectorLayer,
    )

    nc = sample / "nc_landsat7"
    layer = QgsVectorLayer("Polygon?crs=EPSG:32119&field=side:string", "halves", "memory")
    features = []
    for side, (x0, x1) in (("east", (637500, 644470.5)), ("west", (630534, 637500))):
        feature = QgsFeature(layer.fields())
        feature["side"] = side
        feature.setGeometry(QgsGeometry.fromWkt(
            f"POLYGON(({x0} 215488.5, {x1} 215488.5, {x1} 228114, {x0} 228114, "
            f"{x0} 215488.5))"))
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    QgsProject.instance().addMapLayer(layer)
    layer.selectByExpression("\"side\" = 'east'")
    assert layer.selectedFeatureCount() == 1

    class Log(QgsProcessingFeedback):
        lines = []

        def pushInfo(self, info):
            self.lines.append(info)

    params = {"INPUT_RASTER": str(nc / "landsat_multiband.tif"), "LABELS": str(nc / "strata.tif"),
              "TILE_SIZE_X": 64, "TILE_SIZE_Y": 64, "STRIDE_X": 32, "STRIDE_Y": 32}
    try:
        log = Log()
        import processing

        masked = processing.run("landlearn:exporttrainingdata", {
            **params, "MASK_POLYGONS": QgsProcessingFeatureSourceDefinition(layer.id(), True),
            "OUTPUT_FOLDER": str(tmp_path / "masked")}, feedback=log)
        with pytest.raises(QgsProcessingException, match="MASK_POLYGONS: a filter expression "
                           "or feature limit .* not applied here; filter the mask layer"):
            _run({**params, "OUTPUT_FOLDER": str(tmp_path / "expr"),
                  "MASK_POLYGONS": QgsProcessingFeatureSourceDefinition(layer.id(), False, 1)})
        assert not (tmp_path / "expr").exists()
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
    every = _run({**params, "OUTPUT_FOLDER": str(tmp_path / "all")})
    assert 0 < masked["CHIP_COUNT"] < every["CHIP_COUNT"]
    # CLASS_COUNT: the classes the chips hold, not every class the labels name (text
    # classes are named over the whole layer: 7 said where the chips held fewer)
    small = _run({"INPUT_RASTER": str(nc / "landsat_multiband.tif"),
                  "LABELS": str(nc / "landsat96_polygons.shp"), "CLASS_FIELD": "label",
                  "EXTENT": "633393,639093,223839,228114 [EPSG:32119]", "TILE_SIZE_X": 32,
                  "OUTPUT_FOLDER": str(tmp_path / "small")})
    held = manifest(tmp_path / "small")["class_pixels"]
    assert small["CLASS_COUNT"] == sum(1 for v in held.values() if v > 0) < 7, held
    assert all(c["bounds"][0] >= 637500 - 1e-6 for c in manifest(tmp_path / "masked")["chips"])
    assert any("not wholly inside MASK_POLYGONS" in line for line in log.lines)


def test_buffer_radius_from_the_toolbox_burns_points_as_discs(provider, sample, tmp_path):
    from synthetic import points

    nc = sample / "nc_landsat7"
    path = points(tmp_path / "p.gpkg", [(1, (630534 + 28.5 * 100.5, 228114 - 28.5 * 100.5))],
                  32119)
    res = _run({"INPUT_RASTER": str(nc / "landsat_multiband.tif"), "LABELS": path,
                "CLASS_FIELD": "cls", "BUFFER_RADIUS": 100.0, "TILE_SIZE_X": 64,
                "TILE_SIZE_Y": 64, "STRIDE_X": 64, "STRIDE_Y": 64,
                "OUTPUT_FOLDER": str(tmp_path / "disc")})
    assert res["LABELLED_PIXELS"] == 37  # a disc of 3.5 px, not the point's one pixel


def test_rotation_angle_from_the_toolbox_adds_turned_copies(provider, sample, tmp_path):
    nc = sample / "nc_landsat7"
    params = {"INPUT_RASTER": str(nc / "landsat_multiband.tif"), "LABELS": str(nc / "strata.tif"),
              "TILE_SIZE_X": 64, "TILE_SIZE_Y": 64, "STRIDE_X": 64, "STRIDE_Y": 64}
    plain = _run({**params, "OUTPUT_FOLDER": str(tmp_path / "plain")})
    turned = _run({**params, "ROTATION_ANGLE": 90, "OUTPUT_FOLDER": str(tmp_path / "turned")})
    assert turned["CHIP_COUNT"] == 4 * plain["CHIP_COUNT"] > 0
    chips = manifest(tmp_path / "turned")["chips"]
    assert sorted({c.get("rotation", 0) for c in chips}) == [0, 90, 180, 270]


def test_image_chip_format_from_the_toolbox(provider, sample, tmp_path):
    """PNG chips by name or index, JPEG refused for 16-bit Sentinel-2 with the fix."""
    from qgis.core import QgsProcessingException

    s2 = sample / "s2_osm_sparse"
    params = {"INPUT_RASTER": str(s2 / "s2l1c_10bands_10m_subset.tif"), "BANDS": [4, 3, 2],
              "LABELS": str(s2 / "osm_landuse_subset.gpkg"), "CLASS_FIELD": "fclass",
              "TILE_SIZE_X": 128, "STRIDE_X": 128}
    png = _run({**params, "IMAGE_CHIP_FORMAT": "png", "OUTPUT_FOLDER": str(tmp_path / "p")})
    again = _run({**params, "IMAGE_CHIP_FORMAT": 1, "OUTPUT_FOLDER": str(tmp_path / "q")})
    assert png["CHIP_COUNT"] == again["CHIP_COUNT"] > 0
    names = sorted(os.listdir(tmp_path / "p" / "images"))
    assert names[0] == "000000000.png" and all(n.endswith((".png", ".msk", ".aux.xml"))
                                               for n in names)
    with pytest.raises(QgsProcessingException, match="IMAGE_CHIP_FORMAT: JPEG chips hold "
                                                     "8-bit .* of uint16: use TIFF"):
        _run({**params, "IMAGE_CHIP_FORMAT": "JPEG", "OUTPUT_FOLDER": str(tmp_path / "j")})
    assert not (tmp_path / "j").exists()


def test_errors_name_the_parameter_and_write_nothing(provider, sample, tmp_path):
    from qgis.core import QgsProcessingException

    s2 = sample / "s2_osm_sparse"
    base = {"INPUT_RASTER": str(s2 / "s2l1c_10bands_10m_subset.tif"),
            "LABELS": str(s2 / "osm_landuse_subset.gpkg"), "CLASS_FIELD": "fclass",
            "OUTPUT_FOLDER": str(tmp_path / "out")}
    for extra, message in [({"TILE_SIZE_X": 5000}, "TILE_SIZE_X: 5000 pixels is outside"),
                           ({"STRIDE_Y": -2}, "STRIDE_Y: the stride must be at least 1"),
                           ({"CLASS_FIELD": ""}, "CLASS_FIELD: vector labels need a class field"),
                           ({"ROTATION_ANGLE": 5}, "ROTATION_ANGLE: 5 is not a rotation step"),
                           ({"EXTENT": "10,11,50,51 [EPSG:4326]"},
                            "EXTENT: it does not overlap the raster")]:
        with pytest.raises(QgsProcessingException, match=message):
            _run({**base, **extra})
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    with pytest.raises(QgsProcessingException, match="OUTPUT_FOLDER: the folder .* is not empty"):
        _run(base)
    assert sorted(os.listdir(tmp_path)) == ["out"] and os.listdir(tmp_path / "out") == ["keep.txt"]


def test_a_cancel_mid_export_leaves_no_folder_and_no_staging(provider, sample, tmp_path):
    """Cancel clicked a third of the way through the 225 chip windows (chips already
    written into the hidden staging folder beside OUTPUT_FOLDER): the run stops with the
    cancel message, OUTPUT_FOLDER never appears and the staging folder is gone, so no half
    training set is left for a later training run to read; image and labels unchanged."""
    import processing
    from qgis.core import QgsProcessingException

    s2 = sample / "s2_osm_sparse"
    image, labels = s2 / "s2l1c_10bands_10m_subset.tif", s2 / "osm_landuse_subset.gpkg"
    inputs = fingerprints(image, labels)
    before = tree(tmp_path)
    feedback = cancelling_feedback(33)
    with pytest.raises(QgsProcessingException,
                       match="^Cancelled by the user; no output was written"):
        processing.run("landlearn:exporttrainingdata", {
            "INPUT_RASTER": str(image), "LABELS": str(labels), "CLASS_FIELD": "fclass",
            "TILE_SIZE_X": 64, "TILE_SIZE_Y": 64, "STRIDE_X": 32, "STRIDE_Y": 32,
            "OUTPUT_FOLDER": str(tmp_path / "chips")}, feedback=feedback)
    # mid-run: many windows reported, not the last one's 97%
    assert feedback.cancelled_at is not None and len(feedback.reported) >= 10
    assert max(feedback.reported) < 50
    assert not (tmp_path / "chips").exists()
    assert tree(tmp_path) == before
    assert fingerprints(image, labels) == inputs


def test_temporary_output_folder(provider, sample):
    nc = sample / "nc_landsat7"
    res = _run({"INPUT_RASTER": str(nc / "landsat_multiband.tif"),
                "LABELS": str(nc / "strata.tif"), "OUTPUT_FOLDER": "TEMPORARY_OUTPUT"})
    with open(os.path.join(res["OUTPUT_FOLDER"], "esri_accumulated_stats.json")) as fh:
        assert json.load(fh)["NumTiles"] == res["CHIP_COUNT"] > 0
