"""RESUME for a collection: a terminated run's finished items (each_item) or blocks
(mosaicked, on Dask) are taken up by the next run with the same parameters, and only then."""

import importlib
import os
import signal
import threading

import numpy as np
import pytest
import rasterio

from landlearn.core.classify.classify_pixels import ClassifyConfig
from landlearn.core.classify.collection import CollectionConfig, classify_collection
from landlearn.core.classify.distributed.staging import staging_path
from landlearn.core.errors import InputError
from landlearn.core.files import MARKER
from landlearn.core.progress import RecordingProgress
from landlearn.core.termination import Terminated


class _KilledAt(RecordingProgress):
    """A termination signal (as termination_guard raises it), or ``error``, once ``when``
    is true."""

    def __init__(self, when, error=None):
        super().__init__()
        self.when, self.error = when, error

    def _stop(self):
        raise self.error if self.error is not None else Terminated(signal.SIGTERM)

    def info(self, message):
        super().info(message)
        if self.when(message, None):
            self._stop()

    def set_fraction(self, fraction):
        super().set_fraction(fraction)
        if self.when(None, fraction):
            self._stop()


def _terminated(config, progress):
    """Run in a thread: there termination_guard leaves the signals alone, so the raised
    Terminated unwinds the run as a real one would without ending this process."""
    got = {}

    def run():
        try:
            classify_collection(config, progress)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            got["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert isinstance(got.get("error"), Terminated), got


def _each(rf, folder, out, **settings):
    return CollectionConfig(str(rf[0]), "each_item", folder=str(folder), output_folder=str(out),
                            overwrite=True, classify=ClassifyConfig("", "", "", **settings))


def _read_all(folder):
    maps = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith("_classified.tif"):
            with rasterio.open(os.path.join(folder, name)) as ds:
                maps[name] = ds.read(1)
    return maps, open(os.path.join(folder, "class_areas.csv")).read()


@pytest.mark.heavy
def test_each_item_resume_takes_up_the_finished_items_only_with_the_same_parameters(
        rf, nc_tiles, tmp_path):
    folder = nc_tiles[0]
    reference = tmp_path / "reference"
    classify_collection(_each(rf, folder, reference))
    ref_maps, ref_table = _read_all(reference)
    out = tmp_path / "maps"
    staging = tmp_path / ".maps.landlearn-resume"
    at_third = _KilledAt(lambda m, f: bool(m) and m.startswith("item 3/4"))

    # terminated at the third item: the first two maps stay for RESUME, nothing published
    _terminated(_each(rf, folder, out, resume=True), at_third)
    assert sorted(os.listdir(staging)) == [
        "landlearn_items", "landlearn_resume.json",
        "tile_a_classified.qml", "tile_a_classified.tif", "tile_a_classified.tif.aux.xml",
        "tile_b_classified.qml", "tile_b_classified.tif", "tile_b_classified.tif.aux.xml"]
    assert not os.path.exists(out) or not os.listdir(out)

    # a changed parameter: nothing taken up, and the stale maps go
    progress = RecordingProgress()
    other = tmp_path / "other"
    _terminated(_each(rf, folder, out, resume=True, confidence_threshold=0.4),
                _KilledAt(lambda m, f: bool(m) and m.startswith("item 1/4")))
    assert sorted(os.listdir(staging)) == ["landlearn_items", "landlearn_resume.json"]
    # RESUME off: a stopped run's folder is stale whatever its key, and goes
    _terminated(_each(rf, folder, out, resume=True), at_third)
    classify_collection(_each(rf, folder, other), progress)
    assert os.path.exists(staging)  # another output folder's: left alone
    classify_collection(_each(rf, folder, out), progress)
    assert not os.path.exists(staging) and not any("RESUME" in m for m in progress.messages)

    # the same parameters: items 1 and 2 are taken up, 3 and 4 classified, the folder as
    # an uninterrupted run makes it
    _terminated(_each(rf, folder, out, resume=True), at_third)
    progress = RecordingProgress()
    result = classify_collection(_each(rf, folder, out, resume=True), progress)
    assert progress.messages[1].startswith("RESUME: 2 of 4 items were finished by an earlier run")
    started = [m.split(":")[0] for m in progress.messages if m.startswith("item ")]
    assert started == ["item 3/4", "item 4/4"]
    maps, table = _read_all(out)
    assert maps.keys() == ref_maps.keys() and table == ref_table
    assert all(np.array_equal(maps[n], ref_maps[n]) for n in maps)
    assert result.outputs == [str(out / n) for n in sorted(ref_maps)]
    assert not os.path.exists(staging)
    assert "landlearn_items" not in os.listdir(out) and "landlearn_resume.json" not in \
        os.listdir(out) and MARKER in os.listdir(out)


def _fails_at_third(error):
    return _KilledAt(lambda m, f: bool(m) and m.startswith("item 3/4"), error)


def test_each_item_resume_keeps_the_finished_maps_after_an_error_but_not_a_cancel(
        rf, nc_tiles, tmp_path):
    """RESUME's folder went with any error but a termination: one unreadable item (or a
    scheduler not up yet) discarded every finished map. The user's Cancel still removes it."""
    from landlearn.core.errors import Cancelled

    folder, out = nc_tiles[0], tmp_path / "maps"
    staging = tmp_path / ".maps.landlearn-resume"
    with pytest.raises(OSError, match="the disk went away"):
        classify_collection(_each(rf, folder, out, resume=True),
                            _fails_at_third(OSError("the disk went away")))
    assert {"tile_a_classified.tif", "tile_b_classified.tif"} <= set(os.listdir(staging))
    progress = RecordingProgress()
    classify_collection(_each(rf, folder, out, resume=True), progress)
    assert progress.messages[1].startswith("RESUME: 2 of 4 items were finished")
    assert not os.path.exists(staging)
    with pytest.raises(Cancelled):
        classify_collection(_each(rf, folder, tmp_path / "again", resume=True),
                            _fails_at_third(Cancelled()))
    assert not os.path.exists(tmp_path / ".again.landlearn-resume")
    # without RESUME an error leaves nothing
    with pytest.raises(OSError):
        classify_collection(_each(rf, folder, tmp_path / "plain"), _fails_at_third(OSError("x")))
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".plain")]


