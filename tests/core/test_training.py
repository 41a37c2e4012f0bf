"""Train Model (deep) on real chips: the package, its numbers, the split, errors and cancel."""

import json
import os
import shutil
import zipfile

import numpy as np
import pytest

from landlearn.core.accuracy.metrics import Accuracy, confusion_matrix
from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
from landlearn.core.chips.training_data import read_training_data
from landlearn.core.deep.chip_dataset import IGNORE, ChipData
from landlearn.core.deep.split import spatial_split
from landlearn.core.deep.train_deep_learning_model import TrainConfig, train_model
from landlearn.core.errors import Cancelled, InputError
from landlearn.core.labels.base import LabelConfig
from landlearn.core.progress import RecordingProgress

torch = pytest.importorskip("torch")
pytest.importorskip("segmentation_models_pytorch")


@pytest.fixture(scope="module")
def chips(sample, tmp_path_factory):
    """64 px chips of the Sentinel-2 sample with its sparse OSM labels (8 classes)."""
    s2 = sample / "s2_osm_sparse"
    out = tmp_path_factory.mktemp("train") / "chips"
    export_training_data(ExportConfig(str(s2 / "s2l1c_10bands_10m_subset.tif"),
                                      LabelConfig(str(s2 / "osm_landuse_subset.gpkg"),
                                                  class_field="fclass"),
                                      str(out), tile_size_x=64, tile_size_y=64, stride_x=32,
                                      stride_y=32))
    return out


def _config(chips, out, **kw):
    base = dict(backbone="resnet18", epochs=2, batch_size=16, learning_rate=3e-3,
                validation_percent=20, device="cpu")
    base.update(kw)
    return TrainConfig((str(chips),), str(out), **base)


