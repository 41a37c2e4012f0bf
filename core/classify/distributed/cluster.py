"""Reaching the Dask cluster: a running scheduler (DASK_SCHEDULER), or worker processes
started on this machine (PARALLEL_PROCESSING_FACTOR); then every worker is asked, before
any block runs, whether it sees the raster, the model and the staging folder and whether
it runs the same engine, so that a bad setup fails in seconds with its fix, not block by
block."""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass

from ...errors import InputError
from ...runtime.deps import own_python, require
from ...runtime.fast_paths import series
from .worker import NOT_INSTALLED, check_worker, engine_fingerprint, file_stat

CONNECT_TIMEOUT_S = 10
# one thread per worker process for the libraries that read these when they load (set in
# the worker after it starts, so the worker also holds its pools itself: worker._limit_threads).
# Not Dask's MALLOC_TRIM_THRESHOLD_=65536: glibc reads it only at process start, and where it
# takes effect (a `dask worker` started with Dask's defaults) one worker ran 0.96x
# (random forest) and 0.66x (U-Net) as fast (BENCHMARKS.md, Dask section)
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
WORKER_WAIT_S = 30


def _worker_python() -> None:
    """Spawned worker processes run ``sys.executable``. Inside QGIS desktop or qgis_process
    that is QGIS itself, or whatever python3 came first on PATH (embedded Python guesses),
    so point them at the interpreter of the Python installation QGIS embeds (its sys.path
    is handed to them by multiprocessing)."""
    python = own_python()
    if python == sys.executable:
        return
    if python is None:  # no interpreter under the installation: one of its version on PATH
        v = sys.version_info
        python = shutil.which(f"python{v.major}.{v.minor}")
    if python:
        multiprocessing.set_executable(python)


class _Shared(threading.local):
    clients: dict | None = None


_SHARED = _Shared()


@contextmanager
def shared_clients():
    """Inside this block, runs that ask for the same scheduler (or the same number of local
    workers) share one client and cluster, closed when the block ends: a collection of
    many items starts its worker processes once, not once per item."""
    if _SHARED.clients is not None:  # nested: the outer block owns them
        yield
        return
    _SHARED.clients = {}
    try:
        yield
    finally:
        clients, _SHARED.clients = _SHARED.clients, None
        for client, cluster in clients.values():
            client.close()
            if cluster is not None:
                cluster.close()


@contextmanager
def client_for(scheduler: str, workers: int, progress):
    """(client, local cluster or None) for one run: shared inside shared_clients(), else
    opened here and closed when the run ends."""
    if _SHARED.clients is not None:
        key = (scheduler, workers)
        if key not in _SHARED.clients:
            _SHARED.clients[key] = open_client(scheduler, workers, progress)
        yield _SHARED.clients[key]
        return
    client, cluster = open_client(scheduler, workers, progress)
    try:
        yield client, cluster
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def open_client(scheduler: str, workers: int, progress):
    """(client, local cluster or None); the caller closes both."""
    distributed = require("distributed")
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s",
                                        set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError("dask_scheduler", f"no Dask scheduler answers at '{scheduler}' "
                             f"within {CONNECT_TIMEOUT_S} s ({type(exc).__name__}: {exc}); "
                             "start one with `dask scheduler` (and `dask worker <address>` on "
                             "each machine), check the address and port (e.g. "
                             "tcp://10.0.0.5:8786), or leave DASK_SCHEDULER empty") from None
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except (TimeoutError, OSError):
            client.close()
            raise InputError("dask_scheduler", f"the scheduler at '{scheduler}' has no worker "
                             f"after {WORKER_WAIT_S} s; start `dask worker {scheduler}` on each "
                             "machine that should compute") from None
        return client, None
    _worker_python()
    dashboard = ":0" if _has_bokeh() else None
    # Dask's nanny writes its pre-spawn variables (OMP_NUM_THREADS=1..., PYTHONHASHSEED)
    # into *this* process's environment, where they would stay: torch imported later in
    # QGIS would train on one thread, and every process QGIS starts later would inherit a
    # fixed hash seed. The workers get the thread limits as their own environment instead,
    # and this process's environment is put back once they run. (A worker the nanny
    # restarts after a crash would set PYTHONHASHSEED here again: _no_pre_spawn_writes.)
    saved = dict(os.environ)
    try:
        with require("dask").config.set({"distributed.nanny.pre-spawn-environ": {}}):
            try:
                cluster = distributed.LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True,
                    dashboard_address=dashboard, silence_logs=logging.ERROR,
                    env=dict(WORKER_ENV))
            except Exception as exc:  # noqa: BLE001 - e.g. "Nanny failed to start"
                raise InputError("parallel_processing_factor", f"{workers} worker processes "
                                 f"could not start on this machine ({type(exc).__name__}: "
                                 f"{str(exc)[:300]}); try fewer, or leave "
                                 "PARALLEL_PROCESSING_FACTOR empty for one process") from None
        _no_pre_spawn_writes(cluster)
    finally:
        _put_back(saved)
    client = distributed.Client(cluster, set_as_default=False)
    return client, _Closing(cluster, saved)


