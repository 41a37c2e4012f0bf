"""Classify Pixels' automatic tile fitted to the raster (classify.tiling.tile_for_area)
against the fixed 256 px tile it replaced, for torch and ONNX Runtime, on the CPU.

- The map: nc_landsat7's default U-Net (bench_quality's nc set: trained on the west half,
  SEED 0) classified both ways and scored on the east half (OA, macro F1), and the share of
  pixels on which the two maps agree.
- Speed: whole Classify Pixels runs (package load and writing included) over a large
  raster of real pixels (nc_landsat7 repeated --copies x --copies times, every other copy
  mirrored), runtimes and tiles alternating, median of --repeat; peak RSS of a fresh
  process per setting.

    python bench/bench_tiles.py [--copies 6] [--repeat 2] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import rasterio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_quality import nc_set, train  # noqa: E402
from common import ROOT, write_section  # noqa: E402
from quality_score import _package_classes, as_names, judge  # noqa: E402

from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels  # noqa: E402
from landlearn.core.classify.tiling import geometry  # noqa: E402
from landlearn.core.model_package.format import read_package  # noqa: E402
from landlearn.core.model_package.info import model_info  # noqa: E402

SETTINGS = [("torch", 256), ("torch", None), ("onnxruntime", 256), ("onnxruntime", None)]

FRESH = """
import sys, time
sys.path.insert(0, {tests!r})
from paths import ensure_importable
ensure_importable()
from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
classify_pixels(ClassifyConfig({image!r}, {model!r}, {out!r}, runtime={runtime!r},
                               device="cpu", tile_size={tile!r}))
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(int(hwm) / 1024)
"""


def mosaic(image: str, path: Path, copies: int) -> tuple[int, int]:
    with rasterio.open(image) as src:
        data = src.read()
        profile = dict(src.profile, width=src.width * copies, height=src.height * copies,
                       tiled=True, blockxsize=512, blockysize=512, compress="deflate")
    h, w = data.shape[1:]
    with rasterio.open(path, "w", **profile) as dst:
        for r in range(copies):
            for c in range(copies):
                part = data[:, ::-1 if r % 2 else 1, ::-1 if c % 2 else 1]
                dst.write(part, window=rasterio.windows.Window(c * w, r * h, w, h))
    return w * copies, h * copies


def label(runtime: str, tile) -> str:
    return f"{runtime}, {'256 px (before)' if tile else 'automatic'}"


def run(copies: int, repeat: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench_tiles_"))
    qs = nc_set(tmp)
    package, train_s = train(qs, "unet", 0, tmp)
    names_of, order, temp = _package_classes(package)
    maps, quality = {}, {}
    for tile in (256, None):
        out, prob = tmp / f"nc_{tile}.tif", tmp / f"nc_{tile}_p.tif"
        classify_pixels(ClassifyConfig(qs.image, package, str(out), output_probabilities=str(prob),
                                       tile_size=tile))
        with rasterio.open(out) as ds, rasterio.open(prob) as ps:
            maps[tile] = ds.read(1)
            r = judge(qs, "unet", 0, as_names(maps[tile], names_of), ps.read(), order, temp,
                      train_s, 0.0)
        quality[tile] = (r.acc.overall, r.acc.macro_f1)
    valid = maps[256] > 0
    agree = float((maps[256] == maps[None])[valid].mean())
    big = tmp / "big.tif"
    width, height = mosaic(qs.image, big, copies)
    info = model_info(read_package(package))
    chosen = {}
    with rasterio.open(qs.image) as ds:
        nc_shape = (ds.width, ds.height)
    for name, (w, h) in (("nc", nc_shape), ("big", (width, height))):
        config = ClassifyConfig(str(big), package, str(tmp / "x.tif"))
        chosen[name] = geometry(config, info, rasterio.windows.Window(0, 0, w, h))
    times = {label(*s): [] for s in SETTINGS}
    for i in range(repeat):
        for runtime, tile in SETTINGS:
            t = time.perf_counter()
            classify_pixels(ClassifyConfig(str(big), package, str(tmp / f"b{i}.tif"),
                                           runtime=runtime, device="cpu", tile_size=tile))
            times[label(runtime, tile)].append(time.perf_counter() - t)
    rss = {}
    for runtime, tile in SETTINGS:
        code = FRESH.format(tests=str(ROOT / "tests"), image=str(big), model=package,
                            out=str(tmp / "f.tif"), runtime=runtime, tile=tile)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True, env=dict(os.environ, PYTHONWARNINGS="ignore"))
        rss[label(runtime, tile)] = float(done.stdout.split()[-1])
    return dict(quality=quality, agree=agree, chosen=chosen, times=times, rss=rss,
                mpix=width * height / 1e6, shape=(width, height), copies=copies, repeat=repeat,
                train_s=train_s)


def report(r: dict) -> str:
    import torch

    med = {k: statistics.median(v) for k, v in r["times"].items()}
    base = med[label("torch", 256)]
    (t_nc, p_nc), (t_big, p_big) = r["chosen"]["nc"], r["chosen"]["big"]
    q256, qauto = r["quality"][256], r["quality"][None]
    lines = ["## Classify Pixels: the tile fitted to the raster (issues 20, 5)", "",
             f"- Date: {datetime.date.today()}; machine: {platform.node()}, {os.cpu_count()} "
             f"CPUs, no GPU lent; torch {torch.__version__}",
             f"- Command: `.venv/bin/python bench/bench_tiles.py --copies {r['copies']} "
             f"--repeat {r['repeat']} --write BENCHMARKS.md`",
             "- Model: nc_landsat7's default U-Net (resnet34, automatic chips: 64 px), trained "
             f"on the west half of strata.tif, SEED 0 ({r['train_s']:.0f} s).",
             f"- Automatic tile: {t_nc} px (padding {p_nc}) on nc_landsat7 itself, {t_big} px "
             f"(padding {p_big}) on the {r['shape'][0]:,} x {r['shape'][1]:,} px raster "
             f"(nc_landsat7 repeated {r['copies']} x {r['copies']}, {r['mpix']:.1f} MPix).", "",
             "Map (nc east half, wall to wall): OA / macro F1 with 256 px tiles "
             f"{q256[0]:.3f} / {q256[1]:.3f}, with the automatic tile {qauto[0]:.3f} / "
             f"{qauto[1]:.3f}; the two maps agree on {100 * r['agree']:.2f}% of pixels.", "",
             f"Whole Classify Pixels runs over the {r['mpix']:.1f} MPix raster, median of "
             f"{r['repeat']}, peak RSS of a fresh process:", "",
             "| runtime, tile | s | MPix/s | vs torch at 256 px | peak RSS MB |",
             "|---|---|---|---|---|"]
    for key, s in med.items():
        lines.append(f"| {key} | {s:.1f} | {r['mpix'] / s:.3f} | {base / s:.2f}x | "
                     f"{r['rss'][key]:.0f} |")
    lines += ["", f"Raw times (s): { {k: [round(x, 1) for x in v] for k, v in r['times'].items()} }"]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--write", type=Path)
    args = ap.parse_args()
    text = report(run(args.copies, args.repeat))
    print(text)
    if args.write:
        write_section(args.write, text, "tiles")


if __name__ == "__main__":
    main()
