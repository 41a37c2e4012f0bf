"""processing_provider.layer_nodata: NoData set in QGIS's Layer Properties reaches the
engine (through layers.raster_path's VRT), or is refused where GDAL cannot hold it."""

def _s2_with_collar(sample, tmp_path, rows=40):
    """The s2 sample (uint16, no NoData in the file) with its first rows set to 0 in every
    band: a scene's black collar, which users mark NoData in QGIS."""
    import rasterio

    path = str(tmp_path / "collar.tif")
    with rasterio.open(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif") as src:
        data, profile = src.read(), src.profile
    assert src.nodata is None and (data[:, :rows] > 0).all()
    data[:, :rows] = 0
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def _layer(path, name):
    from qgis.core import QgsProject, QgsRasterLayer

    layer = QgsRasterLayer(path, name, "gdal")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    return layer


def _user_nodata(layer, *ranges):
    from qgis.core import QgsRasterRange

    for band in range(1, layer.bandCount() + 1):
        layer.dataProvider().setUserNoDataValue(band, [QgsRasterRange(lo, hi) for lo, hi in ranges])


def test_nodata_set_in_qgis_reaches_segment(provider, sample, tmp_path):
    """NoData added in Layer Properties > Transparency: QGIS's own algorithms leave those
    pixels out, LandLearn read the file and segmented the collar. Through processing.run
    with the layer, the collar's ids are NoData, and the run's log says why; the file
    alone (as qgis_process reads it) still segments it."""
    import processing
    import rasterio
    from qgis.core import QgsProcessingFeedback, QgsProject

    image = _s2_with_collar(sample, tmp_path)
    layer = _layer(image, "collar")
    _user_nodata(layer, (0, 0))

    class Log(QgsProcessingFeedback):
        lines: list = []

        def pushInfo(self, info):
            self.lines.append(info)
            super().pushInfo(info)

    try:
        params = {"BAND_INDEXES": [4, 3, 2], "MIN_SEGMENT_SIZE": 20}
        masked = str(tmp_path / "masked.tif")
        processing.run("landlearn:segment", {**params, "INPUT_RASTER": layer,
                                             "OUTPUT_SEGMENT_IDS": masked}, feedback=Log())
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
    # (a path of a layer in the project is that layer to Processing: removed first)
    plain = str(tmp_path / "plain.tif")
    processing.run("landlearn:segment", {**params, "INPUT_RASTER": image,
                                         "OUTPUT_SEGMENT_IDS": plain})
    assert any("NoData set in QGIS (band 1: 0," in line for line in Log.lines)
    with rasterio.open(masked) as m, rasterio.open(plain) as p:
        ids_m, valid_m = m.read(1), m.read_masks(1) > 0
        ids_p, valid_p = p.read(1), p.read_masks(1) > 0
    assert not valid_m[:40].any() and valid_m[40:].all()
    assert valid_p.all() and (ids_p[:40] > 0).all()
    assert (ids_m[40:] > 0).all()


def test_nodata_in_qgis_carried_refused_or_left(provider, sample, tmp_path):
    """Each way QGIS holds NoData: the file's unticked (none), a value added (that value),
    a value the band cannot hold (marks nothing: the file itself is read), a range or two
    values on one band (GDAL keeps one: refused, naming where to change it)."""
    import pytest
    import rasterio
    from qgis.core import QgsProcessingException, QgsProject

    from landlearn.processing_provider.layers import raster_path

    nc = str(sample / "nc_landsat7" / "landsat_multiband.tif")
    collar = _s2_with_collar(sample, tmp_path)
    unticked, added, unfit, ranged = (_layer(nc, "nc"), _layer(collar, "a"),
                                      _layer(collar, "b"), _layer(collar, "c"))
    both = _layer(nc, "both")
    try:
        assert raster_path(unticked, "INPUT_RASTER") == nc  # nothing changed in QGIS
        for band in range(1, 6):
            unticked.dataProvider().setUseSourceNoDataValue(band, False)
        with rasterio.open(raster_path(unticked, "INPUT_RASTER")) as src:
            assert src.nodatavals == (None,) * 5 and src.crs is not None
        _user_nodata(added, (0, 0))
        with rasterio.open(raster_path(added, "INPUT_RASTER")) as src:
            assert src.nodatavals == (0.0,) * 10
            assert (src.read_masks(1)[:40] == 0).all() and (src.read_masks(1)[40:] > 0).all()
        _user_nodata(unfit, (-9999, -9999))
        assert raster_path(unfit, "INPUT_RASTER") == collar
        _user_nodata(ranged, (0, 5))
        with pytest.raises(QgsProcessingException, match="INPUT_RASTER: layer 'c' has the "
                           "NoData range 0-5 set in Layer Properties > Transparency"):
            raster_path(ranged, "INPUT_RASTER")
        _user_nodata(both, (0, 0))
        with pytest.raises(QgsProcessingException, match=r"LABELS: band 1 of layer 'both' has "
                           r"2 NoData values in QGIS \(-99999, 0:"):
            raster_path(both, "LABELS")
    finally:
        for layer in (unticked, added, unfit, ranged, both):
            QgsProject.instance().removeMapLayer(layer.id())


def test_nodata_set_in_qgis_on_an_int64_band(provider, tmp_path):
    """GDAL's Int64 (a segment id raster): a negative value added in QGIS is carried (the
    band's type is asked from GDAL; rasterio 1.3 calls it uint64) and the engine masks it."""
    import numpy as np
    from osgeo import gdal
    from qgis.core import QgsProject
    from rasterio.windows import Window

    from landlearn.core.geo.raster import RasterSource
    from landlearn.processing_provider.layers import raster_path

    path = str(tmp_path / "ids.tif")
    ds = gdal.GetDriverByName("GTiff").Create(path, 8, 6, 1, gdal.GDT_Int64)
    ds.SetGeoTransform((500000, 10, 0, 4000000, 0, -10))
    ds.SetProjection("EPSG:32617")
    ids = np.arange(48, dtype=np.int64).reshape(6, 8) * 1000
    ids[0] = -5
    ds.GetRasterBand(1).WriteArray(ids)
    ds = None
    layer = _layer(path, "ids")
    try:
        _user_nodata(layer, (-5, -5))
        vrt = raster_path(layer, "SEGMENTED_RASTER")
        assert vrt != path
        assert gdal.Open(vrt).GetRasterBand(1).GetNoDataValue() == -5
        with RasterSource(vrt) as src:
            assert src.nodata == [-5]
            block = src.read(Window(0, 0, 8, 6))
        assert (block.data[0] == ids).all()
        assert not block.valid[0].any() and block.valid[1:].all()
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
