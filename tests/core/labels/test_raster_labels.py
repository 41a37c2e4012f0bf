"""Labels from a classified raster: read directly on the image grid, or warped onto it."""

import numpy as np
import pytest
import rasterio
from osgeo import gdal
from rasterio.transform import from_origin
from rasterio.windows import Window

from landlearn.core.errors import InputError
from landlearn.core.geo.raster import RasterSource
from landlearn.core.labels.base import LabelConfig
from landlearn.core.labels.open import open_labels
from landlearn.core.labels.raster_labels import RasterLabels, category_names
from landlearn.core.progress import RecordingProgress
from synthetic import write

S2 = "s2_osm_sparse/s2l1c_T33UUU_20170216_10bands_10m.tif"


def grid_of(path):
    with RasterSource(path) as src:
        return src.grid


def test_strata_described_as_epsg3358_lands_on_the_epsg32119_image(shared):
    grid = grid_of(shared / "nc_landsat7" / "landsat_multiband.tif")
    progress = RecordingProgress()
    labels = open_labels(LabelConfig(str(shared / "nc_landsat7" / "strata.tif")), grid, progress)
    with rasterio.open(shared / "nc_landsat7" / "strata.tif") as ds:
        # rasterio 1.3 (QGIS 3.22) tells NAD83(HARN) from this unnamed NAD83 and warps;
        # rasterio 1.4 (QGIS 3.40) holds them equivalent and reads directly: both are right
        differs = ds.crs != grid.crs
    assert any("warping" in m for m in progress.messages) == differs
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


def _grid(tmp_path, shape=(10, 10), **kw):
    return grid_of(write(tmp_path / "image.tif", np.ones(shape, np.uint8), **kw))


def test_an_offset_label_raster_is_read_without_warping(tmp_path):
    grid = _grid(tmp_path)  # 10 x 10 at (500000, 5000000), 10 m
    big = np.arange(20 * 20, dtype=np.int32).reshape(20, 20) % 7  # 0..6, 0 = NoData
    lab = write(tmp_path / "lab.tif", big, transform=from_origin(499950, 5000030, 10, 10), nodata=0)
    progress = RecordingProgress()
    labels = RasterLabels(LabelConfig(lab), grid, progress)
    assert progress.messages == []  # the same grid, 5 columns and 3 rows in: no warp
    assert [c.value for c in labels.classes] == [1, 2, 3, 4, 5, 6]
    np.testing.assert_array_equal(labels.read(grid.full_window), big[3:13, 5:15])
    edge = labels.read(Window(8, -2, 4, 4))  # overhang above and right of the image is 0
    assert edge.dtype == np.uint8
    np.testing.assert_array_equal(edge[2:, :2], big[3:5, 13:15])
    assert not edge[:2].any() and not edge[:, 2:].any()


def test_nodata_nan_names_and_colours_of_a_label_raster(tmp_path):
    grid = _grid(tmp_path, (4, 4))
    data = np.array([[1, 2, np.nan, -9], [3, 3, 3, 3], [0, 0, 0, 0], [1, 1, 1, 1]], np.float32)
    lab = write(tmp_path / "f.tif", data, nodata=-9)
    labels = RasterLabels(LabelConfig(lab, class_names={3: "given"}), grid, RecordingProgress())
    expected = np.nan_to_num(data, nan=0).astype(np.int16)
    expected[expected == -9] = 0
    np.testing.assert_array_equal(labels.read(grid.full_window), expected)
    assert [(c.value, c.name) for c in labels.classes] == [(1, "Class 1"), (2, "Class 2"), (3, "given")]
    # GDAL category names and the colour table of a uint8 label raster
    cat = write(tmp_path / "cat.tif", np.array([[1, 2], [2, 0]], np.uint8).repeat(2, 0).repeat(2, 1),
                nodata=0)
    ds = gdal.Open(cat, gdal.GA_Update)
    band = ds.GetRasterBand(1)
    table = gdal.ColorTable()
    table.SetColorEntry(2, (1, 2, 3, 255))
    band.SetColorTable(table)  # first: GDAL 3.6 drops PAM category names set before it
    band.SetCategoryNames(["", "water", "forest"])
    ds = band = None
    assert category_names(cat) == {1: "water", 2: "forest"}
    labels = RasterLabels(LabelConfig(cat), grid, RecordingProgress())
    assert [(c.value, c.name) for c in labels.classes] == [(1, "water"), (2, "forest")]
    assert labels.classes[1].color == (1, 2, 3)


