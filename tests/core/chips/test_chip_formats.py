"""IMAGE_CHIP_FORMAT: PNG chips hold exactly the TIFF chips' pixels, masks and labels;
JPEG chips are close, with the same missing pixels and lossless labels; training reads
either folder; a raster a format cannot hold is refused before anything is written."""

import json
import os

import numpy as np
import pytest
import rasterio

from landlearn.core.chips.chip_formats import FORMATS, chip_format
from landlearn.core.chips.chip_reader import read_image_chip, read_label_chip
from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
from landlearn.core.chips.training_data import read_training_data
from landlearn.core.errors import InputError
from landlearn.core.labels.base import LabelConfig

T = rasterio.transform.from_origin(500000, 5000000, 10, 10)


def test_format_names_and_what_each_holds():
    assert chip_format("png") is FORMATS["PNG"] and chip_format(" jpg") is FORMATS["JPEG"]
    assert chip_format("tif") is FORMATS["TIFF"]
    with pytest.raises(InputError, match="IMAGE_CHIP_FORMAT: 'MRF' is not a chip format; use "
                                         "TIFF, PNG, JPEG"):
        chip_format("MRF")
    FORMATS["TIFF"].check(np.dtype("float32"), 224)
    FORMATS["PNG"].check(np.dtype("uint16"), 3)
    with pytest.raises(InputError, match=r"IMAGE_CHIP_FORMAT: PNG chips hold 8-bit or 16-bit "
                                         r"unsigned integers in 1 or 3 band\(s\).*gives 4 "
                                         r"band\(s\) of uint8: use TIFF"):
        FORMATS["PNG"].check(np.dtype("uint8"), 4)
    with pytest.raises(InputError, match="JPEG chips hold 8-bit unsigned .*of uint16"):
        FORMATS["JPEG"].check(np.dtype("uint16"), 3)


def _export(image, labels, out, **kw):
    return export_training_data(ExportConfig(
        str(image), LabelConfig(str(labels), class_field="fclass"), str(out),
        tile_size_x=96, tile_size_y=96, stride_x=96, stride_y=96, **kw))


def _chips(folder):
    return json.loads((folder / "landlearn_manifest.json").read_text())["chips"]


@pytest.fixture(scope="module")
def s2(sample):
    s2 = sample / "s2_osm_sparse"
    return s2 / "s2l1c_10bands_10m_subset.tif", s2 / "osm_landuse_subset.gpkg"


def test_png_chips_hold_the_tiff_chips_pixels_masks_and_labels(s2, tmp_path):
    """Real Sentinel-2 (uint16, no NoData value: the padded edge chips need a mask, which
    GDAL keeps beside a PNG); the 96 px chips do not divide the 512 px raster."""
    image, labels = s2
    tif = _export(image, labels, tmp_path / "tif", bands=(4, 3, 2))
    png = _export(image, labels, tmp_path / "png", bands=(4, 3, 2), image_chip_format="PNG")
    assert png.chips == tif.chips > 0
    a, b = _chips(tmp_path / "tif"), _chips(tmp_path / "png")
    masked = 0
    for ca, cb in zip(a, b):
        assert cb["image"] == ca["image"][:-4] + ".png" and cb["label"].endswith(".png")
        pa, ma = read_image_chip(str(tmp_path / "tif" / ca["image"]), 3, (96, 96))
        pb, mb = read_image_chip(str(tmp_path / "png" / cb["image"]), 3, (96, 96))
        np.testing.assert_array_equal(pa, pb)
        np.testing.assert_array_equal(ma, mb)
        masked += int(mb.any())
        np.testing.assert_array_equal(read_label_chip(str(tmp_path / "tif" / ca["label"]),
                                                      (96, 96)),
                                      read_label_chip(str(tmp_path / "png" / cb["label"]),
                                                      (96, 96)))
        with rasterio.open(tmp_path / "png" / cb["image"]) as ds, \
                rasterio.open(tmp_path / "tif" / ca["image"]) as dt:
            assert ds.driver == "PNG" and ds.crs == dt.crs and ds.transform == dt.transform
    assert masked > 0  # edge chips: their padding is told by the mask
    with rasterio.open(tmp_path / "png" / b[0]["label"]) as ds, \
            rasterio.open(tmp_path / "tif" / a[0]["label"]) as dt:
        assert {k: v[:3] for k, v in ds.colormap(1).items() if k < 12} == \
            {k: v[:3] for k, v in dt.colormap(1).items() if k < 12}
    manifest = json.loads((tmp_path / "png" / "landlearn_manifest.json").read_text())
    assert manifest["image_format"] == "PNG"
    first = (tmp_path / "png" / "map.txt").read_text().splitlines()[0]
    assert first == "images\\000000000.png labels\\000000000.png"
    # training reads the folder as it reads the TIFF one
    ta, tb = read_training_data([str(tmp_path / "tif")]), read_training_data([str(tmp_path / "png")])
    assert len(tb.chips) == len(ta.chips) and tb.classes == ta.classes
    np.testing.assert_allclose(tb.mean, ta.mean)
    for x, y in zip(ta.chips[:5], tb.chips[:5]):
        np.testing.assert_array_equal(ta.read_image(x)[0], tb.read_image(y)[0])


