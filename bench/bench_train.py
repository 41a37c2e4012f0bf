"""Train Model (deep): accuracy on held-out real data, and data-pipeline overhead.

Accuracy, no pretrained weights:
- nc_landsat7: chips from the western half of landsat_multiband.tif with strata.tif labels;
  scored wall-to-wall on the eastern half of strata.tif (never seen in training).
- s2_osm_sparse: 20% of the OSM polygons (seeded) held out; chips from the others; scored
  on the held-out polygons' pixels.
Prediction for scoring is one forward pass over the (padded) test area, so it does not
depend on Classify Pixels.

Throughput: training steps with LandLearn's data path (cached chips, batch assembly,
augmentation) against the same model's forward+backward+step on one batch already in
memory. Overhead = 1 - pure / pipeline.

    python bench/bench_train.py [--epochs 30] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch  # noqa: E402
from common import SAMPLE, SHARED, split_osm_polygons, write_section  # noqa: E402

from landlearn.core.accuracy.metrics import Accuracy, confusion_matrix  # noqa: E402
from landlearn.core.chips.export_training_data import ExportConfig, export_training_data  # noqa: E402
from landlearn.core.chips.training_data import read_training_data  # noqa: E402
from landlearn.core.deep.architectures import auto_encoder_depth  # noqa: E402
from landlearn.core.deep.chip_dataset import ChipData  # noqa: E402
from landlearn.core.deep.models import build_model, load_package_model  # noqa: E402
from landlearn.core.deep.train_deep_learning_model import TrainConfig, train_model  # noqa: E402
from landlearn.core.geo.extent import Extent  # noqa: E402
from landlearn.core.labels.base import LabelConfig  # noqa: E402
from landlearn.core.labels.rasterize_labels import LabelRasterConfig, write_label_raster  # noqa: E402
from landlearn.core.model_package.format import read_package  # noqa: E402
from landlearn.core.progress import NullProgress  # noqa: E402


class Log(NullProgress):
    def info(self, text):
        print(text, flush=True)

    warning = info


def predict(package: str, image: str, window) -> np.ndarray:
    """Class values for ``window`` of ``image`` in one padded forward pass."""
    info = read_package(package).landlearn
    model = load_package_model(package)
    model.eval()
    with rasterio.open(image) as ds:
        raw = ds.read(window=window).astype(np.float32)
        nodata = ds.nodata
    norm = info["normalization"]
    x = (raw - np.array(norm["mean"], np.float32)[:, None, None]) / \
        np.array(norm["std"], np.float32)[:, None, None]
    if nodata is not None:
        x[:, np.all(raw == nodata, axis=0)] = 0
    h, w = x.shape[1:]
    ph, pw = (-h) % 32 + 32, (-w) % 32 + 32
    x = np.pad(x, ((0, 0), (16, ph - 16), (16, pw - 16)), mode="reflect")
    with torch.no_grad():
        idx = model(torch.from_numpy(x)[None]).argmax(1)[0].numpy()[16:16 + h, 16:16 + w]
    return np.array(info["class_values"])[idx], info


def score(pred, truth, values, names) -> Accuracy:
    lut = np.full(256, -1)
    for i, v in enumerate(values):
        lut[v] = i
    t = lut[truth]
    p = lut[pred]
    return Accuracy(confusion_matrix(t, p, len(values)), names)


def nc_landsat(tmp: Path, epochs: int) -> dict:
    nc = SHARED / "nc_landsat7"
    image, strata = str(nc / "landsat_multiband.tif"), str(nc / "strata.tif")
    with rasterio.open(image) as ds:
        half = ds.width // 2
        b = ds.bounds
        xmid = ds.transform.c + half * ds.transform.a
        img_nodata = np.all(ds.read() == ds.nodata, axis=0)
    chips = tmp / "nc_west"
    from landlearn.core.geo.classes import read_class_names_file

    names_file = SAMPLE / "nc_landsat7" / "strata_classes.txt"  # the shared copy has no names
    strata_labels = LabelConfig(strata, class_names=read_class_names_file(names_file))
    export_training_data(ExportConfig(image, strata_labels, str(chips),
                                      extent=Extent(b.left, b.bottom, xmid, b.top),
                                      tile_size_x=64, tile_size_y=64, stride_x=32, stride_y=32))
    t0 = time.perf_counter()
    res = train_model(TrainConfig((str(chips),), str(tmp / "nc.dlpk"), backbone="resnet18",
                                  epochs=epochs, early_stopping=8, device="cpu",
                                  ensemble_size=1), Log())
    seconds = time.perf_counter() - t0
    from rasterio.windows import Window

    win = Window(half, 0, 489 - half, 443)
    pred, info = predict(str(tmp / "nc.dlpk"), image, win)
    labels = tmp / "strata_on_image.tif"
    write_label_raster(LabelRasterConfig(image, LabelConfig(strata), str(labels)))
    with rasterio.open(labels) as ds:
        truth = ds.read(1, window=win)
    truth[img_nodata[:, half:]] = 0
    names = [c["Name"] for c in json.load(open(chips / "esri_model_definition.emd"))["Classes"]]
    acc = score(pred, truth, info["class_values"], names)
    return {"name": "nc_landsat7: train west half, score east half of strata.tif (wall-to-wall)",
            "acc": acc, "seconds": seconds, "result": res}


def s2_osm(tmp: Path, epochs: int) -> dict:
    s2 = SHARED / "s2_osm_sparse"
    image = str(s2 / "s2l1c_T33UUU_20170216_10bands_10m.tif")
    split_osm_polygons(tmp)
    chips = tmp / "s2_chips"
    export_training_data(ExportConfig(image, LabelConfig(str(tmp / "osm_train.gpkg"),
                                                         class_field="fclass"), str(chips),
                                      tile_size_x=128, tile_size_y=128, stride_x=64, stride_y=64))
    t0 = time.perf_counter()
    res = train_model(TrainConfig((str(chips),), str(tmp / "s2.dlpk"), backbone="resnet18",
                                  epochs=epochs, early_stopping=8, device="cpu",
                                  ensemble_size=1), Log())
    seconds = time.perf_counter() - t0
    from rasterio.windows import Window

    pred, info = predict(str(tmp / "s2.dlpk"), image, Window(0, 0, 1536, 768))
    # test polygons keep the training export's class numbering (same 8 texts, alphabetical)
    test = tmp / "test_labels.tif"
    write_label_raster(LabelRasterConfig(image, LabelConfig(str(tmp / "osm_test.gpkg"),
                                                            class_field="fclass"), str(test)))
    with rasterio.open(test) as ds:
        truth = ds.read(1)
    names = [c["Name"] for c in json.load(open(chips / "esri_model_definition.emd"))["Classes"]]
    acc = score(pred, truth, info["class_values"], names)
    return {"name": "s2_osm_sparse: 20% of OSM polygons held out, scored on their pixels",
            "acc": acc, "seconds": seconds, "result": res}


def throughput(tmp: Path, steps: int = 30) -> dict:
    s = SAMPLE / "s2_osm_sparse"
    chips = tmp / "tp"
    export_training_data(ExportConfig(str(s / "s2l1c_10bands_10m_subset.tif"),
                                      LabelConfig(str(s / "osm_landuse_subset.gpkg"),
                                                  class_field="fclass"), str(chips),
                                      tile_size_x=128, tile_size_y=128, stride_x=64, stride_y=64))
    data = read_training_data([str(chips)])
    values = [c.value for c in data.classes]
    cd = ChipData(data, values)
    # the network Train Model builds by default for these chips (depth fitted, detail head)
    depth = auto_encoder_depth("unet", min(data.tile_size))
    model = build_model("unet", "resnet34", data.band_count, len(values), encoder_depth=depth,
                        detail_head=True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=255)
    rng = np.random.default_rng(0)
    batch = 8
    idx = np.arange(len(data.chips))
    for i in idx:
        cd.load(int(i))  # the cache is filled during training's first pass; not timed here

    def step(x, y):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    x0, y0 = cd.batch(idx[:batch], torch, "cpu", True, rng)
    step(x0, y0)
    times = {"pipeline": [], "pure": []}
    for _ in range(3):
        t = time.perf_counter()
        for _k in range(steps):
            x, y = cd.batch(rng.choice(idx, batch, replace=False), torch, "cpu", True, rng)
            step(x, y)
        times["pipeline"].append(time.perf_counter() - t)
        t = time.perf_counter()
        for _k in range(steps):
            step(x0, y0)
        times["pure"].append(time.perf_counter() - t)
    pipe, pure = np.median(times["pipeline"]), np.median(times["pure"])
    return {"depth": depth, "chips_per_s": steps * batch / pipe,
            "pure_chips_per_s": steps * batch / pure, "overhead": 1 - pure / pipe,
            "times": times, "batch": batch, "steps": steps}


def report(runs, tp, epochs) -> str:
    lines = ["## Train Model, deep (issue 4)", "",
             f"- Date: {datetime.date.today()}; machine: {platform.node()}, {os.cpu_count()} CPUs, "
             f"no GPU; torch {torch.__version__}, {torch.get_num_threads()} threads",
             f"- Command: `.venv/bin/python bench/bench_train.py --epochs {epochs} --write "
             "BENCHMARKS.md`",
             "- Model: U-Net, resnet18 encoder, no pretrained weights, LR finder, one-cycle, "
             f"up to {epochs} epochs, early stopping 8, 10% spatial-block validation, "
             "augmentation on, cross-entropy.", ""]
    for r in runs:
        acc, res = r["acc"], r["result"]
        lines += [f"### {r['name']}", "",
                  f"Overall accuracy **{acc.overall:.3f}**, mean IoU **{acc.mean_iou:.3f}**, "
                  f"macro F1 {acc.macro_f1:.3f}, kappa {acc.kappa:.3f} over {acc.total} test "
                  f"pixels; {len(res.history)} epochs (best {res.best_epoch}), LR "
                  f"{res.learning_rate:.2e}, {r['seconds']:.0f} s training; chips "
                  f"{res.chips}.", "", "| class | F1 | IoU | test pixels |", "|---|---|---|---|"]
        for i, n in enumerate(acc.names):
            lines.append(f"| {n} | {acc.f1[i]:.3f} | {acc.iou[i]:.3f} | {int(acc.support[i])} |")
        lines.append("")
    # its own markers inside the section, so that --throughput-only rewrites just them
    return "\n".join(lines + ["<!-- train_overhead:start -->", throughput_text(tp),
                               "<!-- train_overhead:end -->", ""])


def throughput_text(tp) -> str:
    return "\n".join(["### Data-pipeline overhead (CPU)", "",
            f"{datetime.date.today()}, `.venv/bin/python bench/bench_train.py --throughput-only "
            f"--write BENCHMARKS.md` (or the whole run): U-Net resnet34 as Train Model builds "
            f"it (encoder depth {tp['depth']}, detail head), 10 bands, 128 px chips, batch "
            f"{tp['batch']}, {tp['steps']} steps, median of 3: pipeline "
            f"{tp['chips_per_s']:.1f} chips/s vs pure forward+backward "
            f"{tp['pure_chips_per_s']:.1f} chips/s: overhead **{100 * tp['overhead']:.1f}%** "
            "(goal <= 10%).", "",
            "Raw times (s): " + json.dumps({k: [round(v, 2) for v in vs]
                                            for k, vs in tp["times"].items()})])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--write", type=Path)
    ap.add_argument("--throughput-only", action="store_true",
                    help="only the data-pipeline overhead (minutes, not the trainings' hour)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    if args.throughput_only:
        text, key = throughput_text(throughput(tmp)), "train_overhead"
    else:
        runs = [nc_landsat(tmp, args.epochs), s2_osm(tmp, args.epochs)]
        text, key = report(runs, throughput(tmp), args.epochs), "train"
    print(text)
    if args.write:
        write_section(args.write, text, key=key)
