"""LandLearn's classical predictors against the same models converted with skl2onnx and run
on ONNX Runtime (CPU, default threads), on nc_landsat7.

For each classical model type LandLearn trains (random_forest, svm, hist_gradient_boosting,
and maximum_likelihood as an extra), this script:

1. trains it with LandLearn's own path, as bench/bench_classical.py does
   (train_classical, landsat96_polygons.shp field `id`, 500 samples per class, 100 trees);
2. converts the fitted scikit-learn pipeline (StandardScaler + classifier) with skl2onnx
   1.19.1: float32 input, zipmap off, target opset 21 (the newest skl2onnx 1.19.1 has
   tested; ONNX Runtime 1.32 runs it). It first tries plain skl2onnx and records any failure,
   then retries with a small in-process workaround (bools in int-list attributes cast to
   int: protobuf >= 7.34 refuses them, see RESULTS.md);
3. measures in one process, the two engines alternating, median of 3 (after one untimed
   warm-up each), once other processes keep fewer than a quarter core busy (the machine is
   shared; waited for up to 2 min, and the reading before and after is reported):
   - load: LandLearn's load_predictor (skops + trees file, all its checks) against building
     an onnxruntime.InferenceSession from the .onnx bytes;
   - predict: LandLearn's predictor.proba on every valid pixel of landsat_multiband.tif
     (float64, as ClassicalPredictor hands them over) against session.run on the same
     pixels in float32;
   - classify: a whole classify_pixels run (load, tiles, styled GeoTIFF) with LandLearn's
     predictor and with an ONNX Runtime predictor swapped in for load_predictor in this
     process only (no file of LandLearn is changed);
4. compares: class agreement (argmax) and max |probability difference| against LandLearn's
   predictor, the same for scikit-learn's own predict_proba, the share of map pixels that
   differ, and overall accuracy of both maps against strata.tif;
5. sizes: the .onnx file against LandLearn's stored model (model.skops + trees file inside
   the .dlpk, uncompressed and as stored, and the whole .dlpk);
6. first run in a fresh Python (--cold): import + load + one prediction of the scene, per
   engine, in a subprocess;
7. dependency checks: whether loading and running LandLearn's classical predictor imports
   torch (and works with torch blocked), and whether it needs skops / scikit-learn.

Writes results.json and results_table.md (or results<TAG>.json with --tag) next to this script
and prints the table. skl2onnx is not a LandLearn dependency: install it for this bench only
into a folder beside it (``pip install --target bench/site --no-deps skl2onnx==1.19.1``).
Result and the decision it supports: BENCHMARKS.md, "Classical models on ONNX Runtime".

    .venv/bin/python bench/bench_classical_onnx.py [--repeats 3]
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(HERE, "work")
# nothing is written under /work/main: numba's cache and bytecode go elsewhere / nowhere
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(HERE, "numba_cache"))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "site"))  # skl2onnx 1.19.1, pip --target
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
import zipfile  # noqa: E402

from paths import SHARED, ensure_importable  # noqa: E402

ensure_importable()

import numpy as np  # noqa: E402

sys.path.insert(0, HERE)
from classical_onnx_engine import TARGET_OPSET, OrtClassical, convert, ort_session  # noqa: E402

MODEL_TYPES = ("random_forest", "svm", "hist_gradient_boosting", "maximum_likelihood")
QUIET_CORES, QUIET_WAIT = 0.25, 120.0  # others below a quarter core before timing; 2 min max
NC = SHARED / "nc_landsat7"
IMAGE = str(NC / "landsat_multiband.tif")
STRATA = str(NC / "strata.tif")


def _median(v):
    return float(statistics.median(v))


def _labels():
    from landlearn.core.labels.base import LabelConfig

    return LabelConfig(str(NC / "landsat96_polygons.shp"), class_field="id",
                       class_name_field="label")


def model_path(mt: str) -> str:
    return os.path.join(WORK, f"{mt}.dlpk")


def onnx_path(mt: str) -> str:
    return os.path.join(WORK, f"{mt}.onnx")


def train(mt: str) -> float:
    """LandLearn's own training, settings of bench_classical.py."""
    from landlearn.core.classical.train_classifier import ClassicalConfig, train_classical

    path = model_path(mt)
    if os.path.exists(path):
        os.remove(path)
    t = time.perf_counter()
    train_classical(ClassicalConfig(IMAGE, _labels(), path, model_type=mt, trees=100,
                                    max_samples_per_class=500))
    return time.perf_counter() - t