@pytest.fixture(scope="module")
def trained(chips, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "s2.dlpk"
    progress = RecordingProgress()
    result = train_model(_config(chips, out), progress)
    return out, result, progress


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


def test_reported_metrics_are_reproducible_from_the_package(trained, chips):
    """Reload the weights, classify the validation chips ourselves: the same matrix."""
    from landlearn.core.deep.models import load_package_model
    from landlearn.core.model_package.format import read_package

    out, result, _ = trained
    info = read_package(str(out)).landlearn
    model = load_package_model(str(out))
    model.eval()
    data = read_training_data([str(chips)])
    split = spatial_split(data.chips, 20, 0)
    cd = ChipData(data, info["class_values"])
    n = len(info["class_values"])
    cm = np.zeros((n, n), dtype=np.int64)
    with torch.no_grad():  # the same batches as training's evaluation (batch 16, in order)
        for s in range(0, len(split.valid), 16):
            xs, ys = zip(*(cd.load(i) for i in split.valid[s:s + 16]))
            pred = model(torch.from_numpy(np.stack(xs))).argmax(1).numpy()
            y = np.stack(ys)
            cm += confusion_matrix(np.where(y == IGNORE, -1, y), pred, n)
    assert cm.sum() > 10_000
    np.testing.assert_array_equal(cm, np.array(info["metrics"]["confusion_matrix"]))
    assert info["metrics"]["overall_accuracy"] == pytest.approx(np.trace(cm) / cm.sum())


def test_validation_blocks_never_overlap_training_chips(chips):
    data = read_training_data([str(chips)])
    split = spatial_split(data.chips, 20, 0)
    assert split.valid and split.train and split.dropped
    train_blocks = {data.chips[i].block for i in split.train}
    assert not train_blocks & {data.chips[i].block for i in split.valid}
    for v in split.valid:
        a = data.chips[v].bounds
        for t in split.train:
            b = data.chips[t].bounds
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
    assert 0.15 <= len(split.valid) / len(data.chips) <= 0.35


def test_arcgis_style_folder_without_manifest(chips, tmp_path):
    copy = tmp_path / "arcgis"
    shutil.copytree(chips, copy)
    os.remove(copy / "landlearn_manifest.json")
    ours, theirs = read_training_data([str(chips)]), read_training_data([str(copy)])
    assert len(theirs.chips) == len(ours.chips)
    assert [c.name for c in theirs.classes] == [c.name for c in ours.classes]
    # blocks recovered from georeferencing group the same chips as the manifest's
    group = {}
    for a, b in zip(ours.chips, theirs.chips):
        group.setdefault(a.block, set()).add(b.block)
    assert all(len(v) == 1 for v in group.values())
    np.testing.assert_allclose(theirs.mean, ours.mean)


def test_arcgis_placeholder_metadata_and_tile_size_mismatch(chips, tmp_path, sample):
    """ArcGIS Pro's own files: colours [-1,-1,-1], no band statistics: computed from chips."""
    copy = tmp_path / "pro"
    shutil.copytree(chips, copy)
    os.remove(copy / "landlearn_manifest.json")
    emd = json.loads((copy / "esri_model_definition.emd").read_text())
    emd = {"Framework": "e.g. CNTK", "ModelType": "e.g. ImageClassification",
           "Classes": [{"Value": c["Value"], "Name": c["Name"], "Color": [-1, -1, -1]}
                       for c in emd["Classes"]]}
    (copy / "esri_model_definition.emd").write_text(json.dumps(emd))
    stats = json.loads((copy / "esri_accumulated_stats.json").read_text())
    del stats["BandStatsState"]
    (copy / "esri_accumulated_stats.json").write_text(json.dumps(stats))
    progress = RecordingProgress()
    data = read_training_data([str(copy)], progress)
    ours = read_training_data([str(chips)])
    assert any("computing them from its chips" in m for m in progress.messages)
    np.testing.assert_allclose(data.mean, ours.mean, rtol=1e-6)  # all chips when <= 1000
    np.testing.assert_allclose(data.std, ours.std, rtol=1e-6)
    assert all(0 <= v <= 255 for c in data.classes for v in c.color)
    big = tmp_path / "big"
    s2 = sample / "s2_osm_sparse"
    export_training_data(ExportConfig(str(s2 / "s2l1c_10bands_10m_subset.tif"),
                                      LabelConfig(str(s2 / "osm_landuse_subset.gpkg"),
                                                  class_field="fclass"), str(big),
                                      tile_size_x=128, tile_size_y=128))
    with pytest.raises(InputError, match="^TRAINING_DATA: .* has 128 x 128 chips but .* 64 x 64"):
        read_training_data([str(chips), str(big)])


def test_bad_training_input(chips, tmp_path, sample):
    with pytest.raises(InputError, match="^TRAINING_DATA: .* is not a training data folder"):
        train_model(_config(sample, tmp_path / "m.dlpk"))
    nc = sample / "nc_landsat7"
    other = tmp_path / "nc"
    export_training_data(ExportConfig(str(nc / "landsat_multiband.tif"),
                                      LabelConfig(str(nc / "strata.tif")), str(other),
                                      tile_size_x=64, tile_size_y=64, stride_x=64, stride_y=64))
    with pytest.raises(InputError, match="^TRAINING_DATA: .* has 5 bands but .* has 10"):
        train_model(TrainConfig((str(chips), str(other)), str(tmp_path / "m.dlpk")))
    with pytest.raises(InputError, match="^TRAINING_DATA: only 1 class remains"):
        train_model(_config(chips, tmp_path / "m.dlpk", ignore_classes=(0, 1, 2, 3, 4, 5, 6, 7)))
    with pytest.raises(InputError, match="^DEVICE: CUDA was requested"):
        if torch.cuda.is_available():
            raise InputError("device", "CUDA was requested (skipped: a GPU is present)")
        train_model(_config(chips, tmp_path / "m.dlpk", device="cuda"))
    with pytest.raises(InputError, match="^EPOCHS: 0 epochs"):
        train_model(_config(chips, tmp_path / "m.dlpk", epochs=0))
    with pytest.raises(InputError, match="^OUTPUT_MODEL: .* not a .dlpk"):
        train_model(_config(chips, tmp_path / "m.zip", epochs=1))
    assert not (tmp_path / "m.dlpk").exists()


def test_weights_from_a_package_and_rgb_weights_adapted(trained, chips, tmp_path):
    from safetensors.torch import save_file

    from landlearn.core.deep.models import build_model, load_weights, read_state_dict

    out, _, _ = trained
    rgb = build_model("unet", "resnet18", 3, 5)
    enc = {k.removeprefix("encoder."): v for k, v in rgb.state_dict().items()
           if k.startswith("encoder.")}
    save_file(enc, str(tmp_path / "rgb_encoder.safetensors"))
    model = build_model("unet", "resnet18", 10, 8)
    what = load_weights(model, read_state_dict(str(tmp_path / "rgb_encoder.safetensors")))
    assert "adapted to 10 bands" in what
    w = model.state_dict()["encoder.conv1.weight"]
    np.testing.assert_allclose(w[:, 3].numpy(), enc["conv1.weight"][:, 0].numpy() * 0.3, rtol=1e-6)
    with pytest.raises(InputError, match="^PRETRAINED_WEIGHTS: .* do not match this backbone"):
        load_weights(build_model("unet", "efficientnet-b0", 10, 8), read_state_dict(str(out)))
    with pytest.raises(InputError, match="^PRETRAINED_WEIGHTS: .* do not match this architect"):
        load_weights(build_model("fpn", "resnet18", 10, 8), read_state_dict(str(out)))
    head = load_weights(build_model("unet", "resnet18", 10, 3), read_state_dict(str(out)))
    assert "head starts new" in head
    fine = train_model(_config(chips, tmp_path / "fine.dlpk", epochs=1,
                               pretrained_weights=str(out)), RecordingProgress())
    assert any("pretrained weights" in n for n in fine.notes)


class CancelAfterEpoch(RecordingProgress):
    """Cancels at the first check after epoch ``n``'s log line."""

    def __init__(self, n):
        super().__init__()
        self.n = n

    def is_canceled(self):
        return any(m.split()[:1] == [str(self.n)] for m in self.messages)


def test_cancel_writes_nothing_unless_asked(chips, tmp_path):
    out = tmp_path / "c.dlpk"
    with pytest.raises(Cancelled):
        train_model(_config(chips, out), RecordingProgress(cancel_after_checks=12))
    with pytest.raises(Cancelled):
        train_model(_config(chips, out), CancelAfterEpoch(1))
    assert not out.exists() and os.listdir(tmp_path) == []
    with pytest.raises(Cancelled, match="best model so far .epoch 1."):
        train_model(_config(chips, out, save_on_cancel=True, epochs=3), CancelAfterEpoch(1))
    assert out.exists()


def test_lr_finder_dice_and_class_weights(chips, tmp_path):
    progress = RecordingProgress()
    result = train_model(_config(chips, tmp_path / "lr.dlpk", epochs=1, learning_rate=None, batch_size=8,
                                 loss="dice", class_weighting="inverse_frequency",
                                 architecture="fpn"), progress)
    assert any(m.startswith("Learning-rate finder chose") for m in progress.messages)
    assert 1e-4 <= result.learning_rate <= 1e-1 and len(result.lr_history) > 8


def test_metrics_on_a_hand_checked_matrix():
    truth = np.array([0, 0, 0, 1, 1, 2, -1])
    pred = np.array([0, 0, 1, 1, 2, 2, 0])
    cm = confusion_matrix(truth, pred, 3)
    np.testing.assert_array_equal(cm, [[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    acc = Accuracy(cm, ["a", "b", "c"])
    assert acc.overall == pytest.approx(4 / 6)
    pe = (2 * 3 + 2 * 2 + 2 * 1) / 36
    assert acc.kappa == pytest.approx((4 / 6 - pe) / (1 - pe))
    np.testing.assert_allclose(acc.precision, [1, 0.5, 0.5])
    np.testing.assert_allclose(acc.recall, [2 / 3, 0.5, 1])
    np.testing.assert_allclose(acc.iou, [2 / 3, 1 / 3, 0.5])
