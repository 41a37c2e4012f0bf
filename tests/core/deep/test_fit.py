"""One network's training run (deep.fit): what it records of itself. The run itself is
exercised by every training test (tests/core/deep/test_train_deep_learning_model.py)."""

from types import SimpleNamespace

import numpy as np
import pytest

from landlearn.core.deep.fit import EPOCH_HEADER, EpochRecord, Fit, epoch_line
from landlearn.core.errors import InputError
from small_models import quick_config


def test_a_fit_summarises_its_best_epoch_for_the_package():
    fit = Fit(7, [EpochRecord(1, 0.9, 0.8, 0.6, 0.40, 2.0), EpochRecord(2, 0.7, 0.6, 0.7, 0.52, 2.0),
                  EpochRecord(3, 0.6, 0.7, 0.7, 0.50, 2.0)], best_epoch=2, learning_rate=3e-3)
    s = fit.summary()
    assert (s["seed"], s["best_epoch"], s["epochs_run"], s["best_mean_iou"]) == (7, 2, 3, 0.52)
    assert s["history"][2] == {"epoch": 3, "train_loss": 0.6, "valid_loss": 0.7,
                               "accuracy": 0.7, "mean_iou": 0.50, "seconds": 2.0}
    assert Fit(1).summary()["best_mean_iou"] is None  # cancelled before its first epoch


def test_epoch_lines_keep_the_header_columns_without_validation():
    assert len(epoch_line(EpochRecord(20, 12.5, None, None, None, 61.0))) == len(EPOCH_HEADER)


def test_the_rate_peaks_three_tenths_into_the_epochs():
    from landlearn.core.deep.fit import peak_epoch

    assert [peak_epoch(n) for n in (1, 2, 3, 4, 10, 20, 21)] == [1, 1, 1, 2, 3, 6, 7]


@pytest.mark.heavy
def test_early_stopping_counts_from_the_rate_peak(chips, tmp_path, monkeypatch):
    """Validation scores that only fall: the best epoch stays 1, yet training runs on until
    EARLY_STOPPING epochs have passed after the peak epoch (3 of 10), not after epoch 1."""
    pytest.importorskip("torch")
    pytest.importorskip("segmentation_models_pytorch")
    from landlearn.core.deep import fit
    from landlearn.core.deep.train_deep_learning_model import train_model

    scores = iter([0.5, 0.4, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3])
    real = fit.evaluate

    def scripted(*args, **kw):
        vloss, acc = real(*args, **kw)
        return vloss, SimpleNamespace(overall=acc.overall, mean_iou=next(scores))

    monkeypatch.setattr(fit, "evaluate", scripted)
    result = train_model(quick_config(chips, tmp_path / "e.dlpk", epochs=10, early_stopping=2))
    assert [h.epoch for h in result.history] == [1, 2, 3, 4, 5] and result.best_epoch == 1
    assert ("early stopping after epoch 5: no better validation mean IoU in the 2 epochs "
            "since epoch 3") in result.notes


def test_a_loss_that_is_no_number_stops_training_and_writes_no_package(chips, tmp_path,
                                                                       monkeypatch):
    """One NaN step makes every weight NaN for good, and the NaN network was packaged: the
    run stops naming TRAINING_DATA and what to do."""
    pytest.importorskip("torch")
    pytest.importorskip("segmentation_models_pytorch")

    from landlearn.core.deep.train_deep_learning_model import train_model

    _nan_at_step(monkeypatch, lambda s: 3)
    with pytest.raises(InputError, match="^TRAINING_DATA: the training loss became nan at "
                                         "epoch 1, step 3"):
        train_model(quick_config(chips, tmp_path / "n.dlpk", epochs=2, learning_rate=3e-3))
    assert not (tmp_path / "n.dlpk").exists()


