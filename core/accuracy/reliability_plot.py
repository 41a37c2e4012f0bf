"""The reliability diagram of a calibration, as inline SVG for the training reports.

SVG written here rather than a matplotlib PNG: the classical report stays free of
matplotlib (its import alone outlasts a forest's fit), and both reports draw the
diagram the same way.
"""

from __future__ import annotations

import html

from .calibration import Calibration, Reliability

__all__ = ["calibration_html", "reliability_svg"]

_W, _H, _M = 320, 320, 40  # plot size and margin in pixels
_SERIES = (("before", "#999999"), ("after", "#1f6fb4"))


def _xy(conf: float, acc: float) -> tuple[float, float]:
    return _M + conf * (_W - 2 * _M), _H - _M - acc * (_H - 2 * _M)


def _series(rel: Reliability, colour: str) -> str:
    points = [_xy(f, a) for c, f, a in zip(rel.counts, rel.confidence, rel.accuracy) if c]
    if not points:
        return ""
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in points)
    return f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>{dots}'


def reliability_svg(cal: Calibration) -> str:
    """Accuracy against mean confidence per bin, before and after; the diagonal is a
    perfectly calibrated model (points below it are over-confident)."""
    x0, y0 = _xy(0, 0)
    x1, y1 = _xy(1, 1)
    ticks = "".join(
        f'<text x="{_xy(t / 5, 0)[0]:.0f}" y="{y0 + 14:.0f}" font-size="10" '
        f'text-anchor="middle">{t / 5:.1f}</text>'
        f'<text x="{x0 - 6:.0f}" y="{_xy(0, t / 5)[1] + 3:.0f}" font-size="10" '
        f'text-anchor="end">{t / 5:.1f}</text>' for t in range(6))
    legend = "".join(
        f'<text x="{x0 + 8}" y="{y1 + 14 + 14 * i}" font-size="11" fill="{c}">{name} (ECE '
        f'{getattr(cal, "ece_" + name):.3f})</text>' for i, (name, c) in enumerate(_SERIES))
    series = "".join(_series(getattr(cal, name), c) for name, c in _SERIES)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
            f'role="img" aria-label="reliability diagram">'
            f'<rect x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}" fill="none" '
            f'stroke="#000"/><line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="#ccc" '
            f'stroke-dasharray="4 3"/>{ticks}{series}{legend}'
            f'<text x="{(x0 + x1) / 2:.0f}" y="{_H - 6}" font-size="11" text-anchor="middle">'
            f'confidence</text><text x="12" y="{(y0 + y1) / 2:.0f}" font-size="11" '
            f'text-anchor="middle" transform="rotate(-90 12 {(y0 + y1) / 2:.0f})">accuracy'
            f'</text></svg>')


def calibration_html(cal: Calibration | None, why_not: str | None = None) -> str:
    """The report's calibration section: the diagram, T and the errors, or why there is
    none."""
    if cal is None:
        return ("<h2>Confidence calibration</h2><p>Not calibrated"
                + (f": {html.escape(why_not)}" if why_not else "") + ". OUTPUT_CONFIDENCE "
                "and OUTPUT_PROBABILITIES are the model's raw scores.</p>")
    if cal.kept_raw:
        return (f"<h2>Confidence calibration</h2><p>Left raw (temperature 1): a temperature "
                f"fitted on one half of {cal.samples} {html.escape(cal.fitted_on)} did not lower "
                f"the expected calibration error on the other half ({cal.ece_before:.3f} raw, "
                f"{cal.ece_after:.3f} with it), so it would not help a map either. "
                "OUTPUT_CONFIDENCE and OUTPUT_PROBABILITIES are the model's raw scores; the "
                "diagram shows both.</p>" f"{reliability_svg(cal)}{_tta_html(cal.tta)}")
    return (f"<h2>Confidence calibration</h2><p>Temperature {cal.temperature:.3f} fitted on "
            f"{cal.samples} {html.escape(cal.fitted_on)}. Expected calibration error "
            f"{cal.ece_before:.3f} before, {cal.ece_after:.3f} after (T fitted on one half of "
            "those predictions and scored on the other, both ways). OUTPUT_CONFIDENCE and "
            "OUTPUT_PROBABILITIES are calibrated; the class map is not changed by it.</p>"
            f"{reliability_svg(cal)}{_tta_html(cal.tta)}")


def _tta_html(tta: Calibration | None) -> str:
    """The TTA map's own temperature: four flipped passes averaged are less sure than one."""
    if tta is None:
        return ""
    what = ("left raw (temperature 1): a temperature did not lower its error"
            if tta.kept_raw else f"temperature {tta.temperature:.3f}")
    return (f"<h3>With TTA</h3><p>Classify Pixels with TTA averages four flipped passes, "
            f"which are less sure than one: its confidence has its own calibration, {what}. "
            f"Expected calibration error {tta.ece_before:.3f} before, {tta.ece_after:.3f} "
            f"after, on the same {tta.samples} pixels.</p>{reliability_svg(tta)}")
