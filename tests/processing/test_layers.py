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


def _calculated(path, formula, size=None):
    """A Raster Calculator result created on the fly: the 'virtualraster' provider over
    ``path``, as QGIS's calculator makes it with 'Create on-the-fly raster'."""
    from qgis.core import QgsRasterDataProvider, QgsRasterLayer

    source = QgsRasterLayer(str(path), "strata")
    params = QgsRasterDataProvider.VirtualRasterParameters()
    params.crs, params.extent = source.crs(), source.extent()
    params.width, params.height = size or (source.width(), source.height())
    params.formula = formula
    item = QgsRasterDataProvider.VirtualRasterInputLayers()
    item.name, item.uri, item.provider = "strata", str(path), "gdal"
    params.rInputLayers = [item]
    layer = QgsRasterLayer(QgsRasterDataProvider.encodeVirtualRasterProviderUri(params),
                           "calculated", "virtualraster")
    assert layer.isValid() and layer.providerType() == "virtualraster"
    return layer


def test_a_raster_of_another_provider_is_copied_for_the_engine(provider, sample, tmp_path):
    """An on-the-fly Raster Calculator layer (PostGIS and WCS alike) was refused with
    "export it to a GeoTIFF first": it is copied, pixel for pixel on its own grid."""
    import numpy as np
    import processing
    import rasterio

    strata = sample / "nc_landsat7" / "strata.tif"
    layer = _calculated(strata, '("strata@1" > 0) * "strata@1"')
    got = processing.run("landlearn:assessaccuracy", {"INPUT": layer, "LABELS": str(strata)})
    assert got["OVERALL_ACCURACY"] == 1.0

    from landlearn.processing_provider.layers import raster_path

    path = raster_path(layer, "INPUT")
    with rasterio.open(path) as copy, rasterio.open(strata) as ds:
        assert copy.shape == ds.shape and copy.transform == ds.transform
        assert copy.crs == ds.crs
        truth = ds.read(1)
        np.testing.assert_array_equal(copy.read(1)[truth > 0], truth[truth > 0])
    from landlearn.core.geo.raster import RasterSource

    with RasterSource(path) as src:  # the strata's NoData pixel is NoData in the copy
        valid = src.read(src.grid.full_window).valid
    assert (truth < 0).any() and not valid[truth < 0].any() and valid[truth > 0].all()


def test_the_copy_takes_the_nodata_set_in_qgis(provider, sample):
    """Layer Properties > Transparency on a provider's layer: QGIS's writer carries only
    the provider's own NoData, so a value the user added there reached the engine as data."""
    import pytest
    import rasterio
    from qgis.core import Qgis, QgsProcessingException, QgsRasterRange

    from landlearn.processing_provider.layers import raster_path

    layer = _calculated(sample / "nc_landsat7" / "strata.tif", '("strata@1" > 0) * "strata@1"')
    layer.dataProvider().setUserNoDataValue(1, [QgsRasterRange(5, 5)])
    if Qgis.QGIS_VERSION_INT < 34000:
        # the calculator's own NoData (-3.4e38, declared on the copy) and 5: GDAL keeps one
        with pytest.raises(QgsProcessingException, match="INPUT: layer 'calculated' holds "
                           "the Raster Calculator's NoData"):
            raster_path(layer, "INPUT")
        return
    with rasterio.open(raster_path(layer, "INPUT")) as copy:
        assert copy.nodata == 5
        assert (copy.read_masks(1)[copy.read(1) == 5] == 0).all()


def test_a_cancel_while_a_raster_is_copied_leaves_no_copy(provider, sample, tmp_path,
                                                          monkeypatch):
    import pytest
    from qgis.core import QgsProcessingFeedback

    from landlearn.core.errors import Cancelled
    from landlearn.processing_provider import provider_raster
    from landlearn.processing_provider.layers import raster_path

    monkeypatch.setattr(provider_raster.QgsProcessingUtils, "generateTempFilename",
                        lambda name: str(tmp_path / name))
    # 2,000 px a side: QGIS's writer goes by parts of 500 px and says its progress per part
    layer = _calculated(sample / "nc_landsat7" / "strata.tif", '"strata@1"', (2000, 2000))
    feedback, seen = QgsProcessingFeedback(), []

    def cancel_on_first_part(percent):
        seen.append(percent)
        feedback.cancel()

    feedback.progressChanged.connect(cancel_on_first_part)
    with pytest.raises(Cancelled):
        raster_path(layer, "INPUT", feedback)
    assert seen and max(seen) < 50  # cancelled after its first parts, not at the end
    assert not list(tmp_path.iterdir())
    small = _calculated(sample / "nc_landsat7" / "strata.tif", '"strata@1"')
    assert raster_path(small, "INPUT") == str(tmp_path / "calculated.tif")


