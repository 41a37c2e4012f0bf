"""Classify Pixels on real Dask clusters: the one-process map, through failures."""

import os
import signal
import sys
import time

import numpy as np
import pytest
import rasterio

from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
from landlearn.core.classify.distributed import BlockFailed
from landlearn.core.classify.distributed import engine as engine_module
from landlearn.core.classify.distributed import worker as worker_module
from landlearn.core.classify.distributed.plan import Block
from landlearn.core.classify.distributed.staging import staging_path
from landlearn.core.errors import Cancelled, InputError
from landlearn.core.progress import RecordingProgress

pytest.importorskip("distributed")


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read()


def _outputs(folder, name):
    return dict(output=str(folder / f"{name}.tif"),
                output_confidence=str(folder / f"{name}_conf.tif"),
                output_probabilities=str(folder / f"{name}_prob.tif"))


def _assert_same(a: dict, b: dict, tol: float = 0.0):
    assert np.array_equal(_read(a["output"]), _read(b["output"]))
    for key in ("output_confidence", "output_probabilities"):
        x, y = _read(a[key]), _read(b[key])
        assert x.shape == y.shape
        assert np.abs(x - y).max() <= tol, key


@pytest.mark.heavy
def test_two_worker_processes_give_a_random_forests_one_process_map(rf, nc_image, tmp_path):
    one, two = _outputs(tmp_path, "one"), _outputs(tmp_path, "two")
    threads = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "MALLOC_TRIM_THRESHOLD_", "PYTHONHASHSEED")
    environ = {k: os.environ.get(k) for k in threads}
    single = classify_pixels(ClassifyConfig(nc_image, str(rf[0]), tile_size=64, **one))
    progress = RecordingProgress()
    result = classify_pixels(ClassifyConfig(nc_image, str(rf[0]), tile_size=64, block_size=256,
                                            parallel_processing_factor="2", **two), progress)
    _assert_same(one, two)
    assert result.class_pixels == single.class_pixels
    assert result.device == "Dask, 2 worker threads"
    t = result.timings
    assert set(t) == {"read", "compute", "write", "publish", "load", "blocks", "assembly"}
    assert t["compute"] > 0 and t["load"] > 0 and t["blocks"] >= t["compute"]
    assert any("4 blocks of up to 256 x 256 px on 2 worker threads" in m for m in progress.messages)
    assert any(m.startswith("blocks 4/4, ") and "MPix/s, ETA" in m for m in progress.messages)
    assert os.path.exists(tmp_path / "two.qml")  # styled like a one-process map
    # starting worker processes leaves this process's environment as it was (Dask's nanny
    # would set OMP_NUM_THREADS=1 here, and torch imported later would use one thread)
    assert {k: os.environ.get(k) for k in threads} == environ
    assert not os.path.exists(staging_path(two["output"]))
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]  # nothing hidden left


@pytest.mark.heavy
@pytest.mark.parametrize("runtime", ["onnxruntime", "torch"])
@pytest.mark.parametrize("blend", ["centre", "weighted"])
def test_a_unets_map_is_the_same_on_a_cluster_for_both_blends(model, nc_image, tmp_path,
                                                              threaded_scheduler, blend,
                                                              runtime):
    import torch

    threads = torch.get_num_threads()
    one, two = _outputs(tmp_path, "one"), _outputs(tmp_path, "two")
    settings = dict(tile_size=128, padding=40, blend=blend)  # cores of 48 px
    classify_pixels(ClassifyConfig(nc_image, model, **settings, runtime=runtime, **one))
    progress = RecordingProgress()
    classify_pixels(ClassifyConfig(nc_image, model, **settings, block_size=256, runtime=runtime,
                                   dask_scheduler=threaded_scheduler, **two), progress)
    assert any("6 blocks of up to 192 x 240 px" in m for m in progress.messages)
    # 2 worker threads on this machine: reads between batches where they fill its cores
    full = 2 >= worker_module.host_cores()
    assert any("the worker threads fill the cores of" in m for m in progress.messages) == full
    _assert_same(one, two, tol=1e-5)
    # worker threads inside this process leave its thread settings alone
    assert torch.get_num_threads() == threads


