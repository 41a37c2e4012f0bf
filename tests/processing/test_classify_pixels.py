"""Classify Pixels through processing.run and qgis_process.bin: identical, styled maps."""

import os

import numpy as np
import pytest
import rasterio

from cancel_checks import cancelling_feedback, fingerprints, tree
from qgis_cli import QP, qgis_process
from small_models import nc_unet

pytest.importorskip("segmentation_models_pytorch")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return nc_unet(tmp_path_factory.mktemp("cp"), epochs=1, batch_size=8, stride=64,
                   validation_percent=20)


@pytest.mark.skipif(QP is None, reason="qgis_process.bin is not installed")
def test_processing_run_and_qgis_process_give_the_same_styled_map(provider, sample, model,
                                                                   tmp_path):
    import processing
    from qgis.core import QgsRasterLayer

    image = str(sample / "nc_landsat7" / "landsat_multiband.tif")
    params = {"INPUT_RASTER": image, "MODEL": model, "TILE_SIZE": 128, "PADDING": 32,
              "DEVICE": "cpu", "BLEND": "weighted"}
    cli, py = tmp_path / "cli.tif", tmp_path / "py.tif"
    out = qgis_process("run", "landlearn:classifypixels", "--",
                       *[f"{k}={v}" for k, v in params.items()], f"OUTPUT={cli}",
                       f"OUTPUT_CONFIDENCE={tmp_path / 'cli_conf.tif'}")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "MPix/s" in out.stdout and "developed" in out.stdout
    res = processing.run("landlearn:classifypixels", {**params, "OUTPUT": str(py),
                                                      "OUTPUT_CONFIDENCE": str(tmp_path / "py_conf.tif")})
    assert res["OUTPUT"] == str(py) and res["OUTPUT_PROBABILITIES"] is None
    for a, b in (("cli.tif", "py.tif"), ("cli_conf.tif", "py_conf.tif")):
        with rasterio.open(tmp_path / a) as x, rasterio.open(tmp_path / b) as y:
            np.testing.assert_array_equal(x.read(), y.read())
    layer = QgsRasterLayer(str(py), "map")
    assert layer.isValid() and layer.renderer().type() == "paletted"
    assert "developed" in [c.label for c in layer.renderer().classes()]


