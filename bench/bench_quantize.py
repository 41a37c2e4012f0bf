"""Int8 graphs (QUANTIZE, issue 20): accuracy cost on held-out real data, and CPU speed.

Accuracy: the U-Nets of bench_train (resnet18, trained on nc_landsat7's west half and on
80% of s2_osm_sparse's OSM polygons) get an int8 graph from Export Model (QUANTIZE,
calibrated on their training chips); Classify Pixels then maps the whole raster with torch,
the float graph and the int8 graph, and each map is scored on the held-out pixels (nc: east
half of strata.tif wall to wall; s2: the held-out polygons).

Speed: whole Classify Pixels runs over the s2 full scene (1.18 MPix, 10 bands) with each
runtime, alternating, median of --repeat; and the network alone (batch 4 x 256 x 256) on
the float graph, the static int8 graph and a dynamic int8 graph (ONNX Runtime's
quantize_dynamic, which LandLearn does not offer: this row says why).

    python bench/bench_quantize.py [--epochs 30] [--repeat 3] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import nc_landsat, s2_osm, score  # noqa: E402
from common import SHARED, write_section  # noqa: E402

from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels  # noqa: E402
from landlearn.core.deep.export_model import ExportModelConfig, export_model  # noqa: E402
from landlearn.core.model_package.format import read_package  # noqa: E402

MODES = {"torch": dict(runtime="torch"), "onnx float": dict(runtime="onnxruntime"),
         "onnx int8": dict(runtime="onnxruntime", quantize=True)}


def with_int8(tmp: Path, package: str, chips: Path, name: str) -> tuple[str, float]:
    out = tmp / f"{name}_q.dlpk"
    res = export_model(ExportModelConfig(package, str(tmp / f"{name}.onnx"), deepness=False,
                                         output_model=str(out), quantize=True,
                                         calibration_data=str(chips)))
    return str(out), res.int8_agreement


def classify(image: str, package: str, out: Path, mode: str) -> float:
    t = time.perf_counter()
    classify_pixels(ClassifyConfig(image, package, str(out), device="cpu", **MODES[mode]))
    return time.perf_counter() - t


def accuracy(tmp: Path, epochs: int) -> list[dict]:
    runs = []
    nc = SHARED / "nc_landsat7" / "landsat_multiband.tif"
    s2 = SHARED / "s2_osm_sparse" / "s2l1c_T33UUU_20170216_10bands_10m.tif"
    for name, train, image, chips in (("nc", nc_landsat, nc, "nc_west"),
                                      ("s2", s2_osm, s2, "s2_chips")):
        trained = train(tmp, epochs)
        package, agree = with_int8(tmp, str(tmp / f"{name}.dlpk"), tmp / chips, name)
        info = read_package(package).landlearn
        if name == "nc":
            with rasterio.open(image) as ds:
                half = ds.width // 2
                win = Window(half, 0, ds.width - half, ds.height)
                blank = np.all(ds.read(window=win) == ds.nodata, axis=0)
            with rasterio.open(tmp / "strata_on_image.tif") as ds:
                truth = ds.read(1, window=win)
            truth[blank] = 0
        else:
            with rasterio.open(image) as ds:
                win = Window(0, 0, ds.width, ds.height)
            with rasterio.open(tmp / "test_labels.tif") as ds:
                truth = ds.read(1)
        scores = {}
        for mode in MODES:
            out = tmp / f"{name}_{mode.replace(' ', '_')}.tif"
            classify(str(image), package, out, mode)
            with rasterio.open(out) as ds:
                scores[mode] = score(ds.read(1, window=win), truth, info["class_values"],
                                     trained["acc"].names)
        shape = (f"encoder depth {info.get('encoder_depth') or 5}, "
                 f"{'with' if info.get('detail_head') else 'without'} the detail head")
        runs.append(dict(name=trained["name"], agree=agree, scores=scores, shape=shape))
    return runs


def forward(graphs: dict[str, bytes], repeat: int) -> dict[str, float]:
    import onnxruntime as ort

    x = np.random.default_rng(0).uniform(500, 3000, (4, 10, 256, 256)).astype(np.float32)
    sessions = {k: ort.InferenceSession(g, providers=["CPUExecutionProvider"])
                for k, g in graphs.items()}
    times = {k: [] for k in graphs}
    for s in sessions.values():
        s.run(None, {"input": x})
    for _ in range(repeat):
        for k, s in sessions.items():
            t = time.perf_counter()
            s.run(None, {"input": x})
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def dynamic_int8(graph: bytes) -> bytes:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as d:
        Path(d, "f.onnx").write_bytes(graph)
        quantize_dynamic(str(Path(d, "f.onnx")), str(Path(d, "q.onnx")),
                         weight_type=QuantType.QUInt8)
        return Path(d, "q.onnx").read_bytes()


def speed(tmp: Path, repeat: int) -> dict:
    image = str(SHARED / "s2_osm_sparse" / "s2l1c_T33UUU_20170216_10bands_10m.tif")
    package = str(tmp / "s2_q.dlpk")
    times = {m: [] for m in MODES}
    for m in MODES:  # warm
        classify(image, package, tmp / "warm.tif", m)
    for i in range(repeat):
        for m in MODES:
            times[m].append(classify(image, package, tmp / f"speed{i}.tif", m))
    with zipfile.ZipFile(package) as zf:
        graphs = {"float": zf.read("model.onnx"), "static int8": zf.read("model_int8.onnx")}
    graphs["dynamic int8"] = dynamic_int8(graphs["float"])
    with rasterio.open(image) as ds:
        mpix = ds.width * ds.height / 1e6
    return dict(times=times, med={k: statistics.median(v) for k, v in times.items()},
                fwd=forward(graphs, repeat), sizes={k: len(g) / 2**20 for k, g in graphs.items()},
                mpix=mpix)


def report(runs: list[dict], sp: dict, epochs: int, repeat: int) -> str:
    import onnxruntime
    import torch

    lines = ["## Int8 graphs: QUANTIZE (issue 20)", "",
             f"- Date: {datetime.date.today()}; machine: {platform.node()}, {os.cpu_count()} CPUs "
             "(AVX-512 VNNI), no GPU lent; torch "
             f"{torch.__version__}, onnxruntime {onnxruntime.__version__}",
             f"- Command: `.venv/bin/python bench/bench_quantize.py --epochs {epochs} --repeat "
             f"{repeat} --write BENCHMARKS.md`",
             "- Models: bench_train's U-Nets (resnet18, up to "
             f"{epochs} epochs, Train Model's defaults otherwise: "
             + "; ".join(f"{r['name'].split(':')[0]} {r['shape']}" for r in runs)
             + "); int8 graph from Export Model (QUANTIZE, calibrated on 32 of "
             "the training chips); every map made by Classify Pixels (defaults, DEVICE=cpu).", "",
             "### Accuracy cost on held-out pixels", "",
             "| data | runtime | OA | macro F1 | kappa |", "|---|---|---|---|---|"]
    for r in runs:
        for mode, acc in r["scores"].items():
            lines.append(f"| {r['name'].split(':')[0]} | {mode} | {acc.overall:.3f} | "
                         f"{acc.macro_f1:.3f} | {acc.kappa:.3f} |")
    lines.append("")
    for r in runs:
        s = r["scores"]
        lines.append(f"- {r['name']}: macro F1 int8 - float = "
                     f"**{s['onnx int8'].macro_f1 - s['onnx float'].macro_f1:+.3f}** (goal: "
                     f"within 0.01); int8 and float classes agree on "
                     f"{100 * r['agree']:.2f}% of the check chips' pixels.")
    m, f = sp["med"], sp["fwd"]
    lines += ["", f"### Speed: s2 full scene ({sp['mpix']:.2f} MPix), whole Classify Pixels "
              f"runs, median of {repeat}", "",
              "| runtime | s | MPix/s | vs torch |", "|---|---|---|---|"]
    for k in MODES:
        lines.append(f"| {k} | {m[k]:.2f} | {sp['mpix'] / m[k]:.3f} | "
                     f"{m['torch'] / m[k]:.2f}x |")
    lines += ["", f"Goal: int8 >= 2x torch eager: **{m['torch'] / m['onnx int8']:.2f}x** end to "
              "end.", "", "The network alone (ONNX Runtime, batch 4 x 10 x 256 x 256, median of "
              f"{repeat}):", "", "| graph | s | vs float | MB |", "|---|---|---|---|"]
    for k, v in f.items():
        lines.append(f"| {k} | {v:.3f} | {f['float'] / v:.2f}x | {sp['sizes'][k]:.1f} |")
    lines += ["", "Raw times (s): " + str({k: [round(v, 2) for v in vs]
                                           for k, vs in sp["times"].items()}), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write", type=Path)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_quantize_"))
    runs = accuracy(tmp, args.epochs)
    text = report(runs, speed(tmp, args.repeat), args.epochs, args.repeat)
    print(text)
    if args.write:
        write_section(args.write, text, "quantize")
