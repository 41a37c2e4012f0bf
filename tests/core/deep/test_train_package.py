"""deep.train_package: the padding advice, the .emd of a trained model, and the saved package."""

import json
import zipfile

import numpy as np
import pytest
from rasterio.crs import CRS

from landlearn.core.accuracy.metrics import Accuracy
from landlearn.core.chips.training_data import TrainingData
from landlearn.core.deep.train_deep_learning_model import EpochRecord, TrainConfig, TrainResult
from landlearn.core.deep.train_package import config_json, model_emd, recommended_padding, save_trained
from landlearn.core.geo.classes import ClassInfo


def test_recommended_padding_is_an_eighth_of_the_tile_at_least_16():
    assert recommended_padding((64, 64)) == 16
    assert recommended_padding((256, 256)) == 32
    assert recommended_padding((1024, 512)) == 64  # the shorter side
    assert recommended_padding((512, 100)) == 16


def _data():
    return TrainingData(
        folders=["/chips/a"], chips=[],
        classes=[ClassInfo(1, "water", (0, 0, 255)), ClassInfo(2, "forest", (0, 128, 0)),
                 ClassInfo(5, "cloud", (255, 255, 255))],
        band_names=["blue", "green", "red"], mean=np.array([10.0, 20.0, 30.0]),
        std=np.array([1.0, 2.0, 3.0]), minimum=np.array([0.0, 1.0, 2.0]),
        maximum=np.array([100.0, 200.0, 300.0]), tile_size=(96, 64), nodata=0.0, dtype="uint16",
        cell_size=(10.0, 10.0), crs_wkt=CRS.from_epsg(32633).to_wkt(), source_bands=[2, 3, 4],
        source_band_count=6, source_scaling=[[0.0001, -1000.0]] * 3, scaling_known=True)


def _result(accuracy=True):
    acc = Accuracy(np.array([[5, 1], [2, 8]]), ["water", "forest"]) if accuracy else None
    return TrainResult("/out/m.dlpk", acc, [EpochRecord(1, 0.9, 0.8, 0.7, 0.5, 3.0),
                                            EpochRecord(2, 0.6, 0.5, 0.8, 0.6, 2.96)],
                       2, 3e-3, 8, "CPU", {"train": 10, "valid": 2, "dropped": 1}, 12.34, [],
                       ["a note"])


def test_model_emd_describes_the_model_esri_and_landlearn_fields():
    config = TrainConfig(("/chips/a",), "/out/m.dlpk", backbone="resnet18", ignore_classes=(0, 5),
                         epochs=3)
    emd = model_emd(config, _data(), [1, 2], _result())
    assert emd["Framework"] == "PyTorch" and emd["ModelType"] == "ImageClassification"
    assert (emd["ImageWidth"], emd["ImageHeight"]) == (96, 64)
    # ArcGIS's 0-based bands of the raster the model reads: source bands 2, 3, 4 ([0, 1, 2]
    # was written whatever they were; deep-learning sweep, stop 69)
    assert emd["ExtractBands"] == [1, 2, 3] and emd["ModelPadding"] == 16 and emd["BatchSize"] == 8
    # only the trained classes, in Esri's form; the ignored cloud class is not one
    assert emd["Classes"] == [{"Value": 1, "Name": "water", "Color": [0, 0, 255]},
                              {"Value": 2, "Name": "forest", "Color": [0, 128, 0]}]
    assert emd["accuracy"] == "0.8125"  # 13 of 16
    info = emd["LandLearn"]
    assert info["kind"] == "deep" and info["architecture"] == "unet" and info["encoder"] == "resnet18"
    assert info["in_channels"] == 3 and info["class_values"] == [1, 2]
    assert info["source_bands"] == [2, 3, 4] and info["source_band_count"] == 6
    assert info["source_scaling"] == [[0.0001, -1000.0]] * 3  # Classify Pixels compares it
    assert info["normalization"] == {"method": "zscore", "mean": [10.0, 20.0, 30.0],
                                     "std": [1.0, 2.0, 3.0], "min": [0.0, 1.0, 2.0],
                                     "max": [100.0, 200.0, 300.0]}
    assert info["cell_size"] == [10.0, 10.0] and info["crs_units"] == "metre"
    assert info["ignore_classes"] == [0, 5] and info["padding"] == 16
    training = info["training"]
    assert training["parameters"]["ignore_classes"] == [0, 5]
    assert training["parameters"]["training_data"] == ["/chips/a"]
    assert training["epochs_run"] == 2 and training["best_epoch"] == 2 and training["seconds"] == 12.3
    assert training["chips"] == {"train": 10, "valid": 2, "dropped": 1}
    assert info["history"][1] == {"epoch": 2, "train_loss": 0.6, "valid_loss": 0.5, "accuracy": 0.8,
                                  "mean_iou": 0.6, "seconds": 2.96}
    assert info["metrics"]["confusion_matrix"] == [[5, 1], [2, 8]]
    json.dumps(emd)  # all of it is JSON
    bare = model_emd(config, _data(), [1, 2], _result(accuracy=False))
    assert bare["accuracy"] is None and bare["LandLearn"]["metrics"] is None


