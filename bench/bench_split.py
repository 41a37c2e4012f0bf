"""The validation split's own cost on a large chip folder (Train Deep Learning Model).

The split draws CANDIDATES block orders when the labels are counted by class and keeps the
one whose classes resemble the labels'; this times it against one draw (the labels counted
without classes) on a synthetic export: n x n chips at a quarter-chip stride (4 x 4 cells a
chip), 8 classes in 30% of the cells. Reading the label chips (label_cells) is not timed:
it is the same either way and is I/O.

    python bench/bench_split.py [--side 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from landlearn.core.chips.training_data import Chip
from landlearn.core.deep.label_cells import LabelCells
from landlearn.core.deep.split import CANDIDATES, spatial_split


def synthetic(n: int, classes: int = 8, seed: int = 0):
    """(chips, cells counted by class, cells counted without classes)."""
    rng = np.random.default_rng(seed)
    per_cell = rng.random((n + 3, n + 3, classes)) * (rng.random((n + 3, n + 3, 1)) < 0.3) * 100
    chips, keys, counts, by_class = [], [], [], []
    for r in range(n):
        for c in range(n):
            chips.append(Chip(f"i{r}_{c}", f"l{r}_{c}", 0, (r // 4) * 1000 + c // 4,
                              (c * 16.0, -r * 16.0 - 64, c * 16.0 + 64, -r * 16.0)))
            rr, cc = np.meshgrid(np.arange(r, r + 4), np.arange(c, c + 4), indexing="ij")
            keys.append((rr * (n + 3) + cc).ravel().astype(np.int64))
            cell = per_cell[r:r + 4, c:c + 4].reshape(16, classes)
            by_class.append(cell)
            counts.append(cell.sum(axis=1))
    return chips, LabelCells(keys, counts, by_class), LabelCells(keys, counts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=200, help="chips per side (200: 40,000)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    chips, by_class, plain = synthetic(args.side)
    times: dict[str, list[float]] = {"one draw": [], f"{CANDIDATES} draws by class": []}
    for _ in range(args.repeats):  # alternating, so drift hits both alike
        for label, cells in zip(times, (plain, by_class)):
            t0 = time.perf_counter()
            split = spatial_split(chips, 10, 0, cells)
            times[label].append(time.perf_counter() - t0)
            share = split.held_out / split.total
    for label, ts in times.items():
        print(f"{len(chips)} chips, {label}: median {np.median(ts):.2f} s (runs "
              f"{', '.join(f'{t:.2f}' for t in ts)}); last share held out {share:.3f}")
    print(f"ratio: {np.median(times[list(times)[1]]) / np.median(times[list(times)[0]]):.2f}x")


if __name__ == "__main__":
    main()
