"""What every label source shares: the config, names from a sidecar, overhang set to 0."""

import numpy as np
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rasterio.windows import Window

from landlearn.core.geo.grid import Grid
from landlearn.core.labels.base import LabelConfig, sidecar_class_names, zero_outside


def test_label_config_defaults():
    config = LabelConfig("labels.gpkg")
    assert (config.layer, config.class_field, config.class_name_field) == (None, None, None)
    assert config.class_names == {} and config.all_touched is False
    assert LabelConfig("a.tif").class_names is not LabelConfig("b.tif").class_names


def test_sidecar_names_exact_or_by_an_unambiguous_prefix(tmp_path):
    (tmp_path / "landcover.tif").write_bytes(b"")
    assert sidecar_class_names(str(tmp_path / "landcover.tif")) == {}
    # 'osm_landuse_labels_classes.txt' describes 'osm_landuse_labels_10m.tif'
    (tmp_path / "landcover_classes.txt").write_text("1 = water\n2 = forest\n")
    assert sidecar_class_names(str(tmp_path / "landcover_10m.tif")) == {1: "water", 2: "forest"}
    (tmp_path / "landcover_10m_classes.txt").write_text("1 = lake\n")
    # an exact name wins over a prefix
    assert sidecar_class_names(str(tmp_path / "landcover_10m.tif")) == {1: "lake"}
    (tmp_path / "land_classes.txt").write_text("1 = soil\n")
    # a prefix ends at a '_': 'land' does not describe 'landcover_20m'
    assert sidecar_class_names(str(tmp_path / "landcover_20m.tif")) == {1: "water", 2: "forest"}
    # two prefixes and no exact name: ambiguous, so none
    (tmp_path / "landcover_20m_classes.txt").write_text("1 = sea\n")
    assert sidecar_class_names(str(tmp_path / "landcover_20m_b.tif")) == {}
    # a bare 'classes.txt' describes no raster in particular
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "classes.txt").write_text("1 = rock\n")
    assert sidecar_class_names(str(tmp_path / "bare" / "map.tif")) == {}
    # the names a raster holds win over a file matched by prefix only, not over its own
    assert sidecar_class_names(str(tmp_path / "landcover_30m.tif"), {1: "pond", 3: "x"}) \
        == {1: "pond", 2: "forest", 3: "x"}
    assert sidecar_class_names(str(tmp_path / "landcover_10m.tif"), {1: "pond"}) == {1: "lake"}
    (tmp_path / "odd[1]").mkdir()
    (tmp_path / "odd[1]" / "x.classes.txt").write_text("4: road\n")
    assert sidecar_class_names(str(tmp_path / "odd[1]" / "x.tif")) == {4: "road"}  # glob-escaped


def test_zero_outside_clears_the_overhang_only():
    grid = Grid(CRS.from_epsg(32633), from_origin(0, 100, 10, 10), 6, 4)
    labels = np.full((4, 5), 7, np.uint8)
    out = zero_outside(labels, Window(3, 2, 5, 4), grid)  # 3 columns and 2 rows inside
    assert out is labels  # in place
    expected = np.zeros((4, 5), np.uint8)
    expected[:2, :3] = 7
    np.testing.assert_array_equal(out, expected)
    far = np.ones((2, 2), np.uint8)
    np.testing.assert_array_equal(zero_outside(far, Window(-5, -5, 2, 2), grid), 0)
    inside = np.ones((2, 2), np.uint8)
    np.testing.assert_array_equal(zero_outside(inside, Window(0, 0, 2, 2), grid), 1)
