"""Export Training Data throughput against the I/O limit, and its memory against raster size.

The I/O limit is a plain rasterio loop that reads the same windows of the same image and
label raster and writes the same chip files, one after the other, with nothing else: no
validity masks, statistics, manifest or staging. Ratio = limit time / export time (higher
is better; the goal is >= 0.8). Runs alternate and the median of each is kept, because
these machines are noisy. Memory is the peak of traced (numpy + Python) allocations.

    python bench/bench_export.py [--repeat 5] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SAMPLE, SHARED, write_section  # noqa: E402

from landlearn.core.chips.export_training_data import ExportConfig, export_training_data  # noqa: E402
from landlearn.core.labels.base import LabelConfig  # noqa: E402


def data_set():
    full = SHARED / "s2_osm_sparse"
    if (full / "osm_landuse_labels_10m.tif").exists():
        return ("s2_osm_sparse full scene (1536 x 768, 10 bands uint16)",
                full / "s2l1c_T33UUU_20170216_10bands_10m.tif", full / "osm_landuse_labels_10m.tif",
                full / "gis_osm_landuse-water_a_free_1_area-10000-to-500000.gpkg")
    s = SAMPLE / "s2_osm_sparse"
    return ("s2_osm_sparse sample (512 x 512, 10 bands uint16)",
            s / "s2l1c_10bands_10m_subset.tif", s / "osm_landuse_labels_10m_subset.tif",
            s / "osm_landuse_subset.gpkg")


def plain_loop(image: Path, labels: Path, windows: list[Window], out: Path) -> int:
    """Read each window of image and labels, write both chips: the I/O floor."""
    (out / "images").mkdir(parents=True)
    (out / "labels").mkdir()
    written = 0
    with rasterio.open(image) as img, rasterio.open(labels) as lab:
        for i, win in enumerate(windows):
            data = img.read(window=win, boundless=False) if _inside(win, img) else \
                img.read(window=win, boundless=True, fill_value=0)
            lbl = lab.read(1, window=win, boundless=not _inside(win, lab), fill_value=0)
            t = img.window_transform(win)
            for sub, arr, nd in (("images", data, img.nodata), ("labels", lbl[None], 0)):
                with rasterio.open(out / sub / f"{i:09d}.tif", "w", driver="GTiff",
                                   width=arr.shape[2], height=arr.shape[1], count=arr.shape[0],
                                   dtype=arr.dtype.name, crs=img.crs, transform=t,
                                   nodata=nd) as ds:
                    ds.write(arr)
            written += data.nbytes + lbl.nbytes
    return written


def _inside(win, ds) -> bool:
    return (win.col_off >= 0 and win.row_off >= 0 and win.col_off + win.width <= ds.width
            and win.row_off + win.height <= ds.height)


def timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def run(repeat: int) -> dict:
    name, image, label_tif, gpkg = data_set()
    tmp = Path(tempfile.mkdtemp(prefix="bench_export_"))
    try:
        def ours(labels: LabelConfig, tag: str, **kw):
            out = tmp / f"{tag}_{time.perf_counter_ns()}"
            res = export_training_data(ExportConfig(str(image), labels, str(out), **kw))
            return out, res

        raster_labels = LabelConfig(str(label_tif))
        poly_labels = LabelConfig(str(gpkg), class_field="fclass")
        out, res = ours(raster_labels, "warm")
        with open(out / "landlearn_manifest.json") as fh:
            m = json.load(fh)
        windows = [Window(c["col_off"], c["row_off"], 256, 256) for c in m["chips"]]
        times = {"export_raster_labels": [], "export_polygons": [], "plain_loop": []}
        nbytes = 0
        for i in range(repeat):
            t, _ = timed(lambda: ours(raster_labels, "r"))
            times["export_raster_labels"].append(t)
            dest = tmp / f"plain{i}"
            t, nbytes = timed(lambda: plain_loop(image, label_tif, windows, dest))  # noqa: B023
            times["plain_loop"].append(t)
            t, _ = timed(lambda: ours(poly_labels, "p"))
            times["export_polygons"].append(t)
        med = {k: statistics.median(v) for k, v in times.items()}
        mem = {}
        for tile in (128, 256, 512):
            tracemalloc.start()
            ours(raster_labels, f"m{tile}", tile_size_x=tile, tile_size_y=tile,
                 stride_x=tile // 2, stride_y=tile // 2)
            mem[f"{name.split(' (')[0]}, tile {tile}"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        s = SAMPLE / "s2_osm_sparse"
        tracemalloc.start()
        out = tmp / "msample"
        export_training_data(ExportConfig(str(s / "s2l1c_10bands_10m_subset.tif"),
                                          LabelConfig(str(s / "osm_landuse_labels_10m_subset.tif")),
                                          str(out)))
        mem["s2 sample 512 x 512, tile 256"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return dict(data=name, chips=len(windows), mb=nbytes / 1e6, times=times, median=med,
                    memory=mem, repeat=repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(r: dict) -> str:
    med = r["median"]
    lines = [
        "## Export Training Data (issue 3)",
        "",
        f"- Date: {datetime.date.today()}; machine: {platform.node() or 'unknown'}, "
        f"{os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}, "
        f"GDAL {rasterio.__gdal_version__}, rasterio {rasterio.__version__}, numpy {np.__version__}",
        "- Command: `.venv/bin/python bench/bench_export.py --repeat "
        f"{r['repeat']} --write BENCHMARKS.md`",
        f"- Data: {r['data']}; tile 256, stride 128; {r['chips']} chips kept "
        f"({r['mb']:.1f} MB of chip pixels written per run). Median of {r['repeat']} "
        "alternating runs.",
        "",
        "| run | median s | chips/s | MB/s | vs I/O limit |",
        "|---|---|---|---|---|",
    ]
    for key, label in (("plain_loop", "plain rasterio loop (I/O limit)"),
                       ("export_raster_labels", "LandLearn export, label raster"),
                       ("export_polygons", "LandLearn export, OSM polygons (rasterized per chip)")):
        t = med[key]
        lines.append(f"| {label} | {t:.3f} | {r['chips'] / t:.1f} | {r['mb'] / t:.1f} | "
                     f"{med['plain_loop'] / t:.2f}x |")
    poly = med["plain_loop"] / med["export_polygons"]
    lines += [
        "", "With a label raster the export reads the same windows and writes the same files as "
        "the plain loop, and also computes validity masks, band statistics, class histograms "
        "and the manifest, overlapped with writing by two writer threads. With polygons each "
        f"chip is also rasterized from the vector features, which the plain loop does not do "
        f"({poly:.2f}x).", "",
        "Peak traced memory (numpy + Python allocations) of one export; it follows the tile "
        "size, not the raster size:", "",
        "| export | peak MB |", "|---|---|"]
    for k, v in r["memory"].items():
        lines.append(f"| {k} | {v / 1e6:.1f} |")
    lines += ["", "Raw times (s): " + json.dumps({k: [round(x, 3) for x in v]
                                                  for k, v in r["times"].items()}), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--write", type=Path)
    args = ap.parse_args()
    text = report(run(args.repeat))
    print(text)
    if args.write:
        write_section(args.write, text, key="export")
