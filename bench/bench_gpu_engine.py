"""Classify Pixels and Segment as users run them, on a lent GPU beside the same machine's CPU.

bench_gpu.py timed the GPU's pieces (training, DeepPredictor, the CUDA mean-shift search)
where the lent machine had no GDAL Python bindings. With them built there (bench/device/
build_osgeo.sh: GDAL's own SWIG bindings linked to the libgdal that rasterio's wheel
carries), the whole engines run, reading and writing GeoTIFFs as for a user:

- Classify Pixels end to end (load, read, normalise, forward, blend, write, verify) on CUDA
  against the model's pure forward over the same tiles on CUDA (the overhead ratio), the
  defaults a user gets (the model's chip size as tile), and the same run on the machine's
  CPU cores (torch and ONNX Runtime); the CUDA map against the CPU's, pixel for pixel;
- Segment in process (after a warm-up), METHOD joint and fast, DEVICE cuda against cpu
  (the compiled pass on every core), on naip_rgbn and on the 20,000 px wide raster of real
  pixels that bench_segment.py times Orfeo ToolBox on.

    python bench/bench_gpu_engine.py run OUT.json [--side 6144]    # on the lent machine
    python bench/bench_gpu_engine.py report OUT.json [MORE.json] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, write_section  # noqa: E402

KEY = "bench_gpu_engine"
TILE, PAD, BATCH = 512, 32, 16
GPU = "cuda"  # --dry-run: "cpu", to check the script where no GPU is lent (nothing reported)
NAIP = "naip_rgbn/m_4709963_se_14_1_20200831.tif"


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def train_unet(tmp: Path) -> str:
    """A resnet18 U-Net on nc's chips (2 epochs on CUDA): the model is not what is timed."""
    from landlearn.core.deep.train_deep_learning_model import TrainConfig, train_model
    from small_models import nc_chips

    chips = nc_chips(tmp / "chips", 32, None)
    out = tmp / "unet.dlpk"
    train_model(TrainConfig((str(chips),), str(out), backbone="resnet18", epochs=2,
                            batch_size=16, learning_rate=3e-3, validation_percent=15,
                            device=GPU, ensemble_size=1))
    return str(out)


def pure_forward(model: str, image: str, device: str) -> float:
    """The model's forward alone over the run's padded tiles, normalised, in memory."""
    import torch

    from landlearn.core.classify.predictor import load_predictor
    from landlearn.core.classify.stream import normalise
    from landlearn.core.geo.grid import pad_window, tile_windows
    from landlearn.core.geo.raster import RasterSource

    predictor, info = load_predictor(model, torch.device(device), runtime="torch")
    core = TILE - 2 * PAD
    with RasterSource(image) as src:
        tiles = [normalise(src.read(pad_window(w, PAD)), info)
                 for w in tile_windows(src.grid.full_window, (core, core))]
    predictor(np.stack(tiles[:BATCH]))  # warm-up: cuDNN picks its algorithms
    _sync()
    t = time.perf_counter()
    for s in range(0, len(tiles), BATCH):
        predictor(np.stack(tiles[s:s + BATCH]))
    _sync()
    return time.perf_counter() - t


def classify(model: str, image: str, out: str, device: str, **kw) -> float:
    from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels

    t = time.perf_counter()
    classify_pixels(ClassifyConfig(image, model, out, device=device, **kw))
    return time.perf_counter() - t


def agreement(a: str, b: str) -> float:
    import rasterio

    with rasterio.open(a) as x, rasterio.open(b) as y:
        return float((x.read(1) == y.read(1)).mean())


def segment_s(image: str, out: str, bands, method: str, device: str,
              tile_size: int = 1024) -> float:
    from bench_segment import MINSIZE, RANGE, SPATIAL

    from landlearn.core.segment.segment_mean_shift import SegmentConfig, segment

    t = time.perf_counter()
    segment(SegmentConfig(image, output_segment_ids=out, band_indexes=bands,
                          spatial_radius=SPATIAL, range_radius=RANGE,
                          min_segment_size=MINSIZE, device=device, method=method,
                          tile_size=tile_size))
    return time.perf_counter() - t


