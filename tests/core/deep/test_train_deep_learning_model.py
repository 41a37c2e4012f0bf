"""Train Deep Learning Model on real chips: its numbers, the training data it reads, errors,
cancel, and its own small pieces (config checks, the epoch log)."""

import json
import os
import re
import shutil

import numpy as np
import pytest

from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
from landlearn.core.chips.training_data import read_training_data
from landlearn.core.deep.chip_dataset import IGNORE, ChipData
from landlearn.core.deep.evaluation import Coverage
from landlearn.core.deep.label_cells import label_cells
from landlearn.core.deep.split import spatial_split
from landlearn.core.deep.train_deep_learning_model import (
    EPOCH_HEADER,
    EpochRecord,
    TrainConfig,
    _class_values,
    epoch_line,
    train_model,
)
from landlearn.core.errors import Cancelled, InputError
from landlearn.core.labels.base import LabelConfig
from landlearn.core.progress import RecordingProgress
from small_models import NC, quick_config

torch = pytest.importorskip("torch")
pytest.importorskip("segmentation_models_pytorch")


def test_reported_metrics_are_reproducible_from_the_package(trained, chips):
    """Reload the weights, classify the validation chips ourselves: the same matrix."""
    from landlearn.core.deep.models import load_package_model
    from landlearn.core.model_package.format import read_package

    out, result, _ = trained
    info = read_package(str(out)).landlearn
    model = load_package_model(str(out))
    model.eval()
    data = read_training_data([str(chips)])
    cd = ChipData(data, info["class_values"])
    n = len(info["class_values"])
    split = spatial_split(data.chips, 20, 0, label_cells(data.chips, cd.label_classes, n))
    share = split.held_out / split.total
    assert 0.2 <= share <= 0.3  # VALIDATION_PERCENT 20 of the labelled pixels, said so
    assert result.notes[0] == (
        f"{len(split.train)} training chips, {len(split.valid)} validation chips in held-out "
        f"blocks ({share:.0%} of the labelled pixels), {len(split.dropped)} dropped for "
        "overlapping validation chips")
    names = [c.name for c in data.classes if c.value in info["class_values"]]
    unseen = [names[k] for k in split.unvalidated()]
    assert (f"classes without validation pixels (early stopping and the report cannot measure "
            f"them): {unseen}" in result.notes) == bool(unseen)
    # each held-out labelled pixel once: a chip's prediction of it weighs 1 / the
    # validation chips covering it (the chips overlap by half)
    cover = Coverage(data.chips, split.valid, data.tile_size)
    cm = np.zeros((n, n))
    with torch.no_grad():  # the same batches as training's evaluation (batch 16, in order)
        for s in range(0, len(split.valid), 16):
            part = split.valid[s:s + 16]
            xs, ys = zip(*(cd.load(i) for i in part))
            pred = model(torch.from_numpy(np.stack(xs))).argmax(1).numpy()
            y = np.stack(ys)
            w = np.stack([cover.weights(i) for i in part])
            keep = y != IGNORE
            cm += np.bincount(y[keep].astype(np.int64) * n + pred[keep], weights=w[keep],
                              minlength=n * n).reshape(n, n)
    assert cm.sum() > 5_000
    np.testing.assert_allclose(cm.sum(), split.held_out)
    np.testing.assert_allclose(cm, np.array(info["metrics"]["confusion_matrix"]), atol=1e-6)
    assert info["metrics"]["overall_accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    # the temperature is fitted on a sample of the same validation pixels
    cal = info["calibration"]
    assert cal["method"] == "temperature" and 0.05 <= cal["temperature"] <= 20
    # (drawn from the validation chips' pixels, a pixel as often as chips hold it)
    stacked = sum(int((cd.label_classes(i) != IGNORE).sum()) for i in split.valid)
    assert cal["fitted_on"] == "validation pixels" and 50 <= cal["samples"] <= stacked
    # left raw exactly when the cross-fitted temperature did not lower the error
    c = result.calibration
    assert (c.ece_after >= c.ece_before) == c.kept_raw == cal["kept_raw"]
    assert sum(cal["reliability_before"]["counts"]) == cal["samples"]
    assert result.calibration.temperature == pytest.approx(cal["temperature"], rel=1e-5)
    # calibrated, or left raw when the cross-fitted halves say a temperature does not help
    # (which of the two depends on the machine's float arithmetic: both seen on this test)
    assert result.calibration.line() in info["training"]["notes"]
    assert result.calibration.line().startswith(
        "confidence left raw: " if result.calibration.kept_raw else "confidence calibrated on ")
    assert result.calibration.kept_raw == (cal["temperature"] == 1.0)
    # the TTA map's own calibration, on the same pixels' means over four flipped passes
    tta = cal["tta"]
    assert tta["samples"] == cal["samples"] and 0.05 <= tta["temperature"] <= 20
    assert tta["reliability_before"] != cal["reliability_before"]  # other probabilities
    assert tta["kept_raw"] == (tta["temperature"] == 1.0) == c.tta.kept_raw
    assert "; with TTA confidence " in c.line()
    # sparse OSM polygons: the log and the report say what the benchmark found
    assert any(n.startswith("labels cover ") and "random forest" in n
               for n in info["training"]["notes"])


def test_validation_chips_without_georeferencing_are_said_to_read_high(chips, tmp_path,
                                                                       monkeypatch):
    """Chips without bounds: which training chips overlap a validation chip cannot be told,
    none was dropped, and the log said "0 dropped" as if validation were clean."""
    import dataclasses

    from landlearn.core.deep import train_deep_learning_model as module

    real = module.read_training_data

    def placeless(folders, progress=None):
        data = real(folders, progress)
        data.chips = [dataclasses.replace(c, bounds=None) for c in data.chips]
        return data

    class StopAtWarning(RecordingProgress):
        def warning(self, message):
            super().warning(message)
            if "no georeferencing" in message:
                raise Cancelled()

    monkeypatch.setattr(module, "read_training_data", placeless)
    progress = StopAtWarning()
    with pytest.raises(Cancelled):
        train_model(quick_config(chips, tmp_path / "m.dlpk"), progress)
    assert any(re.search(r"\d+ validation chip\(s\) have no georeferencing: training chips "
                         r"that overlap them cannot be found", m) for m in progress.warnings)


def test_validation_blocks_that_take_every_label_name_validation_percent(chips, tmp_path,
                                                                          monkeypatch):
    """Labels in one corner, held out whole: the training chips left hold none. The error
    named IGNORE_CLASSES; the fix is VALIDATION_PERCENT (or more labels)."""
    from landlearn.core.deep import train_deep_learning_model as module
    from landlearn.core.deep.split import Split

    n = len(read_training_data([str(chips)]).chips)
    monkeypatch.setattr(module, "spatial_split", lambda *a, **k: Split(
        list(range(n // 2)), list(range(n // 2, n)), [], held_out=1000.0, total=1000.0))
    # the training half holds no labelled pixel (as when the labels lie in one corner)
    monkeypatch.setattr(module, "_scan", lambda chips, train, classes, progress: np.zeros(
        (len(train), classes), np.int64))
    with pytest.raises(InputError, match=r"^VALIDATION_PERCENT: the \d+ validation chips hold "
                                         "every labelled pixel"):
        train_model(quick_config(chips, tmp_path / "m.dlpk"))
    assert not (tmp_path / "m.dlpk").exists()


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
        train_model(quick_config(sample, tmp_path / "m.dlpk"))
    nc = sample / "nc_landsat7"
    other = tmp_path / "nc"
    export_training_data(ExportConfig(str(nc / "landsat_multiband.tif"),
                                      LabelConfig(str(nc / "strata.tif")), str(other),
                                      tile_size_x=64, tile_size_y=64, stride_x=64, stride_y=64))
    with pytest.raises(InputError, match="^TRAINING_DATA: .* has 5 bands but .* has 10"):
        train_model(TrainConfig((str(chips), str(other)), str(tmp_path / "m.dlpk")))
    progress = RecordingProgress()
    with pytest.raises(InputError, match="^IGNORE_CLASSES: only 1 class remains"):
        train_model(quick_config(chips, tmp_path / "m.dlpk",
                                 ignore_classes=(0, 1, 2, 3, 4, 5, 6, 7, 99)), progress)
    # a value that is no class of the chips (a typo) is said (a qgis_process sweep, stop 67)
    assert any(w.startswith("IGNORE_CLASSES: [99] are not classes of the training data")
               for w in progress.warnings), progress.warnings
    with pytest.raises(InputError, match="^DEVICE: CUDA was requested"):
        if torch.cuda.is_available():
            raise InputError("device", "CUDA was requested (skipped: a GPU is present)")
        train_model(quick_config(chips, tmp_path / "m.dlpk", device="cuda"))
    with pytest.raises(InputError, match="^EPOCHS: 0 epochs"):
        train_model(quick_config(chips, tmp_path / "m.dlpk", epochs=0))
    with pytest.raises(InputError, match="^OUTPUT_MODEL: .* not a .dlpk"):
        train_model(quick_config(chips, tmp_path / "m.zip", epochs=1))
    assert not (tmp_path / "m.dlpk").exists()


class CancelAfterEpoch(RecordingProgress):
    """Cancels at the first check after epoch ``n``'s log line."""

    def __init__(self, n):
        super().__init__()
        self.n = n

    def is_canceled(self):
        return any(m.split()[:1] == [str(self.n)] for m in self.messages)


@pytest.mark.heavy
def test_cancel_writes_nothing_unless_asked(chips, tmp_path):
    out = tmp_path / "c.dlpk"
    with pytest.raises(Cancelled):
        train_model(quick_config(chips, out), RecordingProgress(cancel_after_checks=12))
    with pytest.raises(Cancelled):
        train_model(quick_config(chips, out), CancelAfterEpoch(1))
    assert not out.exists() and os.listdir(tmp_path) == []
    with pytest.raises(Cancelled, match="best model so far .epoch 1."):
        train_model(quick_config(chips, out, save_on_cancel=True, epochs=3), CancelAfterEpoch(1))
    assert out.exists()
    # cancelled after the last epoch, while the validation chips are scored for the
    # report: the trained network is saved (it was all lost)
    from landlearn.core.model_package.format import read_package

    out.unlink()
    with pytest.raises(Cancelled, match="best model so far .epoch 1.") as err:
        train_model(quick_config(chips, out, save_on_cancel=True, epochs=1), CancelAfterEpoch(1))
    assert out.exists() and err.value.saved == str(out)  # the toolbox unpacks its report
    notes = read_package(str(out)).landlearn["training"]["notes"]
    assert any("while the trained networks scored the validation chips" in n for n in notes)
    assert len(notes) == len(set(notes))  # the networks' notes once, not twice


@pytest.mark.heavy
def test_save_on_cancel_keeps_the_best_epoch_when_a_signal_stops_training(chips, tmp_path,
                                                                        monkeypatch):
    """Ctrl-C or SIGTERM (a batch system's time limit) raised Terminated, which passed by
    SAVE_ON_CANCEL: nothing was kept (review 94). The best epoch is saved, the log says
    where, and the signal still ends the run (sent again once all is clean: recorded here
    instead of ending pytest)."""
    import signal
    from types import SimpleNamespace

    from landlearn.core import termination
    from landlearn.core.termination import Terminated

    kills = []
    monkeypatch.setattr(termination, "os", SimpleNamespace(
        getpid=os.getpid, kill=lambda pid, signum: kills.append(signum)))

    class TerminatedAfterEpoch(CancelAfterEpoch):
        def is_canceled(self):
            if super().is_canceled():
                raise Terminated(signal.SIGTERM)
            return False

    out = tmp_path / "t.dlpk"
    progress = TerminatedAfterEpoch(1)
    with pytest.raises(Terminated):
        train_model(quick_config(chips, out, save_on_cancel=True, epochs=3), progress)
    assert out.exists() and kills == [signal.SIGTERM]
    assert any(w.startswith("stopped by SIGTERM") and str(out) in w for w in progress.warnings)
    out.unlink()
    with pytest.raises(Terminated):  # not asked: nothing written
        train_model(quick_config(chips, out, epochs=3), TerminatedAfterEpoch(1))
    assert not out.exists() and os.listdir(tmp_path) == [] and len(kills) == 2


def test_a_gpu_out_of_memory_names_the_batch_size(chips, tmp_path, monkeypatch):
    """It was 'a bug in LandLearn' with no hint (review 94)."""
    import torch

    from landlearn.core.deep import train_deep_learning_model as tdl

    def full(*args, **kw):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(tdl, "fit_network", full)
    with pytest.raises(InputError, match="^BATCH_SIZE: the GPU ran out of memory training on "
                                         "batches of 4 chips of .* set a smaller BATCH_SIZE"):
        train_model(quick_config(chips, tmp_path / "m.dlpk", epochs=1, batch_size=4))
    assert not (tmp_path / "m.dlpk").exists()


@pytest.mark.heavy
def test_lr_finder_dice_and_class_weights(chips, tmp_path):
    progress = RecordingProgress()
    result = train_model(quick_config(chips, tmp_path / "lr.dlpk", epochs=1, learning_rate=None, batch_size=8,
                                 loss="dice", class_weighting="inverse_sqrt_frequency",
                                 architecture="fpn"), progress)
    assert any(m.startswith("Learning-rate finder chose") for m in progress.messages)
    line = next(m for m in progress.messages if m.startswith("Class weights "))
    weights = dict(part.rsplit(" ", 1) for part in line.split(": ", 1)[1].split(", "))
    assert line.startswith("Class weights (inverse_sqrt_frequency): ")
    w = {name: float(v) for name, v in weights.items()}
    assert {"farm", "forest", "grass", "water"} <= set(w)  # the chips' classes, each weighed
    assert min(w.values()) < 1 < max(w.values())
    assert w["farm"] < w["water"] < w["grass"]  # the common below the rare
    assert 1e-4 <= result.learning_rate <= 1e-1 and len(result.lr_history) > 8


@pytest.mark.heavy
def test_balanced_chip_sampling_trains_longer_epochs_on_rare_chips(chips, tmp_path):
    """On nc chips a rare class's chips are repeated: more steps per epoch, named in the log
    and the package's notes."""
    progress = RecordingProgress()
    result = train_model(quick_config(chips, tmp_path / "b.dlpk", epochs=1, batch_size=4,
                                      chip_sampling="balanced"), progress)
    line = next(m for m in progress.messages if m.startswith("class-balanced chips: "))
    draws = int(line.split()[2])
    assert draws > result.chips["train"]  # some chips repeated
    assert "repeating those of " in line and "% of chips)" in line
    assert line in result.notes


def test_the_epoch_log_lines_up_with_its_header():
    line = epoch_line(EpochRecord(3, 0.51234, 0.4, 0.875, 0.61, 75.2))
    assert line.split() == ["3", "0.5123", "0.4000", "0.8750", "0.6100", "01:15"]
    assert len(line) == len(EPOCH_HEADER)
    bare = epoch_line(EpochRecord(12, 1.0, None, None, None, 1.0))
    assert bare.split() == ["12", "1.0000", "-", "-", "-", "00:01"] and len(bare) == len(EPOCH_HEADER)


def test_the_classes_to_learn_leave_the_ignored_ones_out():
    from types import SimpleNamespace

    from landlearn.core.geo.classes import ClassInfo

    data = SimpleNamespace(classes=[ClassInfo(v, f"c{v}", (0, 0, 0)) for v in (1, 2, 5, 9)])
    assert _class_values(data, (0,)) == [1, 2, 5, 9]
    assert _class_values(data, (0, 5)) == [1, 2, 9]
    with pytest.raises(InputError, match="^IGNORE_CLASSES: only 1 class remains to learn"):
        _class_values(data, (1, 2, 5))
    one = SimpleNamespace(classes=[ClassInfo(3, "c3", (0, 0, 0))])
    with pytest.raises(InputError, match="^TRAINING_DATA: only 1 class remains to learn") as e:
        _class_values(one, (0,))
    assert "ArcGIS" not in str(e.value)
    # LandLearn's own one-class export (buildings): the fix named (a qgis_process sweep)
    assert "set BACKGROUND_VALUE (a value no class uses, e.g. 1) to train the unlabelled " \
        "pixels" in str(e.value)
    # buildings exported by ArcGIS Pro: arcgis.learn trains them against its 0, LandLearn
    # cannot, and says why
    one.foreign = ["/data/buildings"]
    with pytest.raises(InputError, match="'/data/buildings' has no LandLearn description "
                       r"\(ArcGIS Pro's export\): its unlabelled pixels \(0\) are a "
                       "'background' class to arcgis.learn"):
        _class_values(one, (0,))


@pytest.mark.heavy
def test_a_few_steps_at_a_high_rate_keep_the_validation_loss_sane(tmp_path):
    """nc's west half as the bench trains it (64 px chips, LR finder): with BatchNorm's
    running averages trailing the weights the validation loss went 21 -> 1820 -> 15134;
    re-estimated, it stays within a few times the training loss."""
    from small_models import nc_chips

    chips = nc_chips(tmp_path / "chips", stride=32)
    result = train_model(quick_config(chips, tmp_path / "m.dlpk", epochs=4, batch_size=16,
                                      learning_rate=3e-2, validation_percent=15,
                                      early_stopping=0))
    for rec in result.history:
        assert rec.valid_loss < 5 * max(rec.train_loss, 0.5), result.history


@pytest.mark.heavy
def test_32_px_chips_train_whatever_the_chip_count(tmp_path):
    """32 px chips leave a 1 x 1 px map at the encoder's fifth level: a batch of one chip
    there made torch's BatchNorm stop the training (enmap_potsdam's tiles). The automatic
    encoder depth (3 here) keeps 4 x 4 px; at depth 5 a last batch of one chip gets a
    second, and a batch size of 1 is refused by name."""
    folder = tmp_path / "chips"
    export_training_data(ExportConfig(str(NC / "landsat_multiband.tif"),
                                      LabelConfig(str(NC / "strata.tif")), str(folder),
                                      tile_size_x=32, tile_size_y=32, stride_x=32, stride_y=32))
    n = len(read_training_data([str(folder)]).chips)
    result = train_model(quick_config(folder, tmp_path / "m.dlpk", epochs=1, batch_size=n - 1,
                                      validation_percent=0, encoder_depth=5))
    assert result.history and np.isfinite(result.history[0].train_loss)
    assert result.encoder_depth == 5
    assert not any(n.startswith("labels cover") for n in result.notes)  # wall to wall
    with pytest.raises(InputError, match="^BATCH_SIZE: 32 x 32 px chips shrink to one pixel"):
        train_model(quick_config(folder, tmp_path / "m1.dlpk", epochs=1, batch_size=1,
                                 validation_percent=0, encoder_depth=5))
    assert not (tmp_path / "m1.dlpk").exists()
    progress = RecordingProgress()
    auto = train_model(quick_config(folder, tmp_path / "auto.dlpk", epochs=1, batch_size=1,
                                    validation_percent=0), progress)
    assert auto.encoder_depth == 3
    assert any(m.startswith("Encoder depth 3 for 32 x 32 px chips: the deepest map stays 4 px")
               for m in progress.messages)
    from landlearn.core.model_package.format import read_package

    assert read_package(str(tmp_path / "auto.dlpk")).landlearn["encoder_depth"] == 3


def test_a_packages_encoder_depth_is_kept_by_the_same_rule_as_encoder_depth():
    """Training from a LandLearn package keeps its depth where ENCODER_DEPTH's rule allows
    it (architecture names in any case, as everywhere else), and says when it cannot."""
    from types import SimpleNamespace

    from landlearn.core.deep.train_deep_learning_model import _encoder_depth

    progress = RecordingProgress()
    ckpt = SimpleNamespace(encoder_depth=4)
    cfg = SimpleNamespace(encoder_depth=None, architecture="UnetPlusPlus")
    assert _encoder_depth(cfg, (256, 256), ckpt, progress) == 4
    assert "Encoder depth 4, as in the pretrained package" in progress.messages[-1]
    cfg = SimpleNamespace(encoder_depth=None, architecture="linknet")
    assert _encoder_depth(cfg, (256, 256), ckpt, progress) == 5
    assert any("depth 4 does not fit linknet" in m for m in progress.messages)
    cfg = SimpleNamespace(encoder_depth=3, architecture="unet")
    assert _encoder_depth(cfg, (256, 256), ckpt, progress) == 3
