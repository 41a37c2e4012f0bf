"""The TTA map's own temperature against the one-pass temperature, on held-out pixels.

Classify Pixels with TEST_TIME_AUGMENTATION averages four flipped passes, which are less
sure than one. Packages trained since 2026-12-05 hold a temperature fitted on those
averages (LandLearn.calibration.tta); before, the one-pass temperature was applied to
them. This reads the U-Nets and TTA probability rasters a `bench_quality.py --tta` run
kept, recovers the raw TTA means (the rasters are calibrated with the TTA temperature,
an invertible power), and scores the expected calibration error on the sets' held-out
pixels three ways: raw, with the one-pass temperature (before) and with the TTA one (now).

    .venv/bin/python bench/bench_tta_calibration.py --kept DIR --sets slovenia,enmap,nb
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_quality import SETS  # noqa: E402
from quality_score import _package_classes  # noqa: E402

from landlearn.core.accuracy.calibration import (  # noqa: E402
    apply_temperature,
    expected_calibration_error,
)


def scores(qs, package: Path, prob_path: Path) -> tuple[float, float, float, float, float]:
    """(T one pass, T TTA, ECE raw, ECE with the one-pass T, ECE with the TTA T)."""
    _, order, t_one = _package_classes(str(package))
    _, _, t_tta = _package_classes(str(package), tta=True)
    with rasterio.open(prob_path) as ds:
        prob = ds.read()
    scored = qs.truth != ""
    pr = prob.reshape(prob.shape[0], -1).T[scored.reshape(-1)]
    truth = np.array([order.index(n) if n in order else -1 for n in qs.truth[scored]])
    ok = (truth >= 0) & (pr.sum(1) > 0)
    now, truth = pr[ok], truth[ok]
    raw = apply_temperature(now, 1.0 / t_tta)  # p^(1/T) undone
    before = apply_temperature(raw, t_one)
    return (t_one, t_tta, expected_calibration_error(raw, truth),
            expected_calibration_error(before, truth), expected_calibration_error(now, truth))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kept", required=True, help="a bench_quality run's files (per set)")
    ap.add_argument("--sets", default="slovenia,enmap,nb")
    args = ap.parse_args()
    rows = ["| set | seed | T one pass | T TTA | ECE raw | ECE, one-pass T (before) | "
            "ECE, TTA T (now) |", "|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for key in args.sets.split(","):
            folder = Path(args.kept) / key
            (Path(tmp) / key).mkdir()
            qs = SETS[key](Path(tmp) / key)
            for package in sorted(folder.glob(f"{key}_unet_*.dlpk")):
                seed = package.stem.rsplit("_", 1)[1]
                prob = folder / f"{key}_unet_{seed}_tta_p.tif"
                if not prob.exists():
                    continue
                t1, tt, e_raw, e_before, e_now = scores(qs, package, prob)
                rows.append(f"| {key} | {seed} | {t1:.2f} | {tt:.2f} | {e_raw:.3f} | "
                            f"{e_before:.3f} | {e_now:.3f} |")
                print(rows[-1], flush=True)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
