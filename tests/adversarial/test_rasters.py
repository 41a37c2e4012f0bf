"""Broken, strange and absurd rasters and numbers: a correct result or a clear error naming
the parameter, found before the work starts, never a hang or a silently wrong map."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import rasterio
from osgeo import gdal

import builder
from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
from landlearn.core.errors import Cancelled
from landlearn.core.labels.base import LabelConfig
from landlearn.core.labels.rasterize_labels import LabelRasterConfig, write_label_raster
from landlearn.core.progress import RecordingProgress
from landlearn.core.segment.segment_mean_shift import SegmentConfig, segment
from synthetic import write

NC = builder.NC


def _rounded(tmp_path, dtype, name):
    """The sample image with whole values in ``dtype``, NoData -99999 kept."""
    with rasterio.open(builder.IMAGE) as ds:
        data, profile = ds.read(), ds.profile
    data = np.round(data).astype(dtype)
    profile.update(dtype=np.dtype(dtype).name, nodata=-99999)
    path = tmp_path / name
    with rasterio.open(path, "w", **profile) as out:
        out.write(data)
    return path


def test_int64_rasters_keep_their_nodata_and_values(bases, guard, tmp_path):
    """Debian 12's rasterio reads Int64 as uint64 (-99999 -> 1.8e19, NoData lost): the map of
    an Int64 copy equals the map of the same values as float32, NoData included."""
    if getattr(gdal, "GDT_Int64", None) is None:
        pytest.skip("this GDAL has no Int64")
    as_float = _rounded(tmp_path, np.float32, "f32.tif")
    ds = gdal.Translate(str(tmp_path / "i64.tif"), str(as_float), outputType=gdal.GDT_Int64)
    ds = None  # noqa: F841
    maps = {}
    for name in ("f32", "i64"):
        out = tmp_path / f"{name}_map.tif"
        classify_pixels(ClassifyConfig(str(tmp_path / f"{name}.tif"), str(bases["classical"]),
                                       str(out)))
        with rasterio.open(out) as m:
            maps[name] = m.read(1)
    with rasterio.open(as_float) as src:
        nodata = np.all(src.read() == -99999, axis=0)
    assert nodata.any() and np.all(maps["i64"][nodata] == 0)
    np.testing.assert_array_equal(maps["i64"], maps["f32"])
    guard.after({})


def test_complex_rasters_are_refused_clearly(bases, guard, tmp_path):
    path = write(tmp_path / "complex.tif", (np.ones((3, 40, 40)) * (1 + 2j)).astype(np.complex64))
    guard.refused(lambda: classify_pixels(ClassifyConfig(path, str(bases["classical"]),
                                                         str(tmp_path / "m.tif"))),
                  "input_raster", "complex numbers")
    guard.refused(lambda: export_training_data(ExportConfig(
        path, LabelConfig(str(NC / "strata.tif")), str(tmp_path / "chips"))),
        "input_raster", "complex numbers")


def test_truncated_geotiff_input_is_named(bases, guard, image, tmp_path):
    cut = tmp_path / "cut.tif"
    cut.write_bytes(image.read_bytes()[:3000])
    guard.refused(lambda: classify_pixels(ClassifyConfig(str(cut), str(bases["classical"]),
                                                         str(tmp_path / "m.tif"))),
                  "input_raster", "cannot open|damaged|cannot be read")


def test_a_corrupt_chip_in_a_training_folder_is_named(guard, image, tmp_path):
    pytest.importorskip("segmentation_models_pytorch")
    from landlearn.core.deep.train_deep_learning_model import TrainConfig, train_model

    folder = tmp_path / "chips"
    export_training_data(ExportConfig(str(image), LabelConfig(str(NC / "strata.tif")),
                                      str(folder), tile_size_x=64, tile_size_y=64,
                                      stride_x=64, stride_y=64))
    chip = sorted((folder / "images").iterdir())[3]
    chip.write_bytes(b"II*\x00garbage" * 10)
    guard.refused(lambda: train_model(TrainConfig((str(folder),), str(tmp_path / "m.dlpk"),
                                                  backbone="resnet18", epochs=1, device="cpu")),
                  "training_data", chip.name)


@pytest.mark.parametrize("cell, match", [(-1.0, "not a positive cell size"),
                                         (0.0, "not a positive cell size"),
                                         (float("nan"), "not a positive cell size"),
                                         (1e9, "larger than the whole area"),
                                         (0.01, "gigapixels, more than the limit")])
def test_absurd_cell_sizes_stop_up_front(bases, guard, image, tmp_path, cell, match):
    """CELL_SIZE=0.01 on a 28.5 m raster asks for 2e12 pixels: stopped before any read, as
    are negative, zero and larger-than-the-raster sizes (was: a 1 x 1 map and rc 0)."""
    param = "max_output_gpx" if cell == 0.01 else "cell_size"
    guard.refused(lambda: classify_pixels(ClassifyConfig(str(image), str(bases["classical"]),
                                                         str(tmp_path / "m.tif"), cell_size=cell)),
                  param, match, keep=[image])
    guard.refused(lambda: export_training_data(ExportConfig(
        str(image), LabelConfig(str(NC / "strata.tif")), str(tmp_path / "chips"),
        cell_size=cell)), param, match, keep=[image])
    assert not (tmp_path / "m.tif").exists() and not (tmp_path / "chips").exists()


def test_metres_on_a_degree_raster_are_explained(bases, guard, tmp_path):
    path = tmp_path / "wgs84.tif"
    gdal.Warp(str(path), str(builder.IMAGE), dstSRS="EPSG:4326")
    guard.refused(lambda: classify_pixels(ClassifyConfig(str(path), str(bases["classical"]),
                                                         str(tmp_path / "m.tif"), cell_size=30)),
                  "cell_size", "degrees")


def test_negative_padding_is_called_negative(bases, guard, image, tmp_path):
    guard.refused(lambda: classify_pixels(ClassifyConfig(str(image), str(bases["classical"]),
                                                         str(tmp_path / "m.tif"), padding=-5)),
                  "padding", "-5 px is negative")


@pytest.fixture
def huge_vrt(tmp_path):
    """A 200,000 x 200,000 raster that is NoData but for the sample in one corner."""
    path = tmp_path / "huge.vrt"
    small = tmp_path / "small.tif"
    shutil.copy(builder.IMAGE, small)
    with rasterio.open(small) as ds:
        t = ds.transform
        n = ds.count
    bands = "".join(
        f'<VRTRasterBand dataType="Float32" band="{b}"><NoDataValue>-99999</NoDataValue>'
        f'<SimpleSource><SourceFilename relativeToVRT="1">small.tif</SourceFilename>'
        f"<SourceBand>{b}</SourceBand></SimpleSource></VRTRasterBand>" for b in range(1, n + 1))
    path.write_text(f'<VRTDataset rasterXSize="200000" rasterYSize="200000"><SRS>EPSG:32119</SRS>'
                    f"<GeoTransform>{t.c}, {t.a}, 0, {t.f}, 0, {t.e}</GeoTransform>{bands}"
                    "</VRTDataset>")
    return path


def test_huge_rasters_say_their_size_before_reading(bases, guard, huge_vrt, tmp_path):
    progress = RecordingProgress()
    guard.refused(lambda: classify_pixels(ClassifyConfig(str(huge_vrt), str(bases["classical"]),
                                                         str(tmp_path / "m.tif")), progress),
                  "max_output_gpx", "40.0 gigapixels")
    assert any("200,000 x 200,000" in m for m in progress.messages)
    guard.refused(lambda: segment(SegmentConfig(str(huge_vrt), output=str(tmp_path / "s.tif"))),
                  "max_output_gpx", "gigapixels")
    guard.refused(lambda: write_label_raster(LabelRasterConfig(
        str(huge_vrt), LabelConfig(str(NC / "strata.tif")), str(tmp_path / "l.tif"))),
        "max_output_gpx", "gigapixels")


def test_the_value_check_of_a_huge_raster_is_cancellable(bases, guard, huge_vrt, tmp_path):
    """With the limit raised, the run starts; the value check (which used to read the whole
    raster without a word) stops at the first cancel and leaves nothing."""
    progress = RecordingProgress(cancel_after_checks=2)
    with pytest.raises(Cancelled):
        classify_pixels(ClassifyConfig(str(huge_vrt), str(bases["classical"]),
                                       str(tmp_path / "m.tif"), max_output_gpx=100), progress)
    assert not (tmp_path / "m.tif").exists()
    guard.after({})


def test_int64_label_rasters_keep_their_nodata(guard, image, tmp_path):
    """Labels in Int64 with NoData -99999 (read as 1.8e19 by Debian 12's rasterio) burn the
    same label raster as the same values in Int32."""
    if getattr(gdal, "GDT_Int64", None) is None:
        pytest.skip("this GDAL has no Int64")
    with rasterio.open(image) as ds, rasterio.open(NC / "strata.tif") as st:
        values = st.read(1)
        profile = dict(driver="GTiff", width=ds.width, height=ds.height, count=1,
                       crs=ds.crs, transform=ds.transform, nodata=-99999)
    labels = np.where(values == -99999, -99999, values).astype(np.int32)
    with rasterio.open(tmp_path / "l32.tif", "w", dtype="int32", **profile) as out:
        out.write(labels, 1)
    gdal.Translate(str(tmp_path / "l64.tif"), str(tmp_path / "l32.tif"),
                   outputType=gdal.GDT_Int64)
    maps = {}
    for name in ("l32", "l64"):
        out = tmp_path / f"{name}_burnt.tif"
        write_label_raster(LabelRasterConfig(str(image), LabelConfig(str(tmp_path / f"{name}.tif")),
                                             str(out)))
        with rasterio.open(out) as m:
            maps[name] = m.read(1)
    assert (labels == -99999).any() and maps["l32"].any()
    np.testing.assert_array_equal(maps["l64"], maps["l32"])
    guard.after({})
