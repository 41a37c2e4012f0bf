"""Every worker is asked what it sees before any block runs."""

import socket

import pytest

from landlearn.core.classify.distributed.cluster import full_hosts, preflight
from landlearn.core.classify.distributed.worker import (
    check_worker,
    engine_fingerprint,
    host_cores,
)
from landlearn.core.errors import InputError
from landlearn.core.progress import RecordingProgress

pytest.importorskip("dask")  # a worker's answer counts cores as Dask does


class _Client:
    """What preflight asks of a distributed.Client, answering as the workers would."""

    def __init__(self, answers):
        self.answers = answers

    def run(self, func, *args):
        return {address: answer(func, *args) for address, answer in self.answers.items()}

    def nthreads(self):
        return {address: 2 for address in self.answers}


def _as_worker(**override):
    def answer(func, paths, probe, engine=None):
        got = func(paths, probe, engine)
        got.update(override)
        return got
    return answer


def test_a_worker_that_sees_everything_passes(nc_image, tmp_path):
    probe = tmp_path / "probe"
    probe.touch()
    client = _Client({"tcp://a:1": _as_worker(), "tcp://b:1": _as_worker()})
    progress = RecordingProgress()
    found = preflight(client, {"input_raster": [nc_image]}, str(probe), progress)
    assert found.threads == 4
    # both answer with this machine's name and cores: 4 threads fill it iff it has <= 4
    full = frozenset({socket.gethostname()}) if host_cores() <= 4 else frozenset()
    assert found.full_hosts == full
    assert not progress.warnings


def test_workers_started_with_dasks_malloc_trim_are_warned_of(nc_image, tmp_path):
    probe = tmp_path / "probe"
    probe.touch()
    client = _Client({"tcp://a:1": _as_worker(), "tcp://b:1": _as_worker(malloc_trim="65536")})
    progress = RecordingProgress()
    preflight(client, {"input_raster": [nc_image]}, str(probe), progress)
    assert len(progress.warnings) == 1
    assert progress.warnings[0].startswith("1 of 2 workers (e.g. tcp://b:1) run with "
                                           "MALLOC_TRIM_THRESHOLD_ set")
    assert "pre-spawn-environ.MALLOC_TRIM_THRESHOLD_ set to null" in progress.warnings[0]


def test_a_path_only_the_client_sees_is_named_with_the_fix(nc_image, tmp_path):
    probe = tmp_path / "probe"
    probe.touch()
    client = _Client({"tcp://b:1": _as_worker(), "tcp://a:1": _as_worker(
        missing={"input_raster": nc_image})})
    with pytest.raises(InputError, match=r"^INPUT_RASTER: worker tcp://a:1 \(.*\) cannot open "
                       ".* storage every worker mounts at the same path, or .*/vsis3/"):
        preflight(client, {"input_raster": [nc_image]}, str(probe), RecordingProgress())


def test_a_staging_folder_the_workers_cannot_see_is_named(nc_image, tmp_path):
    client = _Client({"tcp://a:1": _as_worker()})
    with pytest.raises(InputError, match="^OUTPUT: worker tcp://a:1 .* cannot see the staging "
                       "folder"):
        preflight(client, {"input_raster": [nc_image]}, str(tmp_path / "nowhere" / "probe"),
                  RecordingProgress())


