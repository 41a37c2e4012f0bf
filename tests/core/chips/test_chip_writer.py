"""Chip pairs written off the main thread: georeferenced, in the source type, labels with
the class colours; a failed write surfaces, never lost in a thread."""

import os
import shutil

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

from landlearn.core.chips.chip_writer import ChipWriter, write_chip
from landlearn.core.geo.classes import ClassInfo

CRS_ = CRS.from_epsg(32633)
T = from_origin(500000, 5000000, 10, 10)


def test_pairs_are_written_georeferenced_in_their_type(tmp_path):
    classes = [ClassInfo(2, "water", (0, 0, 255))]
    writer = ChipWriter(str(tmp_path), CRS_, -9999, classes, workers=2, depth=2)
    rng = np.random.default_rng(0)
    images = [rng.integers(-100, 100, (3, 16, 24)).astype(np.int16) for _ in range(5)]
    for i, img in enumerate(images):
        label = np.full((16, 24), 2 if i % 2 else 0, np.uint8)
        writer.submit(f"{i:09d}.tif", img, label, from_origin(500000 + 240 * i, 5000000, 10, 10))
    writer.close()
    assert sorted(os.listdir(tmp_path / "images")) == sorted(os.listdir(tmp_path / "labels")) == \
        [f"{i:09d}.tif" for i in range(5)]
    for i, img in enumerate(images):
        with rasterio.open(tmp_path / "images" / f"{i:09d}.tif") as ds:
            assert ds.dtypes == ("int16",) * 3 and ds.nodata == -9999 and ds.crs == CRS_
            assert ds.transform == from_origin(500000 + 240 * i, 5000000, 10, 10)
            assert ds.compression is None  # read every epoch: never decompressed again
            np.testing.assert_array_equal(ds.read(), img)
        with rasterio.open(tmp_path / "labels" / f"{i:09d}.tif") as ds:
            assert ds.dtypes == ("uint8",) and ds.nodata == 0
            assert (ds.read(1) == (2 if i % 2 else 0)).all()
            cmap = ds.colormap(1)
            assert cmap[2] == (0, 0, 255, 255) and cmap[1][:3] == (0, 0, 0)  # TIFF keeps no alpha


def test_a_failed_write_is_raised_at_close(tmp_path):
    writer = ChipWriter(str(tmp_path), CRS_, None, [], workers=1, depth=8)
    shutil.rmtree(tmp_path / "images")  # the next write has nowhere to go
    writer.submit("000000000.tif", np.zeros((1, 16, 16), np.uint8), np.zeros((16, 16), np.uint8),
                  T)
    with pytest.raises(OSError, match="the chip .*000000000.tif' failed"):
        writer.close()
    # unwinding from another error: pending failures are collected, not raised over it
    writer = ChipWriter(str(tmp_path / "again"), CRS_, None, [], workers=1)
    shutil.rmtree(tmp_path / "again" / "labels")
    writer.submit("000000000.tif", np.zeros((1, 16, 16), np.uint8), np.zeros((16, 16), np.uint8),
                  T)
    writer.close(wait_errors=False)
    assert os.listdir(tmp_path / "again" / "images") == ["000000000.tif"]


def test_a_full_queue_surfaces_a_failure_on_submit(tmp_path):
    writer = ChipWriter(str(tmp_path), CRS_, None, [], workers=1, depth=1)
    shutil.rmtree(tmp_path / "images")
    args = (np.zeros((1, 16, 16), np.uint8), np.zeros((16, 16), np.uint8), T)
    writer.submit("000000000.tif", *args)
    with pytest.raises(OSError, match="the chip .*000000000.tif' failed"):
        writer.submit("000000001.tif", *args)  # waits for the first, which failed
    writer.close(wait_errors=False)


def test_write_chip_is_uncompressed_and_whole(tmp_path):
    data = np.arange(2 * 20 * 30, dtype=np.float32).reshape(2, 20, 30)
    path = str(tmp_path / "c.tif")
    write_chip(path, data, CRS_, T, -1.0)
    assert os.path.getsize(path) >= data.nbytes
    with rasterio.open(path) as ds:
        np.testing.assert_array_equal(ds.read(), data)
        assert ds.nodata == -1.0