@pytest.fixture
def s2_bytes(s2, tmp_path):
    """The sample's red, green and blue scaled to 8 bits, NoData 0 and a hole of it: the
    kind of raster JPEG chips are for."""
    image, labels = s2
    with rasterio.open(image) as ds:
        data = ds.read([4, 3, 2]).astype(np.float64)
        profile = ds.profile
    scaled = np.clip(data / np.percentile(data, 99) * 254, 1, 255).astype(np.uint8)
    scaled[:, 200:230, 300:340] = 0
    profile.update(count=3, dtype="uint8", nodata=0)
    path = tmp_path / "rgb.tif"
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(scaled)
    return path, labels


def test_jpeg_chips_are_close_with_the_same_missing_pixels_and_png_labels(s2_bytes, tmp_path):
    image, labels = s2_bytes
    tif = _export(image, labels, tmp_path / "tif")
    jpg = _export(image, labels, tmp_path / "jpg", image_chip_format="JPEG")
    assert jpg.chips == tif.chips > 0
    holes = 0
    for ca, cb in zip(_chips(tmp_path / "tif"), _chips(tmp_path / "jpg")):
        assert cb["image"].endswith(".jpg") and cb["label"].endswith(".png")
        pa, ma = read_image_chip(str(tmp_path / "tif" / ca["image"]), 3, (96, 96))
        pb, mb = read_image_chip(str(tmp_path / "jpg" / cb["image"]), 3, (96, 96))
        np.testing.assert_array_equal(ma, mb)  # the mask inside the JPEG is lossless
        holes += int(mb.any())
        diff = np.abs(pa.astype(int) - pb.astype(int))[:, ~ma]
        assert diff.mean() < 5.0, diff.mean()  # of 255: quality 95 on real 10 m pixels
        np.testing.assert_array_equal(read_label_chip(str(tmp_path / "tif" / ca["label"]),
                                                      (96, 96)),
                                      read_label_chip(str(tmp_path / "jpg" / cb["label"]),
                                                      (96, 96)))
        with rasterio.open(tmp_path / "jpg" / cb["image"]) as ds:
            assert ds.driver == "JPEG" and ds.nodata is None  # compression moves values
    assert holes > 0
    data = read_training_data([str(tmp_path / "jpg")])
    assert len(data.chips) == jpg.chips
    # the chips keep no NoData, so training applies none (a pixel compression moved onto
    # the source's 0 was taken for a hole); the source's is kept apart
    assert data.nodata_of(data.chips[0]) == [None, None, None]
    manifest = json.loads((tmp_path / "jpg" / "landlearn_manifest.json").read_text())
    assert manifest["nodata"] == [None] * 3 and manifest["source_nodata"] == [0, 0, 0]


def test_png_keeps_the_nodata_value_and_the_same_missing_pixels(s2_bytes, tmp_path):
    image, labels = s2_bytes
    _export(image, labels, tmp_path / "tif")
    _export(image, labels, tmp_path / "png", image_chip_format="PNG")
    holes = 0
    for ca, cb in zip(_chips(tmp_path / "tif"), _chips(tmp_path / "png")):
        pa, ma = read_image_chip(str(tmp_path / "tif" / ca["image"]), 3, (96, 96))
        pb, mb = read_image_chip(str(tmp_path / "png" / cb["image"]), 3, (96, 96))
        np.testing.assert_array_equal(pa, pb)
        np.testing.assert_array_equal(ma, mb)
        holes += int(mb.any())
        with rasterio.open(tmp_path / "png" / cb["image"]) as ds:
            assert ds.nodata == 0
    assert holes > 0
    data = read_training_data([str(tmp_path / "png")])
    assert data.nodata_of(data.chips[0]) == [0.0, 0.0, 0.0]


def test_a_nodata_value_a_chip_cannot_hold_leaves_the_mask_to_tell(tmp_path):
    """0.5 on uint8 was read back from a PNG as 0 (every 0 turned missing), and -9999 on
    uint8 made rasterio refuse the TIFF chip with a traceback (review, stop 66)."""
    from landlearn.core.chips.chip_writer import write_chip

    data = np.arange(3 * 8 * 8, dtype=np.uint8).reshape(3, 8, 8)
    valid = np.ones((8, 8), bool)
    valid[0] = False
    for nodata, driver, name in ((0.5, "PNG", "a.png"), (-9999.0, "GTiff", "b.tif"),
                                 (300.0, "PNG", "c.png")):
        write_chip(str(tmp_path / name), data, None, T, nodata, valid=valid,
                   driver=driver)
        pixels, missing = read_image_chip(str(tmp_path / name), 3, (8, 8))
        np.testing.assert_array_equal(pixels, data)
        np.testing.assert_array_equal(missing, ~valid)  # the mask, not a misread value