class _Killer(RecordingProgress):
    """Kills one worker process (SIGKILL) once the first block is in."""

    def __init__(self):
        super().__init__()
        self.killed = None

    def set_fraction(self, fraction):
        super().set_fraction(fraction)
        if fraction > 0 and self.killed is None:
            import psutil

            workers = [p for p in psutil.Process().children(recursive=True)
                       if "spawn_main" in " ".join(p.cmdline())]
            assert len(workers) == 2, workers
            workers[0].send_signal(signal.SIGKILL)
            self.killed = workers[0].pid


@pytest.mark.heavy
def test_a_worker_killed_mid_run_does_not_change_the_map(rf, nc_image, tmp_path):
    one, two = _outputs(tmp_path, "one"), _outputs(tmp_path, "two")
    settings = dict(tile_size=64, cell_size=10.0)  # 30 blocks of 256 px
    classify_pixels(ClassifyConfig(nc_image, str(rf[0]), **settings, **one))
    progress = _Killer()
    classify_pixels(ClassifyConfig(nc_image, str(rf[0]), **settings, block_size=256,
                                   parallel_processing_factor="2", **two), progress)
    assert progress.killed is not None
    assert progress.fractions[-1] > 0.98
    _assert_same(one, two)


@pytest.mark.heavy
def test_a_block_lost_with_its_worker_after_it_finished_is_computed_again(rf, nc_image,
                                                                         tmp_path, monkeypatch):
    # the race CI met by chance, made certain: the loop has seen a block done, and its
    # worker dies before the block is collected; the client's future turns "lost" while
    # the scheduler recomputes it elsewhere, and the run must wait for it, not fail
    one, two = _outputs(tmp_path, "one"), _outputs(tmp_path, "two")
    settings = dict(tile_size=64, cell_size=10.0)
    classify_pixels(ClassifyConfig(nc_image, str(rf[0]), **settings, **one))
    real, seen = engine_module._collect, []

    def collect_after_its_worker_died(fut, block, retries):
        if not seen:
            client = fut.client
            where = next(iter(client.who_has([fut])[fut.key]))
            os.kill(client.run(os.getpid, workers=[where])[where], signal.SIGKILL)
            deadline = time.monotonic() + 60
            while fut.status == "finished" and time.monotonic() < deadline:
                time.sleep(0.05)
            seen.append(fut.status)
        return real(fut, block, retries)

    monkeypatch.setattr(engine_module, "_collect", collect_after_its_worker_died)
    classify_pixels(ClassifyConfig(nc_image, str(rf[0]), **settings, block_size=256,
                                   parallel_processing_factor="2", **two))
    assert seen and seen[0] in ("lost", "pending")
    _assert_same(one, two)


def test_a_block_that_always_fails_stops_the_run_naming_its_window(rf, nc_image, tmp_path,
                                                                   threaded_scheduler,
                                                                   monkeypatch):
    tries = []
    real = worker_module.stream_tiles

    def failing(config, source, area, *args, **kw):
        if int(area.col_off) == 256 and int(area.row_off) == 0:
            tries.append(1)
            raise RuntimeError("the disk went away")
        return real(config, source, area, *args, **kw)

    monkeypatch.setattr(worker_module, "stream_tiles", failing)
    out = _outputs(tmp_path, "map")
    with pytest.raises(BlockFailed, match=r"block 1 \(columns 256\.\.488, rows 0\.\.255\) "
                       r"failed after 2 retries: RuntimeError: the disk went away; no output"):
        classify_pixels(ClassifyConfig(nc_image, str(rf[0]), tile_size=64, block_size=256,
                                       retries=2, dask_scheduler=threaded_scheduler, **out))
    assert len(tries) == 3
    assert os.listdir(tmp_path) == []  # no output, no part, no temporary


