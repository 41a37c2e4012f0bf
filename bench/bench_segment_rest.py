"""What a Segment run costs beyond the mean-shift search: the run with the search answered
instantly, as a fast GPU would leave it.

Issue 21 asks a GPU run to be >= 50x Orfeo ToolBox (345.5 s on the 20,000 px wide raster:
6.9 s in all). With the search on a GPU, what is left is the grouping of each tile, the
joins across tiles, the staged merge and the outputs, on the CPU. This times exactly that:
run 1 computes the joint search of every tile (compiled, on the CPU) and keeps it; runs 2..
answer each tile's search from that store in the same order, so they time everything else.
Give ``--root`` another checkout (its ``.build/pythonpath``) to compare two versions; each
run is its own process per root, the same raster and parameters.

    python bench/bench_segment_rest.py [--root DIR ...] [--runs 3] [--raster wide.tif]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, sys, time
root, raster, out, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
sys.path.insert(0, root + "/.build/pythonpath")
import landlearn.core.segment.first_pass as fp
from landlearn.core.segment.segment_mean_shift import SegmentConfig, segment

search = fp.joint_filter
store, at = [], [0]

def answered(*args, **kwargs):
    i = at[0]
    at[0] += 1
    if i >= len(store):
        store.append(search(*args, **kwargs))
    return tuple(a.copy() for a in store[i])

fp.joint_filter = answered
config = SegmentConfig(raster, output_segment_ids=out, band_indexes=(1, 2, 3, 4),
                       spatial_radius=5, range_radius=15.0, min_segment_size=50,
                       device="cpu", method="joint")
times = []
for _ in range(runs + 1):
    at[0] = 0
    t = time.perf_counter()
    segment(config)
    times.append(time.perf_counter() - t)
print(json.dumps({"with_search": times[0], "rest": times[1:]}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", action="append", help="checkouts to time (default: this one)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--raster", help="default: the 20,000 px wide raster of bench_segment")
    args = ap.parse_args()
    roots = args.root or [str(HERE.parent)]
    with tempfile.TemporaryDirectory(prefix="landlearn-rest-") as tmp:
        raster = args.raster
        if raster is None:
            sys.path.insert(0, str(HERE))
            from bench_gpu_engine import NAIP
            from bench_segment import wide_raster
            from common import SHARED

            raster = str(Path(tmp) / "wide.tif")
            wide_raster(str(SHARED / NAIP), Path(raster))
        ids = []
        for i, root in enumerate(roots):
            out = str(Path(tmp) / f"ids{i}.tif")
            done = subprocess.run([sys.executable, "-c", CHILD, root, raster, out,
                                   str(args.runs)], capture_output=True, text=True, check=True)
            got = json.loads(done.stdout.strip().splitlines()[-1])
            rest = sorted(got["rest"])
            print(f"{root}: whole run {got['with_search']:.1f} s; without the search "
                  f"{rest[len(rest) // 2]:.2f} s median of {rest}", flush=True)
            ids.append(out)
        if len(ids) > 1:
            import numpy as np
            import rasterio

            first = rasterio.open(ids[0]).read(1)
            for other in ids[1:]:
                same = np.array_equal(first, rasterio.open(other).read(1))
                print(f"ids of {other} equal the first root's: {same}")


if __name__ == "__main__":
    main()
