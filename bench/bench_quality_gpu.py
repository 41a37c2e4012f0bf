"""Map-quality ablations at GPU speed (issue 19 item 2): the U-Net default against one change
at a time, more seeds than the 2-core CPU allows, on nc and s2 as bench_quality splits them.

The lent GPU machine has no GDAL bindings, so the work is cut in three (bench_gpu.py's
``prepare`` exports the chips here first):

    python bench/bench_quality_gpu.py run DIR OUT --configs "default;loss=focal" --seeds 3
        # there: trains each config and seed on CUDA (Train Deep Learning Model, its defaults
        # plus the config), predicts the whole image in one pass, saves OUT/preds.npz
    python bench/bench_quality_gpu.py score OUT[=LABEL] ... [--write BENCHMARKS.md]
        # here: scores the maps on bench_quality's held-out pixels (nc: east half; s2: the
        # held-out OSM polygons)

The whole image in one forward pass (padded to a multiple of 32 with the band means) stands
in for Classify Pixels' tiles, the same for every config: compare rows with each other, not
with the "Map quality" table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_section  # noqa: E402


def whole_image(package: str, image: Path, device) -> tuple[np.ndarray, dict]:
    """(class values of every pixel, {value: name}) from one forward pass."""
    from types import SimpleNamespace

    import rasterio

    from landlearn.core.classify.stream import normalise
    from landlearn.core.deep.predictor import DeepPredictor
    from landlearn.core.model_package.format import read_package
    from landlearn.core.model_package.info import model_info

    pkg = read_package(package)
    info = model_info(pkg)
    with rasterio.open(image) as ds:
        raw = ds.read().astype(np.float32)
        valid = np.all(raw != ds.nodata, axis=0) if ds.nodata is not None else \
            np.ones(raw.shape[1:], bool)
    # Classify Pixels' own normalisation of a tile (z-scores, NoData at 0)
    x = normalise(SimpleNamespace(data=raw, valid=valid), info)
    h, w = valid.shape
    x = np.pad(x, ((0, 0), (0, -h % 32), (0, -w % 32)))
    prob = DeepPredictor(pkg, info, device)(x[None].astype(np.float32))[0, :, :h, :w]
    values = np.asarray(info.class_values)[prob.argmax(0)].astype(np.uint8)
    values[~valid] = 0
    names = {int(c["Value"]): str(c["Name"]) for c in pkg.emd["Classes"]}
    return values, names


def run(data: Path, out: Path, configs: list[str], seeds: int, device: str) -> None:
    import torch
    from bench_quality import parse_overrides

    from landlearn.core.deep.train_deep_learning_model import TrainConfig, train_model

    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench_quality_gpu_"))
    preds, rows = {}, []
    for seed in range(seeds):
        for key in ("nc", "s2"):
            for cfg in configs:
                extra = {} if cfg == "default" else parse_overrides(cfg)
                package = str(work / f"{key}_{seed}.dlpk")
                t0 = time.perf_counter()
                r = train_model(TrainConfig((str(data / f"{key}_chips"),), package,
                                            device=device, seed=seed, **extra))
                train_s = time.perf_counter() - t0
                values, names = whole_image(package, data / f"{key}.tif",
                                            torch.device(device))
                preds[f"{key}|{cfg}|{seed}"] = values
                rows.append(dict(set=key, config=cfg, seed=seed, train_s=round(train_s, 1),
                                 epochs=len(r.history), best=r.best_epoch,
                                 names={str(k): v for k, v in names.items()}))
                print(json.dumps({k: v for k, v in rows[-1].items() if k != "names"}),
                      flush=True)
                np.savez_compressed(out / "preds.npz", **preds)  # a cut-short run keeps these
                (out / "runs.json").write_text(json.dumps(rows))


def score(outs: list[str]) -> str:
    """Each of ``outs`` a run's OUT folder, as FOLDER or FOLDER=LABEL (the label leads its
    rows' config names: runs of different code side by side)."""
    from bench_quality import nc_set, s2_set
    from quality_score import as_names, boundary_f

    from landlearn.core.accuracy.metrics import Accuracy, confusion_matrix

    rows, preds = [], {}
    for item in outs:
        folder, _, label = item.partition("=")
        saved = np.load(Path(folder) / "preds.npz")
        for r in json.loads((Path(folder) / "runs.json").read_text()):
            key = f"{r['set']}|{r['config']}|{r['seed']}"
            r["config"] = f"{label}: {r['config']}" if label else r["config"]
            preds[f"{r['set']}|{r['config']}|{r['seed']}"] = saved[key]
            rows.append(r)
    tmp = Path(tempfile.mkdtemp(prefix="bench_quality_gpu_"))
    truths = {"nc": nc_set(tmp).truth, "s2": s2_set(tmp).truth}
    table: dict = {}
    for r in rows:
        truth = truths[r["set"]]
        pred = as_names(preds[f"{r['set']}|{r['config']}|{r['seed']}"],
                        {int(k): v for k, v in r["names"].items()})
        classes = sorted(set(np.unique(truth[truth != ""])) | set(r["names"].values()) - {""})
        index = {n: i for i, n in enumerate(classes)}
        scored = truth != ""
        t = np.array([index[n] for n in truth[scored]])
        p = np.array([index.get(n, -1) for n in pred[scored]])
        keep = p >= 0
        acc = Accuracy(confusion_matrix(t[keep], p[keep], len(classes)), classes)
        bf = boundary_f(pred, truth) if r["set"] == "nc" else None
        table.setdefault((r["set"], r["config"]), []).append(
            (acc.overall, acc.macro_f1, bf, r["train_s"], r["epochs"]))
    lines = ["| set | config | seeds | OA | macro F1 | boundary F (1 px) | train s | epochs |",
             "|---|---|---|---|---|---|---|---|"]

    def ms(values):
        v = [x for x in values if x is not None]
        return "-" if not v else f"{np.mean(v):.3f} ± {np.std(v):.3f}"

    for (key, cfg), runs in sorted(table.items(), key=lambda kv: kv[0][0]):
        cols = list(zip(*runs))
        lines.append(f"| {key} | {cfg} | {len(runs)} | {ms(cols[0])} | {ms(cols[1])} | "
                     f"{ms(cols[2])} | {np.mean(cols[3]):.0f} | {np.mean(cols[4]):.0f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=("run", "score"))
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--configs", default="default;loss=focal")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--write")
    ap.add_argument("--device", default="cuda", help="cpu: a dry run without CUDA")
    args = ap.parse_args()
    if args.step == "run":
        run(Path(args.paths[0]), Path(args.paths[1]), args.configs.split(";"), args.seeds,
            args.device)
        return
    text = score(args.paths)
    print(text)
    if args.write:
        write_section(Path(args.write), text, "bench_quality_gpu")


if __name__ == "__main__":
    main()
