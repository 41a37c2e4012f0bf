"""geo.band_presence: the bands to blame when a raster reads as all NoData."""

import numpy as np
import pytest

from landlearn.core.errors import InputError
from landlearn.core.geo.band_presence import all_nodata_words, bands_without_values
from landlearn.core.geo.raster import RasterSource
from synthetic import write


def _three(folder, empty=(2,), nodata=None):
    folder.mkdir(exist_ok=True)
    data = np.random.default_rng(0).random((3, 300, 200)).astype(np.float32)
    for b in empty:
        data[b - 1] = np.nan if nodata is None else nodata
    return write(folder / "r.tif", data, nodata=nodata)


def test_a_band_without_any_value_is_named_and_none_when_all_or_none_are(tmp_path):
    path = _three(tmp_path)
    assert bands_without_values(path, [1, 2, 3], [None] * 3) == [2]
    assert bands_without_values(path, [3, 1], [None] * 2) == []
    every = _three(tmp_path / "every", empty=(1, 2, 3))
    assert bands_without_values(every, [1, 2, 3], [None] * 3) == []
    filled = _three(tmp_path / "filled", empty=(3,), nodata=-9999.0)
    assert bands_without_values(filled, [1, 2, 3], [-9999.0] * 3) == [3]
    with RasterSource(path) as src:
        words = all_nodata_words(src, "all NoData")
    assert words == ("all NoData: band(s) [2] hold no value (NaN, or their NoData "
                     "everywhere) and a pixel is NoData where any band is; leave them out "
                     "with BANDS")


def test_export_names_the_nan_band_that_made_every_pixel_nodata(tmp_path):
    from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
    from landlearn.core.labels.base import LabelConfig

    path = _three(tmp_path)
    lab = write(tmp_path / "lab.tif", np.ones((300, 200), np.uint8), nodata=0)
    with pytest.raises(InputError, match=r"^INPUT_RASTER: every pixel .* band\(s\) \[2\] hold "
                                         "no value .* leave them out with BANDS"):
        export_training_data(ExportConfig(path, LabelConfig(lab), str(tmp_path / "out"),
                                          tile_size_x=64, tile_size_y=64))
    # as told: without band 2 it exports
    export_training_data(ExportConfig(path, LabelConfig(lab), str(tmp_path / "out"),
                                      bands=(1, 3), tile_size_x=64, tile_size_y=64))
