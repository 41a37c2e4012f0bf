"""One block on a worker: parts written whole, the model checked by its hash."""

import os
import shutil
import socket

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
from landlearn.core.classify.distributed.plan import plan_blocks
from landlearn.core.classify.distributed.worker import (
    MANIFEST,
    BlockJob,
    engine_fingerprint,
    file_sha256,
    overlaps,
    package_sha256,
    part_paths,
    run_block,
)
from landlearn.core.errors import Cancelled, InputError


def _job(config, block, tmp_path, sha=None, engine=None, full_hosts=frozenset()):
    (tmp_path / MANIFEST).write_text('{"generator": "LandLearn", "key": "run1"}')
    return BlockJob(config, block, 64, 0, str(tmp_path), sha or file_sha256(config.model),
                    engine or engine_fingerprint()["landlearn"], full_hosts, "run1")


def test_a_block_writes_its_window_of_the_one_process_map(rf, nc_image, tmp_path):
    whole = tmp_path / "whole.tif"
    classify_pixels(ClassifyConfig(nc_image, str(rf[0]), str(whole), tile_size=64))
    config = ClassifyConfig(nc_image, str(rf[0]), str(tmp_path / "x.tif"), tile_size=64,
                            output_confidence=str(tmp_path / "c.tif"))
    block = plan_blocks(Window(0, 0, 489, 443), 64, 0, 256, False)[3]
    done = run_block(_job(config, block, tmp_path))
    assert done.index == 3 and done.tiles_skipped == 0 and done.seconds > 0
    parts = part_paths(str(tmp_path), 3, config)
    assert parts["output_probabilities"] is None
    assert os.path.basename(parts["output"]) == "block_000003_class.tif"
    with rasterio.open(parts["output"]) as part, rasterio.open(whole) as ref:
        assert (part.width, part.height) == (233, 187)
        assert part.transform == ref.window_transform(block.win)
        assert np.array_equal(part.read(1), ref.read(1, window=block.win))
    assert os.path.exists(parts["output_confidence"])


def test_on_a_host_the_workers_fill_a_block_reads_between_batches_to_the_same_parts(
        rf, nc_image, tmp_path, monkeypatch):
    from landlearn.core.classify.distributed import worker

    overlaps = []
    real = worker.stream_tiles
    monkeypatch.setattr(worker, "stream_tiles",
                        lambda *a, **kw: overlaps.append(a[-1]) or real(*a, **kw))
    config = ClassifyConfig(nc_image, str(rf[0]), str(tmp_path / "x.tif"), tile_size=64,
                            output_probabilities=str(tmp_path / "p.tif"))
    block = plan_blocks(Window(0, 0, 489, 443), 64, 0, 256, False)[1]
    parts = {}
    for name, hosts in (("threads", frozenset({"elsewhere"})),
                        ("inline", frozenset({socket.gethostname()}))):
        (tmp_path / name).mkdir()
        done = run_block(_job(config, block, tmp_path / name, full_hosts=hosts))
        assert done.timings["read"] > 0 and done.timings["write"] > 0
        paths = part_paths(str(tmp_path / name), 1, config)
        with rasterio.open(paths["output"]) as c, \
                rasterio.open(paths["output_probabilities"]) as p:
            parts[name] = c.read(), p.read()
    assert overlaps == [True, False]
    assert np.array_equal(parts["threads"][0], parts["inline"][0])
    assert np.array_equal(parts["threads"][1], parts["inline"][1])


def test_only_cpu_predictors_on_full_hosts_stream_without_threads():
    from types import SimpleNamespace

    full = frozenset({"a"})
    assert not overlaps(None, "a", full)  # a classical model
    assert not overlaps(SimpleNamespace(type="cpu"), "a", full)
    assert overlaps(SimpleNamespace(type="cuda"), "a", full)
    assert overlaps(SimpleNamespace(type="cpu"), "b", full)


