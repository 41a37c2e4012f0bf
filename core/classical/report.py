"""The report of a classical model: grouped cross-validation metrics and sample counts.

Plain HTML, the confusion matrix included as a shaded table: training a classical model
takes a fraction of a second, and drawing the matrix with matplotlib cost more than the
fit (0.3 s for its import alone).
"""

from __future__ import annotations

import html

import numpy as np

from ..accuracy.metrics import shown
from ..accuracy.reliability_plot import calibration_html


def confusion_html(acc) -> str:
    """Rows are the reference, columns the prediction; the shade is the row share."""
    names = [html.escape(n) for n in acc.names]
    head = "".join(f"<th>{n}</th>" for n in names)
    body = ""
    for i, name in enumerate(names):
        total = float(acc.matrix[i].sum()) or 1.0
        cells = ""
        for j in range(len(names)):
            share = acc.matrix[i, j] / total
            shade = int(255 - 200 * share)
            ink = "#fff" if share > 0.6 else "#000"
            cells += (f'<td style="background:rgb({shade},{shade},255);color:{ink}" '
                      f'title="{share:.1%} of reference {name}">{acc.matrix[i, j]:,.0f}</td>')
        body += f"<tr><th>{name}</th>{cells}</tr>"
    return (f'<table class="cm"><tr><th>reference \\ predicted</th>{head}</tr>{body}'
            "</table>")


def features_line(info: dict) -> str:
    """What the classifier reads per sample, so that a report says what was learnt from."""
    bands = info["in_channels"]
    hood, seg = info.get("neighbourhood"), info.get("segments")
    if hood:
        sizes = ", ".join(f"{k}x{k}" for k in hood["sizes"])
        stats = "mean and standard deviation" if hood["statistics"] == "mean_std" else "mean"
        return (f"Features: {len(hood['features'])} per pixel: the {bands} bands, then each "
                f"band's {stats} over {sizes} px windows (NoData pixels left out).")
    if seg:
        return (f"Features: {len(seg['features'])} per segment "
                f"({', '.join(seg['attributes'])}).")
    return f"Features: the {bands} bands of each pixel ({', '.join(info['band_names'])})."


def classical_report(emd: dict, result) -> dict[str, bytes]:
    info = emd["LandLearn"]
    acc = result.accuracy
    files: dict[str, bytes] = {}
    rows = ""
    names = [c["Name"] for c in emd["Classes"]]
    for i, c in enumerate(emd["Classes"]):
        metrics = ""
        if acc is not None:
            metrics = (f"<td>{shown(acc.precision[i])}</td><td>{shown(acc.recall[i])}</td>"
                       f"<td>{shown(acc.f1[i])}</td>")
        rows += (f"<tr><td>{html.escape(names[i])}</td>{metrics}"
                 f"<td>{result.samples.get(c['Value'], 0)}</td>"
                 f"<td>{result.available.get(c['Value'], 0)}</td></tr>")
    units = "segments" if info.get("segments") else "pixels"
    if acc is not None:
        weighted = acc.counts is not None and not np.array_equal(acc.counts, acc.matrix)
        summary = (f"Overall accuracy {acc.overall:.3f}, kappa {shown(acc.kappa)}, macro F1 "
                   f"{acc.macro_f1:.3f} over {acc.samples} samples, "
                   f"{info['training']['validation']}.")
        if weighted and units == "segments":
            # a map is judged per pixel: a segment counts as its labelled pixels (cv_weights)
            summary += (" Counted by labelled pixels: each segment weighs the pixels of it "
                        "that carry its class in the labels, its class's labelled pixels "
                        "shared out so, as a map is judged pixel by pixel (counted one per "
                        f"segment as drawn, overall accuracy {acc.counted_overall:.3f}).")
        elif weighted:
            summary += (f" Each sample weighs the labelled {units} its class has per sample "
                        "scored, so the classes count as in the labels, not as drawn "
                        f"(counted as drawn, overall accuracy {acc.counted_overall:.3f}).")
        head = "<th>precision (user's)</th><th>recall (producer's)</th><th>F1</th>"
        img = ("<h2>Confusion matrix" + (" (labelled pixels the samples stand for)"
                                         if weighted else "") + "</h2>" + confusion_html(acc))
    else:
        summary, head, img = "No cross-validation was run.", "", ""
    calibration = calibration_html(getattr(result, "calibration", None),
                                   getattr(result, "calibration_note", None)
                                   or "no cross-validation predictions to fit it on")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><meta name="generator" content="LandLearn"><title>LandLearn model report</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}td,th{{padding:2px 8px;
text-align:right}}table{{border-collapse:collapse}}tr:nth-child(even){{background:#eee}}</style>
</head><body><h1>{html.escape(info['model_type'].replace('_', ' '))}: training report</h1>
<p>{html.escape(summary)} Trained in {result.seconds:.1f} s.</p>
<p>{html.escape(features_line(info))}</p>
<table><tr><th>class</th>{head}<th>samples</th><th>labelled {units}</th></tr>{rows}</table>
{img}{calibration}</body></html>"""
    files["report/report.html"] = page.encode("utf-8")
    return files
