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


def test_the_tta_maps_own_calibration_has_its_own_diagram():
    from dataclasses import replace

    cal = _calibration()
    tta = replace(cal, temperature=0.8, fitted_on="validation pixels (TTA: 4 flips averaged)")
    page = calibration_html(replace(cal, tta=tta))
    assert page.count("<svg") == 2 and "<h3>With TTA</h3>" in page
    assert "its own calibration, temperature 0.800" in page
    raw = calibration_html(replace(cal, kept_raw=True, temperature=1.0,
                                   tta=replace(tta, kept_raw=True, temperature=1.0)))
    assert raw.count("<svg") == 2 and "its own calibration, left raw (temperature 1)" in raw
    assert calibration_html(cal).count("<svg") == 1  # older packages: none
    assert cal.to_json().get("tta") is None
    stored = replace(cal, tta=tta).to_json()["tta"]
    assert stored["temperature"] == 0.8 and "tta" not in stored
