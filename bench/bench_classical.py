"""Classical classifiers on nc_landsat7: accuracy wall-to-wall against strata.tif, and time.

Trained on landsat96_polygons.shp (field `id`) over landsat_multiband.tif with 500
samples per class, then every pixel is classified and scored against strata.tif, the
protocol of the Orfeo ToolBox 8.1 reference numbers quoted in the issue (random forest
100 trees: overall 0.388, macro F1 0.242; libsvm: 0.338 / 0.237).

    python bench/bench_classical.py [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from paths import SHARED, ensure_importable  # noqa: E402

ensure_importable()
import sklearn  # noqa: E402
from bench_export import write_section  # noqa: E402

from landlearn.core.assessment import AssessConfig, assess_accuracy  # noqa: E402
from landlearn.core.classical import ClassicalConfig, train_classical  # noqa: E402
from landlearn.core.classify import ClassifyConfig, classify_pixels  # noqa: E402
from landlearn.core.labels import LabelConfig  # noqa: E402

OTB = {"random_forest": (0.388, 0.242), "svm": (0.338, 0.237)}


def run() -> list[dict]:
    nc = SHARED / "nc_landsat7"
    image = str(nc / "landsat_multiband.tif")
    polys = LabelConfig(str(nc / "landsat96_polygons.shp"), class_field="id",
                        class_name_field="label")
    tmp = Path(tempfile.mkdtemp(prefix="bench_classical_"))
    rows = []
    try:
        for mt in ("random_forest", "svm", "maximum_likelihood", "hist_gradient_boosting"):
            t = time.perf_counter()
            res = train_classical(ClassicalConfig(image, polys, str(tmp / f"{mt}.dlpk"),
                                                  model_type=mt, trees=100,
                                                  max_samples_per_class=500))
            train_s = time.perf_counter() - t
            t = time.perf_counter()
            classify_pixels(ClassifyConfig(image, str(tmp / f"{mt}.dlpk"), str(tmp / f"{mt}.tif")))
            classify_s = time.perf_counter() - t
            acc = assess_accuracy(AssessConfig(str(tmp / f"{mt}.tif"), LabelConfig(str(nc / "strata.tif"))))
            rows.append(dict(model=mt, train=train_s, classify=classify_s, acc=acc.accuracy,
                             cv=res.accuracy, samples=sum(res.samples.values())))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def report(rows) -> str:
    lines = ["## Classical classifiers (issue 6)", "",
             f"- Date: {datetime.date.today()}; machine: {platform.node()}, {os.cpu_count()} CPUs; "
             f"scikit-learn {sklearn.__version__}",
             "- Command: `.venv/bin/python bench/bench_classical.py --write BENCHMARKS.md`",
             "- nc_landsat7: trained on landsat96_polygons.shp (field `id`, 34 polygons) over "
             "landsat_multiband.tif, 500 samples per class (fewer where a class has fewer "
             "labelled pixels), scored on every pixel of strata.tif. Training time includes "
             "sampling and the 5-fold cross-validation grouped by polygon.", "",
             "| model | overall accuracy | macro F1 | kappa | OTB 8.1 (OA / macro F1) | "
             "grouped-CV OA | train s | classify s |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        a = r["acc"]
        otb = OTB.get(r["model"])
        lines.append(f"| {r['model']} | **{a.overall:.3f}** | **{a.macro_f1:.3f}** | "
                     f"{a.kappa:.3f} | {f'{otb[0]:.3f} / {otb[1]:.3f}' if otb else '-'} | "
                     f"{r['cv'].overall:.3f} | {r['train']:.1f} | {r['classify']:.1f} |")
    lines += ["", "Orfeo ToolBox is not installed on this machine, so its time could not be "
              "measured here; only its accuracies (from the issue) are compared. The grouped "
              "cross-validation accuracy is over the training polygons and is higher than the "
              "wall-to-wall score: the polygons were drawn on clear examples.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", type=Path)
    args = ap.parse_args()
    text = report(run())
    print(text)
    if args.write:
        write_section(args.write, text, key="classical")