def test_a_raster_too_large_to_copy_or_without_pixels_is_refused(provider, sample,
                                                                  monkeypatch):
    import pytest
    from qgis.core import QgsProcessingException, QgsRasterLayer

    from landlearn.core.geo import limits
    from landlearn.processing_provider.layers import raster_path

    monkeypatch.setattr(limits, "DEFAULT_MAX_GPX", 1e-6)  # 1,000 px
    layer = _calculated(sample / "nc_landsat7" / "strata.tif", '"strata@1"')
    with pytest.raises(QgsProcessingException, match=r"INPUT: layer 'calculated' "
                       r"\(virtualraster provider\) is 489 x 443 px, 1 band.*clip it"):
        raster_path(layer, "INPUT")
    tiles = QgsRasterLayer("type=xyz&url=http://127.0.0.1:9/{z}/{x}/{y}.png&zmax=19&zmin=0",
                           "tiles", "wms")
    with pytest.raises(QgsProcessingException, match="INPUT: layer 'tiles' comes from the "
                       "'wms' provider, a picture rendered at any scale"):
        raster_path(tiles, "INPUT")


def test_a_layer_with_fields_named_fid_and_geom_is_copied(provider, sample, tmp_path):
    """Merge Vector Layers writes a 'fid' field with repeated values; a memory layer may
    hold a text 'fid' or a field 'geom'. The copy of such a layer, filtered or selected,
    clashed with the GeoPackage's own columns and failed ('Only 29 of 33 features
    written', 'duplicate column name: geom'; PyQGIS sweep, stop 69). The copy names its
    own columns apart, and the labels are those QGIS shows."""
    import numpy as np
    import processing
    import rasterio
    from qgis.core import QgsFeatureRequest, QgsField, QgsProject, QgsVectorLayer
    from qgis.PyQt.QtCore import QVariant

    nc = sample / "nc_landsat7"
    polygons = QgsVectorLayer(str(nc / "landsat96_polygons.shp"), "p", "ogr")
    layer = polygons.materialize(QgsFeatureRequest())
    del polygons
    layer.dataProvider().addAttributes([QgsField("fid", QVariant.Type.String),
                                        QgsField("GEOM", QVariant.Type.Int)])
    layer.updateFields()
    fid, geom = layer.fields().lookupField("fid"), layer.fields().lookupField("GEOM")
    layer.dataProvider().changeAttributeValues(
        {f.id(): {fid: "same", geom: 1} for f in layer.getFeatures()})
    every = {f["id"] for f in layer.getFeatures()}
    layer.setSubsetString('"id" <> 7')
    QgsProject.instance().addMapLayer(layer)
    try:
        out = tmp_path / "labels.tif"
        processing.run("landlearn:rasterizelabels", {
            "INPUT_RASTER": str(nc / "landsat_multiband.tif"), "LABELS": layer.id(),
            "CLASS_FIELD": "id", "OUTPUT": str(out)})
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
    with rasterio.open(out) as ds:
        burnt = set(int(v) for v in np.unique(ds.read(1))) - {0}
    assert 7 in every and 7 not in burnt and burnt <= every - {7} and len(burnt) >= 5


def test_a_copy_keeps_the_geopackages_feature_ids(provider, sample, tmp_path):
    """A selection of a GeoPackage is copied for reading with its own fids, so a message
    naming 'feature 9' names the feature QGIS shows as 9 (a copy numbered from 1 when
    every copy renamed its fid column)."""
    import shutil

    from osgeo import ogr
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsVectorLayer

    from landlearn.processing_provider.layers import vector_path

    shutil.copy(sample / "s2_osm_sparse" / "osm_landuse_subset.gpkg", tmp_path / "osm.gpkg")
    layer = QgsVectorLayer(str(tmp_path / "osm.gpkg"), "osm", "ogr")
    layer.selectByIds([9, 32])
    path, name = vector_path(layer, "LABELS", True, QgsProcessingContext(),
                             QgsProcessingFeedback())
    ds = ogr.Open(path)
    assert sorted(f.GetFID() for f in ds.GetLayerByName(name)) == [9, 32]
    ds = None
    del layer


