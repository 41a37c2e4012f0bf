"""Classify Pixels on a Dask cluster: blocks to workers, parts back into one map.

The client plans the blocks, prepares the staging folder, checks every worker, submits one
task per block (Dask retries a failed task RETRIES times and re-runs the tasks of a worker
that died), copies each finished block into the outputs as it arrives, and publishes them
together. Cancel cancels the futures and removes the parts; a failed block stops the run
with its window and cause, and nothing is written. A killed client leaves the parts; with
RESUME the next run with the same parameters takes them up.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import uuid
from dataclasses import dataclass, field

from ...errors import Cancelled, InputError, LandLearnError
from ...files import absolute_if_file, remove_stale_temporaries
from ...progress import Progress, check
from ...resumable_folder import STARTED_OVER
from ...termination import Terminated
from .assemble import Assembler, DamagedPart
from .cluster import client_for, preflight
from .plan import Block, plan_blocks
from .staging import Staging, raster_files, run_key
from .worker import BlockJob, engine_fingerprint, package_sha256, part_paths, run_block

POLL_S = 0.2
PREFLIGHT_FILES = 256  # files of a raster each worker looks for before any block


class BlockFailed(LandLearnError):
    """A block failed on every try; the message names its window and the cause."""


@dataclass
class DistributedRun:
    skipped: int
    blocks: int
    resumed_blocks: int
    workers: int
    class_counts: dict[int, int]
    block_seconds: float  # summed over blocks (model loads excluded)
    load_seconds: float
    assembly_seconds: float
    timings: dict = field(default_factory=dict)  # summed over blocks: read, compute, ...


def classify_on_cluster(config, info, grid, area, tile: int, pad: int, workers: int,
                        progress) -> DistributedRun:
    """The map of ``area`` (on ``grid``, the area's own subgrid) computed block by block."""
    config = dataclasses.replace(config, **{
        key: absolute_if_file(getattr(config, key))
        for key in ("input_raster", "model", "segmented_raster") if getattr(config, key)})
    core = tile - 2 * pad
    blocks = plan_blocks(area, core, pad, config.block_size, config.blend == "weighted")
    sha = package_sha256(config.model)
    engine = engine_fingerprint()["landlearn"]  # what each worker must run too
    # the run's key holds the library versions as well (numpy, torch, ONNX Runtime,
    # scikit-learn): a resume after an upgrade mixed blocks of two engines, with seams
    versions = json.dumps(engine_fingerprint(), sort_keys=True)
    # a raster's files (a large mosaic's VRT lists many): once, for the key and the preflight
    files = {"input_raster": raster_files(config.input_raster)}
    if config.segmented_raster:
        files["segmented_raster"] = raster_files(config.segmented_raster)
    staging = Staging(config.output, run_key(config, sha, versions, blocks, tile, pad, files),
                      config.resume)
    keep_parts = False
    try:
        done = staging.finished(blocks, config)
        if staging.resumed:
            progress.info(f"RESUME: {len(done)} of {len(blocks)} blocks were finished by an "
                          f"earlier run with the same parameters ('{staging.path}')")
        elif staging.started_over:
            progress.warning(STARTED_OVER)
        if config.resume:  # the killed run's hidden, full-size temporary outputs
            for out in (config.output, config.output_confidence, config.output_probabilities):
                if out:
                    for stale in remove_stale_temporaries(out):
                        progress.info(f"RESUME: removed '{stale}', left by the stopped run")
        assembler = Assembler(config, grid, info, area, staging.path)
        try:
            # the libraries whose series must agree between the client and its workers
            needs = frozenset({"numpy"} | ({"scikit-learn"} if info.kind == "classical"
                                           else {"torch", "onnxruntime"}))
            run = _run(config, blocks, done, staging, assembler, tile, pad, sha, engine, files,
                       workers, progress, needs)
            t0 = time.perf_counter()
            assembler.commit()
            run.assembly_seconds += time.perf_counter() - t0
        except BaseException:
            assembler.abort()
            raise
    except BaseException as exc:
        # with RESUME, what is done stays after anything but the user's Cancel: a job
        # scheduler's kill, a scheduler not up yet, a block that failed RETRIES times (the
        # next run computes only what is missing)
        keep_parts = config.resume and not isinstance(exc, Cancelled)
        if keep_parts and not isinstance(exc, Terminated):
            progress.info(f"RESUME: the finished blocks stay in '{staging.path}'; run again "
                          "with the same parameters to take them up")
        raise
    finally:
        if not keep_parts:
            staging.remove()
    return run


def _sample(files: list[str], most: int = PREFLIGHT_FILES) -> list[str]:
    """The raster's own file and sources spread evenly over the list, at most ``most``: a
    national mosaic's VRT may list 10^5 tiles, and every worker stats what it is sent
    (one source out of place still fails its blocks, naming the path, with RETRIES)."""
    if len(files) <= most:
        return files
    step = (len(files) - 1) / (most - 1)
    return list(dict.fromkeys(files[round(k * step)] for k in range(most)))


def _run(config, blocks: list[Block], done: set[int], staging, assembler, tile, pad, sha,
         engine, files, workers, progress, needs: frozenset[str]) -> DistributedRun:
    t0 = time.perf_counter()
    damaged, resumed_skipped = _resumed(blocks, done, staging, assembler, config, progress)
    done -= damaged
    t_assemble = time.perf_counter() - t0
    todo = [b for b in blocks if b.index not in done]
    run = DistributedRun(resumed_skipped, len(blocks), len(done), 0, {}, 0.0, 0.0,
                         t_assemble)
    if not todo:
        run.class_counts = assembler.class_counts
        return run
    with client_for(config.dask_scheduler, workers, progress) as (client, cluster):
        # the files of a raster: a VRT whose sources only the client sees fails here,
        # named, not block by block
        paths = {name: _sample(found) for name, found in files.items()}
        paths["model"] = [config.model]
        found = preflight(client, paths, staging.probe, progress, needs,
                          {"path": config.model, "runtime": config.runtime,
                           "device": config.device, "quantize": config.quantize})
        run.workers, full = found.threads, found.full_hosts
        if done and staging.engine_differs(found.engine):
            # RESUME on other hardware (a GPU node's blocks, then CPU workers): blocks of
            # two engines differ where classes are nearly tied; all computed again
            progress.warning(f"RESUME: the finished blocks were computed on "
                             f"{staging.recorded_engine()}, these workers run {found.engine}; "
                             "all blocks are computed again")
            for b in blocks:
                if b.index in done:
                    for path in part_paths(staging.path, b.index, config).values():
                        if path and os.path.exists(path):
                            os.remove(path)
            done.clear()
            assembler.counts[:] = 0  # every block is added again
            todo, run.resumed_blocks, run.skipped = list(blocks), 0, 0
        staging.record_engine(found.engine)
        where = f"the scheduler at {config.dask_scheduler}" if config.dask_scheduler else \
            "worker processes on this machine"
        services = client.scheduler_info().get("services", {})
        link = client.dashboard_link if services.get("dashboard") else None
        progress.info(f"Dask: {len(todo)} blocks of up to {blocks[0].window[2]} x "
                      f"{blocks[0].window[3]} px on "
                      f"{run.workers} worker threads ({where})"
                      + (f"; dashboard {link}" if link else "")
                      + (f"; the worker threads fill the cores of {', '.join(sorted(full))}, "
                         "so blocks there read and write between batches, not in threads "
                         "of their own (on the CPU)" if full else ""))
        jobs = {}
        # a key of this run only: two runs with the same parameters into different outputs
        # on one scheduler would otherwise share tasks (and one read the other's parts)
        run_id = uuid.uuid4().hex[:8]
        for b in todo:
            job = BlockJob(config, b, tile, pad, staging.path, sha, engine, full, staging.key)
            fut = client.submit(run_block, job, retries=config.retries, pure=False,
                                key=f"landlearn-block-{b.index}-{staging.key[:12]}-{run_id}")
            jobs[fut] = b
        pending = set(jobs)
        total_px = sum(b.window[2] * b.window[3] for b in todo)
        px, t_start, last_log = 0, time.perf_counter(), 0.0
        try:
            while pending:
                if progress.is_canceled():
                    raise Cancelled()
                finished = {f for f in pending if f.done()}
                if not finished:
                    time.sleep(POLL_S)
                    continue
                pending -= finished
                for fut in finished:
                    b = jobs[fut]
                    got = _collect(fut, b, config.retries)
                    if got is None:  # lost with its worker after it finished: recomputing
                        pending.add(fut)
                        continue
                    run.skipped += got.tiles_skipped
                    run.block_seconds += got.seconds
                    run.load_seconds += got.load_seconds
                    for key, value in got.timings.items():
                        run.timings[key] = run.timings.get(key, 0.0) + value
                    t0 = time.perf_counter()
                    try:
                        assembler.add(b)
                    except DamagedPart as exc:
                        raise BlockFailed(f"{b.describe()} finished, but its part cannot be "
                                          f"read back ({str(exc)[:200]}): is the storage "
                                          "beside OUTPUT shared whole with the workers? No "
                                          "output was written") from None
                    run.assembly_seconds += time.perf_counter() - t0
                    fut.release()
                    px += b.window[2] * b.window[3]
                n_done = len(todo) - len(pending)
                progress.set_fraction(0.99 * (len(done) + n_done) / len(blocks))
                now = time.perf_counter()
                if finished and (now - last_log > 10 or not pending):
                    last_log = now
                    rate = px / max(now - t_start, 1e-9)
                    eta = (total_px - px) / rate if rate > 0 else float("inf")
                    progress.info(f"blocks {len(done) + n_done}/{len(blocks)}, "
                                  f"{rate / 1e6:.2f} MPix/s, ETA {eta:.0f} s")
        except BaseException:
            try:
                client.cancel(list(pending), force=True)
            except Exception:  # noqa: BLE001 - a scheduler gone: the first error is the one to tell
                pass
            raise
        run.class_counts = assembler.class_counts
        return run


def _resumed(blocks: list[Block], done: set[int], staging, assembler, config,
             progress: Progress) -> tuple[set[int], int]:
    """Copy the finished blocks RESUME found into the outputs: (the indices of those whose
    parts cannot be read, the all-NoData tiles of those that could, for the summary and
    the warning when every tile was NoData). Parts that cannot be read (a node that
    crashed while its file system had not written them out: a part of zero bytes, or cut
    short) are removed and their blocks computed again: every later RESUME otherwise
    stopped on the same rasterio error."""
    damaged, skipped = set(), 0
    for k, b in enumerate(x for x in blocks if x.index in done):
        if k % 16 == 0:
            check(progress)
        try:
            skipped += assembler.add(b)
        except DamagedPart as exc:  # reading a part; writing the outputs fails the run
            damaged.add(b.index)
            for path in part_paths(staging.path, b.index, config).values():
                if path and os.path.exists(path):
                    os.remove(path)
            progress.warning(f"RESUME: the finished parts of {b.describe()} cannot be read "
                             f"({str(exc)[:160]}); that block is computed again")
    return damaged, skipped


def _collect(fut, block: Block, retries: int):
    """The block's result, or None when the cluster is computing it again.

    ``done()`` and ``status`` are read at different moments: a worker that dies holding a
    finished block makes the scheduler recompute it, and the client's future turns from
    "finished" to "lost" (event cleared) in between. That block is waited for again, not
    reported as failed (CI saw exactly this: "failed after 3 retries: NoneType: None").
    """
    status = fut.status
    if status in ("lost", "pending"):
        return None
    if status != "finished":
        _raise_failure(fut, block, retries)
    try:
        return fut.result()  # waits if it was lost since: the recomputed result comes back
    except Exception:
        _raise_failure(fut, block, retries)


def _raise_failure(fut, block: Block, retries: int) -> None:
    from distributed import CancelledError

    try:
        exc = fut.exception()
    except CancelledError:
        raise BlockFailed(f"{block.describe()} was cancelled by the cluster (its scheduler "
                          "or workers went away)") from None
    if isinstance(exc, Cancelled):
        # not the user's (the client raises that itself, between polls): the block found
        # its staging folder gone or replaced, which another run into OUTPUT does
        raise BlockFailed(f"{block.describe()} stopped: {exc}. Is another run writing the "
                          "same OUTPUT? Its staging folder replaced this run's; no output "
                          "was written") from None
    if isinstance(exc, InputError):
        raise exc  # the same message as in one process: about the input, not the cluster
    if exc is None:
        raise BlockFailed(f"{block.describe()} ended without a result or an error (Dask status "
                          f"'{fut.status}'); no output was written")
    cause = f"{type(exc).__name__}: {str(exc)[:500]}"
    if type(exc).__name__ == "KilledWorker":
        cause += " (its worker process died while running it, more than the scheduler's " \
                 "allowed-failures times: out of memory?)"
    raise BlockFailed(f"{block.describe()} failed after {retries} retries: {cause}; no output "
                      "was written") from None
