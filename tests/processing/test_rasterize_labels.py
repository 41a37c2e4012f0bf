"""Rasterize Labels through processing.run, as console and modeler users run it."""

import os
import shutil
from contextlib import contextmanager

import numpy as np
import pytest
import rasterio
import rasterio.windows
from rasterio.warp import transform_bounds


@contextmanager
def _selected(path, expression):
    """A vector layer in the project with the features of ``expression`` selected."""
    from qgis.core import QgsProject, QgsVectorLayer

    layer = QgsVectorLayer(str(path), path.stem, "ogr")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    try:
        layer.selectByExpression(expression)
        yield layer
    finally:
        QgsProject.instance().removeMapLayer(layer.id())


def _run(params):
    import processing

    return processing.run("landlearn:rasterizelabels", params)


def test_text_polygons_on_sample_are_styled_and_named(provider, sample, tmp_path,
                                                     monkeypatch):
    from qgis.core import QgsRasterLayer

    s2 = sample / "s2_osm_sparse"
    out = str(tmp_path / "labels.tif")
    res = _run({"INPUT_RASTER": str(s2 / "s2l1c_10bands_10m_subset.tif"),
                "LABELS": str(s2 / "osm_landuse_subset.gpkg"), "CLASS_FIELD": "fclass", "OUTPUT": out})
    assert res["OUTPUT"] == out and res["CLASS_COUNT"] == 8
    with rasterio.open(out) as ds:
        arr = ds.read(1)
    assert res["LABELLED_PIXELS"] == int(np.count_nonzero(arr))
    layer = QgsRasterLayer(out, "labels")  # loads the .qml sidecar as its default style
    assert layer.isValid() and layer.renderer().type() == "paletted"
    labels = {c.value: c.label for c in layer.renderer().classes()}
    assert labels == {1: "farm", 2: "forest", 3: "grass", 4: "meadow", 5: "residential",
                      6: "scrub", 7: "water", 8: "wetland"}
    # loaded by Processing (without its default style), the .qml is applied all the same:
    # the legend showed bare numbers
    import processing
    from processing.gui import Postprocessing
    from qgis.core import QgsProject

    # no window here: pytest-qgis's stand-in interface gives a mock layer tree, which QGIS
    # 3.44's loading hands to C++ (a TypeError); without one the layers go to the project
    monkeypatch.setattr(Postprocessing, "iface", None, raising=False)  # 3.22 uses none
    loaded = processing.runAndLoadResults("landlearn:rasterizelabels", {
        "INPUT_RASTER": str(s2 / "s2l1c_10bands_10m_subset.tif"),
        "LABELS": str(s2 / "osm_landuse_subset.gpkg"), "CLASS_FIELD": "fclass",
        "OUTPUT": str(tmp_path / "loaded.tif")})
    project = QgsProject.instance()
    layer = project.mapLayer(loaded["OUTPUT"]) or next(
        lyr for lyr in project.mapLayers().values() if lyr.source() == loaded["OUTPUT"])
    try:
        assert layer.renderer().type() == "paletted"
        assert {c.value: c.label for c in layer.renderer().classes()} == labels
    finally:
        project.removeMapLayer(layer.id())


