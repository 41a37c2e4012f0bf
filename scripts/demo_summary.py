"""One page on what `make demo` just did: accuracies and timings, in demo_output/summary.md.

Reads only what the demo wrote (model packages, the accuracy report, timings, the
environment report), with the standard library, so it runs on any Python 3.
"""

from __future__ import annotations

import json
import os
import sys
import zipfile


def package_metrics(path: str) -> dict | None:
    if not os.path.exists(path):
        return None
    with zipfile.ZipFile(path) as zf:
        emd = next(n for n in zf.namelist() if n.endswith(".emd") and "/" not in n)
        return json.loads(zf.read(emd))["LandLearn"]


def row(name: str, how: str, m: dict | None) -> str:
    if not m:
        return f"| {name} | {how} | - | - | - | - |"
    kappa = "n/a" if m.get("kappa") is None else f"{m['kappa']:.3f}"  # undefined: null
    return (f"| {name} | {how} | {m['overall_accuracy']:.3f} | {kappa} | "
            f"{m['macro_f1']:.3f} | {m.get('mean_iou', float('nan')):.3f} |")


def main(out: str) -> str:
    unet = package_metrics(os.path.join(out, "nc_unet.dlpk"))
    rf = package_metrics(os.path.join(out, "nc_rf.dlpk"))
    acc_path = os.path.join(out, "nc_rf_accuracy.json")
    wall = json.load(open(acc_path))["pixel_counts"] if os.path.exists(acc_path) else None
    area = json.load(open(acc_path))["area_weighted"] if os.path.exists(acc_path) else None
    ref_path = os.path.join(out, "nc_rf_refined_accuracy.json")
    refined = json.load(open(ref_path))["pixel_counts"] if os.path.exists(ref_path) else None
    env = json.load(open(os.path.join(out, "environment.json")))
    timings = []
    tpath = os.path.join(out, "timings.txt")
    if os.path.exists(tpath):
        timings = [line.rstrip("\n").split("\t") for line in open(tpath) if "\t" in line]
    device = env.get("device_description") or env.get("device", "unknown")
    lines = [
        "# LandLearn demo summary", "",
        f"Device: {device}. "
        "Data: the embedded sample (North Carolina Landsat 7 with land cover and training "
        "polygons; Sentinel-2 with OpenStreetMap land use).", "",
        "## Accuracy", "",
        "| model | evaluated on | overall accuracy | kappa | macro F1 | mean IoU |",
        "|---|---|---|---|---|---|",
        row("U-Net (resnet18, 8 epochs)", "held-out spatial blocks of the chips",
            unet and unet.get("metrics")),
        row("Random forest (100 trees)", "cross-validation grouped by polygon",
            rf and rf.get("metrics")),
        row("Random forest (100 trees)", "every pixel of strata.tif (wall to wall)", wall),
        row("Random forest, refined (9 px unit)", "every pixel of strata.tif (wall to wall)",
            refined),
    ]
    if area:
        lines += ["", f"Area-weighted overall accuracy of the random-forest map (Olofsson et "
                  f"al. 2014): {area['overall_accuracy']:.3f} +- {area['overall_accuracy_ci95']:.3f}."]
    lines += ["", "## Time per step (seconds, wall clock)", "", "| step | s |", "|---|---|"]
    lines += [f"| {name} | {secs} |" for name, secs in timings]
    total = sum(int(s) for _, s in timings)
    lines += [f"| **total** | **{total}** |", ""]
    text = "\n".join(lines)
    with open(os.path.join(out, "summary.md"), "w", encoding="utf-8") as fh:
        fh.write(text)
    return text


if __name__ == "__main__":
    print(main(sys.argv[1] if len(sys.argv) > 1 else "demo_output"))