def test_another_engine_or_library_version_on_a_worker(nc_image, tmp_path):
    probe = tmp_path / "probe"
    probe.touch()
    other = dict(engine_fingerprint(), landlearn="0123456789abcdef")
    with pytest.raises(InputError, match="^DASK_SCHEDULER: worker tcp://a:1 .* runs another "
                       "LandLearn engine"):
        preflight(_Client({"tcp://a:1": _as_worker(fingerprint=other)}),
                  {"input_raster": [nc_image]}, str(probe), RecordingProgress())
    # another series: an error before any block (it was a warning, and blocks of one map
    # came from two numpys)
    older = dict(engine_fingerprint(), numpy="1.0.0")
    with pytest.raises(InputError, match=r"^DASK_SCHEDULER: worker tcp://a:1 .* runs numpy "
                       r"1\.0\.0 \(here .*\); numpy of another series .*install the client's"):
        preflight(_Client({"tcp://a:1": _as_worker(fingerprint=older)}),
                  {"input_raster": [nc_image]}, str(probe), RecordingProgress())
    # a patch release apart, or a library only one side has: a warning
    mine = engine_fingerprint()
    patch = dict(mine, numpy=mine["numpy"] + ".1", torch="not installed")
    progress = RecordingProgress()
    preflight(_Client({"tcp://a:1": _as_worker(fingerprint=patch)}),
              {"input_raster": [nc_image]}, str(probe), progress)
    assert progress.warnings and f"numpy {mine['numpy']}.1 (here " in progress.warnings[0]
    # another Python: a warning; a library this model does not compute with (torch beside
    # a random forest): nothing said, its predictions cannot differ by it (a sweep, stop 71)
    other = dict(mine, torch="0.1.0", python="2.7.18")
    progress = RecordingProgress()
    preflight(_Client({"tcp://a:1": _as_worker(fingerprint=other)}),
              {"input_raster": [nc_image]}, str(probe), progress,
              frozenset({"numpy", "scikit-learn"}))
    assert len(progress.warnings) == 1 and "python 2.7.18 (here " in progress.warnings[0]
    assert "torch" not in progress.warnings[0]
    progress = RecordingProgress()
    preflight(_Client({"tcp://a:1": _as_worker(fingerprint=dict(mine, torch="0.1.0"))}),
              {"input_raster": [nc_image]}, str(probe), progress,
              frozenset({"numpy", "scikit-learn"}))
    assert not progress.warnings
    with pytest.raises(InputError, match=r"; torch of another series"):
        preflight(_Client({"tcp://a:1": _as_worker(fingerprint=other)}),
                  {"input_raster": [nc_image]}, str(probe), RecordingProgress(),
                  frozenset({"numpy", "torch"}))


def test_a_worker_with_its_own_copy_of_the_raster_is_refused(nc_image, tmp_path):
    """A stale node-local copy at the same path: only the model was checked, and that
    worker's blocks came from other pixels."""
    probe = tmp_path / "probe"
    probe.touch()
    import os

    size = os.path.getsize(nc_image)
    stale = _as_worker(stats={nc_image: (size - 10, 0)})
    with pytest.raises(InputError, match=rf"^INPUT_RASTER: worker tcp://a:1 .* sees another "
                       rf"'.*' than this machine \({size - 10:,} bytes, modified 0; here "
                       rf"{size:,} bytes"):
        preflight(_Client({"tcp://a:1": stale}), {"input_raster": [nc_image]}, str(probe),
                  RecordingProgress())
    # the same file (as check_worker reports it here): passes
    preflight(_Client({"tcp://a:1": _as_worker()}), {"input_raster": [nc_image]}, str(probe),
              RecordingProgress())


def test_a_worker_that_cannot_run_the_engine(nc_image, tmp_path):
    def broken(func, *args):
        raise ModuleNotFoundError("No module named 'landlearn'")
    with pytest.raises(InputError, match="^DASK_SCHEDULER: the workers cannot run LandLearn's "
                       "engine .*install LandLearn"):
        preflight(_Client({"tcp://a:1": broken}), {}, str(tmp_path), RecordingProgress())


def _answers(workers):
    """check_worker's answers as full_hosts reads them: {address: (host, cores, threads)}."""
    return ({a: {"host": host, "cores": cores} for a, (host, cores, _) in workers.items()},
            {a: threads for a, (_, _, threads) in workers.items()})


