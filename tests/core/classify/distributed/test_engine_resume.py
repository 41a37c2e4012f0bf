"""distributed.engine: RESUME after a failed or killed run (the rest of the engine's
tests are in test_engine.py)."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import rasterio

from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
from landlearn.core.classify.distributed import BlockFailed
from landlearn.core.classify.distributed import engine as engine_module
from landlearn.core.classify.distributed import worker as worker_module
from landlearn.core.classify.distributed.staging import staging_path
from landlearn.core.progress import RecordingProgress

pytest.importorskip("distributed")


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read()


def _blocks_below_row_256_fail(monkeypatch, staging: str, upper_blocks: int = 2) -> dict:
    """Blocks from row 256 down fail on the workers while the returned switch is on.

    A failing block first waits (up to 120 s) until the ``upper_blocks`` blocks above row 256
    have their parts in ``staging``: with two workers a lower block could otherwise fail
    before the upper ones finished, the run stop, and fewer parts be left than the test
    means to take up (it failed so on a loaded CI machine)."""
    real = worker_module.stream_tiles
    failing = {"on": True}

    def upper_parts() -> int:
        if not os.path.isdir(staging):
            return 0
        return sum(f.endswith("_class.tif") for f in os.listdir(staging))

    def fails(config, source, area, *args, **kw):
        if failing["on"] and int(area.row_off) >= 256:
            deadline = time.monotonic() + 120
            while upper_parts() < upper_blocks and time.monotonic() < deadline:
                time.sleep(0.05)
            raise RuntimeError("the disk went away")
        return real(config, source, area, *args, **kw)

    monkeypatch.setattr(worker_module, "stream_tiles", fails)
    return failing


def _a_failed_resume_run(rf, nc_image, tmp_path, scheduler, monkeypatch):
    """The one-process reference map, then a RESUME run on ``scheduler`` whose lower blocks
    fail: (the failing switch, reference path, output path, settings, its progress)."""
    out = str(tmp_path / "map.tif")
    failing = _blocks_below_row_256_fail(monkeypatch, staging_path(out))
    reference = str(tmp_path / "reference.tif")
    classify_pixels(ClassifyConfig(nc_image, str(rf[0]), reference, tile_size=64))
    settings = dict(tile_size=64, block_size=256, retries=0, resume=True,
                    dask_scheduler=scheduler)
    progress = RecordingProgress()
    with pytest.raises(BlockFailed):
        classify_pixels(ClassifyConfig(nc_image, str(rf[0]), out, **settings), progress)
    return failing, reference, out, settings, progress


def test_with_resume_a_failed_runs_finished_blocks_stay_and_are_taken_up(
        rf, nc_image, tmp_path, threaded_scheduler, monkeypatch):
    """RESUME kept the parts only after a termination: a block that failed RETRIES times
    (or a scheduler not up yet) deleted every finished block it was meant to take up."""
    failing, reference, out, settings, progress = _a_failed_resume_run(
        rf, nc_image, tmp_path, threaded_scheduler, monkeypatch)
    staging = staging_path(out)
    parts = sorted(f for f in os.listdir(staging) if f.endswith("_class.tif"))
    finished = len(parts)
    assert finished >= 2
    assert any(m.startswith("RESUME: the finished blocks stay in") for m in progress.messages)
    # a node that crashed before its file system wrote a part out: cut short, and empty
    with open(os.path.join(staging, parts[0]), "r+b") as fh:
        fh.truncate(300)
    open(os.path.join(staging, parts[1]), "wb").close()
    failing["on"] = False
    progress = RecordingProgress()
    classify_pixels(ClassifyConfig(nc_image, str(rf[0]), out, **settings), progress)
    assert any(m.startswith(f"RESUME: {finished} of ") for m in progress.messages)
    damaged = [m for m in progress.warnings if m.startswith("RESUME: the finished parts of ")]
    assert len(damaged) == 2 and all(m.endswith("that block is computed again") for m in damaged)
    assert np.array_equal(_read(out), _read(reference))
    assert not os.path.exists(staging)


def _killed_client(script_dir, image, model, out, settings, wait_for_parts: int):
    """Run Classify Pixels with 2 worker processes in a child process and SIGKILL it (and
    its workers) once ``wait_for_parts`` blocks are finished."""
    script = script_dir / "client.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path[:0] = {sys.path!r}
        from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
        if __name__ == "__main__":
            classify_pixels(ClassifyConfig({image!r}, {model!r}, **{settings!r}, block_size=256,
                                           parallel_processing_factor="2", output={out!r}))
    """))
    proc = subprocess.Popen([sys.executable, str(script)], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    staging = staging_path(out)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            parts = [f for f in os.listdir(staging) if f.endswith("_class.tif")] \
                if os.path.isdir(staging) else []
            if len(parts) >= wait_for_parts:
                break
            assert proc.poll() is None, "the client ended before it was killed"
            time.sleep(0.05)
        else:
            raise AssertionError("no parts appeared")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return staging


@pytest.mark.heavy
def test_resume_takes_up_a_killed_runs_blocks_and_only_with_the_same_parameters(
        rf, nc_image, tmp_path, monkeypatch):
    settings = dict(tile_size=64, cell_size=10.0)
    reference = str(tmp_path / "reference.tif")
    classify_pixels(ClassifyConfig(nc_image, str(rf[0]), reference, **settings))
    out = str(tmp_path / "map.tif")
    # a changed parameter: the earlier parts are not used
    _killed_client(tmp_path, nc_image, str(rf[0]), out, dict(settings, confidence_threshold=0.3), 3)
    progress = RecordingProgress()
    classify_pixels(ClassifyConfig(nc_image, str(rf[0]), out, **settings, block_size=256,
                                   parallel_processing_factor="2", resume=True), progress)
    assert not any("blocks were finished" in m for m in progress.messages)
    assert np.array_equal(_read(out), _read(reference))
    # the same parameters: the finished blocks are taken up
    staging = _killed_client(tmp_path, nc_image, str(rf[0]), out, settings, 3)
    left = [f for f in os.listdir(tmp_path) if f.startswith(".map.tif.") and ".part" in f]
    assert left  # the killed client's hidden temporary output, which the resume removes
    finished = len([f for f in os.listdir(staging) if f.endswith("_class.tif")])
    progress = RecordingProgress()
    classify_pixels(ClassifyConfig(nc_image, str(rf[0]), out, **settings, block_size=256,
                                   parallel_processing_factor="2", resume=True), progress)
    resumed = [m for m in progress.messages if m.startswith("RESUME: ")]
    assert resumed and resumed[0].startswith(f"RESUME: {finished} of 30 blocks were finished")
    assert np.array_equal(_read(out), _read(reference))
    assert not os.path.exists(staging)
    # the killed clients' hidden full-size temporaries are gone too
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".map.tif.") and ".part" in f]
    # other library versions (an upgraded torch or scikit-learn): the blocks are not taken up
    _killed_client(tmp_path, nc_image, str(rf[0]), out, settings, 3)
    real = engine_module.engine_fingerprint
    monkeypatch.setattr(engine_module, "engine_fingerprint",
                        lambda: dict(real(), **{"scikit-learn": "0.0"}))
    progress = RecordingProgress()
    classify_pixels(ClassifyConfig(nc_image, str(rf[0]), out, **settings, block_size=256,
                                   parallel_processing_factor="2", resume=True), progress)
    assert not any("blocks were finished" in m for m in progress.messages)
    assert np.array_equal(_read(out), _read(reference))


