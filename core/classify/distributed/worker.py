"""What runs on a Dask worker: one block of Classify Pixels, written as part files.

The worker reads the raster and the model package from paths it must see itself (a shared
file system, or GDAL's /vsis3/ and /vsicurl/ for the raster), loads the model once per
process (cached by the package's SHA-256, which must be the one the client hashed: a
worker that sees another file at that path is refused), streams the block's tiles through
the same code as the single-process run, and writes the block's class map (and confidence,
probabilities) into the staging folder through the atomic GeoTIFF writer, so a part either
exists whole or not at all.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import platform
import socket
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

import rasterio

from ...errors import Cancelled, InputError
from ...files import landlearn_manifest
from ...progress import NullProgress
from ...runtime.free_memory import worker_memory_room
from ...runtime.threads import limit_compute_threads
from ..memory import fit_batch, runs_on
from ..output import ClassifyOutputs
from ..predictor import engine_here, load_predictor
from ..stream import open_source, stream_tiles
from ..tiling import batch_size
from .plan import Block

MANIFEST = "landlearn_parts.json"  # marks a live staging folder (staging.py)
PART_SUFFIXES = {"output": "class", "output_confidence": "confidence",
                 "output_probabilities": "probabilities"}

WATCH_S = 1.0  # how often a running block looks whether its run was stopped

_PREDICTORS: dict[tuple, tuple] = {}
_LOADING = threading.Lock()  # one load at a time per worker process (_predictor)
_HASHES: dict[tuple, str] = {}
_FINGERPRINT: dict[str, str] = {}


@dataclass(frozen=True)
class BlockJob:
    config: object  # ClassifyConfig (not imported: classify_pixels imports this package)
    block: Block
    tile: int
    pad: int
    staging: str
    model_sha256: str
    engine: str  # the client's engine fingerprint (engine_fingerprint()["landlearn"])
    full_hosts: frozenset = frozenset()  # hosts whose cores the worker threads fill
    run_key: str = ""  # the staging manifest's key of the run that sent it ("" = any)


@dataclass(frozen=True)
class BlockDone:
    index: int
    tiles_skipped: int
    seconds: float  # the block, load excluded
    load_seconds: float  # the model, when this block loaded it
    worker: str
    timings: dict  # busy seconds: read, compute, write (overlapping threads); publish


# a block's all-NoData tiles, in its class part: a resumed run counts the finished blocks'
# as well (the summary said 0 skipped, and a raster all NoData went without its warning)
SKIPPED_TAG = "LANDLEARN_SKIPPED_TILES"


def part_paths(staging: str, index: int, config) -> dict[str, str | None]:
    """Where a block's parts go, for each output the run writes (None: not requested)."""
    return {key: (os.path.join(staging, f"block_{index:06d}_{suffix}.tif")
                  if getattr(config, key) else None)
            for key, suffix in PART_SUFFIXES.items()}


MAX_PACKAGE_FILES = 1000  # files of an unpacked package folder hashed, at most


def package_sha256(path: str) -> str:
    """The SHA-256 of a model as Classify Pixels reads it: a package file's own, or for an
    unpacked package (its folder, or the .emd in it) one over the names and SHA-256s of
    the folder's own files (not its subfolders, nor hidden files such as LandLearn's
    staging), so that the weights beside an .emd are in the RESUME key and the workers'
    check as much as the .emd is (a folder was hashed as a file: an error)."""
    if os.path.isfile(path) and not path.lower().endswith(".emd"):
        return file_sha256(path)
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    h = hashlib.sha256(b"landlearn package folder\0" + os.path.basename(path).encode() * (
        not os.path.isdir(path)))
    names = sorted(n for n in os.listdir(folder) if not n.startswith(".")
                   and os.path.isfile(os.path.join(folder, n)))
    if len(names) > MAX_PACKAGE_FILES:
        raise InputError("model", f"the package folder '{folder}' holds {len(names)} files, "
                         f"more than the {MAX_PACKAGE_FILES} a package has; give the .dlpk, "
                         "or keep the unpacked package in a folder of its own")
    for name in names:
        h.update(f"{name}\0{file_sha256(os.path.join(folder, name))}\0".encode())
    return h.hexdigest()


def file_sha256(path: str) -> str:
    """The file's SHA-256, cached per process by (path, size, modification time)."""
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


NOT_INSTALLED = "not installed"