def test_selected_features_only_and_extent_in_another_crs(provider, sample, tmp_path):
    nc = sample / "nc_landsat7"
    with _selected(nc / "landsat96_polygons.shp", '"id" = 5') as layer:
        n_selected = layer.selectedFeatureCount()
        assert 0 < n_selected < layer.featureCount()
        out = str(tmp_path / "sel.tif")
        res = _run({"INPUT_RASTER": str(nc / "landsat_multiband.tif"), "LABELS": layer.id(),
                    "CLASS_FIELD": "id", "SELECTED_FEATURES_ONLY": True, "OUTPUT": out})
        with rasterio.open(out) as ds:
            assert set(np.unique(ds.read(1))) == {0, 5}
        assert res["CLASS_COUNT"] == 1
        # an extent given in lon/lat crops the output to (a little more than) that area
        with rasterio.open(nc / "landsat_multiband.tif") as img:
            b = rasterio.windows.bounds(rasterio.windows.Window(100, 100, 200, 150), img.transform)
        lon0, lat0, lon1, lat1 = transform_bounds("EPSG:32119", "EPSG:4326", *b)
        out2 = str(tmp_path / "ext.tif")
        _run({"INPUT_RASTER": str(nc / "landsat_multiband.tif"), "LABELS": str(nc / "strata.tif"),
              "EXTENT": f"{lon0},{lon1},{lat0},{lat1} [EPSG:4326]", "OUTPUT": out2})
        with rasterio.open(out2) as ds:
            assert 200 <= ds.width <= 206 and 150 <= ds.height <= 156
    # polygons over a small EXTENT: CLASS_COUNT counts the classes the raster holds (it
    # said 7, every class the layer names, where the raster held 4; PyQGIS sweep, stop 69)
    small = _run({"INPUT_RASTER": str(nc / "landsat_multiband.tif"),
                  "LABELS": str(nc / "landsat96_polygons.shp"), "CLASS_FIELD": "label",
                  "EXTENT": f"{lon0},{lon1},{lat0},{lat1} [EPSG:4326]",
                  "OUTPUT": str(tmp_path / "small.tif")})
    with rasterio.open(small["OUTPUT"]) as ds:
        held = set(np.unique(ds.read(1))) - {0}
    assert small["CLASS_COUNT"] == len(held) and 0 < len(held) < 7


def test_a_selection_passed_as_a_feature_source_definition(provider, sample, tmp_path):
    """processing.run(..., {"LABELS": QgsProcessingFeatureSourceDefinition(id, True)}), how
    scripts pass a selection: it read as 'no label layer was given'. A filter expression in
    it is refused by name."""
    from qgis.core import QgsProcessingException, QgsProcessingFeatureSourceDefinition

    nc = sample / "nc_landsat7"
    with _selected(nc / "landsat96_polygons.shp", '"id" = 5') as layer:
        out = str(tmp_path / "sel.tif")
        _run({"INPUT_RASTER": str(nc / "landsat_multiband.tif"),
              "LABELS": QgsProcessingFeatureSourceDefinition(layer.id(), True),
              "CLASS_FIELD": "id", "OUTPUT": out})
        with rasterio.open(out) as ds:
            assert set(np.unique(ds.read(1))) == {0, 5}
        limited = QgsProcessingFeatureSourceDefinition(layer.id(), False, 3)
        with pytest.raises(QgsProcessingException, match="LABELS: a filter expression or "
                           "feature limit in the source definition is not applied"):
            _run({"INPUT_RASTER": str(nc / "landsat_multiband.tif"), "LABELS": limited,
                  "CLASS_FIELD": "id", "OUTPUT": str(tmp_path / "lim.tif")})


def test_selected_text_classes_keep_the_whole_layers_numbers(provider, sample, tmp_path):
    """OSM polygons with a text class field: 'water' is 7 over the whole layer. Selected
    alone, a copy of the selection held one text and numbered it 1, so two runs over one
    layer gave one class two values."""

    s2 = sample / "s2_osm_sparse"
    with _selected(s2 / "osm_landuse_subset.gpkg", "\"fclass\" = 'water'") as layer:
        assert 0 < layer.selectedFeatureCount() < layer.featureCount()
        # the field typed in another case, as the engine accepts it (the whole layer's
        # texts were then not found and the selection numbered alone: water 1)
        for field in ("fclass", "FCLASS"):
            out = str(tmp_path / f"water_{field}.tif")
            res = _run({"INPUT_RASTER": str(s2 / "s2l1c_10bands_10m_subset.tif"),
                        "LABELS": layer.id(), "CLASS_FIELD": field,
                        "SELECTED_FEATURES_ONLY": True, "OUTPUT": out})
            with rasterio.open(out) as ds:
                assert set(np.unique(ds.read(1))) == {0, 7}, field
            assert res["CLASS_COUNT"] == 1


