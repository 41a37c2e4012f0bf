"""QGIS start with LandLearn: what loading the plugin costs every QGIS start and every
qgis_process call, and what a whole Segment run costs, for this tree and, with --compare,
another revision of it, measured in the same run (alternating, median of --repeat).

- plugin load: a fresh Python with QGIS and Processing initialised, then LandLearn's
  import, provider registration and every algorithm's parameters built (what QGIS does at
  start), timed; and the packages outside the standard library it imported;
- `qgis_process.bin help native:buffer` (QGIS start with every plugin, nothing run) with
  LandLearn enabled, against the same profile with LandLearn disabled;
- `qgis_process.bin run landlearn:segment` on naip_rgbn (METHOD=joint, as bench_segment),
  against a whole `otbcli_LargeScaleMeanShift` at the same radii when OTB is installed.

    python bench/bench_start.py [--repeat 7] [--compare REV] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, SHARED, write_section  # noqa: E402

NAIP = SHARED / "naip_rgbn" / "m_4709963_se_14_1_20200831.tif"
LOAD = """
import json, os, sys, time
from qgis.core import QgsApplication
app = QgsApplication([], False); app.initQgis()
sys.path.append(os.path.join(QgsApplication.pkgDataPath(), 'python', 'plugins'))
from processing.core.Processing import Processing
Processing.initialize()
before = set(sys.modules)
t0 = time.perf_counter()
import landlearn
plugin = landlearn.classFactory(None)
plugin.initProcessing()
for a in plugin.provider.algorithms():
    a.parameterDefinitions(); a.shortHelpString()
seconds = time.perf_counter() - t0
new = sorted({m.split('.')[0] for m in set(sys.modules) - before} - set(sys.stdlib_module_names)
             - {'landlearn'})
plugin.unload()
print(json.dumps([seconds, new]))
"""


def tree_of(rev: str, tmp: Path) -> Path:
    """A checkout of ``rev`` importable as `landlearn` (git worktree in ``tmp``)."""
    tree = tmp / f"tree-{rev.replace('/', '_')}"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev],
                   check=True, capture_output=True)
    (tree / ".build" / "pythonpath").mkdir(parents=True)
    os.symlink(tree, tree / ".build" / "pythonpath" / "landlearn")
    return tree


def profile_of(tree: Path, tmp: Path, name: str, enabled: bool = True) -> Path:
    """A copy of the test profile's settings whose plugin folder holds ``tree`` as landlearn."""
    src = Path(os.environ.get("LANDLEARN_PROFILE", ROOT / ".qgis-profile")) / "profiles" / "default"
    dst = tmp / f"profile-{name}" / "profiles" / "default"
    (dst / "QGIS").mkdir(parents=True)
    (dst / "python" / "plugins").mkdir(parents=True)
    ini = (src / "QGIS" / "QGIS3.ini").read_text()
    (dst / "QGIS" / "QGIS3.ini").write_text(
        ini if enabled else ini.replace("landlearn=true", "landlearn=false"))
    os.symlink(tree, dst / "python" / "plugins" / "landlearn")
    return dst.parents[1]


def env_for(tree: Path, profile: Path) -> dict:
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
             if p and not p.endswith(os.path.join(".build", "pythonpath"))]
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree / ".build" / "pythonpath"),
                                                        *paths]),
                QGIS_CUSTOM_CONFIG_PATH=str(profile))


def timed(cmd: list[str], env: dict) -> float:
    out = subprocess.run(["/usr/bin/time", "-f", "%e", *cmd], capture_output=True, text=True,
                         env=env)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-800:])
    return float(out.stderr.strip().splitlines()[-1])


def plugin_load(env: dict) -> tuple[float, list[str]]:
    out = subprocess.run([sys.executable, "-c", LOAD], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-800:])
    seconds, new = json.loads(out.stdout.strip().splitlines()[-1])
    return seconds, new