def ids_equal(a: str, b: str) -> float:
    """Share of pixels whose segment ids match (both runs number segments the same way)."""
    return agreement(a, b)


def run_classify(tmp: Path, side: int, log, r: dict) -> None:
    from bench_distributed import build_raster

    image = str(tmp / "image.tif")
    build_raster(Path(image), side)
    model = train_unet(tmp)
    mpix = side * side / 1e6
    r.update(side=side, mpix=mpix)
    fixed = dict(tile_size=TILE, padding=PAD, batch_size=BATCH, runtime="torch")
    classify(model, image, str(tmp / "warm.tif"), GPU, **fixed)  # CUDA context, cuDNN
    r["forward_cuda"] = pure_forward(model, image, GPU)
    r["e2e_cuda"] = classify(model, image, str(tmp / "cuda.tif"), GPU, **fixed)
    log(f"classify cuda: forward {r['forward_cuda']:.2f} s, end to end {r['e2e_cuda']:.2f} s")
    r["e2e_cuda_defaults"] = classify(model, image, str(tmp / "cuda_def.tif"), GPU)
    r["e2e_cuda_autocast"] = classify(model, image, str(tmp / "cuda_bf16.tif"), GPU,
                                      mixed_precision=GPU == "cuda", **fixed)
    log(f"classify cuda defaults {r['e2e_cuda_defaults']:.2f} s, "
        f"autocast {r['e2e_cuda_autocast']:.2f} s")
    r["forward_cpu"] = pure_forward(model, image, "cpu")
    r["e2e_cpu_torch"] = classify(model, image, str(tmp / "cpu.tif"), "cpu", **fixed)
    r["e2e_cpu_onnx"] = classify(model, image, str(tmp / "cpu_onnx.tif"), "cpu",
                                 tile_size=TILE, padding=PAD, batch_size=BATCH,
                                 runtime="onnxruntime")
    log(f"classify cpu: forward {r['forward_cpu']:.2f} s, torch {r['e2e_cpu_torch']:.2f} s, "
        f"onnx {r['e2e_cpu_onnx']:.2f} s")
    r["agree_cuda_cpu"] = agreement(str(tmp / "cuda.tif"), str(tmp / "cpu.tif"))
    r["agree_autocast_cpu"] = agreement(str(tmp / "cuda_bf16.tif"), str(tmp / "cpu.tif"))
    r["agree_defaults_cpu"] = agreement(str(tmp / "cuda_def.tif"), str(tmp / "cpu.tif"))


def filter_s(image: str, bands, device, window=None, repeat: int = 3) -> list[float]:
    """The joint search alone (joint_filter) on one block of ``image`` in memory: the
    kernel's time, without reading, grouping or writing."""
    import rasterio
    from bench_segment import RANGE, SPATIAL

    from landlearn.core.segment.joint_shift import joint_filter

    with rasterio.open(image) as ds:
        x = ds.read(list(bands), window=window).astype(np.float32)
    valid = np.ones(x.shape[1:], bool)
    joint_filter(x[:, :64, :64], valid[:64, :64], SPATIAL, RANGE, 0.1, 100, device)  # compile
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        joint_filter(x, valid, SPATIAL, RANGE, 0.1, 100, device)
        _sync()
        times.append(round(time.perf_counter() - t, 3))
    return times


