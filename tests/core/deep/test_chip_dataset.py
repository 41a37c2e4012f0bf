"""deep.chip_dataset: chips normalised by the export's statistics, NoData and ignored classes
made IGNORE, and augmentation that keeps image and labels aligned."""

import numpy as np
import pytest
import rasterio

from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
from landlearn.core.chips.training_data import read_training_data
from landlearn.core.deep.chip_dataset import IGNORE, ChipData, augment_batch, label_lut
from landlearn.core.labels.base import LabelConfig
from synthetic import two_class_chips, write


def test_label_lut_maps_class_values_to_indices_and_everything_else_to_ignore():
    lut = label_lut([3, 7, 1])
    assert lut.dtype == np.uint8 and lut.shape == (256,)
    assert (lut[3], lut[7], lut[1]) == (0, 1, 2)
    others = np.delete(np.arange(256), [1, 3, 7])
    assert np.all(lut[others] == IGNORE)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A 2-band uint16 raster with a NoData corner and labels 1, 2, 3, cut into 32 px chips."""
    tmp = tmp_path_factory.mktemp("chipdata")
    rng = np.random.default_rng(0)
    image = rng.integers(100, 4000, (2, 64, 96)).astype(np.uint16)
    image[:, :10, :12] = 0  # NoData in both bands
    labels = np.zeros((64, 96), np.uint8)
    labels[:, :40], labels[:, 40:70], labels[:, 70:] = 1, 2, 3
    labels[50:, 80:] = 0  # not labelled
    img = write(tmp / "img.tif", image, nodata=0)
    lab = write(tmp / "lab.tif", labels, nodata=0)
    out = tmp / "chips"
    export_training_data(ExportConfig(img, LabelConfig(lab), str(out), tile_size_x=32,
                                      tile_size_y=32, stride_x=32, stride_y=32))
    return out


def test_chips_are_normalised_and_nodata_and_ignored_classes_become_ignore(folder):
    data = read_training_data([str(folder)])
    assert data.tile_size == (32, 32) and data.band_count == 2 and len(data.chips) == 6
    chips = ChipData(data, [1, 3])  # class 2 is ignored
    assert chips.cached
    seen_nodata = False
    for i, chip in enumerate(data.chips):
        with rasterio.open(chip.image) as ds, rasterio.open(chip.label) as ls:
            raw, lab = ds.read().astype(np.float64), ls.read(1)
        nodata = np.all(raw == 0, axis=0)
        seen_nodata |= bool(nodata.any())
        x, y = chips.load(i)
        assert x.dtype == np.float32 and x.shape == (2, 32, 32) and y.shape == (32, 32)
        expected = (raw - data.mean[:, None, None]) / data.std[:, None, None]
        expected[:, nodata] = 0.0
        # cached as float16: what every epoch sees, the first one included
        np.testing.assert_allclose(x, expected.astype(np.float16), rtol=1e-3, atol=1e-3)
        want = np.full(lab.shape, IGNORE, np.uint8)
        want[lab == 1], want[lab == 3] = 0, 1
        want[nodata] = IGNORE
        np.testing.assert_array_equal(y, want)
        again_x, again_y = chips.load(i)
        np.testing.assert_array_equal(again_x, x)
        np.testing.assert_array_equal(again_y, y)
    assert seen_nodata
    # the statistics make the valid pixels about N(0, 1)
    xs = np.concatenate([chips.load(i)[0].reshape(2, -1) for i in range(len(data.chips))], 1)
    assert np.all(np.abs(xs.mean(1)) < 0.2) and np.all(np.abs(xs.std(1) - 1) < 0.2)


def test_a_background_value_trains_the_unlabelled_pixels_on_image_data(folder):
    """BACKGROUND_VALUE: the label chips' 0 is a class 'background' (arcgis.learn's reading
    of ArcGIS Pro's chips), but not where the image has no data; a value a class has is
    refused with a free one."""
    from landlearn.core.deep.chip_dataset import with_background
    from landlearn.core.errors import InputError
    from landlearn.core.progress import RecordingProgress

    plain = read_training_data([str(folder)])
    assert with_background(plain, 0) is plain
    progress = RecordingProgress()
    data = with_background(plain, 9, progress)
    assert [(c.value, c.name) for c in data.classes][-1] == (9, "background")
    assert [c.value for c in plain.classes] == [1, 2, 3]  # the folder's own list untouched
    assert any("trained as class 9 'background'" in m for m in progress.messages)
    chips = ChipData(data, [1, 2, 3, 9], background=9)
    seen = 0
    for i, chip in enumerate(data.chips):
        with rasterio.open(chip.image) as ds, rasterio.open(chip.label) as ls:
            nodata, lab = np.all(ds.read() == 0, axis=0), ls.read(1)
        _, y = chips.load(i)
        unlabelled = (lab == 0) & ~nodata
        seen += int(unlabelled.sum())
        assert (y[unlabelled] == 3).all() and (y[nodata] == IGNORE).all()
        assert (y[lab == 2] == 1).all()
    assert seen > 0
    with pytest.raises(InputError, match="^BACKGROUND_VALUE: 2 is the chips' class 'Class 2'; "
                       r"choose a value no class uses \(e.g. 4\)"):
        with_background(plain, 2)
    # a label pixel holding the background's own value is fill, not background: left out
    # and said (255, the usual label NoData, was trained as background)
    data = with_background(plain, 255)
    chips = ChipData(data, [1, 2, 3, 255], background=255)
    lab = np.array([[0, 255], [1, 3]], np.int64)
    assert chips.indices("x.tif", lab).tolist() == [[3, IGNORE], [0, 2]]
    assert chips.undeclared() is not None
    # a class of the chips named 'Background' already: the added one is told apart
    from dataclasses import replace

    from landlearn.core.geo.classes import ClassInfo

    own = replace(plain, classes=[ClassInfo(1, "Background", (0, 0, 0)), *plain.classes[1:]])
    names = [c.name for c in with_background(own, 9).classes]
    assert names == ["Background", "Class 2", "Class 3", "background (label 0)"]


def test_augmentation_keeps_image_and_labels_aligned():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    y = torch.from_numpy(rng.integers(0, 5, (12, 8, 8)).astype(np.int64))
    x = torch.stack([y.float(), -y.float(), torch.rand(12, 8, 8)], 1)
    ax, ay = augment_batch(torch, x, y, np.random.default_rng(2))
    assert ax.shape == x.shape and ay.shape == y.shape
    np.testing.assert_array_equal(ax[:, 0].numpy(), ay.numpy())
    np.testing.assert_array_equal(ax[:, 1].numpy(), -ay.numpy())
    changed = [not torch.equal(ay[i], y[i]) for i in range(12)]
    assert 6 <= sum(changed) < 12  # 7 of the 8 flips and rotations move something
    # every output chip is one of the eight symmetries of its input
    for i in range(12):
        variants = [torch.rot90(y[i], k, (0, 1)) for k in range(4)]
        variants += [torch.flip(v, (1,)) for v in variants]
        assert any(torch.equal(ay[i], v) for v in variants)
    # chips that are not square turn by 180 degrees only: their shape stays
    wide_y = torch.from_numpy(rng.integers(0, 5, (6, 4, 8)).astype(np.int64))
    wx, wy = augment_batch(torch, wide_y[:, None].float(), wide_y, np.random.default_rng(3))
    assert wx.shape == (6, 1, 4, 8)
    np.testing.assert_array_equal(wx[:, 0].numpy(), wy.numpy())


def test_batch_gives_tensors_on_the_device(folder):
    torch = pytest.importorskip("torch")
    data = read_training_data([str(folder)])
    chips = ChipData(data, [1, 2, 3])
    x, y = chips.batch([0, 2], torch, torch.device("cpu"), False, None)
    assert x.dtype == torch.float32 and tuple(x.shape) == (2, 2, 32, 32)
    assert y.dtype == torch.int64 and tuple(y.shape) == (2, 32, 32)
    np.testing.assert_array_equal(y[1].numpy(), chips.load(2)[1])


def test_infinite_and_extreme_values_stay_finite_for_training(tmp_path):
    """A ratio's +inf (no NoData for the model, as Classify Pixels reads it) and an
    undeclared -9999 fill (a z-score of -1e5, -inf in the float16 cache): both finite."""
    image = np.random.default_rng(1).random((2, 32, 32)).astype(np.float32)
    image[0, 3, 4] = np.inf
    image[1, 10, 10] = -9999.0
    data = read_training_data([str(two_class_chips(tmp_path, image))])
    chips = ChipData(data, [1, 2])
    x, y = chips.load(0)
    assert np.isfinite(x).all() and np.abs(x).max() <= 65504
    assert y[3, 4] == IGNORE and x[:, 3, 4].tolist() == [0.0, 0.0]


def test_pixels_under_an_alpha_band_are_missing_as_classify_pixels_reads_them(tmp_path):
    """Transparent pixels keep bright values (a clipped mosaic's): the chips carry them as
    missing, so training sees 0 and IGNORE there, as the map reads them, and the band
    statistics leave them out."""
    rng = np.random.default_rng(3)
    rgb = rng.integers(20, 60, (3, 64, 64)).astype(np.uint8)
    opaque = np.ones((64, 64), bool)
    opaque[:, 40:] = False
    rgb[:, ~opaque] = 250
    img = write(tmp_path / "rgba.tif", np.concatenate([rgb, (opaque * 255)[None].astype(
        np.uint8)]), photometric="RGB", alpha="YES")
    lab = write(tmp_path / "lab.tif", np.where(np.arange(64)[None] < 20, 1, 2).repeat(
        64, 0).astype(np.uint8), nodata=0)
    out = tmp_path / "chips"
    export_training_data(ExportConfig(img, LabelConfig(lab), str(out), tile_size_x=32,
                                      tile_size_y=32, stride_x=32, stride_y=32))
    data = read_training_data([str(out)])
    assert data.band_count == 3 and np.all(data.maximum < 60)  # 250 never counted
    chips = ChipData(data, [1, 2])
    seen = 0
    for i, chip in enumerate(data.chips):
        with rasterio.open(chip.image) as ds:
            transform = ds.transform
        col, row = round((transform.c - 500000) / 10), round((5000000 - transform.f) / 10)
        missing = ~opaque[row:row + 32, col:col + 32]
        x, y = chips.load(i)
        assert np.all(x[:, missing] == 0) and np.all(y[missing] == IGNORE)
        assert np.all(y[~missing] != IGNORE)
        seen += int(missing.sum())
    assert seen == 2 * 32 * 24  # the two right chips' 24 transparent columns


def test_one_bands_nodata_is_its_mean_for_the_network_and_out_of_its_statistics(tmp_path):
    """Band 2 is NoData (-9999, the file's NoData) over a strip where band 1 has data: the
    pixels stay labelled, band 2's statistics leave the strip out, and the network sees
    band 2's mean there (z 0), as Classify Pixels gives it (stream.normalise); kept, the
    strip was a z-score near -1000 once the statistics were honest."""
    rng = np.random.default_rng(6)
    image = rng.normal(100, 10, (2, 32, 32)).astype(np.float32)
    image[1, :, :8] = -9999.0
    labels = np.ones((32, 32), np.uint8)
    labels[:, 16:] = 2
    img = write(tmp_path / "img.tif", image, nodata=-9999.0)
    lab = write(tmp_path / "lab.tif", labels, nodata=0)
    export_training_data(ExportConfig(img, LabelConfig(lab), str(tmp_path / "chips"),
                                      tile_size_x=32, tile_size_y=32, stride_x=32, stride_y=32))
    data = read_training_data([str(tmp_path / "chips")])
    assert data.minimum[1] > 0 and data.mean[1] == pytest.approx(
        image[1, :, 8:].mean(dtype=np.float64), rel=1e-6)
    x, y = ChipData(data, [1, 2]).load(0)
    assert (x[1, :, :8] == 0).all() and (y[:, :8] != IGNORE).all()
    assert np.abs(x).max() < 10
    # a folder without statistics (another tool's): computed from its chips the same way
    import json

    for name, key in (("esri_model_definition.emd", "AllTilesStats"),
                      ("esri_accumulated_stats.json", "BandStatsState")):
        path = tmp_path / "chips" / name
        meta = json.loads(path.read_text())
        meta.pop(key, None)
        path.write_text(json.dumps(meta))
    again = read_training_data([str(tmp_path / "chips")])
    assert again.minimum[1] > 0 and again.mean[1] == pytest.approx(data.mean[1], rel=1e-6)


def test_a_bands_own_nodata_unlike_band_1s_is_its_mean_too(tmp_path):
    """A VRT of reflectance (NoData 0) and a DEM (NoData -9999): the chips record band 1's
    0 (GeoTIFF holds one value), so the DEM's holes were read as data in training (a
    z-score clipped to float16's end) while Classify Pixels read them as the band's mean.
    The export's description keeps each band's own value, and training reads it; a folder
    without it, and a pooled second folder, keep their chips' one value."""
    from osgeo import gdal

    rng = np.random.default_rng(7)
    refl = rng.integers(200, 900, (1, 32, 32)).astype(np.uint16)
    dem = rng.normal(120, 5, (1, 32, 32)).astype(np.float32)
    dem[0, 10:20, 10:20] = -9999.0
    a = write(tmp_path / "refl.tif", refl, nodata=0)
    b = write(tmp_path / "dem.tif", dem, nodata=-9999.0)
    vrt = str(tmp_path / "both.vrt")
    gdal.BuildVRT(vrt, [str(a), str(b)], separate=True)
    lab = write(tmp_path / "lab.tif", np.ones((32, 32), np.uint8), nodata=0)
    export_training_data(ExportConfig(vrt, LabelConfig(lab), str(tmp_path / "chips"),
                                      tile_size_x=32, tile_size_y=32, stride_x=32, stride_y=32))
    data = read_training_data([str(tmp_path / "chips")])
    assert data.band_nodata == [[0.0, -9999.0]] and data.nodata == 0.0
    assert data.minimum[1] > 100  # the holes out of the DEM's statistics
    x, _y = ChipData(data, [1]).load(0)
    assert (x[1, 10:20, 10:20] == 0).all() and np.abs(x).max() < 10
    assert x[0, 10:20, 10:20].std() > 0.5  # band 1 is data there
    # an older folder without the per-band values: the chip's one value for every band
    import json

    emd = tmp_path / "chips" / "esri_model_definition.emd"
    meta = json.loads(emd.read_text())
    meta["LandLearn"].pop("NoData")
    emd.write_text(json.dumps(meta))
    assert read_training_data([str(tmp_path / "chips")]).band_nodata == [[0.0, 0.0]]
    meta["LandLearn"]["NoData"] = [0, "nan"]
    emd.write_text(json.dumps(meta))
    again = read_training_data([str(tmp_path / "chips")])
    assert again.band_nodata[0][0] == 0.0 and np.isnan(again.band_nodata[0][1])


def test_label_values_no_class_is_declared_for_are_left_out_and_counted(tmp_path):
    """A label chip holding 5 in a folder declaring 1 and 2, and a uint16 label of 300
    (clipped, it became class 255): dropped without a word. Left out, and counted per chip
    so that training can say so; declared values and NoData are not counted."""
    from types import SimpleNamespace

    from landlearn.core.geo.classes import ClassInfo

    data = SimpleNamespace(classes=[ClassInfo(v, n, (0, 0, 0)) for v, n in ((1, "a"), (2, "b"),
                                                                        (255, "c"))],
                           mean=np.zeros(1), std=np.ones(1), tile_size=(2, 2), band_count=1,
                           chips=[])
    chips = ChipData(data, [1, 2, 255])
    lab = np.array([[0, 1], [2, 255]], np.uint16)
    np.testing.assert_array_equal(chips.indices("x.tif", lab), [[IGNORE, 0], [1, 2]])
    assert chips.undeclared() is None
    odd = np.array([[5, 1], [300, 5]], np.uint16)
    np.testing.assert_array_equal(chips.indices("y.tif", odd), [[IGNORE, 0], [IGNORE, IGNORE]])
    chips.indices("y.tif", odd)  # read again: counted once
    assert chips.undeclared() == (3, 1, [5, 300])


def test_radiometric_jitter_scales_and_shifts_each_chips_bands_and_leaves_nodata():
    torch = pytest.importorskip("torch")
    from landlearn.core.deep.chip_dataset import radiometric_jitter

    x = torch.ones((3, 2, 4, 4))
    x[:, :, 0, 0] = 0.0  # NoData (a band's mean)
    out = radiometric_jitter(torch, x, np.random.default_rng(0), 0.1)
    assert (out[:, :, 0, 0] == 0).all()
    body = out[:, :, 1:, 1:]
    # one gain and one shift per chip and band: a constant band stays constant
    assert torch.allclose(body, body[:, :, :1, :1].expand_as(body))
    per = body[:, :, 0, 0]
    assert ((per >= 0.8) & (per <= 1.2)).all() and per.std() > 0.01
    again = radiometric_jitter(torch, x, np.random.default_rng(0), 0.1)
    assert torch.equal(out, again)  # drawn from the run's generator: repeatable