def run(repeat: int, compare: str | None) -> dict:
    qp = shutil.which("qgis_process.bin")
    if qp is None:
        sys.exit("qgis_process.bin is not on PATH (source scripts/qgis_env.sh)")
    with tempfile.TemporaryDirectory(prefix="bench_start") as t:
        tmp = Path(t)
        trees = {"this tree": ROOT}
        if compare:
            trees[compare] = tree_of(compare, tmp)
        try:
            envs = {name: env_for(tree, profile_of(tree, tmp, str(i)))
                    for i, (name, tree) in enumerate(trees.items())}
            off = env_for(ROOT, profile_of(ROOT, tmp, "off", enabled=False))
            times: dict[str, list[float]] = {}
            imported: dict[str, list[str]] = {}
            help_cmd = [qp, "help", "native:buffer"]
            seg = [qp, "run", "landlearn:segment", "--", f"INPUT_RASTER={NAIP}", "DEVICE=cpu",
                   "SPATIAL_RADIUS=5", "RANGE_RADIUS=15", "MIN_SEGMENT_SIZE=50", "METHOD=joint"]
            for env in (*envs.values(), off):  # byte-compile each tree, warm the disk cache
                plugin_load(env)
                timed(help_cmd, env)
                if NAIP.exists() and env is not off:  # and numba's cache of each tree
                    timed(seg + [f"OUTPUT={tmp / 'warm.tif'}"], env)
            otb = shutil.which("otbcli_LargeScaleMeanShift")
            for i in range(repeat):
                times.setdefault("qgis_process help, without LandLearn", []).append(
                    timed(help_cmd, off))
                for name, env in envs.items():
                    seconds, imported[name] = plugin_load(env)
                    times.setdefault(f"plugin load: {name}", []).append(seconds)
                    times.setdefault(f"qgis_process help: {name}", []).append(
                        timed(help_cmd, env))
                    if NAIP.exists():
                        times.setdefault(f"qgis_process run landlearn:segment: {name}",
                                         []).append(timed(seg + [f"OUTPUT={tmp / f's{i}.tif'}"],
                                                          env))
                if NAIP.exists() and otb:  # the whole run Segment is compared with (issue 21)
                    times.setdefault("otbcli_LargeScaleMeanShift, same radii", []).append(timed(
                        [otb, "-in", str(NAIP), "-spatialr", "5", "-ranger", "15", "-minsize",
                         "50", "-mode", "raster", "-mode.raster.out", str(tmp / f"o{i}.tif"),
                         "uint32", "-cleanup", "1"], off))
        finally:
            for tree in trees.values():
                if tree != ROOT:
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                                    str(tree)], capture_output=True)
    return {"times": times, "imported": imported, "repeat": repeat}


def report(r: dict) -> str:
    med = {k: statistics.median(v) for k, v in r["times"].items()}
    base = med["qgis_process help, without LandLearn"]
    lines = ["## QGIS start with LandLearn", "",
             f"- Date: {datetime.date.today()}; machine: {platform.node()}, "
             f"{os.cpu_count()} CPUs; Python {platform.python_version()}",
             f"- Command: `.venv/bin/python bench/bench_start.py --repeat {r['repeat']}"
             + (" --compare REV" if len(r["imported"]) > 1 else "") + "` (median of "
             f"{r['repeat']}, alternating)", "",
             "| measurement | s | LandLearn's share (help), or against OTB (segment) |",
             "|---|---|---|"]
    for k, v in med.items():
        otb = med.get("otbcli_LargeScaleMeanShift, same radii")
        share = f"+{v - base:.2f} s" if k.startswith("qgis_process help:") else (
            f"{v:.3f} s" if k.startswith("plugin load") else
            f"{otb / v:.2f}x faster than OTB" if otb and "segment" in k else "")
        lines.append(f"| {k} | {v:.3f} | {share} |")
    lines += ["", "Packages outside the standard library imported by loading the plugin: "
              + "; ".join(f"{k}: {', '.join(v) or 'none'}" for k, v in r["imported"].items()),
              "", "Raw times (s): " + str({k: [round(x, 3) for x in v]
                                         for k, v in r["times"].items()}), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--compare", help="another revision to measure alongside (git rev)")
    ap.add_argument("--write", type=Path)
    args = ap.parse_args()
    text = report(run(args.repeat, args.compare))
    print(text)
    if args.write:
        write_section(args.write, text, key="start")
