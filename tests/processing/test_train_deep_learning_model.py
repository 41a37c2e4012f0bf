"""Train Deep Learning Model through processing.run and qgis_process.bin, as console and CLI
users run it; and the deprecated Train Model id, which forwards to it."""

import json
import os
import zipfile

import pytest

from qgis_cli import QP, qgis_process
from small_models import nc_chips

pytest.importorskip("segmentation_models_pytorch")


@pytest.fixture(scope="module")
def chips(tmp_path_factory):
    return nc_chips(tmp_path_factory.mktemp("tm") / "chips", stride=64)


PARAMS = {"ARCHITECTURE": "linknet", "BACKBONE": "resnet18", "EPOCHS": 1, "BATCH_SIZE": 8,
          "LEARNING_RATE": 0.003, "VALIDATION_PERCENT": 20, "DEVICE": "cpu",
          "ENSEMBLE_SIZE": 1}


def _metrics(package):
    with zipfile.ZipFile(package) as zf:
        emd = json.loads(zf.read(os.path.basename(package)[:-5] + ".emd"))
    return emd["LandLearn"]["metrics"]


def test_processing_run_writes_package_and_report(provider, chips, tmp_path):
    import processing

    out = tmp_path / "nc.dlpk"
    res = processing.run("landlearn:traindeeplearningmodel", {**PARAMS, "TRAINING_DATA": [str(chips)],
                                                 "OUTPUT_MODEL": str(out)})
    assert res["OUTPUT_MODEL"] == str(out) and out.exists()
    assert res["REPORT"] == str(tmp_path / "nc_report" / "report.html")
    assert "confusion_matrix.png" in os.listdir(tmp_path / "nc_report")
    m = _metrics(str(out))
    assert res["OVERALL_ACCURACY"] == pytest.approx(m["overall_accuracy"])
    assert res["MEAN_IOU"] == pytest.approx(m["mean_iou"])
    assert m["classes"][0] == "developed" and m["pixels"] > 1000
    # the report shows the confidence calibration fitted on the validation chips
    page = (tmp_path / "nc_report" / "report.html").read_text()
    assert "<h2>Confidence calibration</h2>" in page and "<svg" in page


def test_pretrained_weights_with_their_bands_named(provider, chips, tmp_path):
    """An RGBN ResNet-18 (timm's names) onto nc's five Landsat bands, named in BAND_NAMES,
    its encoder frozen (FREEZE)."""
    import processing
    import torch
    from safetensors.torch import save_file

    from landlearn.core.deep.models import build_model

    enc = {k.removeprefix("encoder."): v.clone() for k, v in
           build_model("unet", "resnet18", 4, 2).state_dict().items() if k.startswith("encoder.")}
    enc["fc.weight"] = torch.zeros(10, 512)
    save_file(enc, str(tmp_path / "rgbn.safetensors"))
    out = tmp_path / "pre.dlpk"
    processing.run("landlearn:traindeeplearningmodel", {
        **PARAMS, "ARCHITECTURE": "unet", "TRAINING_DATA": str(chips), "OUTPUT_MODEL": str(out),
        "PRETRAINED_WEIGHTS": str(tmp_path / "rgbn.safetensors"), "PRETRAINED_BANDS": "rgbn",
        "BAND_NAMES": "blue, green, red, nir, swir1", "FREEZE": True})
    with zipfile.ZipFile(out) as zf:
        notes = json.loads(zf.read("pre.emd"))["LandLearn"]["training"]["notes"]
    assert any(n.startswith("encoder frozen (FREEZE)") for n in notes), notes
    assert any("4 of 5 training bands matched to the checkpoint's bands (blue<-blue by name, "
               "green<-green by name, red<-red by name, nir<-nir by name, swir1<-mean)" in n
               for n in notes), notes


def test_quantize_from_the_toolbox_adds_the_int8_graph(provider, chips, tmp_path):
    pytest.importorskip("onnxruntime")
    import processing

    out = tmp_path / "q.dlpk"
    processing.run("landlearn:traindeeplearningmodel", {**PARAMS, "TRAINING_DATA": str(chips),
                                                        "QUANTIZE": True,
                                                        "OUTPUT_MODEL": str(out)})
    with zipfile.ZipFile(out) as zf:
        emd = json.loads(zf.read("q.emd"))
        names = zf.namelist()
    assert "model_int8.onnx" in names
    assert emd["LandLearn"]["onnx_int8"]["file"] == "model_int8.onnx"
    assert any(n.startswith("int8 graph") for n in emd["LandLearn"]["training"]["notes"])


@pytest.mark.skipif(QP is None, reason="qgis_process.bin is not installed")
def test_qgis_process_trains_the_same_model(provider, chips, tmp_path):
    import processing

    cli, py = tmp_path / "cli.dlpk", tmp_path / "py.dlpk"
    out = qgis_process("run", "landlearn:traindeeplearningmodel", "--", f"TRAINING_DATA={chips}",
                       *[f"{k}={v}" for k, v in PARAMS.items()], f"OUTPUT_MODEL={cli}")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "epoch  train_loss  valid_loss  accuracy  mean_iou" in out.stdout
    processing.run("landlearn:traindeeplearningmodel", {**PARAMS, "TRAINING_DATA": str(chips),
                                            "OUTPUT_MODEL": str(py)})
    a, b = _metrics(str(cli)), _metrics(str(py))
    assert a["confusion_matrix"] == b["confusion_matrix"]


