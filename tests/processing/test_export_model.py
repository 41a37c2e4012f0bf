"""Export Model and Classify Pixels' RUNTIME through processing.run and qgis_process.bin."""

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from qgis_cli import QP, qgis_process
from small_models import nc_unet

pytest.importorskip("segmentation_models_pytorch")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return nc_unet(tmp_path_factory.mktemp("em"), epochs=1, batch_size=8, stride=64,
                   validation_percent=20, quantize=True)


def test_export_model_writes_both_graphs(provider, model, tmp_path):
    import onnxruntime as ort
    import processing

    res = processing.run("landlearn:exportmodel", {"MODEL": model,
                                                   "OUTPUT_ONNX": str(tmp_path / "m.onnx")})
    assert res["OUTPUT_ONNX"] == str(tmp_path / "m.onnx")
    assert res["OUTPUT_DEEPNESS"] == str(tmp_path / "m_deepness.onnx")
    meta = ort.InferenceSession(res["OUTPUT_DEEPNESS"]).get_modelmeta().custom_metadata_map
    assert json.loads(meta["tiles_size"]) == 64 and json.loads(meta["resolution"]) == 2850.0
    if QP is not None:  # the same from qgis_process, without the Deepness copy
        out = qgis_process("run", "landlearn:exportmodel", "--", f"MODEL={model}",
                           f"OUTPUT_ONNX={tmp_path / 'cli.onnx'}", "DEEPNESS=false")
        assert out.returncode == 0, out.stdout + out.stderr
        assert (tmp_path / "cli.onnx").stat().st_size == (tmp_path / "m.onnx").stat().st_size
        assert not (tmp_path / "cli_deepness.onnx").exists()


@pytest.mark.skipif(QP is None, reason="qgis_process.bin is not installed")
def test_runtime_choices_give_the_same_map(provider, sample, model, tmp_path):
    import processing

    image = str(sample / "nc_landsat7" / "landsat_multiband.tif")
    out = qgis_process("run", "landlearn:classifypixels", "--", f"INPUT_RASTER={image}",
                       f"MODEL={model}", "RUNTIME=onnxruntime", f"OUTPUT={tmp_path / 'o.tif'}")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ONNX Runtime" in out.stdout
    processing.run("landlearn:classifypixels", {"INPUT_RASTER": image, "MODEL": model,
                                                "RUNTIME": "torch", "DEVICE": "cpu",
                                                "OUTPUT": str(tmp_path / "t.tif")})
    with rasterio.open(tmp_path / "o.tif") as a, rasterio.open(tmp_path / "t.tif") as b:
        assert np.mean(a.read(1) == b.read(1)) >= 0.9999
    out = qgis_process("run", "landlearn:classifypixels", "--", f"INPUT_RASTER={image}",
                       f"MODEL={model}", "QUANTIZE=true", f"OUTPUT={tmp_path / 'q.tif'}")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "int8 graph" in out.stdout
    with rasterio.open(tmp_path / "q.tif") as a, rasterio.open(tmp_path / "t.tif") as b:
        assert np.mean(a.read(1) == b.read(1)) >= 0.6  # a one-epoch network


def test_export_model_quantizes_on_the_calibration_chips(provider, model, tmp_path):
    import processing

    chips = str(Path(model).parent / "chips")
    res = processing.run("landlearn:exportmodel", {
        "MODEL": model, "OUTPUT_ONNX": str(tmp_path / "m.onnx"), "DEEPNESS": False,
        "QUANTIZE": True, "CALIBRATION_DATA": chips})
    assert res["OUTPUT_INT8"] == str(tmp_path / "m_int8.onnx") and res["OUTPUT_DEEPNESS"] is None
    assert 0 < (tmp_path / "m_int8.onnx").stat().st_size < (tmp_path / "m.onnx").stat().st_size
    with pytest.raises(Exception, match="CALIBRATION_DATA: QUANTIZE needs chips"):
        processing.run("landlearn:exportmodel", {
            "MODEL": model, "OUTPUT_ONNX": str(tmp_path / "n.onnx"), "QUANTIZE": True})
