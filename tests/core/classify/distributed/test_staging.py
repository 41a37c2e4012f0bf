"""The staging folder: whose parts, for which run, and what RESUME may take up."""

import dataclasses
import os
import shutil

import pytest
from rasterio.windows import Window

from landlearn.core.classify.classify_pixels import ClassifyConfig
from landlearn.core.classify.distributed.plan import plan_blocks
from landlearn.core.classify.distributed.staging import (
    Staging,
    raster_files,
    raster_identity,
    run_key,
    staging_path,
)
from landlearn.core.errors import InputError

BLOCKS = plan_blocks(Window(0, 0, 489, 443), 64, 0, 256, False)


def _key(config):
    return run_key(config, "ab" * 32, "engine", BLOCKS, 64, 0)


def test_the_key_follows_what_decides_pixels_only(nc_image, tmp_path):
    base = ClassifyConfig(nc_image, "m.dlpk", str(tmp_path / "a.tif"))
    same = [dataclasses.replace(base, output=str(tmp_path / "b.tif")),
            dataclasses.replace(base, parallel_processing_factor="4", retries=7, resume=True,
                                dask_scheduler="tcp://x:1")]
    assert {_key(c) for c in same} == {_key(base)}
    other = [dataclasses.replace(base, confidence_threshold=0.5),
             dataclasses.replace(base, blend="weighted"),
             dataclasses.replace(base, output_confidence=str(tmp_path / "c.tif"))]
    assert len({_key(c) for c in other} | {_key(base)}) == 4
    assert run_key(base, "cd" * 32, "engine", BLOCKS, 64, 0) != _key(base)


def test_resume_takes_only_complete_blocks_of_the_same_run(nc_image, tmp_path):
    config = ClassifyConfig(nc_image, "m.dlpk", str(tmp_path / "map.tif"),
                            output_confidence=str(tmp_path / "conf.tif"))
    first = Staging(config.output, "key1", resume=True)
    assert not first.resumed and first.path == staging_path(config.output)
    for name in ("block_000000_class.tif", "block_000000_confidence.tif",
                 "block_000002_class.tif"):  # block 2 lacks its confidence part
        open(os.path.join(first.path, name), "wb").close()
    again = Staging(config.output, "key1", resume=True)
    assert again.resumed and again.finished(BLOCKS, config) == {0}
    assert not first.started_over and not again.started_over
    fresh = Staging(config.output, "key1", resume=False)
    assert not fresh.resumed and fresh.finished(BLOCKS, config) == set()
    assert not fresh.started_over  # without RESUME nothing was asked to be taken up
    assert os.listdir(fresh.path) == ["landlearn_parts.json"]
    changed = Staging(config.output, "key2", resume=True)
    assert not changed.resumed and changed.started_over  # the engine warns: STARTED_OVER
    changed.remove()
    assert not os.path.exists(changed.path)


def test_a_run_removes_its_staging_only_while_it_is_its_own(tmp_path):
    """Run A into map.tif, then run B into it with other parameters (another QGIS, a job
    requeued while A still ran): B replaced A's folder with its own. A's clean-up leaves
    B's folder; B's removes it."""
    out = str(tmp_path / "map.tif")
    a = Staging(out, "key-a", resume=False)
    b = Staging(out, "key-b", resume=False)
    assert a.path == b.path
    a.remove()
    assert os.listdir(b.path) == ["landlearn_parts.json"]
    b.remove()
    assert not os.path.exists(b.path)


def test_a_folder_in_the_way_that_is_not_ours_stops_the_run(tmp_path):
    out = str(tmp_path / "map.tif")
    os.makedirs(staging_path(out))
    open(os.path.join(staging_path(out), "precious.txt"), "w").close()
    with pytest.raises(InputError, match="^OUTPUT: .* is in the way .* LandLearn did not make it"):
        Staging(out, "k", resume=True)
    assert os.path.exists(os.path.join(staging_path(out), "precious.txt"))


def test_an_empty_folder_left_by_a_stopped_block_is_not_in_the_way(tmp_path):
    out = str(tmp_path / "map.tif")
    os.makedirs(staging_path(out))  # what a block stopped while it started could leave
    staging = Staging(out, "k", resume=True)
    assert not staging.resumed and os.listdir(staging.path) == ["landlearn_parts.json"]


def _vrt(path, sources):
    from landlearn.core.classify.collection.mosaic import build_vrt

    build_vrt(str(path), [str(s) for s in sources])
    return str(path)


def test_a_rasters_identity_is_its_files_and_a_vrt_its_text(nc_image, tmp_path):
    """RESUME's key: a collection's mosaic gets a new name each run but is the same
    raster; a changed source is not; statistics QGIS writes beside a raster change no
    pixel."""
    src = tmp_path / "src"
    src.mkdir()
    items = [src / "a.tif", src / "b.tif"]
    for item in items:
        shutil.copy(nc_image, item)
    first = _vrt(tmp_path / ".map.tif.1234abcd.part.vrt", items)
    second = _vrt(tmp_path / ".map.tif.9876fedc.part.vrt", items)
    assert raster_files(first)[0] == first
    assert sorted(raster_files(first)[1:]) == sorted(str(i) for i in items)
    assert raster_identity(first) == raster_identity(second)
    assert raster_identity(first, raster_files(first)) == raster_identity(first)  # as given
    (src / "a.tif.aux.xml").write_text("<PAMDataset/>")
    assert raster_identity(first) == raster_identity(second)
    assert raster_files(str(items[0])) == [str(items[0])]
    before = raster_identity(first)
    os.utime(items[1], ns=(1, 1))
    assert raster_identity(first) != before
    assert raster_identity("/vsis3/bucket/x.tif") == [["/vsis3/bucket/x.tif"]]
