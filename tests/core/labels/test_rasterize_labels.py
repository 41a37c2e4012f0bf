"""The streaming labels -> GeoTIFF task on the embedded sample, including cancel."""

import os

import numpy as np
import pytest
import rasterio

from landlearn.core.errors import Cancelled
from landlearn.core.geo.extent import Extent
from landlearn.core.labels.base import LabelConfig
from landlearn.core.labels.rasterize_labels import LabelRasterConfig, write_label_raster
from landlearn.core.progress import RecordingProgress


def _config(sample, out, **kw):
    s2 = sample / "s2_osm_sparse"
    return LabelRasterConfig(str(s2 / "s2l1c_10bands_10m_subset.tif"),
                             LabelConfig(str(s2 / "osm_landuse_subset.gpkg"), class_field="fclass"),
                             str(out), **kw)


def test_sample_labels_counts_and_grid(sample, tmp_path):
    progress = RecordingProgress()
    result = write_label_raster(_config(sample, tmp_path / "l.tif", tile_size=128), progress)
    with rasterio.open(tmp_path / "l.tif") as ds, \
            rasterio.open(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif") as img:
        arr = ds.read(1)
        assert ds.transform == img.transform and ds.crs == img.crs and ds.shape == img.shape
    counts = np.bincount(arr.ravel(), minlength=9)
    assert result.pixel_counts == {v: int(counts[v]) for v in range(1, 9)}
    assert len(result.classes) == 8 and min(result.pixel_counts.values()) > 1000
    # tiling must not change the answer
    write_label_raster(_config(sample, tmp_path / "one.tif", tile_size=1024))
    with rasterio.open(tmp_path / "one.tif") as ds:
        np.testing.assert_array_equal(ds.read(1), arr)
    assert progress.fractions[-1] == 1.0 and progress.fractions == sorted(progress.fractions)
    assert "farm" in result.summary()


def test_extent_in_geographic_crs_crops_the_output(sample, tmp_path):
    with rasterio.open(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif") as img:
        b = img.bounds
    from rasterio.warp import transform_bounds

    geo = transform_bounds("EPSG:32633", "EPSG:4326", b.left, b.bottom,
                           (b.left + b.right) / 2, (b.bottom + b.top) / 2)
    result = write_label_raster(_config(sample, tmp_path / "q.tif",
                                        extent=Extent(*geo, crs="EPSG:4326")))
    assert 256 <= result.width <= 270 and 256 <= result.height <= 270


def test_labels_on_image_nodata_are_dropped(sample, tmp_path):
    nc = sample / "nc_landsat7"
    result = write_label_raster(LabelRasterConfig(
        str(nc / "landsat_multiband.tif"), LabelConfig(str(nc / "strata.tif")), str(tmp_path / "s.tif")))
    with rasterio.open(tmp_path / "s.tif") as ds, rasterio.open(nc / "landsat_multiband.tif") as img:
        lab = ds.read(1)
        nodata = np.all(img.read() == -99999.0, axis=0)
    assert result.dropped_on_nodata > 0
    assert not lab[nodata].any()


def test_cancel_leaves_no_output_and_no_temporary_file(sample, tmp_path):
    out = tmp_path / "c.tif"
    with pytest.raises(Cancelled):
        write_label_raster(_config(sample, out, tile_size=64), RecordingProgress(cancel_after_checks=5))
    assert os.listdir(tmp_path) == []