def test_a_worker_that_sees_another_model_file_refuses_it(rf, nc_image, tmp_path):
    config = ClassifyConfig(nc_image, str(rf[0]), str(tmp_path / "x.tif"), tile_size=64)
    block = plan_blocks(Window(0, 0, 489, 443), 64, 0, 256, False)[0]
    with pytest.raises(InputError, match="^MODEL: the package worker .* is not the client's"):
        run_block(_job(config, block, tmp_path, sha="0" * 64))
    with pytest.raises(InputError, match="^DASK_SCHEDULER: this worker .* runs another "
                       "LandLearn engine .* install the same LandLearn"):
        run_block(_job(config, block, tmp_path, engine="feedfacefeedface"))
    assert os.listdir(tmp_path) == [MANIFEST]


def test_a_block_whose_staging_folder_is_gone_writes_nothing(rf, nc_image, tmp_path):
    """The client removed the parts (a cancel, another block's failure) while this block
    waited or ran on a worker: it stops and does not make the folder again."""
    config = ClassifyConfig(nc_image, str(rf[0]), str(tmp_path / "x.tif"), tile_size=64)
    block = plan_blocks(Window(0, 0, 489, 443), 64, 0, 256, False)[0]
    gone = tmp_path / "parts"
    job = BlockJob(config, block, 64, 0, str(gone), file_sha256(config.model),
                   engine_fingerprint()["landlearn"])
    with pytest.raises(Cancelled, match="staging folder .* is gone"):
        run_block(job)
    assert not gone.exists()


def test_the_model_hash_follows_the_file(rf, tmp_path):
    copy = tmp_path / "m.dlpk"
    shutil.copy(rf[0], copy)
    first = file_sha256(str(copy))
    assert first == file_sha256(str(rf[0]))
    with open(copy, "ab") as fh:
        fh.write(b"x")
    assert file_sha256(str(copy)) != first


def test_an_unpacked_package_is_hashed_with_every_file_beside_its_emd(rf, nc_image, tmp_path,
                                                                      threaded_scheduler):
    """A package folder (or its .emd) as MODEL: hashed as a file it was an IsADirectoryError
    on Dask, and the .emd alone left the weights beside it out of the RESUME key and the
    workers' check. Its map on a cluster is the .dlpk's."""
    import zipfile

    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(rf[0]) as z:
        z.extractall(folder)
    emd = next(str(p) for p in folder.iterdir() if p.suffix == ".emd")
    first, by_emd = package_sha256(str(folder)), package_sha256(emd)
    assert first == package_sha256(str(folder)) and package_sha256(str(rf[0])) == \
        file_sha256(str(rf[0]))
    # what a run puts beside it (LandLearn's hidden staging, a subfolder) is not the package
    (folder / ".out.tif.landlearn-parts").mkdir()
    (folder / ".out.tif.landlearn-parts" / "landlearn_parts.json").write_text("{}")
    (folder / "report").mkdir(exist_ok=True)
    (folder / "report" / "extra.txt").write_text("x")
    assert package_sha256(str(folder)) == first
    member = next(p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix != ".emd")
    with open(member, "ab") as fh:
        fh.write(b"x")
    assert package_sha256(str(folder)) != first and package_sha256(emd) != by_emd
    with open(member, "rb+") as fh:  # the member back as it was
        fh.truncate(member.stat().st_size - 1)
    one, two = tmp_path / "one.tif", tmp_path / "two.tif"
    classify_pixels(ClassifyConfig(nc_image, str(rf[0]), str(one), tile_size=64))
    classify_pixels(ClassifyConfig(nc_image, str(folder), str(two), tile_size=64,
                                   block_size=256, dask_scheduler=threaded_scheduler))
    with rasterio.open(one) as a, rasterio.open(two) as b:
        assert np.array_equal(a.read(), b.read())


def test_the_engine_fingerprint_names_the_code_and_versions():
    fp = engine_fingerprint()
    assert len(fp["landlearn"]) == 16 and fp["python"].count(".") == 2
    assert {"numpy", "scikit-learn", "torch", "onnxruntime"} <= set(fp)