def test_a_copy_of_a_shapefile_names_features_as_qgis_numbers_them(provider, sample,
                                                                   tmp_path):
    """A shapefile copied for reading (its encoding set by QGIS, a filter, a selection)
    was renumbered 1..n in the copy, so a message named its feature 3 'feature 4', or
    'feature 2' under a filter (a sweep, stop 71). The copy carries each feature's id as
    QGIS shows it, on that feature (checked through a field that spells the id), and
    messages use it; a memory layer's selection too (a set of ids iterates in another
    order than the selection: matching by order gave 36 of 700 features another's id)."""
    import shutil

    import processing
    import pytest
    from osgeo import ogr
    from qgis.core import (
        QgsFeature,
        QgsGeometry,
        QgsPointXY,
        QgsProcessingContext,
        QgsProcessingException,
        QgsProcessingFeedback,
        QgsVectorLayer,
    )

    from landlearn.core.geo.gdal_open import SOURCE_FID_FIELD
    from landlearn.processing_provider.layers import vector_path

    def copied(layer, selected):
        path, name = vector_path(layer, "LABELS", selected, QgsProcessingContext(),
                                 QgsProcessingFeedback())
        ds = ogr.Open(path)
        pairs = [(f.GetFID(), f.GetField(SOURCE_FID_FIELD), f.GetField("uid"))
                 for f in ds.GetLayerByName(name)]
        ds = None
        return pairs

    nc = sample / "nc_landsat7"
    for part in ("shp", "shx", "dbf", "prj"):
        shutil.copy(nc / f"landsat96_polygons.{part}", tmp_path / f"p.{part}")
    ds = ogr.Open(str(tmp_path / "p.shp"), 1)
    lyr = ds.GetLayer(0)
    lyr.CreateField(ogr.FieldDefn("cls", ogr.OFTReal))
    lyr.CreateField(ogr.FieldDefn("uid", ogr.OFTInteger))
    for feat in lyr:
        feat.SetField("cls", 2.5 if feat.GetFID() == 7 else 1.0)
        feat.SetField("uid", 1000 + feat.GetFID())
        lyr.SetFeature(feat)
    ds = None
    layer = QgsVectorLayer(str(tmp_path / "p.shp"), "p", "ogr")
    layer.setSubsetString('"cls" > 0 AND "id" <> 2')
    layer.selectByIds([3, 7, 9])
    for selected in (False, True):
        pairs = copied(layer, selected)
        want = {f.id() for f in (layer.getSelectedFeatures() if selected
                                 else layer.getFeatures())}
        assert sorted(p[1] for p in pairs) == sorted(want) and len(want) >= 3
        assert all(uid == 1000 + fid for _, fid, uid in pairs)  # each on its own feature
        assert any(k != v for k, v, _ in pairs)  # the copy numbers them otherwise
    del layer
    with pytest.raises(QgsProcessingException, match=r"CLASS_FIELD.*feature 7\b"):
        processing.run("landlearn:rasterizelabels", {
            "INPUT_RASTER": str(nc / "landsat_multiband.tif"),
            "LABELS": f'{tmp_path / "p.shp"}|subset="id" <> 2', "CLASS_FIELD": "cls",
            "OUTPUT": str(tmp_path / "labels.tif")})
    memory = QgsVectorLayer("Point?crs=EPSG:3857&field=c:integer&field=uid:integer", "m",
                            "memory")
    features = []
    for i in range(2000):
        f = QgsFeature(memory.fields())
        f.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(i, i)))
        f.setAttributes([1, 0])
        features.append(f)
    memory.dataProvider().addFeatures(features)
    memory.dataProvider().changeAttributeValues({f.id(): {1: 1000 + f.id()}
                                                 for f in memory.getFeatures()})
    memory.selectByIds(list(range(3, 2000, 3))[:700])
    pairs = copied(memory, True)
    assert len(pairs) == 666 and all(uid == 1000 + fid for _, fid, uid in pairs)
    del memory