def run_segment(tmp: Path, repeat: int, log, r: dict, methods=("joint", "fast"),
                gpu_tile: int = 0) -> None:
    import rasterio
    import torch
    from bench_segment import wide_raster

    naip = str(SHARED / NAIP)
    bands = (1, 2, 3, 4)
    r.update(naip={}, wide={}, filter={})
    wide = tmp / "wide.tif"
    r["wide_shape"] = wide_raster(naip, wide)
    if "joint" in methods:  # the search alone: naip whole, and 4096 x 1446 px of the wide one
        for role, device in (("cuda", torch.device(GPU)), ("cpu", "compiled")):
            r["filter"][f"naip {role}"] = filter_s(naip, bands, device)
            r["filter"][f"wide4096 {role}"] = filter_s(
                str(wide), bands, device, rasterio.windows.Window(0, 0, 4096, 1446), 1)
            log(f"joint search alone {role}: {r['filter']}")
    for method in methods:
        for role, device in (("cuda", GPU), ("cpu", "cpu")):
            segment_s(naip, str(tmp / "warm_seg.tif"), bands, method, device)
            times = [segment_s(naip, str(tmp / f"n_{method}_{role}.tif"), bands, method,
                               device) for _ in range(repeat)]
            r["naip"][f"{method} {role}"] = times
            log(f"segment naip {method} {device}: {times}")
        r["naip"][f"{method} ids equal"] = ids_equal(str(tmp / f"n_{method}_cuda.tif"),
                                                     str(tmp / f"n_{method}_cpu.tif"))
        log(f"segment naip {method}: ids equal {r['naip'][f'{method} ids equal']:.5f}")
    for method in methods:
        for role, device in (("cuda", GPU), ("cpu", "cpu")):
            r["wide"][f"{method} {role}"] = segment_s(str(wide), str(
                tmp / f"w_{method}_{role}.tif"), bands, method, device)
            log(f"segment wide {method} {device}: {r['wide'][f'{method} {role}']:.2f} s")
        r["wide"][f"{method} ids equal"] = ids_equal(str(tmp / f"w_{method}_cuda.tif"),
                                                     str(tmp / f"w_{method}_cpu.tif"))
        log(f"segment wide {method}: ids equal {r['wide'][f'{method} ids equal']:.5f}")
    if gpu_tile and "joint" in methods:  # fewer, larger tiles: the host's share per tile
        r["wide"][f"joint cuda tile {gpu_tile}"] = segment_s(
            str(wide), str(tmp / "w_tile.tif"), bands, "joint", GPU, gpu_tile)
        r["wide"]["joint tile ids equal"] = ids_equal(str(tmp / "w_tile.tif"),
                                                      str(tmp / "w_joint_cpu.tif"))
        log(f"segment wide joint cuda tile {gpu_tile}: {r['wide']}")


def run(out: Path, side: int, repeat: int, parts: str, methods=("joint", "fast"),
        gpu_tile: int = 0) -> None:
    import torch

    if GPU == "cuda" and not torch.cuda.is_available():
        sys.exit("bench_gpu_engine: no CUDA device here (this bench is for the lent GPU)")
    result: dict = {"date": datetime.date.today().isoformat(),
                    "gpu": torch.cuda.get_device_name(0) if GPU == "cuda" else "none (dry run)", "torch": torch.__version__,
                    "cpus": os.cpu_count(), "python": platform.python_version(),
                    "numpy": np.__version__}
    import rasterio

    result["gdal"] = rasterio.__gdal_version__

    def log(text: str) -> None:  # every figure is saved as it comes: a lease can end first
        print(text, flush=True)
        out.write_text(json.dumps(result, indent=1))

    tmp = Path(tempfile.mkdtemp(prefix="bench_gpu_engine_"))
    if "classify" in parts:
        run_classify(tmp, side, log, result.setdefault("classify", {}))
    if "segment" in parts:
        run_segment(tmp, repeat, log, result.setdefault("segment", {}), methods, gpu_tile)
    log("done")