def test_hosts_whose_cores_the_worker_threads_fill_are_named():
    answers, nthreads = _answers({
        "tcp://a:1": ("a", 4, 2), "tcp://a:2": ("a", 4, 2),  # 4 threads, 4 cores
        "tcp://b:1": ("b", 4, 1),  # a spare core for its reader and writer
        "tcp://c:1": ("c", 2, 4),  # oversubscribed
        # 2 threads, pinned to 1 and to 3 cores: counted as 3 cores, not full
        "tcp://d:1": ("d", 1, 1), "tcp://d:2": ("d", 3, 1)})
    assert full_hosts(answers, nthreads) == frozenset({"a", "c"})
    # one that joined after preflight asked is not counted (b would be full with it)
    assert full_hosts(answers, {**nthreads, "tcp://b:2": 8}) == frozenset({"a", "c"})


def test_check_worker_opens_gdal_virtual_paths(nc_image, tmp_path):
    got = check_worker({"input_raster": ["/vsicurl/http://127.0.0.1:9/none.tif"],
                        "model": [str(tmp_path / "none.dlpk")]}, nc_image)
    assert set(got["missing"]) == {"input_raster", "model"}
    assert got["fingerprint"] == engine_fingerprint()
    assert got["host"] == socket.gethostname() and got["cores"] == host_cores() >= 1


def test_a_vrt_source_only_the_client_sees_is_named(nc_image, tmp_path):
    """A mosaic's VRT lies where workers see it; one of its items may not: every file of
    the raster is looked for (the engine sends staging.raster_files)."""
    missing = str(tmp_path / "client_only" / "item.tif")
    got = check_worker({"input_raster": [nc_image, missing], "model": [nc_image]}, nc_image)
    assert got["missing"] == {"input_raster": missing}
    client = _Client({"tcp://a:1": _as_worker()})
    with pytest.raises(InputError, match=f"^INPUT_RASTER: worker tcp://a:1 .* cannot open "
                       f"'{missing}'"):
        preflight(client, {"input_raster": [nc_image, missing]}, nc_image, RecordingProgress())


def _worker_threads():
    """What a task on a worker process of the engine's own cluster runs with once a model is
    loaded (worker._limit_threads runs then)."""
    import os

    import threadpoolctl

    from landlearn.core.classify.distributed import worker
    from landlearn.core.runtime.threads import compute_threads

    worker._limit_threads()
    pools = {d["user_api"]: d["num_threads"] for d in threadpoolctl.threadpool_info()}
    return {"trim": worker.started_with("MALLOC_TRIM_THRESHOLD_"), "pools": pools,
            "landlearn": compute_threads(), "omp": os.environ.get("OMP_NUM_THREADS")}


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/environ"),
                    reason="reads a Linux worker's start environment")
def test_local_workers_run_one_thread_and_leave_this_process_as_it_was():
    import os

    pytest.importorskip("distributed")
    from landlearn.core.classify.distributed.cluster import open_client

    before = dict(os.environ)
    client, cluster = open_client("", 1, RecordingProgress())
    try:
        assert dict(os.environ) == before  # no OMP_NUM_THREADS or PYTHONHASHSEED left here
        got = client.submit(_worker_threads, pure=False).result()  # a task, as a block
    finally:
        client.close()
        cluster.close()
    assert dict(os.environ) == before
    assert got["landlearn"] == 1 and got["omp"] == "1"
    # every BLAS/OpenMP pool threadpoolctl finds (none where numpy's BLAS is one it does
    # not know, as Debian trixie's) runs one thread
    assert set(got["pools"].values()) <= {1}, got["pools"]
    # Dask's trim threshold (glibc reads it at start; slower blocks) is not in the workers'
    # start environment; a LocalCluster with Dask's defaults has it, and check_worker says so
    assert got["trim"] is None


def _pid():
    import os

    return os.getpid()


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/environ"),
                    reason="kills a Linux worker process")