def _no_pre_spawn_writes(cluster) -> None:
    """Stop the nannies from writing into this process's environment when they restart a
    worker (after a crash or a kill): each nanny copies its ``pre_spawn_env`` (always holding
    PYTHONHASHSEED=6640) into ``os.environ`` before every start. The workers still get those
    variables in their own environment (the nanny's ``env``, merged at its start), though a
    restarted worker's interpreter then hashes with a random seed: Dask wants one seed for
    its shuffles, LandLearn's blocks have fixed keys and use none. A Dask without the
    attribute keeps its behaviour, and _Closing puts the environment back at the end (with
    ``__DASK_PARENT_PID``, which each start also sets here: a marker for Dask's process
    titles, no setting)."""
    for nanny in getattr(cluster, "workers", {}).values():
        pre_spawn = getattr(nanny, "pre_spawn_env", None)
        if isinstance(pre_spawn, dict):
            pre_spawn.clear()  # the same dict each start of its WorkerProcess reads


class _Closing:
    """The local cluster, whose close() also puts this process's environment back as it was
    before the cluster started (a restarted worker may have changed it)."""

    def __init__(self, cluster, environ: dict[str, str]):
        self._cluster, self._environ = cluster, environ

    def __getattr__(self, name):
        return getattr(self._cluster, name)

    def close(self) -> None:
        try:
            self._cluster.close()
        finally:
            _put_back(self._environ)


def _put_back(saved: dict[str, str]) -> None:
    for key in [k for k in os.environ if k not in saved]:
        del os.environ[key]
    for key, value in saved.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def _has_bokeh() -> bool:
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


@dataclass(frozen=True)
class Workers:
    """What preflight learnt of the workers: their threads, and the hosts whose cores
    those threads fill (see full_hosts)."""

    threads: int
    full_hosts: frozenset[str]
    engine: str | None = None  # what every worker runs the model on (None: not asked)


def preflight(client, paths: dict[str, list[str]], probe: str, progress,
              needs: frozenset[str] = frozenset({"numpy"}),
              engine: dict | None = None) -> Workers:
    """Ask every worker what it sees; raise the first problem with its fix. One question
    to every worker: its answer also gives its host and cores, and (``engine``: the run's
    model, runtime, device and quantize) what it would run the model on."""
    mine = engine_fingerprint()
    try:
        answers = client.run(check_worker, paths, probe, engine)
    except Exception as exc:  # noqa: BLE001 - a worker that cannot even import the engine
        raise InputError("dask_scheduler", f"the workers cannot run LandLearn's engine "
                         f"({type(exc).__name__}: {str(exc)[:300]}); install LandLearn and its "
                         "packages on every worker (README, 'On a Dask cluster')"
                         ) from None
    trimmed = sorted(a for a, got in answers.items() if got.get("malloc_trim"))
    if trimmed:
        progress.warning(f"{len(trimmed)} of {len(answers)} workers (e.g. {trimmed[0]}) run "
                         "with MALLOC_TRIM_THRESHOLD_ set (Dask's nanny sets 65536 by "
                         "default), which made blocks about 1.3x slower in LandLearn's "
                         "benchmarks (U-Net on torch); start them with distributed.nanny.pre-spawn-environ."
                         "MALLOC_TRIM_THRESHOLD_ set to null in their Dask configuration "
                         "(README, 'On a Dask cluster')")
    for address, got in sorted(answers.items()):
        missing = got["missing"]
        for parameter, path in missing.items():
            if parameter == "staging":
                raise InputError("output", f"worker {address} ({got['host']}) cannot see the "
                                 f"staging folder '{os.path.dirname(path)}' beside the output; "
                                 "workers write their parts there, so the output's folder must "
                                 "be on storage every worker mounts at the same path")
            raise InputError(parameter, f"worker {address} ({got['host']}) cannot open "
                             f"'{path}'; every worker reads it itself: put it on storage every "
                             "worker mounts at the same path, or give the raster as a GDAL "
                             "virtual file (/vsis3/..., /vsicurl/...)")
        theirs = got["fingerprint"]
        if theirs["landlearn"] != mine["landlearn"]:
            raise InputError("dask_scheduler", f"worker {address} ({got['host']}) runs another "
                             f"LandLearn engine ({theirs['landlearn']}) than this client "
                             f"({mine['landlearn']}); install the same LandLearn on every worker "
                             "(from a clone: rm -rf build, then pip install .: setuptools "
                             "keeps deleted modules in build/)")
        _same_files(address, got, paths)
        differ = [k for k, v in mine.items()
                  if k not in ("landlearn", "distributed") and theirs.get(k) != v]
        said = ", ".join(f"{k} {theirs.get(k)} (here {mine[k]})" for k in differ)
        # another series of a library this model computes with (``needs``: numpy 1.x
        # beside 2.x, torch 2.4 beside 2.6) reads packages and computes otherwise: blocks
        # of one map would differ. A library only one side has, one the model does not
        # use, another Python or a patch release apart only warn (a worker without a
        # library the model needs fails its blocks naming it)
        other_series = [k for k in differ if k in needs
                        and NOT_INSTALLED not in (theirs.get(k), mine[k])
                        and series(str(theirs.get(k))) != series(mine[k])]
        if other_series:
            raise InputError("dask_scheduler", f"worker {address} ({got['host']}) runs {said}; "
                             f"{', '.join(other_series)} of another series compute(s) another "
                             "map: install the client's versions on every worker")
        # only what the model computes with (and Python): torch missing on a worker of a
        # random forest's run was said to make its predictions differ (a sweep, stop 71)
        felt = [k for k in differ if k in needs or k == "python"]
        if felt:
            said = ", ".join(f"{k} {theirs.get(k)} (here {mine[k]})" for k in felt)
            progress.warning(f"worker {address} runs {said}: predictions can "
                             "differ slightly from this machine's; install the same versions")
    engine = _one_engine(answers)
    nthreads = client.nthreads()
    return Workers(sum(nthreads.values()), full_hosts(answers, nthreads), engine)