def test_config_json_turns_tuples_into_lists():
    out = config_json(TrainConfig(("a", "b"), "m.dlpk", ignore_classes=(0, 3)))
    assert out["training_data"] == ["a", "b"] and out["ignore_classes"] == [0, 3]
    assert out["learning_rate"] is None and out["architecture"] == "unet"
    assert json.loads(json.dumps(out)) == out


def test_save_trained_writes_weights_report_and_metrics(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    pytest.importorskip("matplotlib")
    out = tmp_path / "tiny.dlpk"
    config = TrainConfig(("/chips/a",), str(out))
    model = torch.nn.Conv2d(3, 2, 1)
    result = _result()
    save_trained(config, _data(), [1, 2], model, result, None, [])
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        emd = json.loads(zf.read("tiny.emd"))
        metrics = json.loads(zf.read("metrics.json"))
        weights = zf.read("tiny.safetensors")
    assert {"tiny.emd", "tiny.safetensors", "metrics.json", "report/report.html",
            "report/curves.png", "report/confusion_matrix.png"} <= names
    assert emd["ModelFile"] == "tiny.safetensors"
    assert metrics == emd["LandLearn"]["metrics"] == result.accuracy.to_json()
    from safetensors.torch import load

    state = load(weights)
    assert set(state) == {"weight", "bias"}
    assert torch.equal(state["weight"], model.weight.detach())


def test_package_is_self_describing(trained, chips):
    out, result, progress = trained
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        emd = json.loads(zf.read("s2.emd"))
    assert {"s2.emd", "s2.safetensors", "report/report.html", "report/curves.png",
            "report/confusion_matrix.png", "report/validation_chips.png"} <= names
    for key in ("Framework", "ModelConfiguration", "ModelFile", "ModelType", "ImageHeight",
                "ImageWidth", "ExtractBands", "Classes"):
        assert key in emd
    assert emd["ModelFile"] == "s2.safetensors" and emd["ImageWidth"] == 64
    assert [c["Name"] for c in emd["Classes"]][:2] == ["farm", "forest"]
    info = emd["LandLearn"]
    assert info["in_channels"] == 10 and info["architecture"] == "unet"
    with open(chips / "esri_model_definition.emd") as fh:
        export_means = [b["Mean"] for b in json.load(fh)["AllTilesStats"]]
    np.testing.assert_allclose(info["normalization"]["mean"], export_means)
    assert info["ignore_classes"] == [0] and info["crs_units"] == "metre"
    assert info["source_bands"] == list(range(1, 11))
    assert len(info["history"]) == 2 and info["training"]["best_epoch"] in (1, 2)
    assert any(m.startswith("epoch  train_loss") for m in progress.messages)
    assert sum(1 for m in progress.messages if m.strip().startswith(("1 ", "2 "))) == 2


@pytest.mark.parametrize("agree,kept,starts", [
    (0.995, True, "int8 graph calibrated on 4 training chips: its classes agree with the "
                  "float graph's on 99.50%"),
    (0.95, True, "int8 graph calibrated on 4 training chips: its classes agree with the "
                 "float graph's on 95.00% of the data pixels of 6 validation chips, under 98%"),
    (0.85, False, "no int8 graph: calibrated on 4 training chips: its classes agree with the "
                  "float graph's on 85.00%")])
def test_an_int8_graph_that_agrees_poorly_is_warned_or_not_shipped(monkeypatch, agree, kept,
                                                                    starts):
    """The agreement was recorded and logged as information whatever it was: a graph whose
    classes matched the float graph's on 70% of the pixels was shipped for QUANTIZE."""
    from types import SimpleNamespace

    from landlearn.core.deep import train_package

    block = {"agreement": agree, "agreement_checked_on": "held-out", "calibration_chips": 4}
    monkeypatch.setattr(train_package, "quantize_chips", lambda *a: (b"int8", block, 6))
    data = SimpleNamespace(chips=list(range(10)), mean=[0.0])
    q, got, note = train_package.int8_graph(b"float", data,
                                            SimpleNamespace(train=[0, 1], valid=[2]))
    assert (q is not None, got is not None) == (kept, kept) and note.startswith(starts)
