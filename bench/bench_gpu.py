"""The GPU paths, checked and timed where a CUDA device is lent (bench/README of BENCHMARKS.md
"GPU"): deep training, inference and joint mean shift, each beside the same work on the
lent machine's CPU in the same run, so the figures are ratios on one machine.

Two steps, because the lent machine has torch and CUDA but no GDAL Python bindings (only
rasterio's wheel travels there), and export reads labels through OGR:

    python bench/bench_gpu.py prepare DIR      # here: training chips of nc and s2 (GDAL)
    python bench/bench_gpu.py run DIR [--json FILE] [--write BENCHMARKS.md]   # there: CUDA
    python bench/bench_gpu.py report FILE --write BENCHMARKS.md   # here, from run's --json

What ``run`` measures:
- training: Train Deep Learning Model with its defaults (U-Net resnet34, automatic batch,
  bf16 autocast on CUDA) on nc's west-half chips and s2's chips, on CUDA and on the CPU
  (the CPU for a few epochs only: seconds per epoch are compared);
- inference: DeepPredictor (the model Classify Pixels runs) on tiles of the real images:
  argmax agreement and the largest probability difference CUDA (bf16 and float32) vs CPU,
  and MPix/s at the batch size Classify Pixels picks for each device;
- joint mean shift: the CUDA search against the compiled CPU one (all cores) on a crop of
  s2: the same modes, and seconds.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, write_section  # noqa: E402

S2_IMAGE = "s2l1c_T33UUU_20170216_10bands_10m.tif"


def prepare(out: Path) -> None:
    """Chips as Train Deep Learning Model reads them, and the images they came from."""
    import shutil
    import tempfile

    from bench_quality import nc_set, s2_set

    from landlearn.core.chips.export_training_data import ExportConfig, export_training_data

    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench_gpu_"))
    for key, make in (("nc", nc_set), ("s2", s2_set)):
        qs = make(tmp)
        export_training_data(ExportConfig(qs.image, qs.labels, str(out / f"{key}_chips"),
                                          extent=qs.extent))
        shutil.copy(qs.image, out / f"{key}.tif")
    shutil.rmtree(tmp)


def _sync(torch):
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def train_runs(data: Path, work: Path, sets, gpu: str, epochs: int) -> list[dict]:
    """Each set on ``gpu`` with the defaults, then 2 epochs on the CPU at the learning rate
    the GPU run's finder chose (the finder is not timed twice)."""
    from landlearn.core.deep.train_deep_learning_model import TrainConfig, train_model

    rows = []
    for key in sets:
        rate = None
        for label, device, n in (("cuda", gpu, epochs), ("cpu", "cpu", min(2, epochs))):
            out = work / f"{key}_{label}.dlpk"
            t0 = time.perf_counter()
            r = train_model(TrainConfig((str(data / f"{key}_chips"),), str(out),
                                        device=device, epochs=n, seed=0, learning_rate=rate,
                                        ensemble_size=1))
            rate = r.learning_rate
            total = time.perf_counter() - t0
            per_epoch = [h.seconds for h in r.history]
            rows.append(dict(set=key, device=label, epochs_run=len(r.history),
                             batch=r.batch_size, seconds=round(total, 1),
                             epoch_s=round(float(np.median(per_epoch)), 2),
                             lr=r.learning_rate, best_epoch=r.best_epoch,
                             val_oa=None if r.accuracy is None else round(r.accuracy.overall, 3),
                             val_f1=None if r.accuracy is None else round(r.accuracy.macro_f1, 3),
                             package=str(out)))
            print(json.dumps(rows[-1]), flush=True)
    return rows


