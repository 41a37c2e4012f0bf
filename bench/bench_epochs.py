"""Which epoch should Train Deep Learning Model keep? Every epoch scored on held-out pixels.

Why: on small sets the validation area is one or a few places (s2_osm_sparse: 2 chips;
slovenia_s2: one 800-pixel place), so the epoch with the best validation mean IoU is a noisy
choice, and how long early stopping lets training run decides among how many epochs that
noise chooses. Round 12 of "Map quality" found that waiting for the one-cycle rate to fall
before counting patience rescued an s2 run but lost an nb and a slovenia run. This bench
trains each network to its last epoch (EARLY_STOPPING 0; an early stop only truncates the
same run, so every stopping rule can be replayed from one history) and after each epoch
also scores the network on the set's held-out pixels, so that every keeping rule can be
compared with what the map would have scored.

The held-out score here is one forward pass over the whole image (padded to the encoder's
stride), not Classify Pixels' blended tiles: close to bench_quality's numbers, not equal.
Sets and splits are bench_quality's (s2 is left out: one pass over its 1.2 MPix per epoch
and 40 epochs of 256 px chips take hours on a CPU).

    python bench/bench_epochs.py [--sets nc,slovenia,nb,enmap] [--seeds 3] [--first-seed 0]
                                 [--train epochs=60] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import math
import platform
import shutil
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import rasterio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_quality import SETS, exported_chips, parse_overrides  # noqa: E402
from common import write_section  # noqa: E402

from landlearn.core.accuracy.metrics import Accuracy, confusion_matrix  # noqa: E402
from landlearn.core.classify.stream import normalise  # noqa: E402
from landlearn.core.deep import fit  # noqa: E402
from landlearn.core.deep.train_deep_learning_model import TrainConfig, train_model  # noqa: E402

PATIENCE = 5  # EARLY_STOPPING's default


class HeldOut:
    """The set's image normalised as the chips are, and its held-out truth: scores a
    network's map after each epoch."""

    def __init__(self, qs):
        with rasterio.open(qs.image) as ds:
            raw = ds.read().astype(np.float32)
            nodata = ds.nodata
        valid = np.isfinite(raw).all(axis=0)
        if nodata is not None and not np.isnan(nodata):
            valid &= ~np.all(raw == nodata, axis=0)
        self.block = SimpleNamespace(data=raw, valid=valid)  # as RasterSource.read gives it
        self.truth, self.scored = qs.truth, qs.truth != ""

    def score(self, torch, model, chips, names: list[str], device) -> tuple[float, float]:
        """(OA, macro F1) of the network's map on the held-out pixels."""
        # Classify Pixels' z-scores from the chips' statistics
        x = normalise(self.block, chips.data).astype(np.float32)
        h, w = x.shape[1:]
        ph, pw = (-h) % 32, (-w) % 32
        x = np.pad(x, ((0, 0), (0, ph), (0, pw)), mode="reflect")
        model.eval()
        with torch.no_grad():
            logits = model(torch.from_numpy(x[None]).to(device))
        pred = np.array(names, dtype=object)[logits[0, :, :h, :w].argmax(0).cpu().numpy()]
        classes = sorted(set(np.unique(self.truth[self.scored])) | set(names))
        index = {n: i for i, n in enumerate(classes)}
        t = np.array([index[n] for n in self.truth[self.scored]])
        p = np.array([index[n] for n in pred[self.scored]])
        acc = Accuracy(confusion_matrix(t, p, len(classes)), classes)
        return acc.overall, acc.macro_f1


def trained_history(qs, seed: int, tmp: Path, held: HeldOut, overrides: dict) -> list[dict]:
    """One network trained to its last epoch; per epoch the validation (mean IoU, loss)
    and the held-out (OA, macro F1)."""
    chips = exported_chips(qs, "unet", tmp)
    rows: list[dict] = []
    real = fit.evaluate

    def scored(torch, model, chip_data, indices, loss_fn, device, batch, n, names, *a, **kw):
        vloss, acc = real(torch, model, chip_data, indices, loss_fn, device, batch, n, names,
                          *a, **kw)
        oa, f1 = held.score(torch, model, chip_data, names, device)  # fit: once an epoch
        rows.append({"epoch": len(rows) + 1, "miou": acc.mean_iou, "vloss": vloss,
                     "oa": oa, "f1": f1})
        return vloss, acc

    fit.evaluate = scored
    try:
        train_model(TrainConfig((str(chips),), str(tmp / f"e{seed}.dlpk"), device="cpu",
                                seed=seed, **{"ensemble_size": 1, **overrides,
                                                          "early_stopping": 0}))
    finally:
        fit.evaluate = real
    return rows


