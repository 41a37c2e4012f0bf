"""chips.export_config: Export Training Data's parameters, refused before the raster is
opened, naming the parameter."""

import os

import pytest

from landlearn.core.chips.export_config import ExportConfig
from landlearn.core.chips.export_training_data import export_training_data
from landlearn.core.errors import InputError
from landlearn.core.labels.base import LabelConfig


@pytest.mark.parametrize("kw,param,text", [
    (dict(tile_size_x=8), "TILE_SIZE_X", "outside 16..4096"),
    (dict(tile_size_y=5000), "TILE_SIZE_Y", "outside 16..4096"),
    (dict(stride_x=-1), "STRIDE_X", "at least 1 pixel"),
    (dict(stride_y=-3), "STRIDE_Y", "at least 1 pixel"),
    (dict(min_labeled_fraction=1.5), "MIN_LABELED_FRACTION", "not a fraction"),
    (dict(cell_size=-10.0), "CELL_SIZE", "not a positive cell size"),
    (dict(buffer_radius=-5.0), "BUFFER_RADIUS", "not a radius"),
    (dict(buffer_radius=float("nan")), "BUFFER_RADIUS", "not a radius"),
])
def test_bad_parameters_are_named_and_nothing_is_written(sample, tmp_path, kw, param, text):
    s2 = sample / "s2_osm_sparse"
    radius = kw.pop("buffer_radius", 0.0)
    labels = LabelConfig(str(s2 / "osm_landuse_subset.gpkg"), class_field="fclass",
                         buffer_radius=radius)
    with pytest.raises(InputError, match=f"^{param}: .*{text}"):
        export_training_data(ExportConfig(str(s2 / "s2l1c_10bands_10m_subset.tif"), labels,
                                          str(tmp_path / "out"), **kw))
    assert os.listdir(tmp_path) == []
