"""deep.train_report from hand-made results: the page, its PNGs, and what is left out."""

import numpy as np
import pytest

from landlearn.core.accuracy.metrics import Accuracy
from landlearn.core.deep.train_deep_learning_model import EpochRecord, TrainResult
from landlearn.core.deep.train_report import _rgb, build_report, loss_scale, normalised

pytest.importorskip("matplotlib")
PNG = b"\x89PNG\r\n\x1a\n"


class _Chips:
    """What the report asks of the chip data: a normalised chip and its labels by index."""

    def load(self, index):
        rng = np.random.default_rng(index)
        return rng.normal(size=(4, 16, 16)).astype(np.float32), np.zeros((16, 16), np.uint8)


def _emd():
    return {"Classes": [{"Value": 1, "Name": "water <deep>", "Color": [0, 0, 255]},
                        {"Value": 2, "Name": "forest", "Color": [0, 128, 0]}],
            "LandLearn": {"architecture": "unet", "encoder": "resnet18"}}


def _result(accuracy=True, lr_history=True):
    history = [EpochRecord(1, 0.9, 0.8, 0.70, 0.50, 3.0), EpochRecord(2, 0.6, None, None, None, 2.5)]
    acc = Accuracy(np.array([[5, 1], [2, 8]]), ["water <deep>", "forest"]) if accuracy else None
    return TrainResult("m.dlpk", acc, history, 1, 3e-3, 8, "CPU (2 threads)",
                       {"train": 10, "valid": 2, "dropped": 1}, 12.0,
                       [(1e-5 * 1.3 ** i, 1.0 / (i + 1)) for i in range(20)] if lr_history else [],
                       ["a note & more"])


def test_the_report_has_its_page_and_pictures():
    truth = np.full((16, 16), 255, np.uint8)
    truth[4:8] = 1
    samples = [(0, truth, np.ones((16, 16), np.int64)), (3, np.zeros((16, 16), np.uint8),
                                                         np.zeros((16, 16), np.int64))]
    files = build_report(_emd(), _result(), None, _Chips(), samples)
    assert set(files) == {"report/report.html", "report/curves.png", "report/confusion_matrix.png",
                          "report/validation_chips.png", "report/lr_finder.png"}
    for name, data in files.items():
        if name.endswith(".png"):
            assert data.startswith(PNG) and len(data) > 1000, name
    page = files["report/report.html"].decode("utf-8")
    assert "unet / resnet18" in page
    assert "overall accuracy 0.812" in page and "over 16 pixels" in page  # 13 of 16 right
    # class names and notes are escaped, never markup
    assert "water &lt;deep&gt;" in page and "<deep>" not in page and "a note &amp; more" in page
    # the per-class row: precision 5/7, recall 5/6, 6 reference pixels
    assert "<td>water &lt;deep&gt;</td><td>0.714</td><td>0.833</td>" in page
    assert "<td>6</td></tr>" in page
    # one row per epoch, the best one marked; an epoch without validation shows dashes
    assert page.count("<tr class=best><td>1</td>") == 1
    assert "<tr><td>2</td><td>0.6</td><td>-</td>" in page
    # the confusion matrix in pixels with its totals: 6 reference water, 7 predicted water
    assert "<tr><th>water &lt;deep&gt;</th><td>5</td><td>1</td><td><b>6</b></td></tr>" in page
    assert "<tr><th>total</th><td><b>7</b></td><td><b>9</b></td><td><b>16</b></td></tr>" in page
    for png in ("curves.png", "confusion_matrix.png", "validation_chips.png", "lr_finder.png"):
        assert f'<img src="{png}">' in page