def kept(rows: list[dict], start: int, patience: int | None) -> int:
    """The epoch Train Model keeps: the best (mean IoU, -loss), training stopped once
    ``patience`` epochs since the later of the best and ``start`` bring nothing better."""
    best, best_epoch = None, 0
    for r in rows:
        score = (r["miou"], -r["vloss"])
        if best is None or score > best:
            best, best_epoch = score, r["epoch"]
        if patience and r["epoch"] - max(best_epoch, start) >= patience:
            break
    return best_epoch


def smoothed(rows: list[dict], window: int = 3) -> int:
    """The epoch whose validation mean IoU, averaged with its neighbours, is best."""
    m = np.array([r["miou"] for r in rows])
    k = window // 2
    means = [m[max(0, i - k):i + k + 1].mean() for i in range(len(m))]
    return int(np.argmax(means)) + 1


def rules(rows: list[dict]) -> dict[str, int]:
    n = len(rows)
    return {
        "peak + 5 (default)": kept(rows, fit.peak_epoch(n), PATIENCE),
        # where cosine annealing from the peak (30% of the steps) has halved the rate
        "rate halved + 5": kept(rows, max(1, math.ceil(0.65 * n - 1e-9)), PATIENCE),
        "best of all epochs": kept(rows, n, None),
        "best of 3-epoch means": smoothed(rows),
        "last epoch": n,
        "held-out best (oracle)": int(np.argmax([r["oa"] for r in rows])) + 1,
    }


def report(histories: dict, args) -> str:
    lines = ["**Which epoch to keep (bench_epochs)**", "",
             f"- Date: {datetime.date.today()}; machine: {platform.node()}, CPU; command: "
             f"`.venv/bin/python bench/bench_epochs.py --sets {args.sets} --seeds {args.seeds}"
             + (f" --first-seed {args.first_seed}" if args.first_seed else "")
             + (f" --train {args.train}" if args.train else "") + "`",
             "- Each network trained to its last epoch; OA / macro F1 of one forward pass over "
             "the image on bench_quality's held-out pixels, for the epoch each rule keeps. "
             "Mean over seeds (kept epochs per seed in brackets).", ""]
    for key, runs in histories.items():
        chosen = [rules(rows) for rows in runs]
        lines += [f"{key} ({len(runs[0])} epochs, {len(runs)} seeds)", "",
                  "| rule | OA | macro F1 | epochs kept |", "|---|---|---|---|"]
        for name in chosen[0]:
            picks = [c[name] for c in chosen]
            oa = np.mean([rows[p - 1]["oa"] for rows, p in zip(runs, picks)])
            f1 = np.mean([rows[p - 1]["f1"] for rows, p in zip(runs, picks)])
            lines.append(f"| {name} | {oa:.3f} | {f1:.3f} | {', '.join(map(str, picks))} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="nc,slovenia,nb,enmap")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--train", default="", help="training overrides, e.g. epochs=60")
    ap.add_argument("--write")
    args = ap.parse_args()
    overrides = parse_overrides(args.train)
    tmp = Path(tempfile.mkdtemp(prefix="bench_epochs_"))
    histories = {}
    try:
        for key in args.sets.split(","):
            (tmp / key).mkdir()
            qs = SETS[key](tmp / key)
            held = HeldOut(qs)
            histories[key] = []
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                rows = trained_history(qs, seed, tmp / key, held, overrides)
                histories[key].append(rows)
                print(f"{key} seed {seed}: " + "; ".join(
                    f"{r['epoch']} {r['miou']:.3f}/{r['oa']:.3f}/{r['f1']:.3f}" for r in rows),
                    flush=True)
                print(f"{key} seed {seed} kept: {rules(rows)}", flush=True)
        text = report(histories, args)
        print(text)
        if args.write:
            write_section(Path(args.write), text, "bench_epochs")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
