"""accuracy.reliability_plot: the diagram is valid SVG with one point per filled bin."""

import xml.etree.ElementTree as ET

import numpy as np

from landlearn.core.accuracy.calibration import fit_calibration
from landlearn.core.accuracy.reliability_plot import calibration_html, reliability_svg

SVG = "{http://www.w3.org/2000/svg}"


def _calibration():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, (3000, 4))
    e = np.exp(3 * z)
    prob = e / e.sum(1, keepdims=True)
    truth = np.array([rng.choice(4, p=p) for p in np.exp(z) / np.exp(z).sum(1, keepdims=True)])
    return fit_calibration(prob, truth, "validation pixels")


def test_the_diagram_draws_each_filled_bin_before_and_after():
    cal = _calibration()
    root = ET.fromstring(reliability_svg(cal))
    assert root.tag == f"{SVG}svg"
    dots = root.findall(f"{SVG}circle")
    filled = sum(1 for c in cal.before.counts if c) + sum(1 for c in cal.after.counts if c)
    assert len(dots) == filled
    text = " ".join(t.text for t in root.iter(f"{SVG}text"))
    assert f"before (ECE {cal.ece_before:.3f})" in text and f"after (ECE {cal.ece_after:.3f})" in text


def test_the_section_says_what_was_fitted_or_why_nothing_was():
    cal = _calibration()
    page = calibration_html(cal)
    assert f"Temperature {cal.temperature:.3f} fitted on 3000 validation pixels" in page
    assert "<svg" in page
    none = calibration_html(None, "no validation chips to fit it on")
    assert "Not calibrated: no validation chips to fit it on" in none and "<svg" not in none
    # a temperature that did not transfer between halves: raw scores, and the page says so
    from dataclasses import replace

    raw = calibration_html(replace(cal, kept_raw=True, temperature=1.0))
    assert "Left raw (temperature 1): a temperature fitted on one half of 3000" in raw
    assert "<svg" in raw and "are calibrated" not in raw
