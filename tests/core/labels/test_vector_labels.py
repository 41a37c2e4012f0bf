"""Labels from polygons and points with a class field, reprojected and burnt per window."""

import numpy as np
import pytest
import rasterio

from landlearn.core.errors import InputError
from landlearn.core.geo.raster import RasterSource
from landlearn.core.labels.base import LabelConfig
from landlearn.core.labels.open import open_labels
from landlearn.core.labels.vector_labels import VectorLabels
from landlearn.core.progress import RecordingProgress
from synthetic import box_wkt, kind_layer, polygons, write

S2 = "s2_osm_sparse/s2l1c_T33UUU_20170216_10bands_10m.tif"
OSM = "s2_osm_sparse/gis_osm_landuse-water_a_free_1_area-10000-to-500000.gpkg"


def grid_of(path):
    with RasterSource(path) as src:
        return src.grid


def test_osm_text_field_becomes_alphabetical_classes_and_matches_reference(shared):
    grid = grid_of(shared / S2)
    labels = open_labels(LabelConfig(str(shared / OSM), class_field="fclass"), grid)
    names = [c.name for c in labels.classes]
    assert names == ["farm", "forest", "grass", "meadow", "residential", "scrub", "water", "wetland"]
    assert [c.value for c in labels.classes] == list(range(1, 9))
    ours = labels.read(grid.full_window)
    with rasterio.open(shared / "s2_osm_sparse" / "osm_landuse_labels_10m.tif") as ds:
        ref = ds.read(1)
    assert abs((ours == 0).mean() - 0.69) < 0.02  # ~69% unlabelled, as the data README says
    both = (ours > 0) & (ref > 0)
    # the reference drew water last; we keep layer order, so overlaps may differ slightly
    assert np.mean(ours[both] == ref[both]) > 0.98
    assert np.mean((ours > 0) == (ref > 0)) > 0.99


def test_nc_polygons_numeric_field_reprojected(shared):
    grid = grid_of(shared / "nc_landsat7" / "landsat_multiband.tif")
    labels = open_labels(LabelConfig(str(shared / "nc_landsat7" / "landsat96_polygons.shp"),
                                     class_field="id"), grid)
    arr = labels.read(grid.full_window)
    assert set(np.unique(arr)) == {0, 1, 2, 3, 4, 5, 6, 7}
    with rasterio.open(shared / "nc_landsat7" / "strata.tif") as ds:
        strata = ds.read(1)
    # hand-drawn training polygons mostly agree with the wall-to-wall map
    assert np.mean(arr[arr > 0] == strata[arr > 0]) > 0.5


def test_points_burn_one_pixel_each(shared):
    grid = grid_of(shared / "nc_landsat7" / "landsat_multiband.tif")
    from osgeo import ogr

    ds = ogr.Open(str(shared / "nc_landsat7" / "landsat96_points.shp"))
    layer = ds.GetLayer(0)
    fields = [layer.GetLayerDefn().GetFieldDefn(i).GetName() for i in range(layer.GetLayerDefn().GetFieldCount())]
    field = "id" if "id" in fields else fields[0]
    labels = open_labels(LabelConfig(str(shared / "nc_landsat7" / "landsat96_points.shp"),
                                     class_field=field), grid)
    arr = labels.read(grid.full_window)
    assert 0 < np.count_nonzero(arr) <= layer.GetFeatureCount()


def test_nb_aerial_text_field(shared):
    tif = sorted((shared / "nb_aerial").glob("*.tif"))
    image = [p for p in tif if not p.name.startswith("labels")][0]
    gpkg = next((shared / "nb_aerial").glob("*.gpkg"))
    labels = open_labels(LabelConfig(str(gpkg), class_field="Niveau_3"), grid_of(image))
    assert {c.name for c in labels.classes} <= {"Building", "Forest", "Hydro", "Road", "Train corridor"}
    assert labels.read(grid_of(image).full_window).any()