@pytest.mark.parametrize("provider_type", ["ogr", "memory"])
def test_filtered_text_classes_keep_the_whole_layers_numbers(provider, sample, tmp_path,
                                                             provider_type):
    """A train/test split made with two subset filters of one layer: each side was numbered
    on its own ('water' 1 under a filter, 7 in the whole layer), and Assess Accuracy of a
    map trained on one side against the other scored OA 0.003 (PyQGIS sweep, stop 69).
    A filter is set aside on a copy, never on the user's layer."""
    from qgis.core import QgsFeatureRequest, QgsProject, QgsVectorLayer

    s2 = sample / "s2_osm_sparse"
    # a copy: QGIS's OGR provider opens a GeoPackage for update when a filter is set
    shutil.copy(s2 / "osm_landuse_subset.gpkg", tmp_path / "osm.gpkg")
    layer = QgsVectorLayer(str(tmp_path / "osm.gpkg"), "osm", "ogr")
    if provider_type == "memory":
        layer = layer.materialize(QgsFeatureRequest())
        assert layer.providerType() == "memory"
    assert layer.isValid() and layer.setSubsetString("\"fclass\" = 'water'")
    QgsProject.instance().addMapLayer(layer)
    try:
        shown = layer.featureCount()
        out = str(tmp_path / "water.tif")
        import processing
        from qgis.core import QgsProcessingFeedback

        class Log(QgsProcessingFeedback):
            lines = []

            def pushInfo(self, info):
                self.lines.append(info)

        res = processing.run("landlearn:rasterizelabels", {
            "INPUT_RASTER": str(s2 / "s2l1c_10bands_10m_subset.tif"), "LABELS": layer.id(),
            "CLASS_FIELD": "fclass", "OUTPUT": out}, feedback=Log())
        # the classes the filter leaves out are said so, not only as far from the image
        assert any("of the layer have no feature near the image or among the features "
                   "used (a filter or selection)" in line for line in Log.lines)
        with rasterio.open(out) as ds:
            assert set(np.unique(ds.read(1))) == {0, 7}
        assert res["CLASS_COUNT"] == 1
        # the user's layer keeps its filter
        assert layer.subsetString() == "\"fclass\" = 'water'" and layer.featureCount() == shown
    finally:
        QgsProject.instance().removeMapLayer(layer.id())