def _tiles(image: Path, info, side: int, count: int) -> np.ndarray:
    import rasterio

    with rasterio.open(image) as ds:
        x = ds.read().astype(np.float32)
    x = (x - info.mean[:, None, None]) / info.std[:, None, None]
    b, h, w = x.shape
    reps = (1, -(-side // h) + 1, -(-side // w) + 1)
    x = np.tile(x, reps)  # the real image repeated up to one tile, no synthetic values
    rng = np.random.default_rng(0)
    out = np.empty((count, b, side, side), np.float32)
    for i in range(count):
        y0, x0 = rng.integers(0, x.shape[1] - side + 1), rng.integers(0, x.shape[2] - side + 1)
        out[i] = x[:, y0:y0 + side, x0:x0 + side]
    return out


def _timed(pred, x: np.ndarray, batch: int, torch) -> float:
    """Seconds ``pred`` takes over ``x`` in batches, after one warm-up batch (cuDNN picks
    its kernels then); ``torch`` given: CUDA synchronised at both ends."""
    pred(x[:batch])
    if torch is not None:
        _sync(torch)
    t0 = time.perf_counter()
    for s in range(0, len(x), batch):
        pred(x[s:s + batch])
    if torch is not None:
        _sync(torch)
    return time.perf_counter() - t0


def infer_runs(data: Path, packages: dict, gpu: str) -> list[dict]:
    import torch

    from landlearn.core.classify.tiling import batch_size
    from landlearn.core.deep.predictor import DeepPredictor
    from landlearn.core.model_package.format import read_package
    from landlearn.core.model_package.info import model_info

    rows = []
    for key, package in packages.items():
        pkg = read_package(package)
        info = model_info(pkg)
        side = 512
        tiles = _tiles(data / f"{key}.tif", info, side, 16)
        ref = DeepPredictor(pkg, info, torch.device("cpu"))(tiles[:8])
        cfg = argparse.Namespace(batch_size=None)
        for mode in ("bf16", "fp16", "fp32"):
            pred = DeepPredictor(pkg, info, torch.device(gpu), mixed_precision=mode != "fp32")
            if mode == "fp16" and pred.amp:
                pred.amp_dtype = torch.float16
            got = pred(tiles[:8])
            batch = batch_size(cfg, torch.device(gpu), side, info)
            n = batch * 4
            dt = _timed(pred, tiles[np.arange(n) % len(tiles)], batch, torch)
            rows.append(dict(set=key, check="cuda vs cpu", mode=mode, batch=batch,
                             argmax_agree=float(np.mean(got.argmax(1) == ref.argmax(1))),
                             max_prob_diff=float(np.abs(got - ref).max()),
                             mpix_s=round(n * side * side / dt / 1e6, 2)))
            print(json.dumps(rows[-1]), flush=True)
        pred = DeepPredictor(pkg, info, torch.device("cpu"))
        batch = batch_size(cfg, torch.device("cpu"), side, info)
        dt = _timed(pred, tiles[:8], batch, None)
        rows.append(dict(set=key, check="throughput", device="cpu", batch=batch, tile=side,
                         mpix_s=round(8 * side * side / dt / 1e6, 2)))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def shift_runs(data: Path, gpu: str, side: int) -> list[dict]:
    """The s2 crop as it is, then the same image tiled 3 x 3 (real values, a larger area)."""
    import rasterio
    import torch

    from landlearn.core.segment.joint_shift import joint_filter

    with rasterio.open(data / "s2.tif") as ds:
        crop = ds.read((4, 3, 2)).astype(np.float32)[:, :side, :side] / 8.0
    rows = []
    joint_filter(crop[:, :64, :64], np.ones((64, 64), bool), 5, 15.0, 0.1, 100, "compiled")
    for x in (crop, np.tile(crop, (1, 3, 3))):
        valid = np.ones(x.shape[1:], bool)
        out = {}
        for name, device in (("compiled", "compiled"), ("cuda", torch.device(gpu))):
            joint_filter(x[:, :64, :64], valid[:64, :64], 5, 15.0, 0.1, 100, device)  # warm
            t0 = time.perf_counter()
            out[name] = joint_filter(x, valid, 5, 15.0, 0.1, 100, device)
            _sync(torch)
            rows.append(dict(check="joint mean shift", device=name, side=x.shape[1],
                             seconds=round(time.perf_counter() - t0, 2)))
            print(json.dumps(rows[-1]), flush=True)
        a, b = out["compiled"], out["cuda"]
        rows.append(dict(check="joint mean shift agreement", side=x.shape[1],
                         modes_within_1e3=float(np.mean(np.abs(a[0] - b[0]) < 1e-3)),
                         travel_equal=float(np.mean(a[2] == b[2]))))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def report(rows: list[dict], env: dict) -> str:
    lines = ["## GPU", "",
             f"- Date: {env['date']}; machine: {env['gpu']}, {env['cpus']} CPUs; torch "
             f"{env['torch']}; command: `python bench/bench_gpu.py prepare DIR` (here, GDAL), "
             "then `python bench/bench_gpu.py run DIR` on the lent machine", "",
             "Training (Train Deep Learning Model defaults; the CPU for 2 epochs only):", "",
             "| set | device | batch | s/epoch | epochs run | total s | LR | valid OA | valid F1 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "epoch_s" in r:
            lines.append(f"| {r['set']} | {r['device']} | {r['batch']} | {r['epoch_s']} | "
                         f"{r['epochs_run']} | {r['seconds']} | {r['lr']:.2g} | {r['val_oa']} | "
                         f"{r['val_f1']} |")
    lines += ["", "Inference (DeepPredictor, 512 px tiles of the real image; agreement with the "
              "CPU's float32 on 8 tiles, 2.1 MPix):", "",
              "| set | device / precision | batch | MPix/s | argmax = CPU | max prob diff |",
              "|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("check") == "cuda vs cpu":
            lines.append(f"| {r['set']} | cuda {r['mode']} | {r['batch']} | {r['mpix_s']} | "
                         f"{r['argmax_agree']:.5f} | {r['max_prob_diff']:.1e} |")
        elif r.get("check") == "throughput":
            lines.append(f"| {r['set']} | cpu float32 | {r['batch']} | {r['mpix_s']} | - | - |")
    lines += ["", "Joint mean shift (s2 bands 4,3,2 / 8; hs 5, hr 15; the crop, then tiled 3 x 3; "
              "compiled = the CPU path on all cores):", "",
              "| side px | compiled s | cuda s | modes within 1e-3 | travel equal |",
              "|---|---|---|---|---|"]
    sec = {(r["side"], r["device"]): r["seconds"] for r in rows
           if r.get("check") == "joint mean shift"}
    for r in rows:
        if r.get("check") == "joint mean shift agreement":
            lines.append(f"| {r['side']} | {sec[r['side'], 'compiled']} | "
                         f"{sec[r['side'], 'cuda']} | {r['modes_within_1e3']:.5f} | "
                         f"{r['travel_equal']:.5f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=("prepare", "run", "report"))
    ap.add_argument("dir")
    ap.add_argument("--write")
    ap.add_argument("--json")
    ap.add_argument("--sets", default="nc,s2")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--shift-side", type=int, default=1000)
    ap.add_argument("--gpu", default="cuda", help="cpu: a dry run of the script without CUDA")
    args = ap.parse_args()
    data = Path(args.dir)
    if args.step == "prepare":
        if not SHARED.is_dir():
            sys.exit("../shared/data is not present")
        prepare(data)
        return
    if args.step == "report":
        saved = json.loads(data.read_text())
        text = report(saved["rows"], saved["env"])
        print(text)
        if args.write:
            write_section(Path(args.write), text, "bench_gpu")
        return
    import torch

    if args.gpu == "cuda" and not torch.cuda.is_available():
        sys.exit("run needs a CUDA device")
    name = torch.cuda.get_device_name(0) if args.gpu == "cuda" else "dry run, no GPU"
    env = dict(date=datetime.date.today().isoformat(), gpu=name,
               cpus=os.cpu_count(), torch=torch.__version__, python=platform.python_version())
    work = Path(os.environ.get("TMPDIR", "/tmp")) / "bench_gpu"
    work.mkdir(parents=True, exist_ok=True)
    rows = shift_runs(data, args.gpu, args.shift_side)
    if args.json:  # what is measured so far survives a run cut short
        Path(args.json).write_text(json.dumps(dict(env=env, rows=rows), indent=1))
    trained = train_runs(data, work, args.sets.split(","), args.gpu, args.epochs)
    rows += trained
    rows += infer_runs(data, {r["set"]: r["package"] for r in trained if r["device"] == "cuda"},
                       args.gpu)
    text = report(rows, env)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(dict(env=env, rows=rows), indent=1))
    if args.write:
        write_section(Path(args.write), text, "bench_gpu")


if __name__ == "__main__":
    main()
