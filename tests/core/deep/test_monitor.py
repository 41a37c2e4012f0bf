"""deep.monitor: the validation figure that picks the best epoch (MONITOR)."""

from types import SimpleNamespace

import pytest

from landlearn.core.deep.monitor import MONITORS, check_monitor, epoch_score, monitor_label
from landlearn.core.errors import InputError
from small_models import quick_config

# two epochs: the first better by mean IoU and macro F1, the second by loss and accuracy
FIRST = SimpleNamespace(mean_iou=0.50, overall=0.70, macro_f1=0.45)
SECOND = SimpleNamespace(mean_iou=0.40, overall=0.80, macro_f1=0.35)


@pytest.mark.parametrize("monitor, better", [("mean_iou", 1), ("macro_f1", 1),
                                             ("accuracy", 2), ("valid_loss", 2)])
def test_each_monitor_ranks_epochs_by_its_own_figure(monitor, better):
    one, two = epoch_score(monitor, FIRST, 0.9, 0.5), epoch_score(monitor, SECOND, 0.6, 0.5)
    assert (one > two) == (better == 1)


def test_ties_go_to_the_better_fit_and_no_validation_means_the_training_loss():
    assert epoch_score("accuracy", FIRST, 0.5, 1.0) > epoch_score("accuracy", FIRST, 0.6, 1.0)
    assert epoch_score("valid_loss", FIRST, 0.5, 1.0) > epoch_score("valid_loss", SECOND, 0.5, 1.0)
    for monitor in MONITORS:
        assert epoch_score(monitor, None, None, 0.3) > epoch_score(monitor, None, None, 0.4)
        assert monitor_label(monitor, validated=False) == "training loss"


def test_an_unknown_monitor_is_refused_naming_the_choices():
    with pytest.raises(InputError, match="MONITOR.*mean_iou, valid_loss, accuracy, macro_f1"):
        check_monitor("miou")
    with pytest.raises(InputError, match="MONITOR"):
        quick_config("chips", "out.dlpk", monitor="dice").validate()


@pytest.mark.heavy
def test_the_validation_loss_picks_the_kept_epoch_when_it_is_the_monitor(chips, tmp_path,
                                                                         monkeypatch):
    """Scripted validation: the mean IoU is best at epoch 1, the loss at epoch 3. With
    MONITOR valid_loss the package keeps epoch 3 and early stopping waits on the loss."""
    pytest.importorskip("torch")
    pytest.importorskip("segmentation_models_pytorch")
    from landlearn.core.deep import fit
    from landlearn.core.deep.train_deep_learning_model import train_model

    ious = iter([0.5, 0.4, 0.3, 0.3, 0.3, 0.3])
    losses = iter([0.9, 0.8, 0.5, 0.6, 0.7, 0.7])
    real = fit.evaluate

    def scripted(*args, **kw):
        _vloss, acc = real(*args, **kw)
        return next(losses), SimpleNamespace(overall=acc.overall, mean_iou=next(ious))

    monkeypatch.setattr(fit, "evaluate", scripted)
    result = train_model(quick_config(chips, tmp_path / "m.dlpk", epochs=6, early_stopping=2,
                                      monitor="valid_loss"))
    assert result.best_epoch == 3 and [h.epoch for h in result.history] == [1, 2, 3, 4, 5]
    assert ("early stopping after epoch 5: no better validation loss in the 2 epochs "
            "since epoch 3") in result.notes