def engine_fingerprint() -> dict[str, str]:
    """What must match between the client and its workers: LandLearn's engine code (a hash
    of core/'s sources, so a changed file counts even at the same version) and the Python
    and library versions a model's predictions depend on."""
    if not _FINGERPRINT:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        h = hashlib.sha256()
        for folder, dirs, files in sorted(os.walk(root)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(f for f in files if f.endswith(".py")):
                path = os.path.join(folder, name)
                h.update(os.path.relpath(path, root).replace(os.sep, "/").encode())
                with open(path, "rb") as fh:
                    h.update(hashlib.sha256(fh.read()).digest())
        _FINGERPRINT["landlearn"] = h.hexdigest()[:16]
        _FINGERPRINT["python"] = platform.python_version()
        for dist in ("numpy", "scikit-learn", "torch", "onnxruntime", "distributed"):
            try:
                _FINGERPRINT[dist] = version(dist)
            except PackageNotFoundError:
                _FINGERPRINT[dist] = NOT_INSTALLED
    return dict(_FINGERPRINT)


def _visible(path: str) -> bool:
    if os.path.exists(path):
        return True
    # a GDAL virtual path or connection string (/vsis3/..., GPKG:a.gpkg:t) is no file:
    # open it, through rasterio, not GDAL's Python bindings (a worker may have only
    # rasterio's wheel)
    try:
        with rasterio.open(path):
            return True
    except (rasterio.errors.RasterioError, OSError):  # RasterioIOError: OSError
        return False


def check_worker(paths: dict[str, list[str]], probe: str, engine: dict | None = None) -> dict:
    """Run on every worker before any block: what it cannot see (per parameter, the first
    of its files: a raster's VRT sources or mask count too), its versions, and (``engine``:
    engine_here's model, runtime, device and quantize) what it would run the model on."""
    missing, stats = {}, {}
    for parameter, files in paths.items():
        for path in files:
            if not _visible(path):
                missing[parameter] = path
                break
            stats[path] = file_stat(path)
    if not os.path.exists(probe):
        missing["staging"] = probe
    runs_on = None
    if engine is not None and "model" not in missing:
        try:
            runs_on = engine_here(**engine)
        except Exception as exc:  # noqa: BLE001 - its blocks will fail naming it; said here
            runs_on = f"nothing ({type(exc).__name__}: {str(exc)[:160]})"
    return {"runs_on": runs_on, "host": socket.gethostname(), "cores": host_cores(), "missing": missing,
            "stats": stats,
            "fingerprint": engine_fingerprint(), "executable": sys.executable,
            "malloc_trim": started_with("MALLOC_TRIM_THRESHOLD_")}


def file_stat(path: str) -> tuple[int, int] | None:
    """(size, whole seconds of its modification time) of a regular file, else None: what
    tells a worker's copy at the same path from the client's (seconds, as network file
    systems keep them)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, int(st.st_mtime)) if os.path.isfile(path) else None


def host_cores() -> int:
    """The cores this process may use, for the client's full hosts (cluster.Workers):
    Dask's own count, which honours CPU affinity and a container's CPU quota (cgroups), as
    the default ``--nthreads`` of ``dask worker`` does."""
    from dask.system import cpu_count  # a worker runs Dask

    return cpu_count()


def started_with(name: str) -> str | None:
    """The value of environment variable ``name`` when this process started (what the C
    library read then; os.environ may have changed since), where the system tells (Linux)."""
    try:
        with open("/proc/self/environ", "rb") as f:
            start = f.read()
    except OSError:
        return None
    for item in start.split(b"\0"):
        key, _, value = item.partition(b"=")
        if key == name.encode():
            return value.decode(errors="replace")
    return None


def _predictor(config, sha: str):
    """The worker process's predictor for the model, loaded by the first block that needs
    it. The worker's threads (a `dask worker` has one per core by default) wait for that
    one load: each loading its own copy at once held N models in memory (a GPU's memory
    gone at the first blocks)."""
    key = (sha, config.device, config.runtime, config.quantize, config.mixed_precision)
    with _LOADING:
        if key not in _PREDICTORS:
            _PREDICTORS.clear()  # one model per worker process at a time
            _limit_threads()  # before the load: an ONNX Runtime session sizes its pool there
            _PREDICTORS[key] = load_predictor(config.model, config.device,
                                              config.mixed_precision, config.runtime,
                                              config.quantize)
            return _PREDICTORS[key], True
        return _PREDICTORS[key], False


def _limit_threads() -> None:
    """Hold the compute libraries to this worker's share of the machine: a Dask worker
    runs as many tasks as it has threads, and oversubscribed cores only slow each other.
    Only in a worker process of its own: worker threads inside a client's process (a
    threaded LocalCluster) must leave that process's settings as they are."""
    if not _own_process():
        return
    try:
        from distributed import get_worker

        threads = get_worker().state.nthreads
    except (ImportError, ValueError):
        return
    limit_compute_threads(threads)
    try:  # BLAS and OpenMP loaded before the worker's environment was set (numpy is)
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)
    except ImportError:
        pass
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    if "numba" in sys.modules:
        numba = sys.modules["numba"]
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


def overlaps(device, host: str, full_hosts: frozenset) -> bool:
    """Whether a block streams with reader and writer threads: not where the workers'
    CPU predictors fill every core (the threads would only take turns with them; read and
    write between batches instead). A GPU worker keeps them: its core mostly waits while
    the device computes (not measured on a full host)."""
    return getattr(device, "type", "cpu") != "cpu" or host not in full_hosts


