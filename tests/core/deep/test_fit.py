"""One network's training run (deep.fit): what it records of itself. The run itself is
exercised by every training test (tests/core/deep/test_train_deep_learning_model.py)."""

from landlearn.core.deep.fit import EPOCH_HEADER, EpochRecord, Fit, epoch_line


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