def test_a_label_raster_elsewhere_or_without_crs_is_refused(tmp_path):
    grid = _grid(tmp_path)
    far = write(tmp_path / "far.tif", np.ones((5, 5), np.uint8),
                transform=from_origin(600000, 5000000, 10, 10))
    with pytest.raises(InputError, match="^LABELS: the label raster does not overlap the image"):
        RasterLabels(LabelConfig(far), grid, RecordingProgress())
    shifted = write(tmp_path / "shift.tif", np.ones((5, 5), np.uint8), crs=None,
                    transform=from_origin(500005, 5000000, 10, 10))
    with pytest.raises(InputError, match="^LABELS: the label raster and the image are on different "
                                         "grids and one of them has no CRS"):
        RasterLabels(LabelConfig(shifted), grid, RecordingProgress())
    # on the image's grid but saved without a CRS: the image's is assumed, and said
    same = np.zeros((10, 10), np.uint8)
    same[3:5, 6:8] = 2
    bare = write(tmp_path / "bare.tif", same, crs=None, nodata=0)
    progress = RecordingProgress()
    labels = RasterLabels(LabelConfig(bare), grid, progress)
    assert any("has no CRS: the other's is assumed" in w for w in progress.warnings)
    np.testing.assert_array_equal(labels.read(grid.full_window), same)
    # half a pixel off in the same CRS: warped (nearest neighbour), and said so
    half = write(tmp_path / "half.tif", np.full((10, 10), 4, np.uint8),
                 transform=from_origin(500005, 5000000, 10, 10))
    progress = RecordingProgress()
    labels = RasterLabels(LabelConfig(half), grid, progress)
    assert len(progress.messages) == 1 and "warping them onto the image grid" in progress.messages[0]
    assert labels.read(grid.full_window)[:, 1:].min() == 4


def test_a_sparse_label_raster_holds_labels_only_where_it_has_them(tmp_path):
    """The automatic chip size counts blocks with labelled pixels: a label raster that
    covers the image with 0s and labels one 100 x 100 px corner gets 32 px chips (16 blocks
    there), not the 256 px its footprint would give."""
    from landlearn.core.chips.chip_size import auto_tile

    grid = _grid(tmp_path, (1024, 1024))
    lab = np.zeros((1024, 1024), np.uint8)
    lab[:100, :100] = 3
    labels = RasterLabels(LabelConfig(write(tmp_path / "lab.tif", lab, nodata=0)), grid,
                          RecordingProgress())
    assert labels.overlaps(Window(512, 512, 256, 256))
    assert not labels.holds_labels(Window(512, 512, 256, 256))
    assert labels.holds_labels(Window(64, 64, 64, 64))
    assert auto_tile(labels, grid.full_window) == (32, 16)


def test_only_the_part_of_a_large_label_raster_under_the_image_is_scanned(tmp_path):
    """A continent's labels against a county's image: a stray value far from the image
    (300, not a class) does not stop the run; the classes are those under the image."""
    from landlearn.core.geo.grid import Grid
    from synthetic import write

    big = np.zeros((2048, 2048), np.int16)
    big[:50, :50] = 3
    big[10:20, 10:20] = 4
    big[2000, 2000] = 300
    big[1500, 10] = 7  # a class elsewhere is not one of these labels' classes here
    labels = write(tmp_path / "continent.tif", big, nodata=0)
    grid = Grid(rasterio.crs.CRS.from_epsg(32633), from_origin(500000, 5000000, 10, 10), 100, 100)
    with open_labels(LabelConfig(labels), grid) as src:
        assert [c.value for c in src.classes] == [3, 4]
    elsewhere = Grid(grid.crs, from_origin(519500, 4980500, 10, 10), 100, 100)  # pixel 2000
    with pytest.raises(InputError, match="^LABELS: .*300"):
        open_labels(LabelConfig(labels), elsewhere)
