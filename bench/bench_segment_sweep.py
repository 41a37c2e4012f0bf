"""Segment quality curves (issue 21): boundary recall and under-segmentation error (as in
bench_segment.quality) against the number of segments, one parameter swept per tool: LandLearn
Segment fast / joint and OTB LargeScaleMeanShift (range radius; spatial radius 5, min size 50),
scikit-image felzenszwalb (scale; sigma 0.5, min_size 50) and slic (n_segments; compactness 0.3
on bands stretched to 0..1: of 0.03..3 tried at n_segments 800 on nb_aerial and nc_landsat7,
lower gives fewer ragged segments, higher tends to a grid and loses recall). Per data set the
values are searched for 0.5x..2x OTB's count at ranger 15; report() says the details.

scikit-image is no LandLearn dependency: install it beside this script (git-ignored) with

    .venv/bin/python -m pip install --target bench/site --no-deps scikit-image==0.24.0 \\
        lazy_loader imageio tifffile

without it the scikit-image rows are skipped (the output says so). Run (~3 min on 2 cores):

    nice -n 10 .venv/bin/python bench/bench_segment_sweep.py [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import rasterio

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
if (BENCH / "site").is_dir():
    sys.path.insert(0, str(BENCH / "site"))
from bench_segment import MINSIZE, SPATIAL, quality  # noqa: E402
from common import SHARED, write_section  # noqa: E402

from landlearn.core.labels.base import LabelConfig  # noqa: E402
from landlearn.core.labels.rasterize_labels import LabelRasterConfig, write_label_raster  # noqa: E402
from landlearn.core.segment.segment_mean_shift import SegmentConfig, segment  # noqa: E402

try:
    import skimage
    from skimage.segmentation import felzenszwalb, slic
except ImportError as exc:  # optional: see the module docstring
    skimage, SKIP = None, f"scikit-image rows skipped: {exc}"
else:
    SKIP = ""

RADII = (2.0, 128.0)  # range radius search bounds (LandLearn and OTB)
FACTORS = tuple(2 ** (k / 3) for k in range(-3, 4))  # target counts, x OTB's at ranger 15
SIGMA, COMPACTNESS, STEPS = 0.5, 0.3, 4
warnings.filterwarnings("ignore", message="Got image with third dimension")  # 4-5 bands, meant


def datasets(tmp: Path) -> list[tuple[str, str, str, tuple, bool]]:
    """(name, image, labels, bands, evaluate only where ref > 0)."""
    nb, nc, sl = SHARED / "nb_aerial", SHARED / "nc_landsat7", SHARED / "slovenia_s2"
    sets = [(f"nb_aerial {k} (RGB 0.5 m, {'280x341' if k == '1of2' else '326x482'})",
             str(nb / f"23322E759967N_clipped_1m_{k}.tif"), str(nb / f"labels_{k}.tif"),
             (1, 2, 3), False) for k in ("1of2", "2of2")]
    sets.append(("nc_landsat7 (bands 1-5, 489x443, strata.tif where > 0)",
                 str(nc / "landsat_multiband.tif"), str(nc / "strata.tif"), (1, 2, 3, 4, 5), True))
    # scene 2 (clear; 0 and 1 are cloudy), B04 B03 B02 B08 stretched 2-98 % to bytes, so that
    # OTB's range radius means what it means on the others (reflectance is 0..0.5)
    with rasterio.open(sl / "s2_l1c_reference_scene_2.tif") as ds:
        data, profile = ds.read([4, 3, 2, 8]), ds.profile
    lo, hi = np.percentile(data, [2, 98], axis=(1, 2))
    byte = np.clip((data - lo[:, None, None]) / (hi - lo)[:, None, None] * 255 + 0.5, 0, 255)
    profile.update(count=4, dtype="uint8", nodata=None)
    with rasterio.open(tmp / "slovenia_byte.tif", "w", **profile) as ds:
        ds.write(byte.astype(np.uint8))
    sets.append(("slovenia_s2 scene 2 (B4 B3 B2 B8, 100x101, lulc.tif where > 0)",
                 str(tmp / "slovenia_byte.tif"), str(sl / "lulc.tif"), (1, 2, 3, 4), True))
    return sets


def read_ids(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


def landlearn(image: str, out: Path, bands, r: float, method: str) -> np.ndarray:
    segment(SegmentConfig(image, output_segment_ids=str(out), band_indexes=bands,
                          spatial_radius=SPATIAL, range_radius=float(r),
                          min_segment_size=MINSIZE, device="cpu", method=method))
    return read_ids(out)


def otb(image: str, out: Path, r: float) -> np.ndarray:
    subprocess.run(["otbcli_LargeScaleMeanShift", "-in", image, "-spatialr", str(SPATIAL),
                    "-ranger", f"{r:g}", "-minsize", str(MINSIZE), "-mode", "raster",
                    "-mode.raster.out", str(out), "uint32", "-cleanup", "1"],
                   check=True, capture_output=True)
    return read_ids(out)


def unit_bands(image: str, bands, valid: np.ndarray) -> np.ndarray:
    """(rows, cols, bands) float 0..1 for scikit-image: bytes / 255, else a 2-98 % stretch."""
    with rasterio.open(image) as ds:
        data, byte = ds.read(list(bands)).astype(np.float64), ds.dtypes[0] == "uint8"
    lo, hi = (0, 255) if byte else np.percentile(data[:, valid], [2, 98], axis=1)[..., None, None]
    data = np.clip((data - lo) / np.maximum(hi - lo, 1e-12), 0, 1)
    data[:, ~valid] = 0
    return np.moveaxis(data, 0, -1)


def search(fn, evaluated, targets, bounds, tried: dict) -> set[float]:
    """Runs ``fn(parameter) -> ids`` at ``bounds``, then for each target count bisects (geometric
    mean) the first pair of neighbouring tried parameters whose counts straddle it, at most STEPS
    times or until within 5 %. ``tried``: parameter -> (ids, seconds, count), kept between calls.
    Returns the tried parameters nearest each target."""
    def run(p: float) -> None:
        if p not in tried:
            t = time.perf_counter()
            ids = fn(p)
            tried[p] = (ids, time.perf_counter() - t, len(np.unique(ids[evaluated])))

    for p in bounds:
        run(p)
    picked = set()
    for t in targets:
        for _ in range(STEPS):
            ps = sorted(tried)
            pairs = [(a, b) for a, b in zip(ps, ps[1:]) if b / a > 1.02
                     and (tried[a][2] - t) * (tried[b][2] - t) < 0]
            if not pairs or min(abs(tried[p][2] - t) for p in tried) <= 0.05 * t:
                break
            run(float(np.sqrt(pairs[0][0] * pairs[0][1])))
        picked.add(min(tried, key=lambda p: abs(tried[p][2] - t)))
    return picked


def sweep(image: str, labels: str, bands, only_labelled: bool, tmp: Path) -> tuple[int, list]:
    """OTB's count at ranger 15 and the rows (tool, parameter, quality, seconds) of one data set."""
    write_label_raster(LabelRasterConfig(image, LabelConfig(labels), str(tmp / "ref.tif")))
    ref = read_ids(tmp / "ref.tif")
    with rasterio.open(image) as ds:
        valid, sub = ds.read_masks(1) > 0, image
        if len(bands) != ds.count:  # OTB takes every band
            sub = str(tmp / "bands.tif")
            subprocess.run(["gdal_translate", "-q", *sum([["-b", str(b)] for b in bands], []),
                            image, sub], check=True)
    ev = valid & (ref > 0) if only_labelled else valid
    target = len(np.unique(otb(sub, tmp / "o.tif", 15)[ev]))
    targets = [target * f for f in FACTORS]
    tools = [("OTB LargeScaleMeanShift", "ranger {:.3g}", lambda r: otb(sub, tmp / "o.tif", r),
              (*RADII, 15))]
    tools += [(f"LandLearn {m}", "range radius {:.3g}",
               lambda r, m=m: landlearn(image, tmp / "l.tif", bands, r, m), (*RADII, 15))
              for m in ("fast", "joint")]
    if skimage is not None:
        img = unit_bands(image, bands, valid)
        tools += [("skimage felzenszwalb", "scale {:.3g}", lambda p: np.where(valid, felzenszwalb(
                      img, scale=p, sigma=SIGMA, min_size=MINSIZE, channel_axis=-1) + 1, 0),
                   (1.0, 1e4)),
                  ("skimage slic", "n_segments {:.0f}", lambda p: np.where(valid, slic(
                      img, n_segments=round(p), compactness=COMPACTNESS, start_label=1,
                      channel_axis=-1, convert2lab=False), 0),
                   (targets[0] / 3, targets[-1] * 3))]
    rows = []
    for label, fmt, fn, bounds in tools:
        tried: dict = {}
        picked = search(fn, ev, targets, bounds, tried)
        if len(picked) < 4:  # most targets out of its reach: add points from 0.25x to its top
            top = max(c for _, _, c in tried.values())
            picked |= search(fn, ev, np.geomspace(target / 4, top, 5), bounds, tried)
        rows += [(label, fmt.format(p), quality(tried[p][0], ref, ev), tried[p][1])
                 for p in sorted(picked)]
    return target, rows