def test_a_block_stopped_after_its_writers_opened_leaves_no_folder(rf, nc_image, tmp_path,
                                                                   monkeypatch):
    """The client removes the parts folder just after the block's first look: the writers
    make it again for their temporary files; when the second look stops the block, those
    files and then the folder go (an empty folder without its manifest would stop every
    later run to that output as 'not LandLearn's')."""
    from landlearn.core.classify.distributed import worker

    config = ClassifyConfig(nc_image, str(rf[0]), str(tmp_path / "x.tif"), tile_size=64,
                            output_confidence=str(tmp_path / "c.tif"))
    block = plan_blocks(Window(0, 0, 489, 443), 64, 0, 256, False)[0]
    parts = tmp_path / "parts"
    parts.mkdir()
    job = _job(config, block, parts)
    real, looks = worker._check_staging, []

    def look(staging, key):
        real(staging, key)
        looks.append(staging)
        if len(looks) == 1:
            shutil.rmtree(staging)  # the client, between the two looks

    monkeypatch.setattr(worker, "_check_staging", look)
    with pytest.raises(Cancelled, match="staging folder .* is gone"):
        run_block(job)
    assert len(looks) == 1 and not parts.exists()


@pytest.mark.parametrize("again", [False, True])
def test_a_running_block_stops_within_a_batch_once_its_run_is_stopped(rf, nc_image, tmp_path,
                                                                      monkeypatch, again):
    """Dask cannot stop a running task: the block itself looks, between batches, whether
    the client removed the staging folder (a cancel), and stops there."""
    from landlearn.core.classify.distributed import worker

    config = ClassifyConfig(nc_image, str(rf[0]), str(tmp_path / "x.tif"), tile_size=64)
    block = plan_blocks(Window(0, 0, 489, 443), 64, 0, 512, False)[0]  # 64 tiles, batch 1
    parts = tmp_path / "parts"
    parts.mkdir()
    job = _job(config, block, parts)
    real, calls = worker._predictor, []

    class Predicting:
        def __init__(self, predictor):
            self.predictor = predictor

        def __getattr__(self, name):
            return getattr(self.predictor, name)

        def __call__(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 3:
                if again:  # cancelled, and a run with other parameters made the folder anew
                    (parts / MANIFEST).write_text('{"generator": "LandLearn", "key": "run2"}')
                else:
                    shutil.rmtree(parts)  # the client cancels the run
            return self.predictor(*args, **kwargs)

    def loaded(config, sha):
        (predictor, info), first = real(config, sha)
        return (Predicting(predictor), info), first

    monkeypatch.setattr(worker, "_predictor", loaded)
    monkeypatch.setattr(worker, "WATCH_S", 0.0)
    with pytest.raises(Cancelled):
        run_block(job)
    assert len(calls) == 3
    # nothing of this block is left: no folder, or only the new run's manifest
    assert os.listdir(parts) == [MANIFEST] if again else not parts.exists()


def test_a_workers_threads_load_the_model_once(monkeypatch):
    """A `dask worker` runs one task per core: its threads' first blocks all asked for the
    model at once, and each loaded its own copy. They wait for one load now."""
    import threading
    import time
    from types import SimpleNamespace

    from landlearn.core.classify.distributed import worker

    loads = []

    def slow_load(*args):
        loads.append(args)
        time.sleep(0.2)
        return object()

    monkeypatch.setattr(worker, "load_predictor", slow_load)
    monkeypatch.setattr(worker, "_PREDICTORS", {})
    config = SimpleNamespace(model="m.dlpk", device="cpu", runtime="auto", quantize=False,
                             mixed_precision=False)
    got = []
    threads = [threading.Thread(target=lambda: got.append(worker._predictor(config, "abc")))
               for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1
    assert len({id(p) for p, _ in got}) == 1 and sum(fresh for _, fresh in got) == 1
