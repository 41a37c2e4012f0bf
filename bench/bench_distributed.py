"""Classify Pixels on Dask against the one-process engine (issue 18's goals).

A large raster of real pixels is built by tiling the nc_landsat7 sample (edges mirrored, so
no seam of NoData); a random forest and a U-Net (RUNTIME=torch) classify it:
- in process, held to one thread (the fair base for one single-thread worker);
- on 1 and 2 local worker processes with one thread each (distributed overhead, scaling),
  started as the engine starts them; and 1 worker with Dask's default worker environment
  (what a `dask worker` started by hand gets);
- peak RSS of each worker process (sampled every 0.1 s) at two block sizes, and at 4x the
  raster area (bounded by the block, not the raster).
Each configuration runs in a fresh child process (thread limits are fixed at import).

    .venv/bin/python bench/bench_distributed.py [--side 4096] [--write]
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

    def watch():
        me = psutil.Process()
        while not stop.is_set():
            for p in me.children(recursive=True):
                try:
                    if "spawn_main" in " ".join(p.cmdline()):
                        peaks[p.pid] = max(peaks.get(p.pid, 0), p.memory_info().rss)
                        cpu[p.pid] = sum(p.cpu_times()[:2])
                except psutil.Error:
                    pass
            peaks[0] = max(peaks.get(0, 0), me.memory_info().rss)
            time.sleep(0.1)

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
                                            device="cpu", **extra), progress)
    if cluster is not None:
        client.close()
        cluster.close()
    wall = time.perf_counter() - t0
    stop.set()
    t.join()
    # the client process runs the scheduler (LocalCluster), the progress and the assembly
    client_cpu = sum(psutil.Process().cpu_times()[:2])
    workers = [v for k, v in peaks.items() if k != 0]
    print("RESULT " + json.dumps({"wall": wall, "mpix": result.width * result.height / 1e6,
                                  "timings": result.timings, "client_rss": peaks.get(0, 0),
                                  "worker_rss": max(workers) if workers else None,
                                  "client_cpu": client_cpu, "worker_cpu": sum(cpu.values())}))


def run(image, model, out, workers, block, dask_defaults=False) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", MKL_NUM_THREADS="1",
               LANDLEARN_THREADS="1")
    cmd = [sys.executable, __file__, "--child", "--image", str(image), "--model", str(model),
           "--out", str(out), "--workers", str(workers), "--block", str(block)]
    cmd += ["--dask-defaults"] if dask_defaults else []
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    if not line:
        raise RuntimeError(done.stdout[-2000:] + done.stderr[-4000:])
    return json.loads(line[0][7:])


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--image")
    ap.add_argument("--model")
    ap.add_argument("--out")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--block", type=int, default=1024)
    ap.add_argument("--side", type=int, default=4096)
    ap.add_argument("--dask-defaults", action="store_true")
    ap.add_argument("--rf-only", action="store_true")
    ap.add_argument("--unet-only", action="store_true")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench_distributed_"))
    image, big = tmp / "image.tif", tmp / "image4x.tif"
    build_raster(image, args.side)
    build_raster(big, 2 * args.side)
    rows = []
    for name, model in models(tmp).items():
        if (args.rf_only and name != "random forest") or (args.unet_only and
                                                           name == "random forest"):
            continue
        base = run(image, model, tmp / "a.tif", 0, 0)
        one = run(image, model, tmp / "b.tif", 1, 1024)
        two = run(image, model, tmp / "c.tif", 2, 1024)
        rate = lambda r: r["mpix"] / r["wall"]  # noqa: E731
        rows.append(f"| {name} | {rate(base):.2f} | {rate(one):.2f} ({rate(one) / rate(base):.2f}x)"
                    f" | {rate(two):.2f} ({rate(two) / rate(one):.2f}x of 1) |")
        dflt = run(image, model, tmp / "g.tif", 1, 1024, dask_defaults=True)
        rows.append(f"| {name}: 1 worker with Dask's default worker environment "
                    f"(MALLOC_TRIM_THRESHOLD_=65536) | - | {rate(dflt):.2f} "
                    f"({rate(dflt) / rate(one):.2f}x of LandLearn's worker) | - |")
        t = two["timings"]
        rows.append(f"| {name}: 2 workers, seconds summed over blocks | read {t['read']:.1f}, "
                    f"compute {t['compute']:.1f}, write {t['write']:.1f} (threads overlap) | "
                    f"publish {t['publish']:.1f}, model load {t['load']:.1f}, blocks "
                    f"{t['blocks']:.1f} | client: assembly {t['assembly']:.1f} of "
                    f"{two['wall']:.1f} wall |")
        mem = [run(image, model, tmp / "d.tif", 2, 512), two, run(big, model, tmp / "e.tif", 2, 1024)]
        rows.append(f"| {name}: peak RSS per worker | block 512: "
                    f"{mem[0]['worker_rss'] / 2**20:.0f} MB | block 1024: "
                    f"{mem[1]['worker_rss'] / 2**20:.0f} MB | block 1024, 4x area: "
                    f"{mem[2]['worker_rss'] / 2**20:.0f} MB |")
        # the fixed costs (cluster start, a model load per worker: ~7 s) weigh less on a
        # larger raster, which is what a cluster is for: 1 vs 2 workers at 4x the area
        one_big = run(big, model, tmp / "f.tif", 1, 1024)
        rows.append(f"| {name}: {2 * args.side} x {2 * args.side} px | - | "
                    f"{rate(one_big):.2f} | {rate(mem[2]):.2f} "
                    f"({rate(mem[2]) / rate(one_big):.2f}x of 1) |")
        # on a 2-core machine the client (scheduler, assembly) shares the workers' cores
        rows.append(f"| {name}: {2 * args.side} px, CPU seconds (user + system) | - | "
                    f"client {one_big['client_cpu']:.1f}, worker processes "
                    f"{one_big['worker_cpu']:.1f}, wall {one_big['wall']:.1f} | client "
                    f"{mem[2]['client_cpu']:.1f}, worker processes {mem[2]['worker_cpu']:.1f}, "
                    f"wall {mem[2]['wall']:.1f} |")
        print("\n".join(rows[-6:]), flush=True)
    text = "\n".join([
        "## Classify Pixels on Dask (issue 18)",
        "",
        f"{platform.node()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; "
        f"`.venv/bin/python bench/bench_distributed.py --side {args.side} --write`. A "
        f"{args.side} x {args.side} px, 6-band raster tiled from nc_landsat7 (mirrored); "
        "MPix/s of whole Classify Pixels runs (model load, cluster start and assembly "
        "included), each in a fresh process with one thread per process; blocks of 1024 px. "
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
