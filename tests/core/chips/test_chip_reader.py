"""A chip's missing pixels are read as Classify Pixels reads the raster's: non-finite values,
NoData on every band, and the chip's own mask where NoData could not say it."""

import os

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

from landlearn.core.chips.chip_reader import nodata_misses, read_image_chip, read_label_chip
from landlearn.core.chips.chip_writer import write_chip
from landlearn.core.errors import InputError

CRS_ = CRS.from_epsg(32633)
T = from_origin(500000, 5000000, 10, 10)


def _image(dtype=np.uint8):
    rng = np.random.default_rng(1)
    return rng.integers(1, 200, (3, 16, 16)).astype(dtype)


def test_a_mask_is_written_inside_the_chip_where_nodata_cannot_tell(tmp_path):
    data = _image()
    valid = np.ones((16, 16), bool)
    valid[:, 10:] = False  # an alpha band's transparent strip: real-looking values under it
    path = str(tmp_path / "c.tif")
    write_chip(path, data, CRS_, T, None, valid=valid)
    assert os.listdir(tmp_path) == ["c.tif"]  # no .msk beside it
    pixels, missing = read_image_chip(path, 3, (16, 16))
    np.testing.assert_array_equal(pixels, data)
    np.testing.assert_array_equal(missing, ~valid)
    # with a NoData value the pixels do not hold, the mask is still needed and still read
    write_chip(path, data, CRS_, T, 0, valid=valid)
    np.testing.assert_array_equal(read_image_chip(path, 3, (16, 16))[1], ~valid)


def test_no_mask_where_nodata_tells_the_missing_pixels(tmp_path):
    data = _image()
    valid = np.ones((16, 16), bool)
    valid[:4] = False
    data[:, :4] = 0
    path = str(tmp_path / "c.tif")
    write_chip(path, data, CRS_, T, 0, valid=valid)
    with rasterio.open(path) as ds:
        assert rasterio.enums.MaskFlags.per_dataset not in ds.mask_flag_enums[0]
    np.testing.assert_array_equal(read_image_chip(path, 3, (16, 16))[1], ~valid)
    write_chip(path, _image(), CRS_, T, None, valid=np.ones((16, 16), bool))
    with rasterio.open(path) as ds:
        assert ds.mask_flag_enums[0] == [rasterio.enums.MaskFlags.all_valid]


def test_non_finite_pixels_are_missing_without_a_mask():
    data = _image(np.float32)
    data[1, 2, 3] = np.nan
    data[0, 5, 5] = np.inf
    valid = np.isfinite(data).all(axis=0)
    assert not nodata_misses(data, valid, None)
    valid[7, 7] = False  # masked, yet finite: needs the mask
    assert nodata_misses(data, valid, None)


def test_a_chip_of_another_size_is_refused_before_reading(tmp_path):
    path = str(tmp_path / "c.tif")
    write_chip(path, _image(), CRS_, T, None)
    with pytest.raises(InputError, match="holds 3 band\\(s\\) of 16 x 16 px; this training "
                                         "data has 4 band\\(s\\) of 16 x 16"):
        read_image_chip(path, 4, (16, 16))
    with pytest.raises(InputError, match="of 32 x 32 px"):
        read_label_chip(path, (32, 32))
    assert read_label_chip(path, (16, 16)).shape == (16, 16)  # a label's first band


def test_a_chip_that_reads_other_files_is_refused_before_its_pixels(tmp_path):
    """A VRT saved as 'images/000000001.tif' read /etc/passwd's bytes (or a private raster
    outside the folder) into training and its report; a source that is a FIFO hung the
    read (an adversarial sweep, stop 68). Refused by its driver; a GeoTIFF chip with its
    mask and .aux.xml beside it reads."""
    secret = tmp_path / "secret.tif"
    with rasterio.open(secret, "w", driver="GTiff", width=8, height=8, count=1,
                       dtype="uint8") as ds:
        ds.write(np.full((1, 8, 8), 42, np.uint8))
    images = tmp_path / "images"
    images.mkdir()
    band = (f'<VRTRasterBand dataType="Byte" band="1"><SimpleSource><SourceFilename '
            f'relativeToVRT="0">{secret}</SourceFilename><SourceBand>1</SourceBand>'
            '</SimpleSource></VRTRasterBand>')
    (images / "000000001.tif").write_text(f'<VRTDataset rasterXSize="8" rasterYSize="8">'
                                          f'{band}</VRTDataset>')
    with pytest.raises(InputError, match=r"^TRAINING_DATA: the chip '.*000000001\.tif' is a "
                       r"VRT dataset, not a GeoTIFF, PNG, JPEG or MRF image"):
        read_image_chip(str(images / "000000001.tif"), 1, (8, 8))
    with rasterio.open(images / "000000002.tif", "w", driver="GTiff", width=8, height=8,
                       count=1, dtype="uint8", nodata=0) as ds:
        ds.write(np.full((1, 8, 8), 7, np.uint8))
    (images / "000000002.tif.aux.xml").write_text("<PAMDataset/>")
    pixels, missing = read_image_chip(str(images / "000000002.tif"), 1, (8, 8))
    assert (pixels == 7).all() and not missing.any()