def test_vector_errors_name_the_parameter(shared, tmp_path):
    grid = grid_of(shared / "nc_landsat7" / "landsat_multiband.tif")
    shp = str(shared / "nc_landsat7" / "landsat96_polygons.shp")
    with pytest.raises(InputError, match=r"CLASS_FIELD: vector labels need a class field; choose one of \["):
        open_labels(LabelConfig(shp), grid)
    with pytest.raises(InputError, match="CLASS_FIELD: the layer has no field 'nope'"):
        open_labels(LabelConfig(shp, class_field="nope"), grid)
    far = grid_of(shared / S2)  # Austria vs North Carolina
    with pytest.raises(InputError, match="LABELS: no label feature overlaps the raster"):
        open_labels(LabelConfig(shp, class_field="id"), far)
    with pytest.raises(InputError, match="LABELS: .* does not exist"):
        open_labels(LabelConfig(str(tmp_path / "none.gpkg"), class_field="id"), grid)


def test_numeric_class_out_of_range_in_vector(tmp_path, shared):
    from synthetic import polygons

    grid = grid_of(shared / "nc_landsat7" / "landsat_multiband.tif")
    x0, y0 = grid.transform.c, grid.transform.f
    path = polygons(tmp_path / "bad.gpkg", [(300, (x0, y0 - 500, x0 + 500, y0))], 32119)
    with pytest.raises(InputError, match="CLASS_FIELD: class value 300 .*outside 0..255"):
        open_labels(LabelConfig(path, class_field="cls"), grid)



def _grid(tmp_path):
    return grid_of(write(tmp_path / "image.tif", np.ones((10, 10), np.uint8)))


def test_all_touched_points_and_names_from_the_config(tmp_path):
    grid = _grid(tmp_path)
    thin = polygons(tmp_path / "thin.gpkg", [(3, (500021, 4999951, 500024, 4999954))], 32633)
    centre_only = VectorLabels(LabelConfig(thin, class_field="cls"), grid, RecordingProgress())
    assert not centre_only.read(grid.full_window).any()  # misses every pixel centre
    touched = VectorLabels(LabelConfig(thin, class_field="cls", all_touched=True,
                                       class_names={3: "hedge"}), grid, RecordingProgress())
    arr = touched.read(grid.full_window)
    assert np.argwhere(arr).tolist() == [[4, 2]] and arr[4, 2] == 3
    assert [(c.value, c.name) for c in touched.classes] == [(3, "hedge")]


def test_a_wrong_layer_or_field_type_names_what_there_is(tmp_path):
    grid = _grid(tmp_path)
    path = kind_layer(tmp_path / "d.gpkg", [("2020-01-01", (500000, 4999900, 500050, 5000000))],
                       field_type="date")
    with pytest.raises(InputError, match=r"^LABELS: there is no layer 'roads' in .*; its layers are \['land'\]"):
        VectorLabels(LabelConfig(path, layer="roads", class_field="kind"), grid, RecordingProgress())
    with pytest.raises(InputError, match="^CLASS_FIELD: field 'kind' is of type Date; use a numeric or text"):
        VectorLabels(LabelConfig(path, class_field="kind"), grid, RecordingProgress())
    empty = kind_layer(tmp_path / "e.gpkg", [(None, (500000, 4999900, 500050, 5000000))])
    with pytest.raises(InputError, match="^LABELS: no feature has a class in field 'kind'"):
        VectorLabels(LabelConfig(empty, class_field="kind"), grid, RecordingProgress())