def test_a_restarted_worker_leaves_this_process_environment_alone():
    """Dask's nanny writes PYTHONHASHSEED=6640 into the client's environment before each
    start of a worker process, restarts after a crash included; processes QGIS starts
    while the cluster runs would inherit it."""
    import os
    import signal
    import time

    pytest.importorskip("distributed")
    from landlearn.core.classify.distributed.cluster import open_client

    before = dict(os.environ)
    client, cluster = open_client("", 1, RecordingProgress())
    try:
        first = client.submit(_pid, pure=False).result()
        os.kill(first, signal.SIGKILL)
        deadline, again = time.monotonic() + 60, first
        while again == first and time.monotonic() < deadline:
            time.sleep(0.2)
            try:
                client.wait_for_workers(1, timeout=5)
                again = client.submit(_pid, pure=False).result(timeout=10)
            except Exception:  # noqa: BLE001 - the worker is on its way back
                again = first
        assert again != first, "the nanny did not restart the killed worker"
        # while the cluster still runs; Dask's marker for its processes' titles comes back
        # with each start (harmless: it names no setting), and goes at close as the rest
        now = {k: v for k, v in os.environ.items() if k != "__DASK_PARENT_PID"}
        assert now == {k: v for k, v in before.items() if k != "__DASK_PARENT_PID"}
    finally:
        client.close()
        cluster.close()
    assert dict(os.environ) == before
    import distributed

    from landlearn.core.classify.distributed.worker import check_worker

    try:  # Dask's nanny writes its variables into this process's environment
        with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as dask_defaults, \
                distributed.Client(dask_defaults, set_as_default=False) as client:
            (answer,) = client.run(check_worker, {}, "/").values()
    finally:
        os.environ.clear()
        os.environ.update(before)
    assert answer["malloc_trim"] == "65536"


def test_local_workers_that_cannot_start_name_the_parameter(monkeypatch):
    """Dask's "Nanny failed to start" (no Python found for the worker processes inside
    QGIS, say) reached the user as a bug report."""
    distributed = pytest.importorskip("distributed")
    from landlearn.core.classify.distributed import cluster as module

    def fails(*args, **kwargs):
        raise RuntimeError("Nanny failed to start.")

    monkeypatch.setattr(distributed, "LocalCluster", fails)
    monkeypatch.setattr(module, "_worker_python", lambda: None)
    with pytest.raises(InputError, match=r"^PARALLEL_PROCESSING_FACTOR: 2 worker processes "
                       r"could not start on this machine \(RuntimeError: Nanny failed"):
        module.open_client("", 2, RecordingProgress())


def test_workers_that_would_run_the_model_on_different_engines_are_refused(nc_image, rf,
                                                                         tmp_path):
    """RUNTIME and DEVICE=auto are decided on each worker: a GPU worker's torch beside a
    CPU worker's ONNX Runtime gave one map from two engines. Each worker says what it would
    run the model on, and a mixture stops the run before any block."""
    probe = tmp_path / "probe"
    probe.touch()
    query = {"path": str(rf[0]), "runtime": "auto", "device": "auto", "quantize": False}
    paths = {"input_raster": [nc_image], "model": [str(rf[0])]}
    same = _Client({"tcp://a:1": _as_worker(), "tcp://b:1": _as_worker()})
    preflight(same, paths, str(probe), RecordingProgress(), engine=query)
    assert same.run(check_worker, paths, str(probe), query)["tcp://a:1"]["runs_on"] == \
        "scikit-learn"
    mixed = _Client({"tcp://a:1": _as_worker(runs_on="torch on cuda"),
                     "tcp://b:1": _as_worker(runs_on="onnxruntime on cpu")})
    with pytest.raises(InputError, match=r"^DEVICE: the workers would run the model on "
                       r"different engines \(tcp://b:1 \(.*\): onnxruntime on cpu; tcp://a:1 "
                       r"\(.*\): torch on cuda\).*Set RUNTIME and DEVICE"):
        preflight(mixed, paths, str(probe), RecordingProgress(), engine=query)