def scene_pixels() -> np.ndarray:
    """Every valid pixel of the scene, (n, bands) float32 (the raster is float32)."""
    import rasterio

    with rasterio.open(IMAGE) as ds:
        data = ds.read()
        x = data.reshape(data.shape[0], -1).T
        return np.ascontiguousarray(x[np.all(x != ds.nodata, axis=1)], dtype=np.float32)


def load_ort_predictor(mt: str):
    """(predictor, info) as load_predictor gives them, the model run by ONNX Runtime."""
    from landlearn.core.model_package.format import read_package
    from landlearn.core.model_package.info import model_info

    info = model_info(read_package(model_path(mt), "model"))
    pred = OrtClassical(onnx_path(mt))
    pred.n_classes = len(info.class_values)
    return pred, info


def classify(mt: str, engine: str, out: str) -> float:
    import importlib

    # the package's __init__ re-exports the function under the module's name
    cp = importlib.import_module("landlearn.core.classify.classify_pixels")

    original = cp.load_predictor
    if engine == "onnx":
        cp.load_predictor = lambda *args, **kwargs: load_ort_predictor(mt)
    try:
        t = time.perf_counter()
        cp.classify_pixels(cp.ClassifyConfig(IMAGE, model_path(mt), out, device="cpu"))
        return time.perf_counter() - t
    finally:
        cp.load_predictor = original


def overall_accuracy(tif: str) -> float:
    from landlearn.core.accuracy.assess_accuracy import AssessConfig, assess_accuracy
    from landlearn.core.labels.base import LabelConfig

    return float(assess_accuracy(AssessConfig(tif, LabelConfig(STRATA))).accuracy.overall)


def map_difference(a: str, b: str) -> float:
    import rasterio

    with rasterio.open(a) as ra, rasterio.open(b) as rb:
        x, y = ra.read(1), rb.read(1)
    valid = (x != 0) | (y != 0)
    return float(100.0 * np.mean(x[valid] != y[valid]))


def stored_sizes(mt: str) -> dict:
    with zipfile.ZipFile(model_path(mt)) as zf:
        emd = json.loads(zf.read(next(n for n in zf.namelist() if n.endswith(".emd"))))
        names = [emd["ModelFile"]] + ([emd["LandLearn"]["trees_file"]]
                                     if emd["LandLearn"].get("trees_file") else [])
        infos = [zf.getinfo(n) for n in names]
    return dict(members=names, raw=sum(i.file_size for i in infos),
                stored=sum(i.compress_size for i in infos),
                dlpk=os.path.getsize(model_path(mt)))


# --- one model type -------------------------------------------------------------------------