def test_each_item_resume_redoes_only_an_item_replaced_since(rf, nc_tiles, tmp_path):
    """The items' files were in the folder's key: putting back the one damaged item that
    stopped the run discarded every finished map (a qgis_process sweep, stop 68). Now an
    item is taken up only where its files are as it was made from; the others stay."""
    import shutil

    folder = tmp_path / "items"
    shutil.copytree(nc_tiles[0], folder)
    out = tmp_path / "maps"
    with pytest.raises(OSError, match="the disk went away"):
        classify_collection(_each(rf, folder, out, resume=True),
                            _fails_at_third(OSError("the disk went away")))
    tile = folder / "tile_a.tif"  # the same pixels, written again: another file
    shutil.copy(nc_tiles[0] / "tile_a.tif", tmp_path / "a.tif")
    os.replace(tmp_path / "a.tif", tile)
    os.utime(tile, (1, 1))
    progress = RecordingProgress()
    classify_collection(_each(rf, folder, out, resume=True), progress)
    assert progress.messages[1].startswith("RESUME: 1 of 4 items were finished"), \
        progress.messages
    started = [m.split(":")[0] for m in progress.messages if m.startswith("item ")]
    assert started == ["item 1/4", "item 3/4", "item 4/4"]
    assert not any("starts over" in w for w in progress.warnings)


@pytest.mark.parametrize("mode", ["mosaicked", "each_item"])
def test_an_error_about_the_input_raster_names_the_collections_parameter(
        rf, nc_tiles, tmp_path, monkeypatch, mode):
    """Classify Pixels' INPUT_RASTER is the mosaic or an item here: its errors (a worker
    that cannot see an item, say) name the parameter the user gave the items by."""
    module = importlib.import_module("landlearn.core.classify.collection.classify_collection")

    def fails(config, progress=None):
        raise InputError("input_raster", "worker tcp://a:1 cannot open 'tile_a.tif'")

    monkeypatch.setattr(module, "classify_pixels", fails)
    items = tuple(str(nc_tiles[0] / f"tile_{c}.tif") for c in "ab")
    with pytest.raises(InputError, match="^RASTERS: worker tcp://a:1 cannot open"):
        classify_collection(CollectionConfig(str(rf[0]), mode, rasters=items,
                                             output=str(tmp_path / "m.tif"),
                                             output_folder=str(tmp_path / "maps")))
    with pytest.raises(InputError, match="^FOLDER: worker"):
        classify_collection(CollectionConfig(str(rf[0]), mode, folder=str(nc_tiles[0]),
                                             output=str(tmp_path / "m.tif"),
                                             output_folder=str(tmp_path / "maps")))
    assert os.listdir(tmp_path) == []


@pytest.mark.heavy
def test_mosaicked_resume_on_dask_takes_up_the_blocks(rf, nc_tiles, tmp_path):
    """The mosaic's VRT gets a new name each run; the blocks a terminated run finished are
    still taken up (the key knows the VRT by its text and its items' files)."""
    pytest.importorskip("distributed")
    out = tmp_path / "mosaic.tif"

    def config(output, **more):  # 10 m cells: ~30 blocks, so a stop leaves some undone
        return CollectionConfig(str(rf[0]), "mosaicked", folder=str(nc_tiles[0]),
                                output=str(output), classify=ClassifyConfig(
                                    "", "", "", tile_size=64, cell_size=10.0, **more))

    reference = tmp_path / "reference.tif"
    classify_collection(config(reference))
    dask = dict(block_size=256, parallel_processing_factor="2", resume=True)
    _terminated(config(out, **dask), _KilledAt(lambda m, f: bool(m) and m.startswith("blocks ")))
    parts = [f for f in os.listdir(staging_path(str(out))) if f.endswith("_class.tif")]
    assert parts and not os.path.exists(out)
    assert [f for f in os.listdir(tmp_path) if f.endswith(".vrt")] == []
    progress = RecordingProgress()
    classify_collection(config(out, **dask), progress)
    resumed = [m for m in progress.messages if m.startswith("RESUME: ")]
    assert resumed and resumed[0].startswith(f"RESUME: {len(parts)} of ")
    assert len(parts) < int(resumed[0].split(" of ")[1].split()[0])  # a partial run
    with rasterio.open(out) as ds, rasterio.open(reference) as ref:
        assert np.array_equal(ds.read(1), ref.read(1))
    assert not os.path.exists(staging_path(str(out)))
