"""labels.layer_crs: a GeoPackage without a CRS is read in the raster's, as any layer
without one is (GDAL names it 'Undefined geographic SRS', which was taken for degrees)."""

import numpy as np
from osgeo import ogr
from rasterio.crs import CRS
from rasterio.transform import from_origin

from landlearn.core.geo.grid import Grid
from landlearn.core.labels.base import LabelConfig
from landlearn.core.labels.layer_crs import image_box, layer_srs, transformer
from landlearn.core.labels.mask_polygons import MaskPolygons
from landlearn.core.labels.vector_labels import VectorLabels
from landlearn.core.progress import RecordingProgress
from synthetic import polygons

GRID = Grid(CRS.from_epsg(32633), from_origin(500000, 5000000, 10, 10), 60, 60)
BOX = (500100, 4999700, 500300, 4999900)  # 20 x 20 pixels


def test_a_geopackage_without_a_crs_is_read_in_the_rasters(tmp_path):
    path = polygons(tmp_path / "nocrs.gpkg", [(4, BOX)], None)
    ds = ogr.Open(path)
    layer = ds.GetLayer(0)
    # GDAL 3.6 (Debian 12) reads it as 'Undefined geographic SRS', GDAL 3.10 as none
    assert layer_srs(layer) is None and transformer(layer, GRID, RecordingProgress()) is None
    progress = RecordingProgress()
    labels = VectorLabels(LabelConfig(path, class_field="cls"), GRID, progress)
    assert np.count_nonzero(labels.read(GRID.full_window) == 4) == 400
    assert any("has no CRS; assuming it is the raster's CRS" in w for w in progress.warnings)
    masked = RecordingProgress()
    mask = MaskPolygons(path, None, GRID, masked)
    assert mask.inside(GRID.full_window).sum() == 400
    assert masked.warnings == ["MASK_POLYGONS has no CRS; assuming it is the raster's CRS."]


def test_a_raster_without_a_crs_takes_the_layers_and_says_so(tmp_path):
    """The image without a CRS: the layer is burnt in its own coordinates, as before, but
    that was unsaid (PyQGIS sweep, stop 69)."""
    path = polygons(tmp_path / "utm.gpkg", [(4, BOX)], 32633)
    bare = Grid(None, GRID.transform, 60, 60)
    progress = RecordingProgress()
    labels = VectorLabels(LabelConfig(path, class_field="cls"), bare, progress)
    assert np.count_nonzero(labels.read(bare.full_window) == 4) == 400
    assert [w for w in progress.warnings if "no CRS" in w] == [
        "The raster has no CRS; assuming it is the label layer's CRS (WGS 84 / UTM zone "
        "33N). Assign the raster's CRS if that is wrong."]


def test_the_rasters_box_in_the_layers_crs_reaches_a_pixel_or_the_radius_past_it(tmp_path):
    ds = ogr.Open(polygons(tmp_path / "p.gpkg", [(1, BOX)], 32633))
    layer = ds.GetLayer(0)
    assert layer_srs(layer).GetAuthorityCode(None) == "32633"
    assert image_box(layer, GRID, None) == (499990, 4999390, 500610, 5000010)
    assert image_box(layer, GRID, None, 50.0) == (499950, 4999350, 500650, 5000050)


def test_an_undefined_cartesian_srs_is_no_crs_whatever_its_case():
    """geopandas writes a GeoDataFrame without a CRS with srs_id -1, which GDAL names
    'Undefined Cartesian SRS' (capital C)."""
    from osgeo import osr

    class Layer:
        def __init__(self, srs):
            self.srs = srs

        def GetSpatialRef(self):  # noqa: N802 - OGR's name
            return self.srs

    local = osr.SpatialReference()
    local.SetLocalCS("Undefined Cartesian SRS")
    assert layer_srs(Layer(local)) is None
    utm = osr.SpatialReference()
    utm.ImportFromEPSG(32633)
    assert layer_srs(Layer(utm)) is utm