def busy_cores(seconds: float = 5.0) -> float:
    """CPU cores kept busy by other processes over ``seconds`` (this one sleeps meanwhile)."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(n) for n in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait

    t0, i0 = sample()
    time.sleep(seconds)
    t1, i1 = sample()
    return (os.cpu_count() or 1) * (1 - (i1 - i0) / max(t1 - t0, 1))


def wait_quiet(limit: float, max_wait: float) -> float:
    """Wait (at most ``max_wait`` s) until other processes keep fewer than ``limit`` cores
    busy: the machine is shared, and their work lands in wall-clock times. Returns the last
    reading."""
    end = time.monotonic() + max_wait
    busy = busy_cores()
    while busy >= limit and time.monotonic() < end:
        busy = busy_cores()
    return busy


def bench(mt: str, x: np.ndarray, repeats: int) -> dict:
    from landlearn.core.classify.predictor import load_predictor

    row = dict(model=mt, pixels=len(x))
    row["train_s"] = train(mt)
    pred, info = load_predictor(model_path(mt), "cpu", False)
    conv = convert(pred.model, info.in_channels)
    row.update({k: v for k, v in conv.items() if k != "bytes"})
    row["landlearn_engine"] = pred.where
    row["sizes"] = stored_sizes(mt)
    x64 = x.astype(np.float64)
    ref = pred.proba(x64)  # also LandLearn's warm-up (numba compile, thread pools)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SVC probA_ deprecation warnings
        sk = pred.model.predict_proba(x64)
    row["landlearn_vs_sklearn_maxdiff"] = float(np.abs(ref - sk).max())
    row["landlearn_vs_sklearn_agree"] = float(100 * np.mean(ref.argmax(1) == sk.argmax(1)))
    row["landlearn_vs_sklearn_share_gt_1e-3"] = float(100 * np.mean(np.abs(ref - sk).max(1) > 1e-3))
    if "bytes" not in conv:
        return row
    with open(onnx_path(mt), "wb") as f:
        f.write(conv["bytes"])
    row["sizes"]["onnx"] = len(conv["bytes"])
    sess = ort_session(conv["bytes"])
    name = sess.get_outputs()[1].name
    got = sess.run([name], {"input": x})[0]  # ONNX Runtime's warm-up
    diff = np.abs(got - ref)
    row["agree"] = float(100 * np.mean(got.argmax(1) == ref.argmax(1)))
    row["maxdiff"] = float(diff.max())
    row["share_diff_gt_1e-3"] = float(100 * np.mean(diff.max(1) > 1e-3))
    row["onnx_vs_sklearn_maxdiff"] = float(np.abs(got - sk).max())
    row["onnx_vs_sklearn_agree"] = float(100 * np.mean(got.argmax(1) == sk.argmax(1)))

    row["others_busy_cores_before"] = wait_quiet(QUIET_CORES, QUIET_WAIT)
    maps = {e: os.path.join(WORK, f"{mt}_{e}.tif") for e in ("landlearn", "onnx")}
    for e in maps:  # warm-up of the whole run (GDAL, styles)
        classify(mt, e, maps[e])
    steps = {  # (what, engine) -> the call timed
        ("load", "landlearn"): lambda: load_predictor(model_path(mt), "cpu", False),
        ("load", "onnx"): lambda: ort_session(conv["bytes"]),
        ("predict", "landlearn"): lambda: pred.proba(x64),
        ("predict", "onnx"): lambda: sess.run([name], {"input": x}),
        ("classify", "landlearn"): lambda: classify(mt, "landlearn", maps["landlearn"]),
        ("classify", "onnx"): lambda: classify(mt, "onnx", maps["onnx"]),
    }
    wall = {k: [] for k in steps}
    cpu = {k: [] for k in steps}
    for _ in range(repeats):
        for k, fn in steps.items():  # the engines alternate
            t, c = time.perf_counter(), time.process_time()
            fn()
            wall[k].append(time.perf_counter() - t)
            cpu[k].append(time.process_time() - c)  # CPU seconds of all this process's threads
    for (key, e) in steps:
        row[f"{key}_{e}_s"] = _median(wall[key, e])
        row[f"{key}_{e}_cpu_s"] = _median(cpu[key, e])
        row[f"{key}_{e}_all"] = wall[key, e]
    row["others_busy_cores_after"] = busy_cores()
    row["map_pixels_differ_pct"] = map_difference(maps["landlearn"], maps["onnx"])
    row["oa_landlearn"] = overall_accuracy(maps["landlearn"])
    row["oa_onnx"] = overall_accuracy(maps["onnx"])
    return row


# --- fresh-process first run and dependency checks -------------------------------------------

def cold_child(mt: str, engine: str) -> None:
    """In a fresh Python: import, load, predict the scene once; print seconds as JSON."""
    t0 = time.perf_counter()
    x = scene_pixels()
    if engine == "onnx":
        pred, _ = load_ort_predictor(mt)
        pred.proba(x)
    else:
        from landlearn.core.classify.predictor import load_predictor

        pred, _ = load_predictor(model_path(mt), "cpu", False)
        pred.proba(x.astype(np.float64))
    print(json.dumps({"seconds": time.perf_counter() - t0,
                      **{f"{m}_imported": sys.modules.get(m) is not None
                         for m in ("torch", "sklearn", "skops", "onnxruntime", "numba")}}))


def cold(mt: str, engine: str, block: str | None = None) -> dict:
    cmd = [sys.executable, __file__, "--cold", mt, engine] + (["--block", block] if block else [])
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1][:300]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def block_modules(names: str) -> None:
    """Make ``import name`` fail, as if the package were not installed."""
    for name in names.split(","):
        sys.modules[name] = None  # type: ignore[assignment]


# --- report -------------------------------------------------------------------------------

def table(rows) -> str:
    lines = ["| model | conversion (plain skl2onnx 1.19.1) | convert s | LandLearn predict s | "
             "ORT predict s | ORT / LandLearn | predict CPU s LL / ORT | LandLearn classify_pixels s | ORT classify_pixels s "
             "| load LL / ORT s | first run LL / ORT s | class agreement % | max abs prob diff | "
             "pixels with diff > 1e-3 % | map pixels differ % | OA LL / ORT | LandLearn stored "
             "(raw / in .dlpk) | .onnx | other load, cores (before / after) |",
             "|" + "---|" * 19]
    for r in rows:
        if "agree" not in r:
            lines.append(f"| {r['model']} | FAILED: {r.get('error') or r.get('plain_error')} |"
                         + " - |" * 17)
            continue
        plain = "ok" if not r["plain_error"] else "fails (bool attrs); ok with workaround"
        s = r["sizes"]
        c = r.get("cold", {})
        cold_txt = (f"{c['landlearn'].get('seconds', float('nan')):.2f} / "
                    f"{c['onnx'].get('seconds', float('nan')):.2f}" if c else "-")
        lines.append(
            f"| {r['model']} | {plain} | {r['seconds']:.2f} | {r['predict_landlearn_s']:.3f} | "
            f"{r['predict_onnx_s']:.3f} | {r['predict_onnx_s'] / r['predict_landlearn_s']:.2f}x | "
            f"{r['predict_landlearn_cpu_s']:.2f} / {r['predict_onnx_cpu_s']:.2f} | "
            f"{r['classify_landlearn_s']:.2f} | {r['classify_onnx_s']:.2f} | "
            f"{r['load_landlearn_s']:.3f} / {r['load_onnx_s']:.3f} | {cold_txt} | "
            f"{r['agree']:.3f} | {r['maxdiff']:.3g} | {r['share_diff_gt_1e-3']:.2f} | "
            f"{r['map_pixels_differ_pct']:.3f} | {r['oa_landlearn']:.4f} / {r['oa_onnx']:.4f} | "
            f"{s['raw'] / 1e6:.2f} MB / {s['stored'] / 1e6:.2f} MB | {s['onnx'] / 1e6:.2f} MB | "
            f"{r['others_busy_cores_before']:.2f} / {r['others_busy_cores_after']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default=",".join(MODEL_TYPES))
    ap.add_argument("--tag", default="", help="suffix of the results files (results<TAG>.json)")
    ap.add_argument("--cold", nargs=2, metavar=("MODEL", "ENGINE"), help=argparse.SUPPRESS)
    ap.add_argument("--block", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.block:
        block_modules(args.block)
    if args.cold:
        cold_child(*args.cold)
        return
    import onnx
    import onnxruntime
    import skl2onnx
    import sklearn

    os.makedirs(WORK, exist_ok=True)
    x = scene_pixels()
    rows = []
    for mt in args.models.split(","):
        print(f"[{mt}] ...", flush=True)
        row = bench(mt, x, args.repeats)
        if "agree" in row:
            wait_quiet(QUIET_CORES, QUIET_WAIT)
            row["cold"] = {e: cold(mt, e) for e in ("landlearn", "onnx")}
            # the ONNX path with torch, scikit-learn and skops not importable
            row["onnx_without_torch_sklearn_skops"] = cold(mt, "onnx", "torch,sklearn,skops")
        row["landlearn_without_torch"] = cold(mt, "landlearn", "torch")
        print(json.dumps({k: v for k, v in row.items() if not k.endswith("_all")}, default=str),
              flush=True)
        rows.append(row)
    meta = dict(date=datetime.datetime.now().isoformat(timespec="seconds"),
                machine=f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
                        f"{platform.processor() or ''}".strip(),
                python=platform.python_version(), numpy=np.__version__,
                sklearn=sklearn.__version__, skl2onnx=skl2onnx.__version__,
                onnx=onnx.__version__, onnxruntime=onnxruntime.__version__,
                ort_intra_threads="default", target_opset=TARGET_OPSET,
                command=f"{sys.executable} {os.path.abspath(__file__)}", repeats=args.repeats)
    with open(os.path.join(HERE, f"results{args.tag}.json"), "w") as f:
        json.dump(dict(meta=meta, rows=rows), f, indent=1, default=str)
    text = table(rows)
    with open(os.path.join(HERE, f"results_table{args.tag}.md"), "w") as f:
        f.write(text + "\n")
    print(json.dumps(meta))
    print(text)


if __name__ == "__main__":
    main()