def _live(staging: str, key: str) -> bool:
    """The run this block belongs to still wants it: its staging folder's manifest is there
    and, when the client said which run it is, is that run's (after a cancel, a new run
    with other parameters may have made a folder of the same name)."""
    got = landlearn_manifest(os.path.join(staging, MANIFEST))
    return got is not None and (not key or got.get("key") == key)


def _check_staging(staging: str, key: str) -> None:
    """A block whose run was cancelled or failed while it ran finds its staging folder gone
    (the client removed it): it stops instead of writing parts nobody will remove."""
    if not _live(staging, key):
        raise Cancelled(f"the staging folder '{staging}' is gone or another run's: the run "
                        "was stopped")


class _StagingWatch(NullProgress):
    """A block's progress on a worker: cancelled once the client has removed the staging
    folder (a cancel, another block's failure), so a block of minutes stops within a batch
    (Dask cannot stop a running task). Looked at every WATCH_S at most: one small read,
    which a shared file system should not get per tile."""

    def __init__(self, staging: str, key: str):
        self.staging, self.key = staging, key
        self._next = 0.0
        self._gone = False

    def is_canceled(self) -> bool:
        now = time.monotonic()
        if not self._gone and now >= self._next:
            self._next = now + WATCH_S
            self._gone = not _live(self.staging, self.key)
        return self._gone


def _remove_if_empty(folder: str) -> None:
    try:
        os.rmdir(folder)
    except OSError:
        pass


def _own_process() -> bool:
    """A process that is only a Dask worker: spawned by a nanny, or the `dask worker`
    command itself (``python -m dask worker`` or its console script)."""
    import multiprocessing

    if multiprocessing.parent_process() is not None:
        return True
    argv0 = sys.argv[0] if sys.argv else ""
    return "dask" in argv0 and os.path.basename(argv0) in ("dask", "dask-worker", "__main__.py")


def run_block(job: BlockJob) -> BlockDone:
    """Classify one block into its part files (the task a Dask worker runs)."""
    config, block = job.config, job.block
    mine = engine_fingerprint()["landlearn"]
    if mine != job.engine:
        raise InputError("dask_scheduler", f"this worker ({socket.gethostname()}) runs "
                         f"another LandLearn engine ({mine}) than the client ({job.engine}); "
                         "install the same LandLearn on every worker (from a clone: rm -rf "
                         "build, then pip install .)")
    sha = package_sha256(config.model)
    if sha != job.model_sha256:
        raise InputError("model", f"the package worker {socket.gethostname()} reads at "
                         f"'{config.model}' is not the client's (SHA-256 {sha[:12]} vs "
                         f"{job.model_sha256[:12]}); every worker must see the same file")
    t0 = time.perf_counter()
    (predictor, info), loaded = _predictor(config, sha)
    load = time.perf_counter() - t0 if loaded else 0.0
    t1 = time.perf_counter()
    device = getattr(predictor, "device", None)
    batch = fit_batch(config, info, device, job.tile, job.pad,
                      batch_size(config, device, job.tile, info), NullProgress(),
                      cap=worker_memory_room(), **runs_on(predictor))
    parts = part_paths(job.staging, block.index, config)
    part_config = dataclasses.replace(config, **parts)
    work = block.work_win
    _check_staging(job.staging, job.run_key)
    source, _area = open_source(config, info, NullProgress())
    try:
        with source, ExitStack() as stack:
            outputs = stack.enter_context(ClassifyOutputs(
                part_config, source.grid.subgrid(work), info, work, job.tile, job.pad,
                part=True))
            _check_staging(job.staging, job.run_key)
            core = job.tile - 2 * job.pad
            n = -(-int(work.width) // core) * -(-int(work.height) // core)
            timings: dict[str, float] = {}
            overlap = overlaps(device, socket.gethostname(), job.full_hosts)
            skipped = stream_tiles(part_config, source, work, job.tile, job.pad, batch,
                                   predictor, outputs, _StagingWatch(job.staging, job.run_key),
                                   n, timings, overlap, counted=block.win)
            outputs.cls.update_tags(**{SKIPPED_TAG: skipped})
            _check_staging(job.staging, job.run_key)  # before the parts are published
            t2 = time.perf_counter()
    except Cancelled:
        # the writers made the folder again and have removed their temporary files by
        # now (the with has unwound): take the folder back too, so no empty folder of
        # LandLearn's is left without its manifest
        _remove_if_empty(job.staging)
        raise
    timings["publish"] = time.perf_counter() - t2  # verified, renamed (leaving the with)
    return BlockDone(block.index, skipped, time.perf_counter() - t1, load,
                     f"{socket.gethostname()}:{os.getpid()}", timings)