def test_errors_name_the_parameter_and_write_nothing(provider, sample, model, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    s2 = str(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif")
    base = {"INPUT_RASTER": s2, "MODEL": model, "DEVICE": "cpu", "OUTPUT": str(tmp_path / "o.tif")}
    with pytest.raises(QgsProcessingException, match="BANDS: the model expects bands"):
        processing.run("landlearn:classifypixels", base)
    with pytest.raises(QgsProcessingException, match="BANDS: the model was trained on 5 bands"):
        processing.run("landlearn:classifypixels", {**base, "BANDS": [1, 2]})
    with pytest.raises(QgsProcessingException, match="BLEND: 'soft' is not a valid choice"):
        processing.run("landlearn:classifypixels", {**base, "BLEND": "soft"})
    # an ONNX graph Export Model wrote, given as the package: QGIS said only "Incorrect
    # parameter value for MODEL" (a qgis_process sweep, stop 68)
    with pytest.raises(QgsProcessingException, match=r"MODEL: '.*m\.onnx' is not a \.dlpk or "
                       r"\.emd file; an ONNX graph \(what Export Model writes\) is not a "
                       r"package: give the \.dlpk it came from"):
        processing.run("landlearn:classifypixels", {**base, "MODEL": str(tmp_path / "m.onnx")})
    with pytest.raises(QgsProcessingException, match=r"MODEL: '.*m\.DLPK' is not a \.dlpk or "
                       r"\.emd file; the extension's case counts: name it '\.dlpk'"):
        processing.run("landlearn:classifypixels", {**base, "MODEL": str(tmp_path / "m.DLPK")})
    assert os.listdir(tmp_path) == []


def test_a_cancel_mid_map_leaves_no_output_and_no_temporary_file(provider, sample, model,
                                                                   tmp_path):
    """Cancel clicked a quarter of the way through the tiles (56 tiles of 128 px in batches
    of 4: the three writers open, tiles written into their hidden temporaries): the run
    stops with the cancel message, and no output, sidecar (.qml, .aux.xml) or temporary
    is left in the output folder; the raster and the model are as they were."""
    import processing
    from qgis.core import QgsProcessingException

    image = sample / "nc_landsat7" / "landsat_multiband.tif"
    inputs = fingerprints(image, model)
    out = tmp_path / "out"
    out.mkdir()
    (out / "other.txt").write_text("not LandLearn's")
    before = tree(out)
    feedback = cancelling_feedback(25)
    with pytest.raises(QgsProcessingException,
                       match="^Cancelled by the user; no output was written"):
        processing.run("landlearn:classifypixels", {
            "INPUT_RASTER": str(image), "MODEL": model, "TILE_SIZE": 128, "PADDING": 32,
            "BATCH_SIZE": 4, "DEVICE": "cpu", "OUTPUT": str(out / "map.tif"),
            "OUTPUT_CONFIDENCE": str(out / "confidence.tif"),
            "OUTPUT_PROBABILITIES": str(out / "probabilities.tif")}, feedback=feedback)
    # mid-run: a few batches reported, not the last one's 99%
    assert feedback.cancelled_at is not None and len(feedback.reported) >= 2
    assert max(feedback.reported) < 90
    assert not (out / "map.tif").exists()
    assert tree(out) == before
    assert fingerprints(image, model) == inputs


@pytest.fixture()
def dask_cluster(tmp_path):
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1: the scheduler's
    address; all three stopped afterwards."""
    pytest.importorskip("distributed")
    import json
    import subprocess
    import sys
    import time

    info = tmp_path / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]
    procs = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(info)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(info.read_text())["address"]
        for _ in range(2):
            procs.append(subprocess.Popen(
                [*dask, "worker", address, "--nthreads", "1", "--no-dashboard"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.mark.skipif(QP is None, reason="qgis_process.bin is not installed")
def test_qgis_process_on_a_dask_cluster_gives_the_one_process_map(provider, sample, model,
                                                                  tmp_path, dask_cluster):
    import processing

    image = str(sample / "nc_landsat7" / "landsat_multiband.tif")
    params = {"INPUT_RASTER": image, "MODEL": model, "TILE_SIZE": 128, "PADDING": 32,
              "DEVICE": "cpu", "BLEND": "weighted"}
    processing.run("landlearn:classifypixels", {**params, "OUTPUT": str(tmp_path / "one.tif")})
    for name, extra in (("scheduler", f"DASK_SCHEDULER={dask_cluster}"),
                        ("local", "PARALLEL_PROCESSING_FACTOR=2")):
        out = qgis_process("run", "landlearn:classifypixels", "--",
                           *[f"{k}={v}" for k, v in params.items()], "BLOCK_SIZE=256", extra,
                           f"OUTPUT={tmp_path / name}.tif")
        assert out.returncode == 0, out.stdout + out.stderr
        log = out.stdout + out.stderr
        assert "blocks 4/4" in log and "on Dask, 2 worker threads" in log, log
        with rasterio.open(tmp_path / "one.tif") as x, rasterio.open(tmp_path / f"{name}.tif") as y:
            np.testing.assert_array_equal(x.read(), y.read())
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]


def test_resume_without_dask_is_said_to_start_over():
    """RESUME in one process was ignored without a word."""
    from types import SimpleNamespace

    from landlearn.processing_provider.classify_params import resume_without_dask

    said = []
    feedback = SimpleNamespace(pushWarning=said.append)
    one = SimpleNamespace(resume=True, dask_scheduler="", parallel_processing_factor="")
    resume_without_dask(one, feedback)
    assert len(said) == 1 and said[0].startswith("RESUME takes up the blocks of a stopped Dask "
                                                 "run; with neither DASK_SCHEDULER")
    for dask in (dict(parallel_processing_factor="2"), dict(dask_scheduler="tcp://a:1"),
                 dict(resume=False)):
        resume_without_dask(SimpleNamespace(**{**vars(one), **dask}), feedback)
    assert len(said) == 1
