"""Classify Pixels on Dask against the one-process engine (issue 18's goals).

A large raster of real pixels is built by tiling the nc_landsat7 sample (edges mirrored, so
no seam of NoData); a random forest and a U-Net (RUNTIME=torch) classify it:
- in process, held to one thread (the fair base for one single-thread worker);
- on 1 and 2 local worker processes with one thread each (distributed overhead, scaling),
  started as the engine starts them; and 1 worker with Dask's default worker environment
  (what a `dask worker` started by hand gets);
- two in-process runs at once without Dask: the ceiling this machine's cores set on
  "2 workers vs 1" (shared caches and memory bandwidth), whatever the engine does;
- peak RSS of each worker process (the kernel's high-water mark) at two block sizes, and
  at 4x the raster area (bounded by the block, not the raster).
Each configuration runs in a fresh child process (thread limits are fixed at import).

    .venv/bin/python bench/bench_distributed.py [--side 4096] [--write]
    .venv/bin/python bench/bench_distributed.py --side 8192 --scaling 3 [--rf-only]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, SAMPLE, write_section

KEY = "bench_distributed"


def build_raster(path: Path, side: int) -> None:
    import numpy as np
    import rasterio
    from rasterio.transform import Affine

    with rasterio.open(SAMPLE / "nc_landsat7" / "landsat_multiband.tif") as src:
        data = src.read()
        profile = src.profile
        t = src.transform
    h, w = data.shape[1:]
    flip = np.concatenate([np.concatenate([data, data[:, :, ::-1]], 2),
                           np.concatenate([data[:, ::-1], data[:, ::-1, ::-1]], 2)], 1)
    reps = (-(-side // (2 * h)), -(-side // (2 * w)))
    big = np.tile(flip, (1, *reps))[:, :side, :side]
    profile.update(width=side, height=side, tiled=True, blockxsize=256, blockysize=256,
                   compress="deflate", nodata=None,
                   transform=Affine(t.a, 0, t.c, 0, t.e, t.f))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(big)


def child(args) -> None:
    """One classify run; prints a JSON line with wall time and peak worker RSS."""
    import psutil

    from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
    from landlearn.core.progress import RecordingProgress

    peaks: dict[int, int] = {}
    cpu: dict[int, float] = {}  # CPU seconds of each worker-side process, last seen
    stop = threading.Event()

    def peak_rss(pid: int | str) -> int:
        # the kernel's high-water mark (VmHWM): a peak that no sampling interval can miss
        with open(f"/proc/{pid}/status") as f:
            return next(int(x.split()[1]) * 1024 for x in f if x.startswith("VmHWM:"))

    def watch():
        # The watcher shares the 2 cores with the run it measures: scanning /proc for
        # children 10 times a second cost the client about a second of CPU per 10 s and
        # slowed the 2-worker runs by ~10%, so it looks every --sample-s (default 0.5 s)
        # and takes peaks from VmHWM instead of sampled RSS.
        me = psutil.Process()
        while not stop.is_set():
            for p in me.children(recursive=True):
                try:
                    if "spawn_main" in " ".join(p.cmdline()):
                        peaks[p.pid] = max(peaks.get(p.pid, 0), peak_rss(p.pid))
                        cpu[p.pid] = sum(p.cpu_times()[:2])
                except (psutil.Error, OSError, StopIteration):
                    pass
            stop.wait(args.sample_s)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    progress = RecordingProgress()
    extra = {} if args.workers == 0 else dict(parallel_processing_factor=str(args.workers),
                                               block_size=args.block)
    t0 = time.perf_counter()
    cluster = None
    if args.workers == 1:
        # PARALLEL_PROCESSING_FACTOR=1 is the one-process engine: one Dask worker is a
        # cluster of one, started as the engine starts its own (its start counted, as the
        # engine's cluster start is for 2 workers), given through DASK_SCHEDULER.
        # --dask-defaults: a LocalCluster with Dask's own worker environment instead, as a
        # `dask worker` started by hand has it (MALLOC_TRIM_THRESHOLD_=65536 from the start)
        import distributed

        from landlearn.core.classify.distributed.cluster import open_client

        if args.dask_defaults:
            cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1,
                                               processes=True, dashboard_address=None)
            client = distributed.Client(cluster, set_as_default=False)
        else:
            client, cluster = open_client("", 1, progress)
        extra = dict(dask_scheduler=cluster.scheduler_address, block_size=args.block)
    result = classify_pixels(ClassifyConfig(args.image, args.model, args.out, runtime="torch",
                                            device=args.device, **extra), progress)
    if cluster is not None:
        client.close()
        cluster.close()
    wall = time.perf_counter() - t0
    stop.set()
    t.join()
    # the client process runs the scheduler (LocalCluster), the progress and the assembly;
    # worker processes it has reaped count in its children's times (no sampling gap)
    times = psutil.Process().cpu_times()
    client_cpu = times.user + times.system
    reaped = times.children_user + times.children_system
    peaks[0] = peak_rss("self")
    workers = [v for k, v in peaks.items() if k != 0]
    print("RESULT " + json.dumps({"wall": wall, "mpix": result.width * result.height / 1e6,
                                  "timings": result.timings, "client_rss": peaks.get(0, 0),
                                  "worker_rss": max(workers) if workers else None,
                                  "client_cpu": client_cpu,
                                  "worker_cpu": max(sum(cpu.values()), reaped)}))


DEVICE = "cpu"  # --device: where every run's model runs (cuda: GPU workers on one GPU)


def _start(image, model, out, workers, block, dask_defaults=False) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", MKL_NUM_THREADS="1",
               LANDLEARN_THREADS="1")
    cmd = [sys.executable, __file__, "--child", "--image", str(image), "--model", str(model),
           "--out", str(out), "--workers", str(workers), "--block", str(block),
           "--device", DEVICE]
    cmd += ["--dask-defaults"] if dask_defaults else []
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def _result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=3600)
    line = [x for x in out.splitlines() if x.startswith("RESULT ")]
    if not line:
        raise RuntimeError(out[-2000:] + err[-4000:])
    return json.loads(line[0][7:])


def run(image, model, out, workers, block, dask_defaults=False) -> dict:
    return _result(_start(image, model, out, workers, block, dask_defaults))


def pair(image, model, tmp: Path) -> list[dict]:
    """Two in-process runs at once, no Dask: what this machine's two cores give two
    independent single-thread processes (shared caches and memory bandwidth), the ceiling
    of "2 workers vs 1" here whatever the engine does."""
    procs = [_start(image, model, tmp / f"pair{i}.tif", 0, 0) for i in range(2)]
    return [_result(p) for p in procs]


def models(tmp: Path) -> dict[str, str]:
    from landlearn.core.classical.train_classifier import ClassicalConfig, train_classical
    from landlearn.core.labels.base import LabelConfig
    from small_models import nc_unet

    nc = SAMPLE / "nc_landsat7"
    rf = tmp / "rf.dlpk"
    train_classical(ClassicalConfig(str(nc / "landsat_multiband.tif"), LabelConfig(
        str(nc / "landsat96_polygons.shp"), class_field="id", class_name_field="label"),
        str(rf)))
    return {"random forest": str(rf), "U-Net resnet18 (torch)": str(nc_unet(tmp / "unet", 1))}


def _busy(result: dict) -> str:
    t = result["timings"]
    return ", ".join(f"{k} {t[k]:.1f}" for k in ("load", "read", "compute", "write", "blocks")
                     if k in t)


def io_ceiling(result: dict) -> float:
    """2 workers' best ratio over 1 on a 2-core machine, from an in-process run's busy
    seconds: one process overlaps its reader and writer threads with the predictor on the
    second core; two single-thread workers have no core left for them."""
    t = result["timings"]
    return 2 * t["compute"] / (t["compute"] + t["read"] + t["write"])


def scaling(args, tmp: Path) -> None:
    """1 vs 2 workers only, alternating, --scaling times: on a noisy VM one pair of runs
    gave 1.70x and another 1.95x; the median of several pairs is the figure to quote."""
    import statistics

    image = tmp / "image.tif"
    build_raster(image, args.side)
    for name, model in models(tmp).items():
        if (args.rf_only and name != "random forest") or (args.unet_only and
                                                           name == "random forest"):
            continue
        ratios, overhead = [], []
        for _ in range(args.scaling):
            base = run(image, model, tmp / "a.tif", 0, 0)
            one = run(image, model, tmp / "b.tif", 1, args.block)
            two = run(image, model, tmp / "c.tif", 2, args.block)
            overhead.append(base["wall"] / one["wall"])
            ratios.append(one["wall"] / two["wall"])
            print(f"{name}: in process {base['wall']:.1f} s, 1 worker {one['wall']:.1f} s "
                  f"({overhead[-1]:.2f}x), 2 workers {two['wall']:.1f} s ({ratios[-1]:.2f}x "
                  f"of 1); busy seconds: in process {_busy(base)}; 1 worker {_busy(one)}; "
                  f"2 workers {_busy(two)}", flush=True)
        print(f"| {name}, {args.device} | {args.side} px, block {args.block} | 1 worker vs in process: "
              f"{', '.join(f'{r:.2f}' for r in overhead)}, median "
              f"**{statistics.median(overhead):.2f}x** | 2 workers vs 1: "
              f"{', '.join(f'{r:.2f}' for r in ratios)}, median "
              f"**{statistics.median(ratios):.2f}x** |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--image")
    ap.add_argument("--model")
    ap.add_argument("--out")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--block", type=int, default=1024,
                    help="BLOCK_SIZE of the Dask runs (the engine's default is 4096); at 1024 "
                    "a U-Net's fitted 896 px tile makes blocks of one tile, whose read, "
                    "predict and write cannot overlap (1 worker 0.94x and 0.92x of in "
                    "process at 8192 px, against 1.00x and 0.97x at 4096: BENCHMARKS.md)")
    ap.add_argument("--side", type=int, default=4096)
    ap.add_argument("--dask-defaults", action="store_true")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda: every run's model on the "
                    "GPU (with --scaling: in process vs 1 and 2 GPU workers sharing it)")
    ap.add_argument("--sample-s", type=float, default=0.5)
    ap.add_argument("--rf-only", action="store_true")
    ap.add_argument("--unet-only", action="store_true")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--scaling", type=int, default=0, help="only 1 vs 2 workers, this many "
                    "alternating pairs (median ratio printed)")
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    if args.child:
        child(args)
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench_distributed_"))
    if args.scaling:
        scaling(args, tmp)
        return
    image, big = tmp / "image.tif", tmp / "image4x.tif"
    build_raster(image, args.side)
    build_raster(big, 2 * args.side)
    rows = []
    for name, model in models(tmp).items():
        if (args.rf_only and name != "random forest") or (args.unet_only and
                                                           name == "random forest"):
            continue
        base = run(image, model, tmp / "a.tif", 0, 0)
        one = run(image, model, tmp / "b.tif", 1, args.block)
        two = run(image, model, tmp / "c.tif", 2, args.block)
        rate = lambda r: r["mpix"] / r["wall"]  # noqa: E731
        rows.append(f"| {name} | {rate(base):.2f} | {rate(one):.2f} ({rate(one) / rate(base):.2f}x)"
                    f" | {rate(two):.2f} ({rate(two) / rate(one):.2f}x of 1) |")
        both = pair(image, model, tmp)
        each = sum(r["wall"] for r in both) / 2
        rows.append(f"| {name}: 2 in-process runs at once, no Dask (this machine's ceiling) "
                    f"| alone {base['wall']:.1f} s | each {each:.1f} s "
                    f"({base['wall'] / each:.2f}x of alone) | ceiling for 2 workers: "
                    f"{2 * base['wall'] / each:.2f}x |")
        dflt = run(image, model, tmp / "g.tif", 1, args.block, dask_defaults=True)
        rows.append(f"| {name}: 1 worker with Dask's default worker environment "
                    f"(MALLOC_TRIM_THRESHOLD_=65536) | - | {rate(dflt):.2f} "
                    f"({rate(dflt) / rate(one):.2f}x of LandLearn's worker) | - |")
        t = base["timings"]
        rows.append(f"| {name}: in process, busy seconds | load {t['load']:.1f}, read "
                    f"{t['read']:.1f}, compute {t['compute']:.1f}, write {t['write']:.1f} "
                    "(threads overlap) | - | ceiling for 2 workers on 2 cores, the reader and "
                    f"writer threads given no core: {io_ceiling(base):.2f}x |")
        t = two["timings"]
        rows.append(f"| {name}: 2 workers, seconds summed over blocks | read {t['read']:.1f}, "
                    f"compute {t['compute']:.1f}, write {t['write']:.1f} (threads overlap) | "
                    f"publish {t['publish']:.1f}, model load {t['load']:.1f}, blocks "
                    f"{t['blocks']:.1f} | client: assembly {t['assembly']:.1f} of "
                    f"{two['wall']:.1f} wall |")
        half = args.block // 2
        mem = [run(image, model, tmp / "d.tif", 2, half), two,
               run(big, model, tmp / "e.tif", 2, args.block)]
        rows.append(f"| {name}: peak RSS per worker | block {half}: "
                    f"{mem[0]['worker_rss'] / 2**20:.0f} MB | block {args.block}: "
                    f"{mem[1]['worker_rss'] / 2**20:.0f} MB | block {args.block}, 4x area: "
                    f"{mem[2]['worker_rss'] / 2**20:.0f} MB |")
        # the fixed costs (cluster start, a model load per worker: ~7 s) weigh less on a
        # larger raster, which is what a cluster is for: 1 vs 2 workers at 4x the area
        one_big = run(big, model, tmp / "f.tif", 1, args.block)
        rows.append(f"| {name}: {2 * args.side} x {2 * args.side} px | - | "
                    f"{rate(one_big):.2f} | {rate(mem[2]):.2f} "
                    f"({rate(mem[2]) / rate(one_big):.2f}x of 1) |")
        # on a 2-core machine the client (scheduler, assembly) shares the workers' cores
        rows.append(f"| {name}: {2 * args.side} px, CPU seconds (user + system) | - | "
                    f"client {one_big['client_cpu']:.1f}, worker processes "
                    f"{one_big['worker_cpu']:.1f}, wall {one_big['wall']:.1f} | client "
                    f"{mem[2]['client_cpu']:.1f}, worker processes {mem[2]['worker_cpu']:.1f}, "
                    f"wall {mem[2]['wall']:.1f} |")
        print("\n".join(rows[-8:]), flush=True)
    text = "\n".join([
        "## Classify Pixels on Dask (issue 18)",
        "",
        f"{platform.node()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; "
        f"`.venv/bin/python bench/bench_distributed.py --side {args.side} --block {args.block} "
        "--write`. A "
        f"{args.side} x {args.side} px, 6-band raster tiled from nc_landsat7 (mirrored); "
        "MPix/s of whole Classify Pixels runs (model load, cluster start and assembly "
        f"included), each in a fresh process with one thread per process; blocks of {args.block} "
        "px. "
        "Worker processes' peak RSS is the kernel's high-water mark (VmHWM) and their CPU "
        "is sampled every 0.5 s (sampling every 0.1 s, as until 2026-12-01, took ~10% of a "
        "2-worker run's wall from the cores it measured). "
        "1 worker: a cluster of one worker process, started as the engine starts its own "
        "and given through DASK_SCHEDULER (PARALLEL_PROCESSING_FACTOR=1 is the one-process "
        "engine).",
        "",
        "| model | in process, 1 thread | 1 worker (vs in process) | 2 workers (vs 1) |",
        "|---|---|---|---|",
        *rows,
    ])
    print(text)
    if args.write:
        write_section(ROOT / "BENCHMARKS.md", text, KEY)


if __name__ == "__main__":
    main()