def test_a_full_disk_during_a_png_or_jpeg_write_is_a_failed_write(tmp_path):
    """PNG and JPEG are written on close, where GDAL's own error (no OSError, no errno)
    was taken for a damaged input (review, stop 66)."""
    from landlearn.core.chips.chip_writer import write_chip

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    data = np.full((3, 64, 64), 7, np.uint8)  # small once compressed: GDAL said nothing
    for name, driver in (("x.png", "PNG"), ("x.jpg", "JPEG")):
        os.symlink("/dev/full", tmp_path / name)
        with pytest.raises(OSError, match=f"the chip '.*{name}' failed"):
            write_chip(str(tmp_path / name), data, None, T, None,
                       driver=driver)


class _CutOnClose:
    """rasterio as chip_writer sees it, except that a file opened for writing is damaged
    right after GDAL closes it: what a flush that failed there (a full disk) leaves."""

    def __init__(self, damage):
        self.damage = damage

    def __getattr__(self, name):
        return getattr(rasterio, name)

    def open(self, path, mode="r", **kw):
        from contextlib import contextmanager

        @contextmanager
        def opened():
            with rasterio.open(path, mode, **kw) as ds:
                yield ds
            if mode == "w":
                self.damage(path)
        return opened()


def _cut(path, keep=0.8):
    with open(path, "r+b") as f:
        f.truncate(int(os.path.getsize(path) * keep))


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")  # the lost .aux.xml
@pytest.mark.parametrize("name, driver, damage", [
    ("cut.jpg", "JPEG", _cut),  # libjpeg fills the lost rows with grey, only a warning
    ("nomask.png", "PNG", lambda p: _cut(p + ".msk", 0)),  # missing pixels read as data
    ("noplace.png", "PNG", lambda p: _cut(p + ".aux.xml", 0)),  # no CRS, no transform
])
def test_a_chip_cut_short_on_close_is_a_failed_write(monkeypatch, tmp_path, name, driver,
                                                     damage):
    """Decoding the last row passed a JPEG cut short (its mask, after the image, lost)
    and a PNG whose .msk or .aux.xml was lost or empty (review, stop 67)."""
    from landlearn.core.chips import chip_writer

    rng = np.random.default_rng(0)
    data = rng.integers(1, 250, (3, 64, 64)).astype(np.uint8)
    valid = np.ones((64, 64), bool)
    valid[:, 50:] = False  # padding without NoData: a mask tells it
    write_chip = chip_writer.write_chip
    write_chip(str(tmp_path / ("ok_" + name)), data, "EPSG:32633", T, None, valid=valid,
               driver=driver)  # intact, it passes the check
    monkeypatch.setattr(chip_writer, "rasterio", _CutOnClose(damage))
    with pytest.raises(OSError, match=f"the chip '.*{name}' failed"):
        write_chip(str(tmp_path / name), data, "EPSG:32633", T, None, valid=valid,
                   driver=driver)


@pytest.mark.heavy
def test_rotated_copies_keep_their_turned_transform_in_png(s2_bytes, tmp_path):
    image, labels = s2_bytes
    _export(image, labels, tmp_path / "tif", rotation_angle=45)
    _export(image, labels, tmp_path / "png", rotation_angle=45, image_chip_format="PNG")
    pairs = list(zip(_chips(tmp_path / "tif"), _chips(tmp_path / "png")))
    assert any(c.get("rotation") == 45 for c, _ in pairs)
    for ca, cb in pairs:
        with rasterio.open(tmp_path / "tif" / ca["image"]) as dt, \
                rasterio.open(tmp_path / "png" / cb["image"]) as dp:
            assert dp.transform.almost_equals(dt.transform)
            np.testing.assert_array_equal(dp.read(), dt.read())


def test_a_raster_the_format_cannot_hold_is_refused_before_writing(s2, tmp_path):
    image, labels = s2
    with pytest.raises(InputError, match="IMAGE_CHIP_FORMAT: PNG chips .* gives 10 band"):
        _export(image, labels, tmp_path / "out", image_chip_format="PNG")
    with pytest.raises(InputError, match="IMAGE_CHIP_FORMAT: JPEG chips .* of uint16"):
        _export(image, labels, tmp_path / "out", bands=(4, 3, 2), image_chip_format="JPEG")
    with pytest.raises(InputError, match="IMAGE_CHIP_FORMAT: 'webp' is not a chip format"):
        _export(image, labels, tmp_path / "out", image_chip_format="webp")
    assert os.listdir(tmp_path) == []