def test_a_factor_beside_a_scheduler_is_said_not_applied(rf, nc_image, tmp_path,
                                                        threaded_scheduler):
    progress = RecordingProgress()
    classify_pixels(ClassifyConfig(nc_image, str(rf[0]), str(tmp_path / "m.tif"), tile_size=64,
                                   dask_scheduler=threaded_scheduler,
                                   parallel_processing_factor="3"), progress)
    assert any(w.startswith("PARALLEL_PROCESSING_FACTOR starts worker processes on this "
                            "machine when DASK_SCHEDULER is empty") and "so 3 is not applied" in w
               for w in progress.warnings)


def test_the_disk_must_hold_the_parts_beside_the_outputs(rf, nc_image, tmp_path,
                                                          threaded_scheduler, monkeypatch):
    """A Dask run's parts wait beside OUTPUT until the outputs are assembled: the free
    space check counted the outputs only, and the disk could fill hours into a run."""
    from landlearn.core.geo import sizes

    pixels = 489 * 443
    monkeypatch.setattr(sizes, "free_bytes", lambda folder: int(pixels / 20 * 1.5))
    out = str(tmp_path / "m.tif")
    with pytest.raises(InputError, match="^OUTPUT: disk full ahead"):
        classify_pixels(ClassifyConfig(nc_image, str(rf[0]), out, tile_size=64,
                                       dask_scheduler=threaded_scheduler))
    assert os.listdir(tmp_path) == []
    progress = RecordingProgress()  # in one process: the outputs alone fit
    classify_pixels(ClassifyConfig(nc_image, str(rf[0]), out, tile_size=64), progress)
    assert not any("Dask parts" in m for m in progress.messages)


def test_a_block_that_fails_once_is_retried(rf, nc_image, tmp_path, threaded_scheduler,
                                            monkeypatch):
    tries = []
    real = worker_module.stream_tiles

    def flaky(config, source, area, *args, **kw):
        if int(area.col_off) == 0 and int(area.row_off) == 256 and not tries:
            tries.append(1)
            raise OSError("a network file system hiccup")
        return real(config, source, area, *args, **kw)

    monkeypatch.setattr(worker_module, "stream_tiles", flaky)
    one, two = _outputs(tmp_path, "one"), _outputs(tmp_path, "two")
    classify_pixels(ClassifyConfig(nc_image, str(rf[0]), tile_size=64, **one))
    classify_pixels(ClassifyConfig(nc_image, str(rf[0]), tile_size=64, block_size=256,
                                   dask_scheduler=threaded_scheduler, **two))
    assert tries == [1]
    _assert_same(one, two)


def test_a_forest_with_neighbourhood_features_gives_the_same_map_on_a_cluster(
        rf_neighbourhood, nc_image, tmp_path, threaded_scheduler):
    """Blocks cut the raster where one process's tiles do not: the 3 px padding must hold
    every window, in blocks as in tiles."""
    one, two = _outputs(tmp_path, "one"), _outputs(tmp_path, "two")
    classify_pixels(ClassifyConfig(nc_image, str(rf_neighbourhood[0]), tile_size=64, **one))
    classify_pixels(ClassifyConfig(nc_image, str(rf_neighbourhood[0]), tile_size=64,
                                   block_size=256, dask_scheduler=threaded_scheduler, **two))
    _assert_same(one, two)


def test_an_input_error_on_a_worker_reads_as_in_one_process(rf, nc_image, tmp_path,
                                                            threaded_scheduler):
    config = ClassifyConfig(nc_image, str(rf[0]), str(tmp_path / "map.tif"), runtime="onnxruntime",
                            retries=0, dask_scheduler=threaded_scheduler)
    with pytest.raises(InputError, match="^RUNTIME: .* runs on scikit-learn; use RUNTIME=auto"):
        classify_pixels(config)
    assert os.listdir(tmp_path) == []


class _CancelAfterFirstBlock(RecordingProgress):
    def is_canceled(self):
        return bool(self.fractions) and self.fractions[-1] > 0


