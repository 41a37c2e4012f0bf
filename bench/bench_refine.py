"""Refine Classification (issue 21, item 4): the random forest's and the U-Net's maps of
nc_landsat7 before and after.

The forest is trained as the demo trains it (landsat96 polygons, LandLearn's defaults) and
scored wall to wall against strata.tif as the demo scores it. The U-Net (resnet18, 8
epochs, 64 px chips: the demo's settings) learns the west half of strata.tif and is scored
on the east half (as bench_train), since the demo's in-sample score says nothing.
Classify Pixels writes classes and probabilities; Segment (defaults) gives the segments.
Each refinement is scored with Assess Accuracy (OA, macro F1) and counted for specks
(4-connected regions of one class under 4 pixels); time is the whole refine call.

    python bench/bench_refine.py [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SAMPLE, write_section  # noqa: E402

from landlearn.core.accuracy.assess_accuracy import AssessConfig, assess_accuracy  # noqa: E402
from landlearn.core.classical.train_classifier import ClassicalConfig, train_classical  # noqa: E402
from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels  # noqa: E402
from landlearn.core.geo.extent import Extent  # noqa: E402
from landlearn.core.labels.base import LabelConfig  # noqa: E402
from landlearn.core.refine import RefineConfig, refine_classification  # noqa: E402
from landlearn.core.segment import SegmentConfig, segment  # noqa: E402

NC = SAMPLE / "nc_landsat7"


def specks(path, under: int = 4) -> int:
    from scipy import ndimage

    with rasterio.open(path) as ds:
        arr = ds.read(1)
    n = 0
    for v in np.unique(arr[arr > 0]):
        lab, _ = ndimage.label(arr == v)
        n += int((np.bincount(lab.ravel())[1:] < under).sum())
    return n


def score(path, extent=None) -> tuple[float, float]:
    acc = assess_accuracy(AssessConfig(str(path), LabelConfig(str(NC / "strata.tif")),
                                       extent=extent)).accuracy
    return acc.overall, acc.macro_f1


def east_half() -> Extent:
    with rasterio.open(NC / "landsat_multiband.tif") as ds:
        b, xmid = ds.bounds, ds.transform.c + (ds.width // 2) * ds.transform.a
    return Extent(xmid, b.bottom, b.right, b.top)


def unet_maps(tmp: Path, image: str) -> tuple[Path, Path]:
    """The demo's U-Net, trained on the west half only: its classes and probabilities."""
    from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
    from landlearn.core.deep.train_deep_learning_model import TrainConfig, train_model
    from landlearn.core.geo.classes import read_class_names_file

    east = east_half()
    with rasterio.open(image) as ds:
        b = ds.bounds
    labels = LabelConfig(str(NC / "strata.tif"),
                         class_names=read_class_names_file(str(NC / "strata_classes.txt")))
    export_training_data(ExportConfig(image, labels, str(tmp / "west_chips"),
                                      extent=Extent(b.left, b.bottom, east.xmin, b.top),
                                      tile_size_x=64, tile_size_y=64, stride_x=32, stride_y=32))
    train_model(TrainConfig((str(tmp / "west_chips"),), str(tmp / "unet.dlpk"),
                            backbone="resnet18", epochs=8, validation_percent=15, device="cpu",
                            ensemble_size=1))
    maps = tmp / "unet.tif", tmp / "unet_prob.tif"
    classify_pixels(ClassifyConfig(image, str(tmp / "unet.dlpk"), str(maps[0]),
                                   output_probabilities=str(maps[1])))
    return maps


def run() -> list[tuple]:
    tmp = Path(tempfile.mkdtemp(prefix="bench_refine_"))
    image = str(NC / "landsat_multiband.tif")
    train_classical(ClassicalConfig(image, LabelConfig(str(NC / "landsat96_polygons.shp"),
                                                       class_field="id"), str(tmp / "rf.dlpk")))
    rf, prob = tmp / "rf.tif", tmp / "rf_prob.tif"
    classify_pixels(ClassifyConfig(image, str(tmp / "rf.dlpk"), str(rf),
                                   output_probabilities=str(prob)))
    seg = tmp / "segments.tif"
    segment(SegmentConfig(image, output_segment_ids=str(seg)))
    rows = [("random forest map (Classify Pixels)", *score(rf), specks(rf), 0.0)]
    cases = [
        ("segments: majority vote", rf, dict(segmented_raster=str(seg))),
        ("segments: probability averaging", prob, dict(segmented_raster=str(seg))),
        ("minimum mapping unit 4 px (largest neighbour)", rf, dict(min_region_size=4)),
        ("minimum mapping unit 9 px (largest neighbour)", rf, dict(min_region_size=9)),
        ("minimum mapping unit 9 px (most similar, probabilities)", prob,
         dict(min_region_size=9, merge_into="similar")),
        ("segments (majority) then minimum mapping unit 9 px", rf,
         dict(segmented_raster=str(seg), min_region_size=9)),
    ]
    refine_rows(tmp, cases, rows, "r")
    unet, unet_prob = unet_maps(tmp, image)
    east = east_half()
    rows.append(("U-Net map, east half (Classify Pixels)", *score(unet, east), specks(unet), 0.0))
    refine_rows(tmp, [
        ("U-Net, segments: majority vote", unet, dict(segmented_raster=str(seg))),
        ("U-Net, segments: probability averaging", unet_prob, dict(segmented_raster=str(seg))),
        ("U-Net, minimum mapping unit 9 px (largest neighbour)", unet, dict(min_region_size=9)),
        ("U-Net, minimum mapping unit 9 px (most similar, probabilities)", unet_prob,
         dict(min_region_size=9, merge_into="similar")),
    ], rows, "u", east)
    return rows


def refine_rows(tmp, cases, rows, prefix, extent=None) -> None:
    for i, (name, src, kw) in enumerate(cases):
        out = tmp / f"{prefix}{i}.tif"
        t = time.perf_counter()
        refine_classification(RefineConfig(str(src), str(out), **kw))
        rows.append((name, *score(out, extent), specks(out), time.perf_counter() - t))


def report(rows) -> str:
    lines = ["## Refine Classification (issue 21)", "",
             f"- Date: {datetime.date.today()}; machine: {platform.node()}, {os.cpu_count()} "
             "CPUs", "- Command: `.venv/bin/python bench/bench_refine.py --write BENCHMARKS.md`",
             "- Data: nc_landsat7 (489 x 443): random forest trained on landsat96_polygons "
             "(defaults, as the demo), scored wall to wall on strata.tif; U-Net (the demo's "
             "settings) trained on the west half of strata.tif, scored on the east half "
             "(specks counted over the whole map); Segment's defaults for the segments.", "",
             "| map | OA | macro F1 | specks (< 4 px) | refine s |", "|---|---|---|---|---|"]
    for name, oa, f1, n, s in rows:
        lines.append(f"| {name} | {oa:.3f} | {f1:.3f} | {n} | {s:.2f} |")
    return "\n".join(lines + [""])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", type=Path)
    args = ap.parse_args()
    text = report(run())
    print(text)
    if args.write:
        write_section(args.write, text, "refine")
