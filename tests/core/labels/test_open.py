"""Opening labels: the factory picks the raster or the vector source for a path."""

import numpy as np
import pytest

from landlearn.core.errors import InputError
from landlearn.core.geo.raster import RasterSource
from landlearn.core.labels.base import LabelConfig
from landlearn.core.labels.open import is_vector, open_labels
from landlearn.core.labels.raster_labels import RasterLabels
from landlearn.core.labels.vector_labels import VectorLabels
from synthetic import polygons, write


def test_is_vector(sample, tmp_path):
    assert is_vector(str(sample / "s2_osm_sparse" / "osm_landuse_subset.gpkg"))
    assert is_vector(str(sample / "nc_landsat7" / "landsat96_polygons.shp"))
    assert not is_vector(str(sample / "nc_landsat7" / "strata.tif"))
    assert not is_vector(str(tmp_path / "missing.gpkg"))
    (tmp_path / "notes.txt").write_text("hello")
    assert not is_vector(str(tmp_path / "notes.txt"))


def test_open_labels_picks_the_source_and_aligns_it_to_the_grid(tmp_path):
    image = write(tmp_path / "image.tif", np.ones((10, 10), np.uint8))
    with RasterSource(image) as src:
        grid = src.grid
    lab = np.zeros((10, 10), np.uint8)
    lab[2:4, 2:4] = 5
    raster = open_labels(LabelConfig(write(tmp_path / "lab.tif", lab, nodata=0)), grid)
    assert isinstance(raster, RasterLabels) and [c.value for c in raster.classes] == [5]
    np.testing.assert_array_equal(raster.read(grid.full_window), lab)
    # the same square as a polygon (pixels 2..3 of a 10 m grid at 500000, 5000000)
    gpkg = polygons(tmp_path / "p.gpkg", [(5, (500020, 4999960, 500040, 4999980))], 32633)
    vector = open_labels(LabelConfig(gpkg, class_field="cls"), grid)
    assert isinstance(vector, VectorLabels) and vector.grid is grid
    np.testing.assert_array_equal(vector.read(grid.full_window), lab)


def test_open_labels_refuses_no_path_and_a_missing_one(tmp_path):
    image = write(tmp_path / "image.tif", np.ones((4, 4), np.uint8))
    with RasterSource(image) as src:
        grid = src.grid
    with pytest.raises(InputError, match="^LABELS: no labels were given"):
        open_labels(LabelConfig(""), grid)
    with pytest.raises(InputError, match="^LABELS: '.*none.tif' does not exist"):
        open_labels(LabelConfig(str(tmp_path / "none.tif")), grid)
    # GDAL's virtual paths are not checked on disk: GDAL itself says what is wrong
    with pytest.raises(InputError, match="^LABELS: "):
        open_labels(LabelConfig("/vsimem/none.tif"), grid)


def test_labels_in_a_geopackage_raster_table_open_by_gdals_connection_string(tmp_path):
    """QGIS passes a GeoPackage raster layer as GPKG:path:table (HDF and NetCDF layers
    likewise): it was refused as a file that does not exist."""
    import rasterio

    image = write(tmp_path / "image.tif", np.ones((8, 8), np.uint8))
    with RasterSource(image) as src:
        grid = src.grid
    lab = np.zeros((8, 8), np.uint8)
    lab[1:3, 4:7] = 3
    path = tmp_path / "labels.gpkg"
    with rasterio.open(path, "w", driver="GPKG", width=8, height=8, count=1, dtype="uint8",
                       crs="EPSG:32633", nodata=0, RASTER_TABLE="landcover",
                       transform=rasterio.transform.from_origin(500000, 5000000, 10, 10)) as ds:
        ds.write(lab[None])
    labels = open_labels(LabelConfig(f"GPKG:{path}:landcover"), grid)
    assert [c.value for c in labels.classes] == [3]
    np.testing.assert_array_equal(labels.read(grid.full_window), lab)
    with pytest.raises(InputError, match="^LABELS: "):
        open_labels(LabelConfig(f"GPKG:{tmp_path / 'missing.gpkg'}:landcover"), grid)


def _open_files(path) -> list[str]:
    """This process's file descriptors open on ``path`` (Linux /proc)."""
    import os

    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                out.append(fd)
        except OSError:
            pass
    return out


def test_labels_close_on_leaving_a_with_block_even_on_error(tmp_path):
    """A label raster left open went with an error's traceback to a later garbage
    collection, which crashed the interpreter at exit: closed where the run ends now."""
    image = write(tmp_path / "image.tif", np.ones((10, 10), np.uint8))
    with RasterSource(image) as src:
        grid = src.grid
    lab = write(tmp_path / "lab.tif", np.full((10, 10), 3, np.uint8), nodata=0)
    with pytest.raises(RuntimeError, match="mid-run"):
        with open_labels(LabelConfig(lab), grid) as raster:
            assert _open_files(lab)
            raise RuntimeError("mid-run")
    assert raster.ds.closed and not _open_files(lab)
    gpkg = polygons(tmp_path / "p.gpkg", [(5, (500020, 4999960, 500040, 4999980))], 32633)
    with open_labels(LabelConfig(gpkg, class_field="cls"), grid) as vector:
        assert vector.read(grid.full_window).any()


def test_a_failing_export_closes_its_label_raster(tmp_path):
    from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
    from landlearn.core.geo.extent import Extent

    image = write(tmp_path / "image.tif", np.ones((40, 40), np.uint8))
    lab = np.zeros((40, 40), np.uint8)
    lab[:5, :5] = 2  # only the top-left corner is labelled
    labels = write(tmp_path / "lab.tif", lab, nodata=0)
    # an extent over the unlabelled bottom-right corner; the error (and its traceback, with
    # the run's frames) is kept, as a caller reporting it does
    with pytest.raises(InputError, match="^LABELS: no label") as info:
        export_training_data(ExportConfig(
            image, LabelConfig(labels), str(tmp_path / "chips"), tile_size_x=16,
            tile_size_y=16, stride_x=16, stride_y=16,
            extent=Extent(500300, 4999600, 500400, 4999700)))
    assert info.value.__traceback__ is not None and not _open_files(labels)