def test_only_features_near_the_image_are_read(tmp_path):
    """A country's polygons against a county's image: features far away are not read (one
    with a class of 2.5 there would have stopped the run), in the image's CRS or another."""
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    from landlearn.core.geo.grid import Grid

    grid = Grid(CRS.from_epsg(32633), from_origin(500000, 5000000, 10, 10), 10, 10)
    near = (500020, 4999920, 500060, 4999980)
    far = (900000, 4000000, 900100, 4000100)
    same = polygons(tmp_path / "same.gpkg", [(3, near), (2.5, far)], 32633, real=True)
    with open_labels(LabelConfig(same, class_field="cls"), grid) as src:
        assert [c.value for c in src.classes] == [3]
        assert src.read(grid.full_window).sum() == 3 * 4 * 6
    # the same rectangles in EPSG:4326, reprojected
    from osgeo import osr

    src_srs, dst_srs = osr.SpatialReference(), osr.SpatialReference()
    src_srs.ImportFromEPSG(32633)
    dst_srs.ImportFromEPSG(4326)
    for s in (src_srs, dst_srs):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to = osr.CoordinateTransformation(src_srs, dst_srs)
    geo = [(v, to.TransformBounds(*box, 21)) for v, box in ((3, near), (2.5, far))]
    lonlat = polygons(tmp_path / "lonlat.gpkg", geo, 4326, real=True)
    with open_labels(LabelConfig(lonlat, class_field="cls"), grid) as src:
        assert [c.value for c in src.classes] == [3]
    away = Grid(grid.crs, from_origin(700000, 4500000, 10, 10), 10, 10)
    with pytest.raises(InputError, match="^LABELS: no label feature overlaps the raster .*"
                                         "layer's extent in its own CRS"):
        open_labels(LabelConfig(same, class_field="cls"), away)


def test_an_image_across_the_antimeridian_reads_its_labels(tmp_path):
    """UTM 60N around 180°: the image's box in lon/lat runs from 179.97 to -179.97, which a
    filter rectangle would read as the rest of the world; no filter then, as before."""
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    from landlearn.core.geo.grid import Grid

    grid = Grid(CRS.from_epsg(32660), from_origin(830000, 6000, 100, 100), 60, 60)
    near = polygons(tmp_path / "fiji.gpkg", [(4, (179.985, 0.01, 179.995, 0.04))], 4326)
    with open_labels(LabelConfig(near, class_field="cls"), grid) as src:
        assert [c.value for c in src.classes] == [4]
        assert src.read(grid.full_window).any()


def test_edges_in_degrees_are_burnt_as_the_curves_they_are_on_a_utm_grid(tmp_path):
    """A 1 x 1 degree box (EPSG:4326) at 45-46 N on a 30 m UTM 33N grid around the middle
    of its north edge: the parallel 46 N lies some 120 m off the chord between the box's
    corners there, and a vertex-only reprojection burnt the chord (four pixels off)."""
    from osgeo import osr
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    from landlearn.core.geo.grid import Grid

    def transformer(src, dst):
        a, b = osr.SpatialReference(), osr.SpatialReference()
        a.ImportFromEPSG(src)
        b.ImportFromEPSG(dst)
        for srs in (a, b):
            srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        t = osr.CoordinateTransformation(a, b)
        return lambda x, y: t.TransformPoint(x, y)[:2]

    box = polygons(tmp_path / "deg.gpkg", [(1, (14.0, 45.0, 15.0, 46.0))], 4326)
    to_utm, to_deg = transformer(4326, 32633), transformer(32633, 4326)
    x, y = to_utm(14.5, 46.0)  # the true edge's middle
    corners = [to_utm(lon, 46.0) for lon in (14.0, 15.0)]
    chord = corners[0][1] + (corners[1][1] - corners[0][1]) * (x - corners[0][0]) / (
        corners[1][0] - corners[0][0])
    assert abs(y - chord) > 90
    grid = Grid(CRS.from_epsg(32633), from_origin(x - 1500, y + 1500, 30, 30), 100, 100)
    arr = VectorLabels(LabelConfig(box, class_field="cls"), grid, RecordingProgress()).read(
        grid.full_window)
    for col in range(0, 100, 9):
        cx = x - 1500 + 30 * (col + 0.5)
        edge = to_utm(to_deg(cx, y)[0], 46.0)[1]  # the parallel here
        top = int(np.argmax(arr[:, col] != 0))  # the first labelled row from the north
        centre = y + 1500 - 30 * (top + 0.5)
        assert 0 < edge - centre <= 30, (col, edge - centre)  # the first centre inside it


def _wkt_layer(path, rows):
    """A GeoPackage of any geometries (WKT) with a text class field 'kind'."""
    from osgeo import ogr, osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer("land", srs, ogr.wkbUnknown)
    layer.CreateField(ogr.FieldDefn("kind", ogr.OFTString))
    for value, wkt in rows:
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetField("kind", value)
        f.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
        layer.CreateFeature(f)
    ds = None
    return str(path)