def test_cancel_removes_the_parts_and_writes_nothing(rf, nc_image, tmp_path):
    config = ClassifyConfig(nc_image, str(rf[0]), tile_size=64, cell_size=10.0, block_size=256,
                            parallel_processing_factor="2", **_outputs(tmp_path, "map"))
    with pytest.raises(Cancelled):
        classify_pixels(config, _CancelAfterFirstBlock())
    assert os.listdir(tmp_path) == []


@pytest.mark.heavy
def test_an_unreachable_scheduler_is_named_with_the_fix(rf, nc_image, tmp_path):
    config = ClassifyConfig(nc_image, str(rf[0]), str(tmp_path / "map.tif"),
                            dask_scheduler="tcp://127.0.0.1:9")
    with pytest.raises(InputError, match="^DASK_SCHEDULER: no Dask scheduler answers at "
                       "'tcp://127.0.0.1:9' .*start one with `dask scheduler`"):
        classify_pixels(config)
    assert os.listdir(tmp_path) == []


class _Future:
    """A Dask future as the client sees it: a status, and result()/exception() by it."""

    def __init__(self, status, result=None, error=None):
        self.status, self._result, self._error = status, result, error

    def result(self):
        if self._error is not None:
            raise self._error
        return self._result

    def exception(self):
        return self._error


_BLOCK = Block(index=3, window=(768, 0, 256, 256), work=(768, 0, 256, 256))


@pytest.mark.parametrize("status", ["lost", "pending"])
def test_a_block_lost_with_its_worker_after_it_finished_is_waited_for_again(status):
    # done() was true when the loop looked; the worker holding the block died before the
    # status was read, so the scheduler recomputes it: no failure (CI: "NoneType: None")
    assert engine_module._collect(_Future(status), _BLOCK, 3) is None
    assert engine_module._collect(_Future("finished", result="parts"), _BLOCK, 3) == "parts"


def test_a_recompute_that_fails_after_the_status_was_read_names_the_block_and_cause():
    fut = _Future("finished", error=RuntimeError("the disk went away"))
    with pytest.raises(BlockFailed, match=r"block 3 \(columns 768..1023, rows 0..255\) failed "
                                          r"after 3 retries: RuntimeError: the disk went away"):
        engine_module._collect(fut, _BLOCK, 3)
    with pytest.raises(InputError, match="INPUT_RASTER: too few bands"):
        engine_module._collect(_Future("error", error=InputError("input_raster", "too few bands")),
                               _BLOCK, 3)
    with pytest.raises(BlockFailed, match="without a result or an error"):
        engine_module._collect(_Future("error"), _BLOCK, 3)


@pytest.mark.heavy
def test_workers_need_rasterio_but_not_gdals_python_bindings(rf, nc_image, tmp_path):
    """A worker machine set up with pip alone has rasterio's wheel (GDAL inside) but no
    osgeo: its parts are verified through rasterio and carry no class-name sidecars, and
    the map is the one-process map (with the .qml and category names the client adds)."""
    from landlearn.core.classify.distributed.cluster import open_client

    def no_gdal_bindings():

        class NoOsgeo:
            def find_spec(self, name, path=None, target=None):
                if name == "osgeo" or name.startswith("osgeo."):
                    raise ImportError("no GDAL Python bindings on this worker (test)")
                return None

        loaded = [m for m in sys.modules if m == "osgeo" or m.startswith("osgeo.")]
        for m in loaded:
            del sys.modules[m]
        sys.meta_path.insert(0, NoOsgeo())
        try:
            import osgeo  # noqa: F401
        except ImportError:
            return "blocked"
        return "importable"

    one, two = _outputs(tmp_path, "one"), _outputs(tmp_path, "two")
    classify_pixels(ClassifyConfig(nc_image, str(rf[0]), tile_size=64, **one))
    client, cluster = open_client("", 1, RecordingProgress())
    try:
        assert list(client.run(no_gdal_bindings).values()) == ["blocked"]
        classify_pixels(ClassifyConfig(nc_image, str(rf[0]), tile_size=64, block_size=256,
                                       dask_scheduler=cluster.scheduler_address, **two))
        # the parts were written there, with osgeo still out of reach
        assert list(client.run(lambda: sorted(m for m in __import__("sys").modules
                                              if m.startswith("osgeo"))).values()) == [[]]
    finally:
        client.close()
        cluster.close()
    _assert_same(one, two)
    assert os.path.exists(tmp_path / "two.qml")
    with rasterio.open(two["output"]) as ds:
        assert ds.colormap(1)[int(np.max(ds.read(1)))][3] == 255


