"""What the trust checks of issue 16 cost: package loading and Classify Pixels end to end,
against the code before them (a git revision checked out into a temporary worktree), in
alternating fresh processes; and the verification of a large written raster.

    .venv/bin/python bench/bench_trust.py --baseline f6ed994 --repeat 5 --write BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from common import ROOT, SAMPLE, write_section

CHILD = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, {pypath!r})
    from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
    from landlearn.core.classify.predictor import load_predictor
    out = {{}}
    for name, package in {packages!r}.items():
        load_predictor(package, "cpu", False)  # warm: imports, caches
        t = time.perf_counter()
        for _ in range(5):
            load_predictor(package, "cpu", False)
        out["load_" + name] = (time.perf_counter() - t) / 5
    config = ClassifyConfig({image!r}, {packages!r}["rf"], {out_tif!r})
    classify_pixels(config)  # warm: the first walk loads numba's cached machine code
    t = time.perf_counter()
    for _ in range(3):
        classify_pixels(config)
    out["classify_rf"] = (time.perf_counter() - t) / 3
    print("RESULT " + json.dumps(out))
""")


def _packages(folder: Path) -> dict[str, str]:
    sys.path.insert(0, str(ROOT / ".build" / "pythonpath"))
    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT / "tests" / "adversarial"))
    import builder

    rf = builder.classical_base(folder)
    files = {"unet.emd": json.dumps(builder.deep_emd("unet", bands=10)).encode(),
             "unet.safetensors": builder.deep_weights(bands=10)}
    deep = builder.write_zip(folder / "unet.dlpk", files)
    return {"rf": str(rf), "unet_resnet18": str(deep)}


def _worktree(rev: str, folder: Path) -> Path:
    tree = folder / "baseline"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(tree), rev],
                   check=True)
    link = tree / ".build" / "pythonpath" / "landlearn"
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink("../..", link)
    return tree


def _run(pypath: Path, packages, out_tif) -> dict:
    code = CHILD.format(pypath=str(pypath), packages=packages,
                        image=str(SAMPLE / "nc_landsat7" / "landsat_multiband.tif"),
                        out_tif=str(out_tif))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[7:])


def _verify_cost(folder: Path) -> dict:
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    from landlearn.core.geo.grid import Grid
    from landlearn.core.geo.writer import GeoTiffWriter

    side = 16384
    grid = Grid(rasterio.crs.CRS.from_epsg(32633), from_origin(0, 0, 1, 1), side, side)
    w = GeoTiffWriter(folder / "big.tif", grid, 1, np.uint8)
    row = np.arange(side, dtype=np.uint8)[None].repeat(1024, 0)
    t0 = time.perf_counter()
    for r in range(0, side, 1024):
        w.write(row, Window(0, r, side, 1024))
    w._ds.close()
    t1 = time.perf_counter()
    w._verify()
    t2 = time.perf_counter()
    w.abort()
    return {"pixels": side * side, "blocks": (side // 256) ** 2, "write_s": t1 - t0,
            "verify_s": t2 - t1}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default="f6ed994")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--write")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        packages = _packages(folder)
        tree = _worktree(args.baseline, folder)
        try:
            runs = {"before": [], "after": []}
            for _ in range(args.repeat):
                runs["before"].append(_run(tree / ".build" / "pythonpath", packages,
                                           folder / "b.tif"))
                runs["after"].append(_run(ROOT / ".build" / "pythonpath", packages,
                                          folder / "a.tif"))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           check=False)
        verify = _verify_cost(folder)
    keys = ["load_rf", "load_unet_resnet18", "classify_rf"]
    med = {k: {s: statistics.median(r[k] for r in runs[s]) for s in runs} for k in keys}
    lines = [
        "## Trust checks (issue 16)", "",
        f"- Date: {time.strftime('%Y-%m-%d')}; machine: {platform.node()}, {os.cpu_count()} "
        f"CPUs, {platform.platform()}",
        f"- Command: `.venv/bin/python bench/bench_trust.py --baseline {args.baseline} "
        f"--repeat {args.repeat} --write BENCHMARKS.md`",
        f"- Before = revision {args.baseline} (prefix-trusted skops, no size or schema checks, "
        "no output verification), after = this tree; alternating fresh processes, median of "
        f"{args.repeat}. Packages: a 10-tree random forest of the nc sample, a 10-band U-Net "
        "resnet18. Classify: the whole nc scene with the forest, a styled GeoTIFF.", "",
        "| step | before s | after s | after / before |", "|---|---|---|---|"]
    for k in keys:
        b, a = med[k]["before"], med[k]["after"]
        lines.append(f"| {k.replace('_', ' ')} | {b:.3f} | {a:.3f} | {a / b:.2f} |")
    extra = med["load_unet_resnet18"]["after"] - med["load_unet_resnet18"]["before"]
    lines += ["", f"Loading a deep package costs {extra * 1000:.0f} ms more (the safetensors "
              "header and every tensor's shape checked against the network, then a scan for "
              "NaN/inf weights); a classical package a few milliseconds (the skops tree audited, "
              "array headers checked, two pixels classified). Classify end to end is within "
              "the machine's noise."]
    lines += ["", f"Verifying a written {verify['pixels'] / 1e6:.0f} MPix uint8 GeoTIFF "
              f"({verify['blocks']:,} blocks: every block inside the file, the last block read "
              f"back) took {verify['verify_s']:.2f} s after {verify['write_s']:.2f} s of "
              "writing.", "", f"Raw: {json.dumps(runs)}", ""]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(Path(args.write), text, "trust")


if __name__ == "__main__":
    main()