def test_qgis_process_takes_detail_head(provider, chips, tmp_path):
    """DETAIL_HEAD=false from the command line: a plain U-Net, a version-1 package."""
    out = tmp_path / "plain.dlpk"
    run = qgis_process("run", "landlearn:traindeeplearningmodel", "--", f"TRAINING_DATA={chips}",
                       *[f"{k}={v}" for k, v in PARAMS.items() if k != "ARCHITECTURE"],
                       "ARCHITECTURE=unet", "DETAIL_HEAD=false", f"OUTPUT_MODEL={out}")
    assert run.returncode == 0, run.stdout + run.stderr
    with zipfile.ZipFile(out) as zf:
        info = json.loads(zf.read("plain.emd"))["LandLearn"]
    assert info["detail_head"] is False and info["version"] == 1
    assert info["architecture"] == "unet"


def test_errors_name_the_parameter(provider, chips, sample, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    base = {**PARAMS, "TRAINING_DATA": str(chips), "OUTPUT_MODEL": str(tmp_path / "m.dlpk")}
    for extra, message in [({"TRAINING_DATA": str(sample)}, "TRAINING_DATA: .* is not a training"),
                           ({"TRAINING_DATA": ""}, "TRAINING_DATA"),
                           ({"IGNORE_CLASSES": "0,x"}, "IGNORE_CLASSES: '0,x' is not a list"),
                           ({"BACKBONE": "resnet9000"}, "BACKBONE: 'resnet9000' is not a valid"),
                           ({"EPOCHS": 0}, "EPOCHS: 0 epochs cannot train"),
                           ({"BAND_NAMES": "a,b"}, "BAND_NAMES: names the training bands"),
                           ({"PRETRAINED_BANDS": "rgb"}, "PRETRAINED_BANDS: names the bands"),
                           ({"ENCODER_DEPTH": 4}, "ENCODER_DEPTH: the linknet architecture is "
                            "built at depth 5 only"),
                           ({"ARCHITECTURE": "unet", "ENCODER_DEPTH": 2},
                            "ENCODER_DEPTH: 2 is not an encoder depth")]:
        with pytest.raises(QgsProcessingException, match=message):
            processing.run("landlearn:traindeeplearningmodel", {**base, **extra})
    assert os.listdir(tmp_path) == []


def test_the_deprecated_train_model_id_forwards_and_says_so(provider, chips, tmp_path):
    """landlearn:trainmodel still trains (one release), hidden from the toolbox, with a
    deprecation line in the log, and gives what the new algorithm gives."""
    import processing
    from qgis.core import QgsApplication, QgsProcessingAlgorithm, QgsProcessingFeedback

    alg = QgsApplication.processingRegistry().algorithmById("landlearn:trainmodel")
    assert alg.flags() & QgsProcessingAlgorithm.Flag.FlagDeprecated

    class Log(QgsProcessingFeedback):
        warnings: list = []

        def pushWarning(self, text):  # noqa: N802 - QGIS's name
            self.warnings.append(text)
            super().pushWarning(text)

    log = Log()
    old, new = tmp_path / "old.dlpk", tmp_path / "new.dlpk"
    res = processing.run("landlearn:trainmodel", {**PARAMS, "MODEL_TYPE": "deep",
                                                  "TRAINING_DATA": str(chips),
                                                  "OUTPUT_MODEL": str(old)}, feedback=log)
    assert any("deprecated" in w and "traindeeplearningmodel" in w for w in log.warnings)
    processing.run("landlearn:traindeeplearningmodel", {**PARAMS, "TRAINING_DATA": str(chips),
                                                        "OUTPUT_MODEL": str(new)})
    assert res["OUTPUT_MODEL"] == str(old) and os.path.exists(res["REPORT"])
    assert _metrics(str(old))["confusion_matrix"] == _metrics(str(new))["confusion_matrix"]


def test_encoder_depth_from_the_toolbox_and_the_deprecated_id(provider, chips, tmp_path):
    """64 px chips: a U-Net gets depth 4 unless ENCODER_DEPTH says otherwise; the deprecated
    Train Model forwards every deep parameter it shows (it dropped PRETRAINED_BANDS and
    BAND_NAMES before)."""
    import processing
    from qgis.core import QgsApplication

    from landlearn.processing_provider.train_model import CLASSICAL_KEYS, DEEP_KEYS

    unet = {**PARAMS, "ARCHITECTURE": "unet", "TRAINING_DATA": str(chips)}
    # DETAIL_HEAD: on unless unticked; the package says which (and its version, 3 or 1)
    for depth, detail, want in ((None, None, 4), (3, False, 3), (0, True, 4)):
        out = tmp_path / f"d{depth}.dlpk"
        given = {} if depth is None else {"ENCODER_DEPTH": depth, "DETAIL_HEAD": detail}
        processing.run("landlearn:traindeeplearningmodel", {**unet, **given,
                                                            "OUTPUT_MODEL": str(out)})
        with zipfile.ZipFile(out) as zf:
            emd = json.loads(zf.read(f"d{depth}.emd"))
        assert emd["LandLearn"]["encoder_depth"] == want
        assert emd["LandLearn"]["detail_head"] is (detail is not False)
        assert emd["LandLearn"]["version"] == (1 if detail is False else 3)
    old = QgsApplication.processingRegistry().algorithmById("landlearn:trainmodel")
    shown = {p.name() for p in old.parameterDefinitions()} - {"MODEL_TYPE", "REPORT"}
    assert shown - DEEP_KEYS - CLASSICAL_KEYS == set()


def test_chip_sampling_and_ensemble_size_from_the_toolbox_and_the_deprecated_id(provider, chips,
                                                                                tmp_path):
    """CHIP_SAMPLING, CLASS_WEIGHTING and MONITOR reach training by option name or index,
    ENSEMBLE_SIZE as a number, also through Train Model; without ENSEMBLE_SIZE two networks
    are trained (the default)."""
    import processing
    from qgis.core import QgsProcessingFeedback

    class Log(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.lines = []

        def pushInfo(self, info):  # noqa: N802 - QGIS's name
            self.lines.append(info)

    one = {k: v for k, v in PARAMS.items() if k != "ENSEMBLE_SIZE"}
    for alg, value, weighting, size, monitor, named in (
            ("traindeeplearningmodel", "balanced", "inverse_sqrt_frequency", None,
             "valid_loss", "valid_loss"),
            ("trainmodel", 1, 2, 1, 3, "macro_f1")):
        out = tmp_path / f"{alg}.dlpk"
        extra = {} if size is None else {"ENSEMBLE_SIZE": size}
        processing.run(f"landlearn:{alg}", {**one, "TRAINING_DATA": str(chips), **extra,
                                            "CHIP_SAMPLING": value, "CLASS_WEIGHTING": weighting,
                                            "MONITOR": monitor, "RADIOMETRIC_JITTER": 0.05,
                                            "OUTPUT_MODEL": str(out)}, feedback=(log := Log()))
        assert any("brightness/contrast jitter 0.05 (RADIOMETRIC_JITTER)" in line
                   for line in log.lines)
        with zipfile.ZipFile(out) as zf:
            info = json.loads(zf.read(f"{alg}.emd"))["LandLearn"]
        training = info["training"]
        assert training["parameters"]["chip_sampling"] == "balanced"
        assert training["parameters"]["monitor"] == named
        assert training["parameters"]["radiometric_jitter"] == 0.05
        assert training["parameters"]["class_weighting"] == "inverse_sqrt_frequency"
        assert any(n.startswith("class-balanced chips: ") for n in training["notes"])
        assert training["parameters"]["ensemble_size"] == (size or 2)
        assert info.get("ensemble_members") == (None if size == 1 else 2)  # absent for one


def test_save_on_cancel_returns_the_saved_package_as_the_output(provider, chips, tmp_path):
    """Cancelled after the first epoch with SAVE_ON_CANCEL: the run ends with the saved
    package as OUTPUT_MODEL and its report (it said 'Execution failed' and returned none)."""
    import processing
    from qgis.core import QgsProcessingFeedback

    class CancelAfterAnEpoch(QgsProcessingFeedback):
        warnings: list = []

        def isCanceled(self):  # noqa: N802 - QGIS's name
            return self.progress() > 60

        def pushWarning(self, text):  # noqa: N802
            self.warnings.append(text)

    out = tmp_path / "cancelled.dlpk"
    feedback = CancelAfterAnEpoch()
    res = processing.run("landlearn:traindeeplearningmodel",
                         {**PARAMS, "EPOCHS": 3, "TRAINING_DATA": [str(chips)],
                          "SAVE_ON_CANCEL": True, "OUTPUT_MODEL": str(out)}, feedback=feedback)
    assert res["OUTPUT_MODEL"] == str(out) and out.exists()
    assert os.path.exists(res["REPORT"]) and res["OVERALL_ACCURACY"] is None
    assert any("was saved to" in w for w in feedback.warnings)


def test_output_model_without_dlpk_gets_it_added_not_swapped_in():
    """'rf_0.5m' became 'rf_0.dlpk' (the text after the last dot taken for an extension):
    another model's name, which a LandLearn package there would have been replaced at."""
    from landlearn.processing_provider.training import dlpk_path

    assert dlpk_path("/m/rf_0.5m") == "/m/rf_0.5m.dlpk"
    assert dlpk_path("/m/model.v2") == "/m/model.v2.dlpk"
    assert dlpk_path("/m/model.DLPK") == "/m/model.DLPK"