def test_curved_and_overlapping_multipart_polygons_are_burnt_whole(tmp_path):
    """A CurvePolygon (QGIS's curve tools, a FileGDB with arcs) raised a TypeError, shown as
    a bug in LandLearn; a multipolygon whose two parts overlap was filled even-odd, leaving
    the overlap unlabelled (review 92)."""
    grid = _grid(tmp_path)  # 10 x 10 px of 10 m at (500000, 5000000)
    rows = [("curved", "CURVEPOLYGON(CIRCULARSTRING(500020 4999920, 500080 4999920, "
                       "500020 4999920))"),
            ("parts", "MULTIPOLYGON(((500000 4999990, 500060 4999990, 500060 5000000, "
                      "500000 5000000, 500000 4999990)),((500040 4999990, 500100 4999990, "
                      "500100 5000000, 500040 5000000, 500040 4999990)))"),
            # a square (row 2, column 7) with a zero-width spike down column 7: the square
            # is burnt, the spike (a line once repaired) is not
            ("spike", "POLYGON((500070 4999980, 500080 4999980, 500080 4999970, "
                      "500075 4999970, 500075 4999900, 500075 4999970, 500070 4999970, "
                      "500070 4999980))")]
    progress = RecordingProgress()
    labels = VectorLabels(LabelConfig(_wkt_layer(tmp_path / "g.gpkg", rows), class_field="KIND"),
                          grid, progress)
    arr = labels.read(grid.full_window)
    values = {c.name: c.value for c in labels.classes}
    assert (arr[0] == values["parts"]).all()  # the overlap (columns 4-5) too
    # the disc: centre (500050, 4999920), radius 30 m: rows 6-9, columns 3-6 inside it
    assert (arr[6:10, 3:7] == values["curved"]).all() and (arr == values["curved"]).sum() > 20
    assert any("2 feature(s) with an invalid geometry" in m for m in progress.messages)
    assert (arr[2, 7] == values["spike"]) and (arr[4:7, 7] != values["spike"]).all()


def test_buffer_radius_burns_points_as_discs_and_keeps_a_points_own_pixel(tmp_path):
    """BUFFER_RADIUS (raster units): a point becomes a disc of that radius (ArcGIS's
    buffer_radius); one under half a pixel still labels the point's own pixel."""
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    from landlearn.core.geo.grid import Grid
    from synthetic import points

    grid = Grid(CRS.from_epsg(32633), from_origin(500000, 5000000, 10, 10), 60, 60)
    path = points(tmp_path / "p.gpkg", [(1, (500155, 4999845)), (2, (500405, 4999595))], 32633)
    plain = VectorLabels(LabelConfig(path, class_field="cls"), grid, RecordingProgress())
    assert np.count_nonzero(plain.read(grid.full_window)) == 2
    progress = RecordingProgress()
    wide = VectorLabels(LabelConfig(path, class_field="cls", buffer_radius=52.0), grid, progress)
    arr = wide.read(grid.full_window)
    # pixel centres within 52 m of a point at a pixel centre (none on the circle): 89
    assert np.count_nonzero(arr == 1) == 89 and np.count_nonzero(arr == 2) == 89
    assert arr[15, 15] == 1 and arr[40, 40] == 2
    assert any("2 point(s) burnt as discs of radius 52" in m for m in progress.messages)
    thin = VectorLabels(LabelConfig(path, class_field="cls", buffer_radius=1.0), grid,
                        RecordingProgress())
    assert np.count_nonzero(thin.read(grid.full_window)) == 2
    # a point 25 m west of the raster: its disc reaches 3 columns in (19 pixel centres)
    edge = points(tmp_path / "edge.gpkg", [(3, (499975, 4999845))], 32633)
    near = VectorLabels(LabelConfig(edge, class_field="cls", buffer_radius=52.0), grid,
                        RecordingProgress())
    assert np.count_nonzero(near.read(grid.full_window) == 3) == 19


