"""ONNX Runtime against torch in Classify Pixels (issue 20): same model, same raster, CPU.

- Whole classify runs (package load, checks, reading, writing included) of the Sentinel-2
  full scene with a U-Net resnet34, RUNTIME=torch and RUNTIME=onnxruntime alternating;
  median of --repeat runs, and the class agreement / largest probability difference.
- First classify in a fresh Python process, imports included: with torch installed
  (RUNTIME=torch) and with torch hidden from the import system (the light install).

    python bench/bench_onnx.py [--repeat 3] [--write BENCHMARKS.md]
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

import numpy as np
import rasterio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_classify import make_model  # noqa: E402
from common import SAMPLE, SHARED, write_section  # noqa: E402

from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels  # noqa: E402
from landlearn.core.labels.base import LabelConfig  # noqa: E402

FRESH = """
import importlib.abc, sys, time
t = time.perf_counter()
if {hide!r}:
    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in ("torch", "torchvision", "segmentation_models_pytorch"):
                raise ModuleNotFoundError(name)
    sys.meta_path.insert(0, NoTorch())
sys.path.insert(0, {tests!r})
from paths import ensure_importable
ensure_importable()
from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
classify_pixels(ClassifyConfig({image!r}, {model!r}, {out!r}, runtime={runtime!r}, device="cpu"))
# VmHWM, not ru_maxrss: Linux carries the parent's peak into ru_maxrss across exec
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(int(hwm) / 1024, time.perf_counter() - t)
"""


def classify(model, image, out, runtime, probabilities=None) -> float:
    t = time.perf_counter()
    classify_pixels(ClassifyConfig(image, model, out, runtime=runtime, device="cpu",
                                   output_probabilities=probabilities))
    return time.perf_counter() - t


def fresh(model, image, out, runtime, hide) -> tuple[float, float]:
    tests = str(Path(__file__).resolve().parents[1] / "tests")
    code = FRESH.format(hide=hide, tests=tests, image=image, model=model, out=out,
                        runtime=runtime)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    rss, seconds = done.stdout.split()[-2:]
    return float(seconds), float(rss)


def in_qgis(model, image, out, runtime) -> float:
    """A whole `qgis_process.bin run landlearn:classifypixels` (QGIS start, plugin load,
    imports, classify), as CLI users and the Processing toolbox's first run meet it. With
    RUNTIME=auto on a machine without an NVIDIA driver, torch is never imported."""
    import shutil

    qp = shutil.which("qgis_process.bin")
    if qp is None:
        return float("nan")
    t = time.perf_counter()
    subprocess.run([qp, "run", "landlearn:classifypixels", "--", f"INPUT_RASTER={image}",
                    f"MODEL={model}", f"RUNTIME={runtime}", "DEVICE=cpu", f"OUTPUT={out}"],
                   check=True, capture_output=True, text=True)
    return time.perf_counter() - t


def run(repeat: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench_onnx_"))
    s = SAMPLE / "s2_osm_sparse"
    image = str(SHARED / "s2_osm_sparse" / "s2l1c_T33UUU_20170216_10bands_10m.tif")
    model = make_model(tmp, str(s / "s2l1c_10bands_10m_subset.tif"),
                       LabelConfig(str(s / "osm_landuse_subset.gpkg"), class_field="fclass"), "s2")
    maps = {}
    for runtime in ("torch", "onnxruntime"):  # warm, and the maps compared
        classify(model, image, str(tmp / f"{runtime}.tif"), runtime, str(tmp / f"{runtime}_p.tif"))
        with rasterio.open(tmp / f"{runtime}.tif") as a, rasterio.open(tmp / f"{runtime}_p.tif") as p:
            maps[runtime] = a.read(1), p.read()
    agree = float((maps["torch"][0] == maps["onnxruntime"][0]).mean())
    pdiff = float(np.abs(maps["torch"][1] - maps["onnxruntime"][1]).max())
    times = {"torch": [], "onnxruntime": []}
    for i in range(repeat):
        for runtime in times:
            times[runtime].append(classify(model, image, str(tmp / f"r{i}{runtime}.tif"), runtime))
    first, rss = {}, {}
    for label, runtime, hide in (("torch installed, RUNTIME=torch", "torch", False),
                                 ("torch hidden, ONNX Runtime", "auto", True)):
        first[label], rss[label] = fresh(model, image, str(tmp / f"f{len(first)}.tif"),
                                         runtime, hide)
    for i in range(2):  # alternating; the second pair is what a warm disk cache gives
        for runtime in ("torch", "onnxruntime"):
            first[f"qgis_process run {i + 1}, RUNTIME={runtime}"] = in_qgis(
                model, image, str(tmp / f"q{i}{runtime}.tif"), runtime)
    with rasterio.open(image) as ds:
        mpix = ds.width * ds.height / 1e6
    return dict(times=times, med={k: statistics.median(v) for k, v in times.items()},
                agree=agree, pdiff=pdiff, first=first, rss=rss, mpix=mpix, repeat=repeat)


def installed_mb(*modules: str) -> float:
    """Disk size of installed top-level packages (what pip put in site-packages)."""
    import importlib.util

    total = 0
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        for folder in spec.submodule_search_locations:
            for root, _dirs, files in os.walk(folder):
                total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total / 2**20


def report(r: dict) -> str:
    import onnxruntime
    import torch

    m = r["med"]
    lines = [
        "## ONNX Runtime in Classify Pixels (issue 20)", "",
        f"- Date: {datetime.date.today()}; machine: {platform.node()}, {os.cpu_count()} CPUs, "
        f"no GPU lent; torch {torch.__version__}, onnxruntime {onnxruntime.__version__}",
        f"- Command: `.venv/bin/python bench/bench_onnx.py --repeat {r['repeat']} --write "
        "BENCHMARKS.md`",
        f"- Data: s2_osm_sparse full scene ({r['mpix']:.2f} MPix, 10 bands uint16); U-Net "
        "resnet34 trained 1 epoch on the sample; Classify Pixels defaults, DEVICE=cpu; median "
        f"of {r['repeat']} alternating whole runs.", "",
        "| runtime | median s | MPix/s |", "|---|---|---|"]
    for k in ("torch", "onnxruntime"):
        lines.append(f"| {k} | {m[k]:.2f} | {r['mpix'] / m[k]:.3f} |")
    lines += ["", f"ONNX Runtime / torch speed: **{m['torch'] / m['onnxruntime']:.2f}x** (goal "
              f">= 1.5x). Same map: classes agree on {100 * r['agree']:.4f}% of pixels, "
              f"probabilities within {r['pdiff']:.1e}.", "",
              "First classify in a fresh process, imports included (s); the qgis_process rows "
              "are whole CLI runs (QGIS start, plugin load, imports, classify):", "",
              "| setup | s |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in r["first"].items()]
    lines += ["", "Peak RSS of those fresh processes (MB): " + ", ".join(
        f"{k}: {v:.0f}" for k, v in r["rss"].items())]
    light = installed_mb("onnxruntime", "flatbuffers", "google")
    heavy = installed_mb("torch", "torchvision", "nvidia", "triton", "segmentation_models_pytorch",
                         "timm")
    lines += ["", f"Installed size: the light install (onnxruntime, flatbuffers, protobuf) "
              f"{light:.0f} MB; the torch stack (torch with its CUDA libraries and triton, "
              f"torchvision, segmentation-models-pytorch, timm) {heavy:.0f} MB.",
              "Int8 graphs (QUANTIZE): bench_quantize; classical models on ONNX Runtime "
              "(skl2onnx): bench_classical_onnx (both have their sections)."]
    lines += ["", "Raw times (s): " + str({k: [round(v, 2) for v in vs]
                                           for k, vs in r["times"].items()}), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write", type=Path)
    args = ap.parse_args()
    text = report(run(args.repeat))
    print(text)
    if args.write:
        write_section(args.write, text, "onnx")
