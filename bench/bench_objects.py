"""Object-based against pixel random forests (issue 21, item 3), on the same labels and
the same held-out pixels, 3 seeds each (the forest's and the sampling's).

- nc_landsat7 (sample_data): trained on landsat96_polygons, scored wall to wall on
  strata.tif (as bench_refine and the demo score the pixel forest).
- s2_osm_sparse (../shared/data): 80/20 split of the OSM polygons by polygon (the split of
  bench_train), scored on the held-out polygons' pixels.

Segments come from Segment (default bands and radii; MIN_SEGMENT_SIZE 20, its default, or
5). Reported: OA, macro F1, specks (4-connected regions of one class under 4 pixels),
seconds to train and to classify (Segment's time on its own line).

    python bench/bench_objects.py [--write BENCHMARKS.md]
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
from bench_refine import specks  # noqa: E402
from common import SAMPLE, SHARED, split_osm_polygons, write_section  # noqa: E402

from landlearn.core.accuracy.metrics import Accuracy  # noqa: E402
from landlearn.core.classical.train_classifier import ClassicalConfig, train_classical  # noqa: E402
from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels  # noqa: E402
from landlearn.core.labels.base import LabelConfig  # noqa: E402
from landlearn.core.labels.raster_labels import category_names  # noqa: E402
from landlearn.core.labels.rasterize_labels import LabelRasterConfig, write_label_raster  # noqa: E402
from landlearn.core.model_package.format import read_package  # noqa: E402
from landlearn.core.segment import SegmentConfig, segment  # noqa: E402

SEEDS = (0, 1, 2)
MODELS = [("pixel random forest", None, None),
          ("objects, Segment defaults, COLOR;MEAN (ArcGIS's defaults)", 20, ("COLOR", "MEAN")),
          ("objects, MIN_SEGMENT_SIZE 5, COLOR;MEAN", 5, ("COLOR", "MEAN")),
          ("objects, MIN_SEGMENT_SIZE 5, MEAN;STD", 5, ("MEAN", "STD"))]


def score(map_path: str, truth_path: str, package: str) -> Accuracy:
    """The map against a label raster, classes matched by name."""
    emd = read_package(package).emd
    names = {int(c["Value"]): c["Name"] for c in emd["Classes"]}
    truth_names = category_names(truth_path)
    with rasterio.open(map_path) as m, rasterio.open(truth_path) as t:
        pred = m.read(1)
        truth = np.asarray(t.read(1, masked=True).filled(0)).astype(np.int64)
    truth[(truth < 0) | (truth > 255)] = 0
    order = sorted(names)
    to_index = {v: i for i, v in enumerate(order)}
    by_name = {names[v]: to_index[v] for v in order}
    lut_t = np.full(256, -1)
    for v, n in (truth_names or {v: names[v] for v in order}).items():
        lut_t[v] = by_name.get(n, -1)
    lut_p = np.full(256, -1)
    for v in order:
        lut_p[v] = to_index[v]
    t, p = lut_t[truth], lut_p[pred]
    keep = (t >= 0) & (p >= 0)
    k = len(order)
    cm = np.bincount(t[keep] * k + p[keep], minlength=k * k).reshape(k, k)
    return Accuracy(cm, [names[v] for v in order])


def datasets(tmp: Path):
    nc = SAMPLE / "nc_landsat7"
    yield ("nc_landsat7: landsat96 polygons, wall to wall on strata.tif",
           str(nc / "landsat_multiband.tif"),
           LabelConfig(str(nc / "landsat96_polygons.shp"), class_field="id"),
           str(nc / "strata.tif"))
    s2 = SHARED / "s2_osm_sparse"
    if not s2.is_dir():
        return
    image = str(s2 / "s2l1c_T33UUU_20170216_10bands_10m.tif")
    split_osm_polygons(tmp)
    truth = tmp / "s2_test.tif"
    write_label_raster(LabelRasterConfig(image, LabelConfig(str(tmp / "osm_test.gpkg"),
                                                            class_field="fclass"), str(truth)))
    yield ("s2_osm_sparse: 80/20 polygon split, scored on the held-out polygons",
           image, LabelConfig(str(tmp / "osm_train.gpkg"), class_field="fclass"), str(truth))


def run() -> list[tuple]:
    tmp = Path(tempfile.mkdtemp(prefix="bench_objects_"))
    rows = []
    for d, (name, image, labels, truth) in enumerate(datasets(tmp)):
        segs = {}
        for size in (20, 5):
            segs[size] = str(tmp / f"seg{d}_{size}.tif")
            t = time.perf_counter()
            res = segment(SegmentConfig(image, output_segment_ids=segs[size],
                                        min_segment_size=size))
            rows.append((name, f"Segment, MIN_SEGMENT_SIZE {size}: {res.segments} segments",
                         None, None, None, None, time.perf_counter() - t, None))
        for model, size, attrs in MODELS:
            runs = []
            for seed in SEEDS:
                pkg, out = str(tmp / f"m{d}.dlpk"), str(tmp / f"m{d}.tif")
                kw = dict(segmented_raster=segs[size], segment_attributes=attrs) if size else {}
                t = time.perf_counter()
                train_classical(ClassicalConfig(image, labels, pkg, seed=seed, **kw))
                t_train = time.perf_counter() - t
                t = time.perf_counter()
                classify_pixels(ClassifyConfig(image, pkg, out,
                                               segmented_raster=segs[size] if size else None))
                t_classify = time.perf_counter() - t
                acc = score(out, truth, pkg)
                runs.append((acc.overall, acc.macro_f1, specks(out), t_train, t_classify))
            a = np.array(runs)
            rows.append((name, model, a[:, 0].mean(), a[:, 0].std(), a[:, 1].mean(),
                         a[:, 1].std(), a[:, 3].mean(), a[:, 4].mean(), a[:, 2].mean()))
            print(rows[-1], flush=True)
    return rows


def report(rows) -> str:
    lines = ["## Object-based classification (issue 21)", "",
             f"- Date: {datetime.date.today()}; machine: {platform.node()}, {os.cpu_count()} "
             "CPUs", "- Command: `.venv/bin/python bench/bench_objects.py --write BENCHMARKS.md`",
             f"- Random forests with LandLearn's defaults (100 trees, 500 samples per class: "
             f"pixels, or segments), seeds {', '.join(map(str, SEEDS))}: mean +- sd.", ""]
    current = None
    for row in rows:
        if row[0] != current:
            current = row[0]
            lines += ["", f"### {current}", "",
                      "| model | OA | macro F1 | specks (< 4 px) | train s | classify s |",
                      "|---|---|---|---|---|---|"]
        if row[2] is None:
            lines.append(f"| {row[1]} | | | | | segment {row[6]:.1f} s |")
            continue
        _, model, oa, oa_sd, f1, f1_sd, tt, tc, sp = row
        lines.append(f"| {model} | {oa:.3f} +- {oa_sd:.3f} | {f1:.3f} +- {f1_sd:.3f} | "
                     f"{sp:.0f} | {tt:.1f} | {tc:.1f} |")
    return "\n".join(lines + [""])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", type=Path)
    args = ap.parse_args()
    text = report(run())
    print(text)
    if args.write:
        write_section(args.write, text, "objects")
