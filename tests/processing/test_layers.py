"""processing_provider.layers: what QGIS shows reaches the engine (see also
test_rasterize_labels for layers read as QGIS shows them)."""

import os


def test_a_user_defined_crs_reaches_the_engine_as_wkt(provider):
    """A CRS saved in QGIS's user CRS database is 'USER:100000' by authority, which PROJ
    cannot read: an EXTENT in it stopped with 'its CRS is not understood' (the LandLearn
    menu fills EXTENT in the canvas CRS). (The test profile has no user CRS database: the
    CRS stands in with that authority.)"""
    from qgis.core import QgsCoordinateReferenceSystem
    from rasterio.crs import CRS

    from landlearn.processing_provider.layers import crs_text

    real = QgsCoordinateReferenceSystem.fromProj("+proj=tmerc +lat_0=0 +lon_0=15.5 "
                                                 "+k=0.9996 +x_0=500000 +y_0=0 +datum=WGS84 "
                                                 "+units=m")

    class UserCrs:
        def isValid(self):
            return True

        def authid(self):
            return "USER:100000"

        def toWkt(self, variant):
            return real.toWkt(variant)

    text = crs_text(UserCrs())
    assert not text.upper().startswith("USER:")
    assert CRS.from_user_input(text).to_dict()["lon_0"] == 15.5
    assert crs_text(QgsCoordinateReferenceSystem("EPSG:32633")) == "EPSG:32633"
    assert CRS.from_user_input(crs_text(real)).to_dict()["lon_0"] == 15.5  # no authority


def test_a_raster_opened_with_open_options_reaches_the_engine_with_them(provider, sample,
                                                                        tmp_path):
    """QGIS keeps a layer's GDAL open options in its source ('|option:OVERVIEW_LEVEL=0'),
    which GDAL cannot open: the engine got a path that did not exist. It reads a VRT that
    keeps the options: the overview QGIS shows, with the file's class names beside it."""
    import shutil

    import numpy as np
    import pytest
    import rasterio
    from osgeo import gdal
    from qgis.core import QgsProcessingException, QgsProject, QgsRasterLayer

    from landlearn.processing_provider.layers import raster_path

    copy = str(tmp_path / "s2.tif")
    shutil.copy(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif", copy)
    (tmp_path / "s2_classes.txt").write_text("1 = water\n")
    ds = gdal.Open(copy, gdal.GA_Update)
    ds.BuildOverviews("AVERAGE", [2])
    ds = None
    layer = QgsRasterLayer(f"{copy}|option:OVERVIEW_LEVEL=0", "s2 overview", "gdal")
    assert layer.isValid() and layer.width() == 256  # what QGIS shows
    QgsProject.instance().addMapLayer(layer)
    try:
        path = raster_path(layer, "INPUT_RASTER")
        assert path.endswith("s2.vrt") and "|" not in path
        assert os.path.exists(os.path.join(os.path.dirname(path), "s2_classes.txt"))
        with rasterio.open(path) as vrt, rasterio.open(copy) as tif:
            assert (vrt.width, vrt.count) == (256, 10) and vrt.crs == tif.crs
            assert vrt.transform.a == 2 * tif.transform.a
            np.testing.assert_array_equal(vrt.read(1), tif.read(1, out_shape=(256, 256)))
        plain = QgsRasterLayer(copy, "s2", "gdal")
        QgsProject.instance().addMapLayer(plain)
        assert raster_path(plain, "INPUT_RASTER") == copy  # no options: the file itself
        QgsProject.instance().removeMapLayer(plain.id())
        bad = QgsRasterLayer(f"{copy}|option:OVERVIEW_LEVEL=5", "too deep", "gdal")
        QgsProject.instance().addMapLayer(bad)
        with pytest.raises(QgsProcessingException,
                           match="INPUT_RASTER: could not open 'too deep' with its open "
                                 "options \\(OVERVIEW_LEVEL=5\\)"):
            raster_path(bad, "INPUT_RASTER")
        QgsProject.instance().removeMapLayer(bad.id())
    finally:
        QgsProject.instance().removeMapLayer(layer.id())


def test_a_cancel_while_a_selection_is_copied_leaves_no_copy(provider, sample, tmp_path):
    """LABELS with SELECTED_FEATURES_ONLY is copied to a GeoPackage in QGIS's temporary
    folder before the engine reads it, by QGIS's writer with the run's feedback (a database
    layer copies for minutes). Cancel clicked a fifth of the way through that copy: the
    writer stops there, the run stops with the cancel message, the half-written copy (and
    any -journal, -wal, -shm) is removed and OUTPUT_FOLDER never appears; the layer's file
    and its selection are as they were."""
    import processing
    import pytest
    from qgis.core import (
        QgsProcessingException,
        QgsProcessingUtils,
        QgsProject,
        QgsVectorLayer,
    )

    from cancel_checks import cancelling_feedback, fingerprints, tree

    s2 = sample / "s2_osm_sparse"
    image, labels = s2 / "s2l1c_10bands_10m_subset.tif", s2 / "osm_landuse_subset.gpkg"
    inputs = fingerprints(image, labels)
    layer = QgsVectorLayer(str(labels), "osm", "ogr")
    QgsProject.instance().addMapLayer(layer)
    try:
        layer.selectByExpression('"fclass" <> \'forest\'')
        selected = set(layer.selectedFeatureIds())
        assert 100 < len(selected) < layer.featureCount()
        temp = QgsProcessingUtils.tempFolder()
        temp_files = {p for p, (size, _) in tree(temp).items() if size >= 0}
        before = tree(tmp_path)
        feedback = cancelling_feedback(20)
        with pytest.raises(QgsProcessingException,
                           match="^Cancelled by the user; no output was written"):
            processing.run("landlearn:exporttrainingdata", {
                "INPUT_RASTER": str(image), "LABELS": layer.id(), "CLASS_FIELD": "fclass",
                "SELECTED_FEATURES_ONLY": True, "TILE_SIZE_X": 64, "TILE_SIZE_Y": 64,
                "OUTPUT_FOLDER": str(tmp_path / "chips")}, feedback=feedback)
        # the copy's own progress, stopped where the cancel came: the writer heard it
        assert feedback.cancelled_at is not None and max(feedback.reported) < 100
        assert {p for p, (size, _) in tree(temp).items() if size >= 0} == temp_files
        assert tree(tmp_path) == before
        assert set(layer.selectedFeatureIds()) == selected
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
    assert fingerprints(image, labels) == inputs
