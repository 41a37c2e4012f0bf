"""Export Training Data where the source says a pixel holds no data by other means than
NoData (an alpha band, padding past its edge): the chips carry it as their own mask."""

import os

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from chip_checks import manifest
from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
from landlearn.core.labels.base import LabelConfig


def rgba_export(sample, tmp_path):
    """Real S2 pixels (bands 3, 2, 1, 300 x 300, no NoData) behind an alpha band with a
    transparent strip, cut into 64 px chips (the last row and column padded past the
    raster): (folder, alpha as a (300, 300) bool of the opaque pixels)."""
    s2 = sample / "s2_osm_sparse"
    image = str(s2 / "s2l1c_10bands_10m_subset.tif")
    labels = LabelConfig(str(s2 / "osm_landuse_subset.gpkg"), class_field="fclass")
    with rasterio.open(image) as ds:
        rgb = ds.read((3, 2, 1), window=Window(100, 100, 300, 300))
        profile = dict(driver="GTiff", width=300, height=300, count=4, dtype="uint16",
                       crs=ds.crs, transform=ds.window_transform(Window(100, 100, 300, 300)))
    opaque = np.ones((300, 300), bool)
    opaque[:, 90:150] = False  # real values stay under it, as a clipped mosaic's do
    path = str(tmp_path / "rgba.tif")
    with rasterio.open(path, "w", photometric="RGB", alpha="YES", **profile) as ds:
        ds.write(np.concatenate([rgb, np.where(opaque, 65535, 0)[None].astype(np.uint16)]))
    out = tmp_path / "rgba_chips"
    export_training_data(ExportConfig(path, labels, str(out), tile_size_x=64, tile_size_y=64,
                                      stride_x=64, stride_y=64, output_nofeature_tiles=True))
    return out, opaque


def test_pixels_under_an_alpha_band_or_past_the_edge_are_missing_in_the_chips(sample, tmp_path):
    from landlearn.core.chips.chip_reader import read_image_chip

    out, opaque = rgba_export(sample, tmp_path)
    padded = np.zeros((320, 320), bool)
    padded[:300, :300] = opaque
    chips = manifest(out)["chips"]
    assert len(chips) == 25
    masked = 0
    for chip in chips:
        r, c = chip["row_off"], chip["col_off"]
        data, missing = read_image_chip(str(out / chip["image"]), 3, (64, 64))
        np.testing.assert_array_equal(missing, ~padded[r:r + 64, c:c + 64])
        masked += int(missing.any())
        with rasterio.open(out / chip["label"]) as ls:
            assert not ls.read(1)[missing].any()  # no label on a missing pixel
    assert masked == 5 + 4 + 4 + 4  # the strip (two columns of chips), the padded row and column
    assert not [f for f in os.listdir(out / "images") if not f.endswith(".tif")]  # no .msk


def test_one_bands_nodata_stays_out_of_its_statistics(sample, tmp_path):
    """Two real S2 bands, NoData -1 (int16) in band 2 alone over a strip: those pixels are
    valid (band 1 has data) and exported, but band 2's statistics leave them out."""
    from chip_checks import stats

    s2 = sample / "s2_osm_sparse"
    image = str(s2 / "s2l1c_10bands_10m_subset.tif")
    labels = LabelConfig(str(s2 / "osm_landuse_subset.gpkg"), class_field="fclass")
    with rasterio.open(image) as ds:
        data = ds.read((3, 4), window=Window(100, 100, 256, 256)).astype(np.int16)
        profile = dict(driver="GTiff", width=256, height=256, count=2, dtype="int16",
                       nodata=-1, crs=ds.crs,
                       transform=ds.window_transform(Window(100, 100, 256, 256)))
    data[1, :, :64] = -1
    path = str(tmp_path / "gap.tif")
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    out = tmp_path / "chips"
    export_training_data(ExportConfig(path, labels, str(out), tile_size_x=64, tile_size_y=64,
                                      stride_x=64, stride_y=64, output_nofeature_tiles=True))
    first, second = stats(out)["BandStatsState"]
    assert first["Num"] == 256 * 256 and second["Num"] == 256 * 192
    assert second["Min"] > 0
    assert second["M1"] == pytest.approx(data[1, :, 64:].mean(dtype=np.float64), rel=1e-9)