def test_resume_on_workers_of_another_engine_computes_every_block_again(
        rf, nc_image, tmp_path, threaded_scheduler, monkeypatch):
    """The finished blocks record what they were computed on; a RESUME whose workers run
    the model on something else (a GPU node's blocks, then CPU workers) computes all of
    them again rather than mixing two engines' blocks in one map."""
    import json

    failing, reference, out, settings, _ = _a_failed_resume_run(
        rf, nc_image, tmp_path, threaded_scheduler, monkeypatch)
    manifest = os.path.join(staging_path(out), "landlearn_parts.json")
    recorded = json.loads(open(manifest).read())
    assert recorded["engine"] == "scikit-learn"
    recorded["engine"] = "torch on cuda"  # as if a GPU node had computed them
    with open(manifest, "w") as fh:
        json.dump(recorded, fh)
    failing["on"] = False
    progress = RecordingProgress()
    result = classify_pixels(ClassifyConfig(nc_image, str(rf[0]), out, **settings), progress)
    assert any(w.startswith("RESUME: the finished blocks were computed on torch on cuda, these "
                            "workers run scikit-learn; all blocks are computed again")
               for w in progress.warnings)
    assert np.array_equal(_read(out), _read(reference))
    # every block counted once, though the resumed ones were assembled before the restart
    assert result.class_pixels == {int(v): int(n) for v, n in zip(
        *np.unique(_read(reference)[0], return_counts=True))}


def test_a_resumed_run_counts_the_finished_blocks_all_nodata_tiles(
        rf, nc_image, tmp_path, threaded_scheduler, monkeypatch):
    """The finished blocks' skipped tiles were counted only by the run that computed them:
    the resumed run's summary said fewer (0 when every block was resumed), and a raster
    all NoData went without the warning naming its empty bands."""
    with rasterio.open(nc_image) as ds:
        data, profile = ds.read(), ds.profile
    data[:, :200] = 0  # the upper blocks' first tiles: NoData
    holed = str(tmp_path / "holed.tif")
    with rasterio.open(holed, "w", **dict(profile, nodata=0)) as ds:
        ds.write(data)
    one = classify_pixels(ClassifyConfig(holed, str(rf[0]), str(tmp_path / "one.tif"),
                                         tile_size=64))
    assert one.skipped_tiles > 0
    out = str(tmp_path / "map.tif")
    failing = _blocks_below_row_256_fail(monkeypatch, staging_path(out))
    settings = dict(tile_size=64, block_size=256, retries=0, resume=True,
                    dask_scheduler=threaded_scheduler)
    with pytest.raises(BlockFailed):
        classify_pixels(ClassifyConfig(holed, str(rf[0]), out, **settings))
    failing["on"] = False
    again = classify_pixels(ClassifyConfig(holed, str(rf[0]), out, **settings))
    assert again.skipped_tiles == one.skipped_tiles
    assert np.array_equal(_read(out), _read(str(tmp_path / "one.tif")))