def test_the_preflight_looks_for_a_spread_of_a_large_mosaics_sources():
    files = ["mosaic.vrt"] + [f"tile_{k}.tif" for k in range(100_000)]
    sent = engine_module._sample(files)
    assert len(sent) == engine_module.PREFLIGHT_FILES
    assert sent[0] == "mosaic.vrt" and sent[-1] == "tile_99999.tif"
    assert len({int(f[5:-4]) // 1000 for f in sent[1:]}) > 90  # spread, not the first 255
    assert engine_module._sample(files[:10]) == files[:10]


def test_a_block_stopped_by_another_run_is_a_named_failure_not_a_cancel():
    """A block that found its staging folder replaced raised Cancelled on its worker: the
    client passed it on as the user's Cancel (no window named, and RESUME's parts thrown
    away as after a Cancel). It is a failure of that block now, saying what happened."""
    from types import SimpleNamespace

    from landlearn.core.classify.distributed.engine import _raise_failure
    from landlearn.core.classify.distributed.plan import Block
    from landlearn.core.errors import Cancelled

    block = Block(3, (256, 0, 256, 256), (192, 0, 384, 256))
    fut = SimpleNamespace(exception=lambda: Cancelled("the staging folder 'x' is gone or "
                                                      "another run's: the run was stopped"),
                          status="error")
    with pytest.raises(BlockFailed, match=r"^block 3 .* stopped: the staging folder 'x' is "
                       r"gone or another run's.* Is another run writing the same OUTPUT\?"):
        _raise_failure(fut, block, 3)


@pytest.mark.heavy
def test_relative_paths_reach_workers_started_in_another_folder(rf, nc_image, tmp_path,
                                                                monkeypatch):
    """qgis_process in a shell is given paths relative to its folder; a `dask worker`
    started elsewhere opened them relative to its own and was refused ("put it on storage
    every worker mounts at the same path", a sweep, stop 71): the client sends them
    absolute."""
    import shutil

    from landlearn.core.classify.distributed.cluster import open_client

    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    data.mkdir(), elsewhere.mkdir()
    shutil.copy(nc_image, data / "img.tif")
    shutil.copy(rf[0], data / "rf.dlpk")
    one = _outputs(tmp_path, "one")
    classify_pixels(ClassifyConfig(nc_image, str(rf[0]), tile_size=64, **one))
    client, cluster = open_client("", 1, RecordingProgress())
    try:
        client.run(os.chdir, str(elsewhere))
        monkeypatch.chdir(data)
        classify_pixels(ClassifyConfig("img.tif", "rf.dlpk", "two.tif", tile_size=64,
                                       block_size=256, output_confidence="two_conf.tif",
                                       output_probabilities="two_prob.tif",
                                       dask_scheduler=cluster.scheduler_address))
    finally:
        client.close()
        cluster.close()
    _assert_same(one, {"output": str(data / "two.tif"),
                       "output_confidence": str(data / "two_conf.tif"),
                       "output_probabilities": str(data / "two_prob.tif")})
    absolute = engine_module.absolute_if_file
    assert absolute("/vsis3/b/k.tif") == "/vsis3/b/k.tif"
    assert absolute("GTIFF_DIR:1:img.tif") == "GTIFF_DIR:1:img.tif"
    gpkg = f"GPKG:{data / 'r.gpkg'}:land"  # a connection string holding an absolute path
    assert absolute(gpkg) == gpkg
    assert absolute("https://h/x.tif") == "https://h/x.tif"
    assert absolute("img.tif") == str(data / "img.tif")
    assert absolute("gone.tif") == "gone.tif"  # named as given, where missing
