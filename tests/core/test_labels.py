import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from landlearn.core.errors import InputError
from landlearn.core.geo.raster import RasterSource
from landlearn.core.labels.base import LabelConfig
from landlearn.core.labels.open import open_labels
from landlearn.core.progress import RecordingProgress
from synthetic import write

S2 = "s2_osm_sparse/s2l1c_T33UUU_20170216_10bands_10m.tif"
OSM = "s2_osm_sparse/gis_osm_landuse-water_a_free_1_area-10000-to-500000.gpkg"


def grid_of(path):
    with RasterSource(path) as src:
        return src.grid


def test_strata_described_as_epsg3358_is_warped_onto_the_epsg32119_image(shared):
    grid = grid_of(shared / "nc_landsat7" / "landsat_multiband.tif")
    progress = RecordingProgress()
    labels = open_labels(LabelConfig(str(shared / "nc_landsat7" / "strata.tif")), grid, progress)
    assert any("warping" in m for m in progress.messages)  # CRS differs: it really warps
    assert [c.value for c in labels.classes] == [1, 2, 3, 4, 5, 6, 7]
    warped = labels.read(grid.full_window)
    with rasterio.open(shared / "nc_landsat7" / "strata.tif") as ds:
        raw = ds.read(1)
        raw = np.where(raw == ds.nodata, 0, raw).astype(np.uint8)
    # Same place told in two CRSs: nearest-neighbour warping keeps the pixels.
    assert np.mean(warped == raw) > 0.999
    # A window of the image grid gives the same pixels as the full read.
    win = Window(37, 91, 128, 64)
    np.testing.assert_array_equal(labels.read(win), warped[91:155, 37:165])


def test_label_raster_on_identical_grid_is_read_directly(shared):
    grid = grid_of(shared / S2)
    lab = shared / "s2_osm_sparse" / "osm_landuse_labels_10m.tif"
    progress = RecordingProgress()
    labels = open_labels(LabelConfig(str(lab)), grid, progress)
    assert not progress.messages  # aligned: no warp
    with rasterio.open(lab) as ds:
        raw = ds.read(1)
    np.testing.assert_array_equal(labels.read(grid.full_window), raw)
    # names from the sidecar osm_landuse_labels_classes.txt
    assert [c.name for c in labels.classes][:3] == ["farm", "forest", "grass"]
    edge = labels.read(Window(grid.width - 10, grid.height - 10, 32, 32))
    np.testing.assert_array_equal(edge[:10, :10], raw[-10:, -10:])
    assert not edge[10:].any() and not edge[:, 10:].any()  # overhang is NoData


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


def test_bad_class_values_name_the_parameter(tmp_path, shared):
    image = write(tmp_path / "img.tif", np.ones((20, 20), np.uint8))
    lab = write(tmp_path / "lab.tif", np.full((20, 20), 300, np.uint16))
    with pytest.raises(InputError, match="LABELS: class value 300 .* outside 0..255"):
        open_labels(LabelConfig(lab), grid_of(image))
    neg = write(tmp_path / "neg.tif", np.full((20, 20), -2, np.int16))
    with pytest.raises(InputError, match="LABELS: class value -2"):
        open_labels(LabelConfig(neg), grid_of(image))
    frac = write(tmp_path / "frac.tif", np.full((20, 20), 1.5, np.float32))
    with pytest.raises(InputError, match="not a whole number"):
        open_labels(LabelConfig(frac), grid_of(image))
    empty = write(tmp_path / "empty.tif", np.zeros((20, 20), np.uint8))
    with pytest.raises(InputError, match="LABELS: the label raster holds no class value"):
        open_labels(LabelConfig(empty), grid_of(image))


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
