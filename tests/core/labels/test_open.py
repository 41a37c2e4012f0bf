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
