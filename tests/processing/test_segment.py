"""Segment through processing.run and qgis_process.bin: the same segments either way."""

import numpy as np
import pytest
import rasterio

from qgis_cli import QP, qgis_process

pytest.importorskip("torch")


@pytest.mark.skipif(QP is None, reason="qgis_process.bin is not installed")
def test_processing_run_and_qgis_process_agree(provider, sample, tmp_path):
    import processing

    image = str(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif")
    params = {"INPUT_RASTER": image, "SPECTRAL_DETAIL": 16, "SPATIAL_DETAIL": 15,
              "MIN_SEGMENT_SIZE": 25, "DEVICE": "cpu"}
    out = qgis_process("run", "landlearn:segment", "--",
                       *[f"{k}={v}" for k, v in params.items()], "BAND_INDEXES=4",
                       "BAND_INDEXES=3", "BAND_INDEXES=2", f"OUTPUT={tmp_path / 'cli.tif'}",
                       f"OUTPUT_SEGMENT_IDS={tmp_path / 'cli_ids.tif'}")
    assert out.returncode == 0, out.stdout + out.stderr
    res = processing.run("landlearn:segment", {**params, "BAND_INDEXES": [4, 3, 2],
                                               "OUTPUT": str(tmp_path / "py.tif"),
                                               "OUTPUT_SEGMENT_IDS": str(tmp_path / "py_ids.tif"),
                                               "OUTPUT_POLYGONS": str(tmp_path / "py.gpkg")})
    assert f"SEGMENT_COUNT:\t{res['SEGMENT_COUNT']}" in out.stdout
    for a, b in (("cli.tif", "py.tif"), ("cli_ids.tif", "py_ids.tif")):
        with rasterio.open(tmp_path / a) as x, rasterio.open(tmp_path / b) as y:
            np.testing.assert_array_equal(x.read(), y.read())
    with rasterio.open(tmp_path / "py.tif") as ds:
        assert ds.count == 3 and ds.dtypes[0] == "uint16"
    assert res["OUTPUT_POLYGONS"].endswith("py.gpkg")
