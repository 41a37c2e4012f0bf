"""classical.report: the shaded confusion matrix and the report page, from hand-made numbers."""

from types import SimpleNamespace

import numpy as np

from landlearn.core.accuracy.metrics import Accuracy
from landlearn.core.classical.report import classical_report, confusion_html


def test_confusion_html_shades_by_row_share_and_escapes_names():
    acc = Accuracy(np.array([[8, 2], [0, 5]]), ["<water>", "forest & fields"])
    page = confusion_html(acc)
    assert page.startswith('<table class="cm">') and page.endswith("</table>")
    assert "<th>&lt;water&gt;</th>" in page and "forest &amp; fields" in page and "<water>" not in page
    # 8 of 10: shade 255 - 200 * 0.8 = 95, white ink above 60%
    assert '<td style="background:rgb(95,95,255);color:#fff" title="80.0% of reference ' \
           '&lt;water&gt;">8</td>' in page
    assert '<td style="background:rgb(215,215,255);color:#000" title="20.0% of reference ' \
           '&lt;water&gt;">2</td>' in page
    # an empty cell stays white; the second row is all in its diagonal
    assert 'rgb(255,255,255);color:#000" title="0.0% of reference forest &amp; fields">0</td>' in page
    assert 'rgb(55,55,255);color:#fff" title="100.0% of reference forest &amp; fields">5</td>' in page
    assert page.count("<tr>") == 3


def _emd():
    return {"Classes": [{"Value": 1, "Name": "water", "Color": [0, 0, 255]},
                        {"Value": 4, "Name": "urban <dense>", "Color": [255, 0, 0]}],
            "LandLearn": {"model_type": "random_forest", "in_channels": 2,
                          "band_names": ["red", "nir <b8>"],
                          "training": {"validation": "5-fold cross-validation grouped by polygon"}}}


def test_report_with_cross_validation():
    acc = Accuracy(np.array([[8, 2], [0, 5]]), ["water", "urban <dense>"])
    result = SimpleNamespace(accuracy=acc, samples={1: 10, 4: 5}, available={1: 900, 4: 70},
                             seconds=1.25)
    files = classical_report(_emd(), result)
    assert set(files) == {"report/report.html"}
    page = files["report/report.html"].decode("utf-8")
    assert "<h1>random forest: training report</h1>" in page
    assert "Overall accuracy 0.867, kappa" in page and "over 15 samples, 5-fold cross-validation " \
        "grouped by polygon." in page and "Trained in 1.2 s." in page
    # per class: precision 8/8, recall 8/10, F1, samples, labelled pixels
    assert "<tr><td>water</td><td>1.000</td><td>0.800</td><td>0.889</td><td>10</td><td>900</td></tr>" \
        in page
    assert "<td>urban &lt;dense&gt;</td><td>0.714</td><td>1.000</td>" in page
    assert "<h2>Confusion matrix</h2><table class=\"cm\">" in page
    assert "<p>Features: the 2 bands of each pixel (red, nir &lt;b8&gt;).</p>" in page
    assert "Each sample weighs" not in page  # a matrix of counts says nothing of weights


def test_a_weighted_report_says_so_and_gives_the_counted_accuracy():
    counts = np.array([[8, 2], [0, 5]])
    acc = Accuracy(counts * np.array([[90.0], [14.0]]), ["water", "urban"], counts=counts)
    result = SimpleNamespace(accuracy=acc, samples={1: 10, 4: 5}, available={1: 900, 4: 70},
                             seconds=1.0)
    page = classical_report(_emd(), result)["report/report.html"].decode("utf-8")
    assert "Overall accuracy 0.814, kappa" in page and "over 15 samples, 5-fold" in page  # 790/970
    assert "(counted as drawn, overall accuracy 0.867)" in page
    assert "<h2>Confusion matrix (labelled pixels the samples stand for)</h2>" in page
    assert ">720</td>" in page and ">180</td>" in page  # 8 and 2 samples of 90 pixels


def test_report_without_cross_validation():
    result = SimpleNamespace(accuracy=None, samples={1: 10}, available={1: 900, 4: 70}, seconds=0.3)
    page = classical_report(_emd(), result)["report/report.html"].decode("utf-8")
    assert "No cross-validation was run." in page and "Confusion matrix" not in page
    assert "<tr><td>water</td><td>10</td><td>900</td></tr>" in page
    assert "<tr><td>urban &lt;dense&gt;</td><td>0</td><td>70</td></tr>" in page  # no samples drawn
