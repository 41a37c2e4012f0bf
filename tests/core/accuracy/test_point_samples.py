"""Assess Accuracy with point references: each point a sample of its own (points sharing
a pixel said), points and features off the map counted apart."""

import numpy as np
import pytest

from landlearn.core.accuracy.assess_accuracy import AssessConfig, assess_accuracy
from landlearn.core.labels.base import LabelConfig
from landlearn.core.progress import RecordingProgress
from synthetic import map_and_reference


def _centre(row, col, dx=0.0, dy=0.0):
    return 500000 + 10 * col + 5 + dx, 5000000 - 10 * row - 5 + dy


def test_points_of_multipoint_features_off_the_map_are_said(tmp_path):
    """Points on the map were compared with the layer's features: two MultiPoint features
    of two points each, one of each off the map, dropped 2 of 4 points unsaid (review,
    stop 67). Points and features are counted apart."""
    from osgeo import ogr, osr

    m, _ = map_and_reference(tmp_path)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    path = str(tmp_path / "multi.gpkg")
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    layer = ds.CreateLayer("points", srs, ogr.wkbMultiPoint)
    layer.CreateField(ogr.FieldDefn("cls", ogr.OFTInteger))
    off = (400000, 5000000 - 50)
    for value, on in ((1, _centre(2, 3)), (2, _centre(15, 5))):
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetField("cls", value)
        f.SetGeometry(ogr.CreateGeometryFromWkt(f"MULTIPOINT(({on[0]} {on[1]}),"
                                                f"({off[0]} {off[1]}))"))
        layer.CreateFeature(f)
    ds = None
    progress = RecordingProgress()
    res = assess_accuracy(AssessConfig(m, LabelConfig(path, class_field="cls")), progress)
    np.testing.assert_array_equal(res.accuracy.matrix, [[1, 0], [0, 1]])
    said = [w for w in progress.warnings if "lie on the map" in w]
    assert said and said[0].startswith("2 reference points lie on the map") and \
        "2 further points of multipoint features lie off it" in said[0] and \
        "features have no point" not in said[0], said


def test_each_reference_point_is_a_sample_even_where_points_share_a_pixel(tmp_path):
    """Rasterized, three points in one pixel were one sample (the last one's class): a
    table of 7 accuracy points gave a matrix of 4. Each point counts, and the shared pixel
    is said."""
    from synthetic import points

    m, _ = map_and_reference(tmp_path)  # rows 0-9 map class 1, rows 10-19 class 2, col 0 = 0
    ref = points(tmp_path / "pts.gpkg", [
        (1, _centre(2, 3, -3, 2)), (1, _centre(2, 3, 3, -2)), (2, _centre(2, 3)),  # one pixel
        (2, _centre(15, 5)),
        # on the corner of rows 9/10 (map classes 1/2), cols 3/4: GDAL burns it into the
        # pixel below and right (row 10, class 2)
        (2, (500000 + 40, 5000000 - 100)),
        (1, _centre(5, 0)),  # on an unclassified map pixel
        (1, (400000, 5000000 - 50)),  # off the map
        (1, _centre(19, 19)),  # the last row and column (map class 2)
    ], 32633)
    progress = RecordingProgress()
    res = assess_accuracy(AssessConfig(m, LabelConfig(ref, class_field="cls")), progress)
    np.testing.assert_array_equal(res.accuracy.matrix, [[2, 1], [1, 2]])
    assert res.unclassified_reference == 1
    assert res.accuracy.overall == pytest.approx(4 / 6)
    # the corner point falls where rasterio (GDAL) burns it
    from rasterio.features import rasterize
    from rasterio.transform import from_origin

    burnt = rasterize([({"type": "Point", "coordinates": (500040, 4999900)}, 1)], (20, 20),
                      transform=from_origin(500000, 5000000, 10, 10))
    assert list(zip(*np.nonzero(burnt))) == [(10, 4)]
    assert any("3 reference points share a map pixel" in w and "1 pixel(s) hold points of "
               "different classes" in w for w in progress.warnings)
    # the point off the map is said, not dropped unsaid (a qgis_process sweep, stop 66)
    assert any(w.startswith("7 reference points lie on the map") and "1 of the layer's 8 "
               "features have no point on it" in w for w in progress.warnings)
    # apart, every point is its own pixel and nothing is said
    ref2 = points(tmp_path / "pts2.gpkg", [(1, _centre(2, 3)), (2, _centre(15, 5))], 32633)
    progress = RecordingProgress()
    res = assess_accuracy(AssessConfig(m, LabelConfig(ref2, class_field="cls")), progress)
    np.testing.assert_array_equal(res.accuracy.matrix, [[1, 0], [0, 1]])
    assert not any("share a map pixel" in w or "lie on the map" in w for w in progress.warnings)