def test_overlapping_and_nested_parts_of_a_multipolygon_label_their_union(tmp_path):
    """GEOS's default MakeValid keeps what an odd number of parts covers: the overlap of
    two parts lost its label, and a part inside another became a hole, where an earlier
    feature's class showed through (a qgis_process sweep, stop 66)."""
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    from landlearn.core.geo.grid import Grid

    grid = Grid(CRS.from_epsg(32633), from_origin(500000, 5000000, 10, 10), 20, 20)

    def box(c0, r0, c1, r1):  # columns c0..c1-1, rows r0..r1-1
        x0, x1, y0, y1 = 500000 + 10 * c0, 500000 + 10 * c1, 5000000 - 10 * r1, 5000000 - 10 * r0
        return f"(({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"

    rows = [("under", "MULTIPOLYGON(" + box(10, 10, 20, 20) + ")"),
            ("cross", "MULTIPOLYGON(" + box(0, 0, 5, 5) + "," + box(3, 3, 8, 8) + ")"),
            ("nested", "MULTIPOLYGON(" + box(10, 10, 20, 20) + "," + box(12, 12, 16, 16) + ")")]
    labels = VectorLabels(LabelConfig(_wkt_layer(tmp_path / "m.gpkg", rows), class_field="KIND"),
                          grid, RecordingProgress())
    arr = labels.read(grid.full_window)
    values = {c.name: c.value for c in labels.classes}
    assert np.count_nonzero(arr == values["cross"]) == 25 + 25 - 4  # the overlap labelled once
    assert (arr[3:5, 3:5] == values["cross"]).all()
    # the nested part is inside its feature, not a hole showing the feature burnt before
    assert (arr[10:20, 10:20] == values["nested"]).all()


def _coded_layer(path, rows, boolean=False):
    """A GeoPackage of 10 m squares: (code, name, (col, row)) in fields 'code' (integer, or
    true/false) and 'name'."""
    from osgeo import ogr, osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer("coded", srs, ogr.wkbPolygon)
    code = ogr.FieldDefn("code", ogr.OFTInteger)
    if boolean:
        code.SetSubType(ogr.OFSTBoolean)
    layer.CreateField(code)
    layer.CreateField(ogr.FieldDefn("name", ogr.OFTString))
    for value, name, (col, row) in rows:
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetField("code", value)
        f.SetField("name", name)
        x, y = 500000 + 10 * col, 5000000 - 10 * row
        f.SetGeometry(ogr.CreateGeometryFromWkt(box_wkt(x, y - 10, x + 10, y)))
        layer.CreateFeature(f)
    ds = None
    return str(path)


def test_a_true_false_field_and_a_code_named_two_ways_are_said(tmp_path):
    """A yes/no field gave one class with no word (False is 0, no label); a CLASS_NAME_FIELD
    naming code 3 'vegetation' and 'Vegetation' kept the first unsaid (a PyQGIS sweep,
    stop 68)."""
    grid = _grid(tmp_path)
    yes_no = _coded_layer(tmp_path / "b.gpkg", [(1, "yes", (1, 1)), (0, "no", (2, 2))], True)
    progress = RecordingProgress()
    labels = VectorLabels(LabelConfig(yes_no, class_field="code"), grid, progress)
    assert [c.value for c in labels.classes] == [1]
    assert any(w.startswith("CLASS_FIELD 'code' is a true/false field") for w in
               progress.warnings), progress.warnings
    coded = _coded_layer(tmp_path / "c.gpkg", [(3, "vegetation", (1, 1)), (3, "Veg", (2, 2)),
                                               (4, "water", (3, 3))])
    progress = RecordingProgress()
    labels = VectorLabels(LabelConfig(coded, class_field="code", class_name_field="name"),
                          grid, progress)
    assert [(c.value, c.name) for c in labels.classes] == [(3, "vegetation"), (4, "water")]
    assert ("CLASS_NAME_FIELD 'name' gives 1 class value(s) more than one name (3: ['Veg', "
            "'vegetation']): each takes the name of its first feature") in progress.warnings
    assert not any("true/false" in w for w in progress.warnings)