@pytest.mark.heavy
def test_an_epoch_whose_outputs_are_not_finite_stops_training_keeping_the_best(
        chips, tmp_path, monkeypatch):
    """float16 overflowing on one validation chip at epoch 3: the run kept nothing before
    (an error lost the epochs trained); now training stops there with the best epoch."""
    pytest.importorskip("torch")
    pytest.importorskip("segmentation_models_pytorch")
    from landlearn.core.deep import fit
    from landlearn.core.deep.evaluation import NonFiniteOutputs
    from landlearn.core.deep.train_deep_learning_model import train_model

    real, calls = fit.evaluate, []

    def overflowing(*args, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise NonFiniteOutputs("mixed_precision", "outputs not finite")
        return real(*args, **kw)

    monkeypatch.setattr(fit, "evaluate", overflowing)
    progress_notes = train_model(quick_config(chips, tmp_path / "f.dlpk", epochs=5,
                                              early_stopping=0)).notes
    assert (tmp_path / "f.dlpk").exists()
    assert any(n.startswith("training stopped at epoch 3: outputs not finite; the best epoch")
               for n in progress_notes)


@pytest.mark.heavy
def test_a_nan_loss_after_good_epochs_keeps_the_best_epoch(chips, tmp_path, monkeypatch):
    """A NaN training step at epoch 2 threw away epoch 1 (and, in an ensemble, networks
    already trained): no package was written. Now training stops there with the best
    epoch, said in the notes, as a non-finite validation does."""
    pytest.importorskip("torch")
    pytest.importorskip("segmentation_models_pytorch")

    from landlearn.core.deep.train_deep_learning_model import train_model

    _nan_at_step(monkeypatch, lambda s: s.steps_per_epoch + 1)
    result = train_model(quick_config(chips, tmp_path / "n.dlpk", epochs=3,
                                      learning_rate=3e-3, early_stopping=0))
    assert (tmp_path / "n.dlpk").exists()
    assert any(n.startswith("training stopped: the training loss became nan at epoch 2, "
                            "step 1; the best epoch (1) is kept") for n in result.notes)



@pytest.mark.heavy
def test_an_ensemble_network_that_diverges_at_once_leaves_the_ones_trained(chips, tmp_path,
                                                                          monkeypatch):
    """Network 2 of 2 with a NaN loss at its first step: the error lost network 1 too. The
    model is the network(s) trained before it, said in the notes."""
    pytest.importorskip("torch")
    pytest.importorskip("segmentation_models_pytorch")
    from landlearn.core.deep.train_deep_learning_model import train_model

    _nan_at_step(monkeypatch, lambda s: s.steps_per_epoch + 1)
    result = train_model(quick_config(chips, tmp_path / "e.dlpk", epochs=1, ensemble_size=2,
                                      early_stopping=0))
    assert (tmp_path / "e.dlpk").exists()
    assert any(n.startswith("network 2 of 2 stopped: the training loss became nan at epoch "
                            "1, step 1; the model is the 1 network(s) trained before it")
               for n in result.notes)

@pytest.mark.heavy
def test_float16_steps_whose_loss_overflows_are_skipped_not_averaged(chips, tmp_path,
                                                                      monkeypatch):
    """Under float16 the loss scaler skips a step whose loss is not a number, but its NaN
    was averaged into the epoch's train_loss: without validation chips, epoch 1 was then
    kept as the best, silently. Now the step is left out of the average and said; an
    epoch with no finite step names MIXED_PRECISION."""
    pytest.importorskip("torch")
    pytest.importorskip("segmentation_models_pytorch")
    from landlearn.core.deep.train_deep_learning_model import train_model

    _nan_at_step(monkeypatch, lambda s: 2, float16=True)
    result = train_model(quick_config(chips, tmp_path / "h.dlpk", epochs=1, learning_rate=3e-3,
                                      validation_percent=0, early_stopping=0))
    assert np.isfinite(result.history[0].train_loss)
    assert any(n.startswith("epoch 1: 1 of ") and "float16 could not hold" in n
               for n in result.notes)
    _nan_at_step(monkeypatch, lambda s: 0, float16=True, every=True)
    with pytest.raises(InputError, match="^MIXED_PRECISION: every training step of epoch 1"):
        train_model(quick_config(chips, tmp_path / "h2.dlpk", epochs=1, learning_rate=3e-3,
                                 early_stopping=0))
    assert not (tmp_path / "h2.dlpk").exists()
    # in an ensemble, a later network that trains nothing leaves the ones trained before
    _nan_at_step(monkeypatch, lambda s: s.steps_per_epoch + 1, float16=True, every=True)
    result = train_model(quick_config(chips, tmp_path / "h3.dlpk", epochs=1, ensemble_size=2,
                                      learning_rate=3e-3, early_stopping=0))
    assert (tmp_path / "h3.dlpk").exists()
    assert any(n.startswith("network 2 of 2 stopped: every training step of epoch 1")
               for n in result.notes)


def _nan_at_step(monkeypatch, step, float16=False, every=False):
    """Training's loss made NaN at the ``step(setup)``-th training step (validation's loss
    calls not counted), or at ``every`` step from it on; ``float16``: trained with float16's loss
    scaler, as on a GPU without bfloat16 (here on the CPU, the autocast itself left out:
    float16 convolutions on a CPU are about 8x slower)."""
    import dataclasses
    import importlib

    from landlearn.core.deep import fit

    train_deep_learning_model = importlib.import_module(
        "landlearn.core.deep.train_deep_learning_model")
    real = fit.fit_network
    steps = []

    def poisoned(torch, model, s, f, progress, part=(0, 1)):
        loss_fn = s.loss_fn

        def nan_there(out, y):
            loss = loss_fn(out, y)
            if not out.requires_grad:  # validation
                return loss
            steps.append(1)
            there = len(steps) >= step(s) if every else len(steps) == step(s)
            return loss * float("nan") if there else loss

        if float16:
            scaler = torch.amp.GradScaler
            monkeypatch.setattr(torch.amp, "GradScaler",
                                lambda device, enabled: scaler(device, enabled=True))
        return real(torch, model, dataclasses.replace(s, loss_fn=nan_there), f, progress, part)

    monkeypatch.setattr(train_deep_learning_model, "fit_network", poisoned)