def test_errors_name_the_parameter_and_write_nothing(provider, sample, tmp_path):
    from qgis.core import QgsProcessingException

    nc = sample / "nc_landsat7"
    out = tmp_path / "x.tif"
    with pytest.raises(QgsProcessingException, match="CLASS_FIELD: vector labels need a class field"):
        _run({"INPUT_RASTER": str(nc / "landsat_multiband.tif"),
              "LABELS": str(nc / "landsat96_polygons.shp"), "OUTPUT": str(out)})
    with pytest.raises(QgsProcessingException, match="LABELS: no label feature overlaps the raster"):
        _run({"INPUT_RASTER": str(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif"),
              "LABELS": str(nc / "landsat96_polygons.shp"), "CLASS_FIELD": "id", "OUTPUT": str(out)})
    with pytest.raises(QgsProcessingException, match="EXTENT: it does not overlap the raster"):
        _run({"INPUT_RASTER": str(nc / "landsat_multiband.tif"), "LABELS": str(nc / "strata.tif"),
              "EXTENT": "10,11,50,51 [EPSG:4326]", "OUTPUT": str(out)})
    assert list(tmp_path.iterdir()) == []


def test_layers_as_qgis_shows_them_no_selection_a_layer_by_number_a_crs_set_in_qgis(
        provider, sample, tmp_path):
    """What a layer is in QGIS, not only its file: 'selected only' with nothing selected
    stops (it read every feature), the second layer of a file picked by number is that
    layer (it read the first), and a CRS given in QGIS to a shapefile without .prj and to a
    raster without one is the CRS the engine uses."""
    import shutil

    from qgis.core import (
        QgsCoordinateReferenceSystem,
        QgsProcessingException,
        QgsProject,
        QgsRasterLayer,
        QgsVectorLayer,
    )

    nc = sample / "nc_landsat7"
    image = str(nc / "landsat_multiband.tif")
    polys = QgsVectorLayer(str(nc / "landsat96_polygons.shp"), "polys", "ogr")
    QgsProject.instance().addMapLayer(polys)
    try:
        polys.removeSelection()
        with pytest.raises(QgsProcessingException, match="LABELS: 'selected features only' is "
                                                         "set but no feature"):
            _run({"INPUT_RASTER": image, "LABELS": polys.id(), "CLASS_FIELD": "id",
                  "SELECTED_FEATURES_ONLY": True, "OUTPUT": str(tmp_path / "none.tif")})
    finally:
        QgsProject.instance().removeMapLayer(polys.id())
    assert not (tmp_path / "none.tif").exists()
    # a GeoPackage of two layers, the second (id 5 only) picked by number
    from osgeo import gdal

    two = str(tmp_path / "two.gpkg")
    src = str(nc / "landsat96_polygons.shp")
    gdal.VectorTranslate(two, src, format="GPKG", layerName="all")
    gdal.VectorTranslate(two, src, format="GPKG", layerName="fives", where='"id" = 5',
                         accessMode="update")
    # (the layers go into the project, which deletes them: layers left to Python at exit
    # crash QGIS 3.22 and 3.40 once the application has gone)
    project = QgsProject.instance()
    second = QgsVectorLayer(f"{two}|layerid=1", "fives", "ogr")
    whole = QgsVectorLayer(f"{two}|layerid=0", "all", "ogr")
    project.addMapLayers([second, whole])
    assert second.isValid() and second.featureCount() < whole.featureCount()
    res = _run({"INPUT_RASTER": image, "LABELS": second.id(), "CLASS_FIELD": "id",
                "OUTPUT": str(tmp_path / "fives.tif")})
    assert res["CLASS_COUNT"] == 1
    project.removeMapLayers([second.id(), whole.id()])
    # the shapefile without its .prj, its CRS set in QGIS
    bare = tmp_path / "bare"
    bare.mkdir()
    for part in nc.glob("landsat96_polygons.*"):
        if part.suffix != ".prj":
            shutil.copy(part, bare / part.name)
    nocrs = QgsVectorLayer(str(bare / "landsat96_polygons.shp"), "bare", "ogr")
    project.addMapLayer(nocrs)
    with rasterio.open(image) as ds:
        epsg = ds.crs.to_epsg()
    nocrs.setCrs(QgsCoordinateReferenceSystem(f"EPSG:{epsg}"))
    wgs = QgsCoordinateReferenceSystem("EPSG:4326")
    res_set = _run({"INPUT_RASTER": image, "LABELS": nocrs.id(), "CLASS_FIELD": "id",
                    "OUTPUT": str(tmp_path / "set.tif")})
    res_file = _run({"INPUT_RASTER": image, "LABELS": src, "CLASS_FIELD": "id",
                     "OUTPUT": str(tmp_path / "file.tif")})
    assert res_set["LABELLED_PIXELS"] == res_file["LABELLED_PIXELS"] > 0
    # the wrong CRS set in QGIS moves them off the image: the engine sees what QGIS does
    nocrs.setCrs(wgs)
    with pytest.raises(QgsProcessingException, match="LABELS: no label feature overlaps"):
        _run({"INPUT_RASTER": image, "LABELS": nocrs.id(), "CLASS_FIELD": "id",
              "OUTPUT": str(tmp_path / "wrong.tif")})
    project.removeMapLayer(nocrs.id())
    # a raster image whose CRS is set in QGIS: the labels (in the image's true CRS) meet it
    # only through the CRS QGIS has
    plain = tmp_path / "plain.tif"
    with rasterio.open(image) as ds:
        profile, data = dict(ds.profile, crs=None), ds.read()
    with rasterio.open(plain, "w", **profile) as ds:
        ds.write(data)
    (tmp_path / "plain_classes.txt").write_text("1 = water\n")
    layer = QgsRasterLayer(str(plain), "plain", "gdal")
    layer.setCrs(QgsCoordinateReferenceSystem(f"EPSG:{epsg}"))
    project.addMapLayer(layer)
    from landlearn.processing_provider.layers import raster_path

    vrt = raster_path(layer, "INPUT_RASTER")  # named after the file, its class names beside
    assert os.path.basename(vrt) == "plain.vrt"
    assert os.path.exists(os.path.join(os.path.dirname(vrt), "plain_classes.txt"))
    res_raster = _run({"INPUT_RASTER": layer.id(), "LABELS": src, "CLASS_FIELD": "id",
                       "OUTPUT": str(tmp_path / "raster_set.tif")})
    # (the .prj's NAD83 state plane and EPSG's differ a little: reprojected, not assumed)
    assert abs(res_raster["LABELLED_PIXELS"] - res_file["LABELLED_PIXELS"]) < 20
    layer.setCrs(wgs)  # a wrong one: the labels fall elsewhere, as QGIS would draw them
    with pytest.raises(QgsProcessingException, match="LABELS: no label feature overlaps"):
        _run({"INPUT_RASTER": layer.id(), "LABELS": src, "CLASS_FIELD": "id",
              "OUTPUT": str(tmp_path / "raster_wrong.tif")})
    project.removeMapLayer(layer.id())


def test_unsaved_edits_and_virtual_fields_are_read_as_qgis_shows_them(provider, sample,
                                                                       tmp_path):
    """The file was read: polygons digitised but not saved were left out, and a virtual
    field offered in CLASS_FIELD was not found."""
    from osgeo import gdal
    from qgis.core import QgsField, QgsProject, QgsVectorLayer
    from qgis.PyQt.QtCore import QVariant

    nc = sample / "nc_landsat7"
    image = str(nc / "landsat_multiband.tif")
    copy = str(tmp_path / "polys.gpkg")
    gdal.VectorTranslate(copy, str(nc / "landsat96_polygons.shp"), format="GPKG")
    layer = QgsVectorLayer(copy, "polys", "ogr")
    QgsProject.instance().addMapLayer(layer)
    try:
        whole = _run({"INPUT_RASTER": image, "LABELS": layer.id(), "CLASS_FIELD": "id",
                      "OUTPUT": str(tmp_path / "whole.tif")})
        assert whole["CLASS_COUNT"] > 1
        layer.startEditing()
        layer.deleteFeatures([f.id() for f in layer.getFeatures() if f["id"] != 5])
        edited = _run({"INPUT_RASTER": image, "LABELS": layer.id(), "CLASS_FIELD": "id",
                       "OUTPUT": str(tmp_path / "edited.tif")})
        assert edited["CLASS_COUNT"] == 1  # the edit, unsaved
        layer.rollBack()
        layer.addExpressionField('"id" * 2', QgsField("twice", QVariant.Type.Int))
        virtual = _run({"INPUT_RASTER": image, "LABELS": layer.id(), "CLASS_FIELD": "twice",
                        "OUTPUT": str(tmp_path / "virtual.tif")})
        assert virtual["CLASS_COUNT"] == whole["CLASS_COUNT"]
    finally:
        QgsProject.instance().removeMapLayer(layer.id())


def test_vector_settings_given_with_raster_labels_are_said_to_be_unused(provider, sample,
                                                                        tmp_path):
    import processing
    from qgis.core import QgsProcessingFeedback

    said = []

    class Log(QgsProcessingFeedback):
        def pushWarning(self, text):  # noqa: N802 - QGIS's name
            said.append(text)
            super().pushWarning(text)

    nc = sample / "nc_landsat7"
    processing.run("landlearn:rasterizelabels", {
        "INPUT_RASTER": str(nc / "landsat_multiband.tif"), "LABELS": str(nc / "strata.tif"),
        "CLASS_FIELD": "id", "ALL_TOUCHED": True, "OUTPUT": str(tmp_path / "l.tif")},
        feedback=Log())
    assert any(w.startswith("CLASS_FIELD, ALL_TOUCHED: not used with a classified raster")
               for w in said), said


def test_line_layers_are_offered_and_burn_the_pixels_they_cross(provider, sample, tmp_path):
    """Roads, streams and hedges digitised as lines: the dialogs listed only polygon and
    point layers, though the engine burns lines."""
    from osgeo import ogr, osr
    from qgis.core import QgsApplication, QgsProcessing

    registry = QgsApplication.processingRegistry()
    for name in ("rasterizelabels", "exporttrainingdata", "trainclassifier", "assessaccuracy"):
        labels = registry.algorithmById(f"landlearn:{name}").parameterDefinition("LABELS")
        assert QgsProcessing.SourceType.TypeVectorLine in labels.dataTypes(), name
    image = sample / "nc_landsat7" / "landsat_multiband.tif"
    with rasterio.open(image) as ds:
        left, bottom, right, top = ds.bounds
        res, width, epsg = ds.res[0], ds.width, ds.crs.to_epsg()
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    src = ogr.GetDriverByName("GPKG").CreateDataSource(str(tmp_path / "roads.gpkg"))
    layer = src.CreateLayer("roads", srs, ogr.wkbLineString)
    layer.CreateField(ogr.FieldDefn("cls", ogr.OFTInteger))
    for value, row in ((1, 100.5), (2, 300.5)):  # through the middle of rows 100 and 300
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetField("cls", value)
        y = top - row * res
        f.SetGeometry(ogr.CreateGeometryFromWkt(f"LINESTRING({left} {y}, {right} {y})"))
        layer.CreateFeature(f)
    src = None
    out = str(tmp_path / "labels.tif")
    with _selected(tmp_path / "roads.gpkg", "cls > 0") as roads:  # a line layer object
        got = _run({"INPUT_RASTER": str(image), "LABELS": roads, "CLASS_FIELD": "cls",
                    "OUTPUT": out})
    with rasterio.open(out) as ds:
        burnt = ds.read(1)
    assert got["CLASS_COUNT"] == 2
    # one pixel wide across the image (less its NoData, where labels are dropped)
    assert set(np.nonzero(burnt)[0]) == {100, 300}
    assert set(burnt[100]) == {0, 1} and set(burnt[300]) == {0, 2}
    assert np.count_nonzero(burnt[100]) > 0.8 * width < np.count_nonzero(burnt[300])


def test_a_shapefile_whose_encoding_is_set_in_qgis_is_read_as_qgis_shows_it(provider,
                                                                            tmp_path):
    """A Latin-1 shapefile with no .cpg, its encoding set in QGIS (Layer Properties >
    Source): QGIS shows 'Forêt', the engine read the file's bytes and failed as a bug (a
    PyQGIS sweep, stop 68). The layer is copied as QGIS shows it; without the setting, the
    refusal names the fix."""
    from qgis.core import QgsProcessingException, QgsProject, QgsVectorLayer

    from synthetic import latin1_shapefile, write

    image = write(tmp_path / "image.tif", np.ones((10, 10), np.uint8))
    path = latin1_shapefile(str(tmp_path), [("Forêt", (500000, 4999900, 500050, 5000000)),
                                            ("Pré", (500050, 4999900, 500100, 5000000))])
    layer = QgsVectorLayer(path, "latin1", "ogr")
    QgsProject.instance().addMapLayer(layer)
    try:
        with pytest.raises(QgsProcessingException, match="is not UTF-8.*latin1.cpg"):
            _run({"INPUT_RASTER": image, "LABELS": layer.id(), "CLASS_FIELD": "kind",
                  "OUTPUT": str(tmp_path / "raw.tif")})
        # a subset: read through a copy QGIS writes, where the bytes became U+FFFD and
        # 'Forêt' and 'Forët' would have been one class (review, stop 68)
        layer.setSubsetString("\"kind\" IS NOT NULL")
        with pytest.raises(QgsProcessingException, match="is not UTF-8.*set the layer's "
                                                         "encoding in QGIS"):
            _run({"INPUT_RASTER": image, "LABELS": layer.id(), "CLASS_FIELD": "kind",
                  "OUTPUT": str(tmp_path / "copied.tif")})
        layer.setSubsetString("")
        layer.setProviderEncoding("windows-1252")
        assert [f["kind"] for f in layer.getFeatures()] == ["Forêt", "Pré"]
        out = str(tmp_path / "named.tif")
        _run({"INPUT_RASTER": image, "LABELS": layer.id(), "CLASS_FIELD": "kind",
              "OUTPUT": out})
        qml = (tmp_path / "named.qml").read_text(encoding="utf-8")  # the style beside it
        assert 'label="Forêt"' in qml and 'label="Pré"' in qml
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
