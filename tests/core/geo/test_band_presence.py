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
    path = _three(tmp_path / "nan")
    assert bands_without_values(path, [1, 2, 3]) == [2]
    assert bands_without_values(path, [3, 1]) == []
    every = _three(tmp_path / "every", empty=(1, 2, 3))
    assert bands_without_values(every, [1, 2, 3]) == []  # an empty raster: none to blame
    # a band of its NoData value everywhere does not make a pixel NoData (only every band
    # at its NoData does): not to blame
    filled = _three(tmp_path / "filled", empty=(3,), nodata=-9999.0)
    assert bands_without_values(filled, [1, 2, 3]) == []
    with RasterSource(path) as src:
        words = all_nodata_words(src, "all NoData")
    assert words == ("all NoData: band(s) [2] hold no value (NaN everywhere), and a pixel "
                     "is NoData where any band is NaN; leave them out with BANDS")
    # bands sampled already are taken as given (the raster is not read again)
    with RasterSource(path) as src:
        assert all_nodata_words(src, "all NoData", empty=[3]).startswith("all NoData: band(s) [3]")
        assert all_nodata_words(src, "all NoData", empty=[]) == \
            "all NoData; check the raster's NoData value and EXTENT"


def test_bands_of_several_types_are_read_one_by_one(tmp_path):
    """A VRT of a uint16 band and a float32 band of NaN: rasterio 1.3 refuses to read bands
    of two types at once ("more than one 'dtype' found")."""
    from osgeo import gdal

    a = write(tmp_path / "a.tif", np.ones((1, 80, 90), np.uint16))
    b = write(tmp_path / "b.tif", np.full((1, 80, 90), np.nan, np.float32))
    vrt = str(tmp_path / "ab.vrt")
    gdal.BuildVRT(vrt, [a, b], separate=True)
    assert bands_without_values(vrt, [1, 2]) == [2]


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
