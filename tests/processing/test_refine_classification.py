"""Refine Classification through processing.run and qgis_process.bin: a noisy class map
(the labels themselves, rasterised) cleaned the same way either way, refusals named."""

import numpy as np
import pytest
import rasterio

from qgis_cli import QP, qgis_process

pytest.importorskip("scipy")


@pytest.fixture(scope="module")
def noisy(sample, tmp_path_factory):
    """nc_landsat7's strata classes with one pixel in seven set to a random class."""
    out = tmp_path_factory.mktemp("refine") / "noisy.tif"
    with rasterio.open(sample / "nc_landsat7" / "strata.tif") as ds:
        arr = ds.read(1)
        profile = dict(driver="GTiff", width=ds.width, height=ds.height, count=1,
                       dtype="uint8", crs=ds.crs, transform=ds.transform, nodata=0)
    rng = np.random.default_rng(0)
    flip = (rng.random(arr.shape) < 1 / 7) & (arr > 0)
    arr = np.where(flip, rng.integers(1, 8, arr.shape), arr).astype(np.uint8)
    with rasterio.open(out, "w", **profile) as ds:
        ds.write(arr[None])
    return out


@pytest.mark.skipif(QP is None, reason="qgis_process.bin is not installed")
def test_processing_run_and_qgis_process_agree(provider, noisy, tmp_path):
    import processing

    out = qgis_process("run", "landlearn:refineclassification", "--", f"INPUT_RASTER={noisy}",
                       "MIN_REGION_SIZE=3", "CONNECTIVITY=8", f"OUTPUT={tmp_path / 'cli.tif'}")
    assert out.returncode == 0, out.stdout + out.stderr
    res = processing.run("landlearn:refineclassification", {
        "INPUT_RASTER": str(noisy), "MIN_REGION_SIZE": 3, "CONNECTIVITY": 8,
        "OUTPUT": str(tmp_path / "py.tif")})
    assert f"CHANGED_PIXELS:\t{res['CHANGED_PIXELS']}" in out.stdout
    with rasterio.open(tmp_path / "cli.tif") as a, rasterio.open(tmp_path / "py.tif") as b, \
            rasterio.open(noisy) as n:
        np.testing.assert_array_equal(a.read(), b.read())
        assert 0 < res["CHANGED_PIXELS"] == int((a.read(1) != n.read(1)).sum())
    assert (tmp_path / "py.qml").exists()


def test_nothing_to_refine_is_named(provider, noisy, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="SEGMENTED_RASTER: nothing to refine"):
        processing.run("landlearn:refineclassification", {
            "INPUT_RASTER": str(noisy), "OUTPUT": str(tmp_path / "x.tif")})
    with pytest.raises(QgsProcessingException, match="CONNECTIVITY: 6 is not 4 or 8"):
        processing.run("landlearn:refineclassification", {
            "INPUT_RASTER": str(noisy), "MIN_REGION_SIZE": 3, "CONNECTIVITY": 6,
            "OUTPUT": str(tmp_path / "x.tif")})
    assert not (tmp_path / "x.tif").exists()