def test_without_validation_chips_the_figures_say_they_are_the_training_chips():
    """VALIDATION_PERCENT=0: the per-class table and the sample picture were headed
    'validation' while they were the training chips'."""
    from dataclasses import replace

    samples = [(0, np.zeros((16, 16), np.uint8), np.zeros((16, 16), np.int64))]
    result = replace(_result(), chips={"train": 10, "valid": 0, "dropped": 0})
    files = build_report(_emd(), result, None, _Chips(), samples)
    page = files["report/report.html"].decode("utf-8")
    assert "report/training_chips.png" in files and "report/validation_chips.png" not in files
    assert "<h2>Per class (training chips: no validation held out, overstated)</h2>" in page
    held = build_report(_emd(), _result(), None, _Chips(), samples)["report/report.html"]
    assert b"<h2>Per class (validation chips, which also chose the best epoch" in held
    # what chose it: MONITOR's figure on validation chips, the training loss without them
    assert b"(by validation mean IoU)" in held and b"(by training loss)" in page.encode()
    emd = _emd()
    emd["LandLearn"]["training"] = {"parameters": {"monitor": "valid_loss"}}
    assert b"(by validation loss)" in build_report(emd, _result(), None, _Chips(),
                                                   samples)["report/report.html"]


def test_what_is_missing_is_left_out():
    files = build_report(_emd(), _result(accuracy=False, lr_history=False), None, _Chips(), [])
    assert set(files) == {"report/report.html", "report/curves.png"}
    page = files["report/report.html"].decode("utf-8")
    assert "no accuracy: no evaluated pixels" in page and "lr_finder" not in page


def test_the_chip_composite_uses_bands_3_2_1_stretched():
    x = np.zeros((4, 10, 10), np.float32)
    x[0], x[1], x[2] = 1.0, 2.0, np.linspace(0, 9, 100).reshape(10, 10)
    rgb = _rgb(x)
    assert rgb.shape == (10, 10, 3) and rgb.min() >= 0 and rgb.max() <= 1
    # red is band 3, the only band that varies beyond the others
    assert rgb[..., 0].std() > 0.2 and rgb[0, 0, 0] == 0.0 and rgb[-1, -1, 0] == 1.0
    one = _rgb(np.arange(25, dtype=np.float32).reshape(1, 5, 5))
    np.testing.assert_array_equal(one[..., 0], one[..., 2])  # one band: grey


def test_losses_get_a_log_axis_when_they_can():
    """The issue's example: a first validation loss of 2.4e8 flattened every later epoch."""
    blown = [EpochRecord(1, 3.1, 2.4e8, 0.2, 0.1, 1.0), EpochRecord(2, 1.2, 0.9, 0.6, 0.4, 1.0)]
    assert loss_scale(blown) == "log"
    assert loss_scale([EpochRecord(1, 0.0, None, None, None, 1.0)]) == "linear"
    # a NaN epoch (fp16 steps skipped) is a gap on the log axis: it made the axis linear
    assert loss_scale([EpochRecord(1, float("nan"), 2.4e8, 0.5, 0.3, 1.0),
                       EpochRecord(2, 1.0, 0.9, 0.6, 0.4, 1.0)]) == "log"
    assert loss_scale([EpochRecord(1, float("nan"), None, None, None, 1.0)]) == "linear"


def test_the_confusion_matrix_is_normalised_both_ways():
    m = np.array([[5, 1, 0], [2, 8, 0], [0, 0, 0]])
    by_reference, by_prediction = normalised(m)
    np.testing.assert_allclose(by_reference.sum(axis=1), [1, 1, 0])
    np.testing.assert_allclose(by_prediction.sum(axis=0), [1, 1, 0])
    assert by_reference[0, 0] == 5 / 6 and by_prediction[0, 0] == 5 / 7  # recall, precision


def test_class_names_with_dollars_and_many_classes_are_drawn():
    """'Forest $\\nosuchcommand$' put matplotlib in math mode and failed the report after
    every epoch had run; 255 classes asked 6.9 GB of figure (an adversarial sweep, stop
    68). The names are drawn as written; the figure stops growing at 40 classes."""
    from landlearn.core.deep.train_report import confusion_png

    png = confusion_png(Accuracy(np.eye(3) * 5, ["Forest $\\nosuchcommand$", "a$b", "water"]))
    assert png.startswith(b"\x89PNG")
    n = 120
    big = confusion_png(Accuracy(np.eye(n), [f"class {i}" for i in range(n)]))
    assert big.startswith(b"\x89PNG") and len(big) < 5e6
