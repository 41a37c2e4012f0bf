"""IMAGE_CHIP_FORMAT: what TIFF, PNG and JPEG chips cost on disk, to export, and to read
once (training caches the chips it reads when they fit in memory, so a chip is decoded
about once per run), on real 8-bit RGB aerial imagery with real labels.

Data: ma_buildings (Massachusetts aerial RGB, 1 m, building footprints as labels),
every chip kept (OUTPUT_NOFEATURE_TILES), tile 128 px, stride 64. Runs of the three
formats alternate; the median of ``--repeat`` is kept.

    python bench/bench_chip_formats.py [--repeat 3] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, write_section  # noqa: E402

from landlearn.core.chips.chip_reader import read_image_chip  # noqa: E402
from landlearn.core.chips.export_training_data import ExportConfig, export_training_data  # noqa: E402
from landlearn.core.chips.training_data import read_training_data  # noqa: E402
from landlearn.core.labels.base import LabelConfig  # noqa: E402

FORMATS = ("TIFF", "PNG", "JPEG")


def _bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write")
    args = ap.parse_args()
    data = SHARED / "ma_buildings"
    image, labels = data / "22978945_15.tif", data / "massachusetts_buildings.gpkg"
    if not image.exists():
        sys.exit(f"{image} is not here: this benchmark needs ../shared/data")
    tmp = Path(tempfile.mkdtemp(prefix="bench_chip_formats_"))
    times = {f: [] for f in FORMATS}
    reads = {f: [] for f in FORMATS}
    sizes, chips = {}, {}
    try:
        for k in range(args.repeat):
            for fmt in FORMATS:
                out = tmp / f"{fmt}_{k}"
                t = time.perf_counter()
                res = export_training_data(ExportConfig(
                    str(image), LabelConfig(str(labels), class_field="class"), str(out),
                    tile_size_x=128, tile_size_y=128, stride_x=64, stride_y=64,
                    output_nofeature_tiles=True, image_chip_format=fmt))
                times[fmt].append(time.perf_counter() - t)
                sizes[fmt], chips[fmt] = _bytes(out), res.chips
                td = read_training_data([str(out)])
                t = time.perf_counter()
                for chip in td.chips:
                    read_image_chip(chip.image, td.band_count, td.tile_size)
                reads[fmt].append(time.perf_counter() - t)
                if fmt == "JPEG" and k == 0:  # how far the pixels moved, against TIFF
                    ref = read_training_data([str(tmp / f"TIFF_{k}")])
                    diffs = []
                    for a, b in zip(ref.chips, td.chips):
                        pa, ma = read_image_chip(a.image, 3, ref.tile_size)
                        pb, _ = read_image_chip(b.image, 3, td.tile_size)
                        diffs.append(np.abs(pa.astype(int) - pb.astype(int))[:, ~ma].mean())
                    jpeg_error = float(np.mean(diffs))
            if k:  # the first run's folders only are kept (the JPEG comparison)
                for fmt in FORMATS:
                    shutil.rmtree(tmp / f"{fmt}_{k}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with rasterio.open(image) as ds:
        shape = f"{ds.width} x {ds.height} px, {ds.count} bands {ds.dtypes[0]}"
    rows = ["| format | folder MB | vs TIFF | export s (median) | read every chip once, s |",
            "|---|---|---|---|---|"]
    for fmt in FORMATS:
        rows.append(f"| {fmt} | {sizes[fmt] / 1e6:.1f} | {sizes[fmt] / sizes['TIFF']:.2f}x | "
                    f"{statistics.median(times[fmt]):.2f} | {statistics.median(reads[fmt]):.3f} |")
    text = "\n".join([
        "## Export Training Data: IMAGE_CHIP_FORMAT",
        "",
        f"- Date: {datetime.date.today()}; machine: {platform.node()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, rasterio {rasterio.__version__}, GDAL "
        f"{rasterio.__gdal_version__}",
        f"- Command: `.venv/bin/python bench/bench_chip_formats.py --repeat {args.repeat}"
        + (f" --write {args.write}`" if args.write else "`"),
        f"- Data: ma_buildings ({shape}, building footprints), tile 128, stride 64, every "
        f"chip kept: {chips['TIFF']} chips per format; median of {args.repeat} alternating "
        "runs (folder size includes labels, sidecars and metadata).",
        "",
        *rows,
        "",
        f"JPEG (quality 95) moves the valid pixels by {jpeg_error:.2f} of 255 on average "
        "against the TIFF chips; its label chips are PNG (lossless). Training caches chips "
        "that fit in memory, so the read column is paid about once per run.",
    ])
    print(text)
    if args.write:
        write_section(Path(args.write), text, "chip_formats")


if __name__ == "__main__":
    main()