def report(r: dict) -> str:
    lines = ["## Classify Pixels and Segment end to end on a lent H200", "",
             f"- Date: {r['date']}; machine: {r['gpu']}, {r['cpus']} CPUs; torch {r['torch']}, "
             f"Python {r['python']}, numpy {r['numpy']}, GDAL {r['gdal']} (rasterio's wheel, "
             "with GDAL's Python bindings built against it: bench/device/build_osgeo.sh); "
             "commands: `bench/device/prepare.sh` here, `bench/device/run.sh` there "
             "(`bench_gpu_engine.py run`), `bench_gpu_engine.py report` here", ""]
    c = {k: None for k in ("forward_cuda", "e2e_cuda", "e2e_cuda_autocast",
                           "e2e_cuda_defaults", "forward_cpu", "e2e_cpu_torch", "e2e_cpu_onnx",
                           "agree_cuda_cpu", "agree_autocast_cpu", "agree_defaults_cpu")}
    c.update(r.get("classify") or {})
    if c.get("mpix"):
        mp = c["mpix"]
        lines += [f"Classify Pixels, a {c['side']} x {c['side']} px 6-band raster tiled from "
                  f"nc_landsat7 ({mp:.1f} MPix), U-Net resnet18 (RUNTIME torch unless named); "
                  f"tile {TILE}, padding {PAD}, batch {BATCH} unless 'defaults':", "",
                  "| run | s | MPix/s | vs pure forward | map = CPU's |", "|---|---|---|---|---|"]

        def row(name, s, base=None, agree=None):
            if s is None:
                return f"| {name} | - | - | - | - |"
            ratio = f"{s / base:.2f}x" if base else "-"
            same = f"{agree:.5f}" if agree is not None else "-"
            return f"| {name} | {s:.2f} | {mp / s:.1f} | {ratio} | {same} |"

        lines += [row("CUDA: pure forward (tiles in memory)", c["forward_cuda"]),
                  row("CUDA: Classify Pixels end to end, float32", c["e2e_cuda"],
                      c["forward_cuda"], c["agree_cuda_cpu"]),
                  row("CUDA: end to end, MIXED_PRECISION (bf16)", c["e2e_cuda_autocast"],
                      c["forward_cuda"], c["agree_autocast_cpu"]),
                  row("CUDA: end to end, defaults (the model's 64 px chips as tiles)",
                      c["e2e_cuda_defaults"], None, c["agree_defaults_cpu"]),
                  row(f"CPU ({r['cpus']} cores): pure forward", c["forward_cpu"]),
                  row(f"CPU ({r['cpus']} cores): end to end, torch", c["e2e_cpu_torch"],
                      c["forward_cpu"]),
                  row(f"CPU ({r['cpus']} cores): end to end, ONNX Runtime", c["e2e_cpu_onnx"])]
        lines.append("")
    s = r.get("segment")
    if s:
        def cell(v, fmt):  # a run the lease's time cut short: "-"
            if v is None:
                return "-"
            return fmt.format(statistics.median(v) if isinstance(v, list) else v)

        naip, wide = s.get("naip", {}), s.get("wide", {})
        shape = s.get("wide_shape", (20000, 1446))
        lines += [f"Segment in process (after a warm-up), spatial radius 5, range radius 15, "
                  f"minimum size 50, bands 1-4; naip_rgbn (934 x 723) median of the runs "
                  f"shown raw below, the wide raster ({shape[0]} x {shape[1]} px, naip "
                  "repeated) one run:", "",
                  "| METHOD | DEVICE | naip s | wide s | ids = CPU's (naip / wide) |",
                  "|---|---|---|---|---|"]
        for method in ("joint", "fast"):
            for device in ("cuda", "cpu"):
                k = f"{method} {device}"
                eq = (f"{cell(naip.get(f'{method} ids equal'), '{:.5f}')} / "
                      f"{cell(wide.get(f'{method} ids equal'), '{:.5f}')}"
                      if device == "cuda" else "-")
                lines.append(f"| {method} | {device} | {cell(naip.get(k), '{:.3f}')} | "
                             f"{cell(wide.get(k), '{:.2f}')} | {eq} |")
        lines += ["", f"Raw times (s): naip {naip}, wide {wide}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=("run", "report"))
    ap.add_argument("json", type=Path, nargs="+", help="run: where to write; report: one "
                    "or more run files (run.sh writes classify's and segment's apart)")
    ap.add_argument("--side", type=int, default=6144)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--parts", default="classify,segment")
    ap.add_argument("--write", type=Path)
    ap.add_argument("--methods", default="joint,fast", help="Segment's METHODs to time")
    ap.add_argument("--gpu-tile", type=int, default=0, help="also joint on CUDA at this "
                    "TILE_SIZE on the wide raster")
    ap.add_argument("--dry-run", action="store_true", help="cpu for cuda: the script checked")
    args = ap.parse_args()
    if args.dry_run:
        global GPU
        GPU = "cpu"
    if args.step == "run":
        run(args.json[0], args.side, args.repeat, args.parts,
            tuple(args.methods.split(",")), args.gpu_tile)
        return
    merged: dict = {}
    for path in args.json:
        merged.update(json.loads(path.read_text()))
    text = report(merged)
    print(text)
    if args.write:
        write_section(args.write, text, KEY)


if __name__ == "__main__":
    main()