def _one_engine(answers: dict[str, dict]) -> str | None:
    """Every worker runs the model on one runtime and one kind of device: RUNTIME and
    DEVICE=auto are decided by each worker, and a GPU worker's torch blocks beside a CPU
    worker's ONNX Runtime blocks differ at near ties (seams along the blocks)."""
    engines: dict[str, list[str]] = {}
    for address, got in sorted(answers.items()):
        runs_on = got.get("runs_on")
        # one that cannot load the model fails its blocks naming why: not an engine
        if runs_on is not None and not runs_on.startswith("nothing ("):
            engines.setdefault(runs_on, []).append(f"{address} ({got['host']})")
    if len(engines) > 1:
        said = "; ".join(f"{', '.join(who[:3])}{' ...' if len(who) > 3 else ''}: {what}"
                         for what, who in sorted(engines.items()))
        raise InputError("device", f"the workers would run the model on different engines "
                         f"({said}); their blocks would differ where classes are nearly tied. "
                         "Set RUNTIME and DEVICE to one engine every worker has (such as "
                         "RUNTIME=torch, DEVICE=cpu), or install the same on every worker")
    return next(iter(engines), None)


def _same_files(address: str, got: dict, paths: dict[str, list[str]]) -> None:
    """A worker's file at a path must be the client's: a stale node-local copy (an rsynced
    /data) gave that worker's blocks other pixels, and only the model was checked."""
    theirs = got.get("stats") or {}
    for parameter, files in paths.items():
        for path in files:
            mine, seen = file_stat(path), theirs.get(path)
            if mine is None or seen is None:
                continue
            if mine[0] != seen[0] or abs(mine[1] - seen[1]) > 2:
                raise InputError(parameter, f"worker {address} ({got['host']}) sees another "
                                 f"'{path}' than this machine ({seen[0]:,} bytes, modified "
                                 f"{seen[1]}; here {mine[0]:,} bytes, {mine[1]}): a copy of its "
                                 "own; give every worker the same file (shared storage)")


def full_hosts(answers: dict[str, dict], nthreads: dict[str, int]) -> frozenset[str]:
    """Hosts where the workers' threads are as many as the cores (or more): there a block's
    reader and writer threads find no idle core and slow the predictors. Measured on 2
    cores, 2 single-thread workers, U-Net, 8192 px: the blocks' compute summed 236-248 s
    with those threads, 216-222 s without, against one worker's 202-204 s alone, and the
    runs took 1.05-1.07x less time (BENCHMARKS.md, 'Classify Pixels on Dask').

    Hosts are told apart by name (two cloned machines of one name count as one). Workers
    of one host that see different core counts (pinned to different cores) count its
    largest, so a host is called full only when it surely is. This only chooses between
    two ways of streaming the same map: a worker that joined after preflight asked (in
    ``nthreads``, not in ``answers``) is not counted, so its host may keep the reader and
    writer threads, which is always right."""
    threads: dict[str, int] = {}
    cores: dict[str, int] = {}
    for got in answers.values():
        cores[got["host"]] = max(cores.get(got["host"], 0), got["cores"])
    for address, n in nthreads.items():
        if address in answers:
            host = answers[address]["host"]
            threads[host] = threads.get(host, 0) + n
    return frozenset(host for host, n in threads.items() if n >= cores[host])
