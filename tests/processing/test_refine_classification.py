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


@pytest.mark.skipif(QP is None, reason="qgis_process.bin is not installed")
def test_segments_hectares_and_merge_into_from_qgis_process(provider, noisy, tmp_path):
    """SEGMENTED_RASTER with a hectare unit from the CLI; MERGE_INTO=similar on a class map is
    refused naming the parameter."""
    segs = tmp_path / "segs.tif"
    with rasterio.open(noisy) as ds:
        profile = dict(ds.profile, dtype="int32", nodata=None)
        rows, cols = np.indices((ds.height, ds.width))
    with rasterio.open(segs, "w", **profile) as ds:
        ds.write(((rows // 8) * 1000 + cols // 8).astype(np.int32)[None])
    out = qgis_process("run", "landlearn:refineclassification", "--", f"INPUT_RASTER={noisy}",
                       f"SEGMENTED_RASTER={segs}", "MIN_REGION_SIZE=1", "SIZE_UNIT=hectares",
                       f"OUTPUT={tmp_path / 'o.tif'}")
    assert out.returncode == 0, out.stdout + out.stderr
    with rasterio.open(tmp_path / "o.tif") as a, rasterio.open(segs) as s:
        cls, ids = a.read(1), s.read(1)
    # one class per 8 x 8 block of segments (the 1 ha unit, 13 px, then finds no smaller one)
    for i in np.unique(ids)[:50]:
        block = cls[(ids == i) & (cls > 0)]
        assert len(np.unique(block)) <= 1
    bad = qgis_process("run", "landlearn:refineclassification", "--", f"INPUT_RASTER={noisy}",
                       "MIN_REGION_SIZE=4", "MERGE_INTO=similar", f"OUTPUT={tmp_path / 'x.tif'}")
    assert bad.returncode != 0 and "MERGE_INTO: 'similar' compares" in bad.stdout + bad.stderr
    assert not (tmp_path / "x.tif").exists()


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


def test_the_dialogs_defaults_are_refused_before_the_run(provider, noisy, tmp_path):
    from qgis.core import QgsApplication, QgsProcessingContext

    alg = QgsApplication.processingRegistry().algorithmById("landlearn:refineclassification")
    context = QgsProcessingContext()
    out = str(tmp_path / "x.tif")
    ok, message = alg.checkParameterValues({"INPUT_RASTER": str(noisy), "OUTPUT": out}, context)
    assert not ok and message.startswith("SEGMENTED_RASTER: nothing to refine")
    ok, message = alg.checkParameterValues({"INPUT_RASTER": str(noisy), "OUTPUT": out, "MIN_REGION_SIZE": 3,
                                            "CONNECTIVITY": 5}, context)
    assert not ok and message == "CONNECTIVITY: 5 is not 4 or 8"
    ok, _ = alg.checkParameterValues({"INPUT_RASTER": str(noisy), "OUTPUT": out, "MIN_REGION_SIZE": 3,
                                      "CONNECTIVITY": 8}, context)
    assert ok