def run() -> list[tuple[str, int, list]]:
    tmp = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    try:
        sets = datasets(tmp)
        for m in ("fast", "joint"):  # compile the CPU passes before anything is timed
            landlearn(sets[-1][1], tmp / "warm.tif", sets[-1][3], 15, m)
        results = []
        for name, *args in sets:
            results.append((name, *sweep(*args, tmp)))
            print(f"{name}: {len(results[-1][2])} points", file=sys.stderr, flush=True)
        return results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def at_count(points: list[tuple[int, float, float]], n: int) -> tuple[float, float] | None:
    """Recall and UE at ``n`` segments, linear in segment count between the nearest points
    either side; None outside the tool's range."""
    pts = sorted(points)
    for (n0, r0, u0), (n1, r1, u1) in zip(pts, pts[1:]):
        if n0 <= n <= n1:
            w = 0.0 if n1 == n0 else (n - n0) / (n1 - n0)
            return r0 + w * (r1 - r0), u0 + w * (u1 - u0)
    return next(((r, u) for c, r, u in pts if c == n), None)


def report(results) -> str:
    lines = ["## Segment quality curves (issue 21)", "",
             f"- Date: {datetime.date.today()}; machine: {platform.node()}, {os.cpu_count()} "
             "CPUs (shared with other work, run under nice 10); Orfeo ToolBox otb-bin; "
             f"scikit-image {skimage.__version__ if skimage else 'not installed'}",
             "- Command: `nice -n 10 .venv/bin/python bench/bench_segment_sweep.py --write "
             "BENCHMARKS.md`",
             f"- LandLearn (fast, joint; device cpu) and OTB: spatial radius {SPATIAL}, minimum "
             f"size {MINSIZE}, range radius searched in {RADII[0]:g}..{RADII[1]:g} (LandLearn's "
             "on its 0..255 stretch of each band, OTB's in the data's units: bytes for nb_aerial "
             "and slovenia_s2, 32..255 DN for nc_landsat7). felzenszwalb: sigma "
             f"{SIGMA}, min_size {MINSIZE}, scale searched in 1..1e4; slic: compactness "
             f"{COMPACTNESS} (of 0.03..3 tried at n_segments 800, lower gives fewer ragged "
             "segments, higher a grid), convert2lab off, its own connectivity clean-up (no "
             "min_size), "
             "n_segments searched; both on the same bands stretched per band to 0..1 (bytes / 255, "
             "else 2-98 %). Per tool, the parameters (log bisection, at most "
             f"{STEPS} steps per target) whose counts are nearest "
             f"{', '.join(f'{f:.2f}' for f in FACTORS)}x OTB's count at ranger 15; a target a tool "
             "cannot reach repeats its end point, shown once; a tool left with fewer than 4 points "
             "also gets 5 targets from 0.25x up to the most segments it reached.",
             "- slovenia_s2: scene 2 (scenes 0 and 1 are cloudy) on lulc.tif's own grid (no "
             "crop needed), bands B04 B03 B02 B08 stretched 2-98 % to bytes beforehand for all "
             "tools (OTB's range radius is in data units and the reflectance spans 0..0.5).",
             "- Boundary recall: share of reference boundary pixels with a segment boundary "
             "within 2 px; under-segmentation error as Neubert & Protzel 2012; segments counted "
             "over the evaluated pixels. s: one run (OTB as a whole command, LandLearn in process "
             "after a warm-up, scikit-image the call).", ""]
    if SKIP:
        lines += [f"- {SKIP}", ""]
    for name, target, rows in results:
        lines += [f"### {name}", "",
                  "| tool | parameter | segments | boundary recall (2 px) | "
                  "under-segmentation error | s |", "|---|---|---|---|---|---|"]
        lines += [f"| {t} | {p} | {q['segments']} | {q['recall']:.3f} | {q['ue']:.3f} | {s:.2f} |"
                  for t, p, q, s in rows]
        lines += ["", f"At OTB's count at ranger 15 ({target} segments), interpolated linearly "
                  "in segment count between each tool's two nearest points (in brackets: a tool whose "
                  "counts do not reach it, at its nearest count):", "",
                  "| tool | recall at OTB's count | UE at OTB's count |", "|---|---|---|"]
        best = []
        for tool in dict.fromkeys(t for t, *_ in rows):
            pts = [(q["segments"], q["recall"], q["ue"]) for t, _, q, _ in rows if t == tool]
            v = at_count(pts, target)
            if v is None:  # out of the tool's reach: its nearest point, marked
                c, r_, u_ = min(pts, key=lambda p: abs(p[0] - target))
                lines.append(f"| {tool} | ({r_:.3f} at {c}) | ({u_:.3f} at {c}) |")
            else:
                lines.append(f"| {tool} | {v[0]:.3f} | {v[1]:.3f} |")
                best.append((tool, *v))
        if best:
            r, u = max(best, key=lambda b: b[1]), min(best, key=lambda b: b[2])
            lines += ["", f"At {target} segments the highest recall is {r[0]}'s ({r[1]:.3f}) "
                      f"and the lowest under-segmentation error {u[0]}'s ({u[2]:.3f}).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", type=Path)
    args = ap.parse_args()
    if not shutil.which("otbcli_LargeScaleMeanShift"):
        sys.exit("otbcli_LargeScaleMeanShift is not installed (apt install otb-bin)")
    text = report(run())
    print(text)
    if args.write:
        write_section(args.write, text, key="segment_sweep")
