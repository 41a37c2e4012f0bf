"""The tile stream over part of a raster gives that part of the whole raster's map."""

import os
from contextlib import ExitStack

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
from landlearn.core.classify.output import ClassifyOutputs
from landlearn.core.classify.predictor import load_predictor
from landlearn.core.classify.stream import open_source, stream_tiles
from landlearn.core.errors import Cancelled
from landlearn.core.geo.grid import count_tiles
from landlearn.core.progress import RecordingProgress


def test_streaming_a_window_on_the_tile_grid_gives_the_whole_maps_pixels(rf, sample, tmp_path):
    image = str(sample / "nc_landsat7" / "landsat_multiband.tif")
    whole = ClassifyConfig(image, str(rf[0]), str(tmp_path / "whole.tif"), tile_size=64)
    classify_pixels(whole)
    part = ClassifyConfig(image, str(rf[0]), str(tmp_path / "part.tif"), tile_size=64)
    predictor, info = load_predictor(part.model, "cpu")
    source, area = open_source(part, info, RecordingProgress())
    win = Window(128, 192, 200, 150)  # on the 64 px grid; its tiles hang past its edges
    with source, ExitStack() as stack:
        outputs = stack.enter_context(ClassifyOutputs(part, source.grid.subgrid(win), info, win,
                                                      64, 0))
        skipped = stream_tiles(part, source, win, 64, 0, 1, predictor, outputs,
                               RecordingProgress(), 12)
    assert skipped == 0 and area == Window(0, 0, 489, 443)
    with rasterio.open(tmp_path / "whole.tif") as a, rasterio.open(tmp_path / "part.tif") as b:
        assert np.array_equal(a.read(1, window=win), b.read(1))


@pytest.mark.parametrize("blend", ["centre", "weighted"])
def test_reading_and_writing_between_batches_gives_the_threaded_streams_map(model, sample,
                                                                           tmp_path, blend):
    """overlap=False (a Dask worker on a host its workers fill) is the same stream, only
    without reader and writer threads; 30 tiles in batches of 4 leave a last batch of 2."""
    image = str(sample / "nc_landsat7" / "landsat_multiband.tif")
    maps = {}
    for overlap in (True, False):
        out = tmp_path / f"{overlap}.tif"
        config = ClassifyConfig(image, model, str(out), device="cpu", blend=blend,
                                output_probabilities=str(tmp_path / f"{overlap}_p.tif"))
        predictor, info = load_predictor(config.model, "cpu")
        source, area = open_source(config, info, RecordingProgress())
        timings = {}
        with source, ExitStack() as stack:
            outputs = stack.enter_context(ClassifyOutputs(
                config, source.grid.subgrid(area), info, area, 128, 16))
            assert count_tiles(area, (96, 96)) == 30
            stream_tiles(config, source, area, 128, 16, 4, predictor, outputs,
                         RecordingProgress(), 30, timings, overlap)
        assert min(timings.values()) > 0
        with rasterio.open(out) as c, rasterio.open(tmp_path / f"{overlap}_p.tif") as p:
            maps[overlap] = c.read(), p.read()
    assert np.array_equal(maps[True][0], maps[False][0])
    assert np.array_equal(maps[True][1], maps[False][1])


def test_a_cancel_between_batches_stops_the_inline_stream_and_writes_nothing(model, sample,
                                                                            tmp_path):
    image = str(sample / "nc_landsat7" / "landsat_multiband.tif")
    config = ClassifyConfig(image, model, str(tmp_path / "x.tif"), device="cpu")
    predictor, info = load_predictor(config.model, "cpu")
    source, area = open_source(config, info, RecordingProgress())
    with pytest.raises(Cancelled), source, ExitStack() as stack:
        outputs = stack.enter_context(ClassifyOutputs(config, source.grid.subgrid(area), info,
                                                      area, 128, 16))
        stream_tiles(config, source, area, 128, 16, 2, predictor, outputs,
                     RecordingProgress(cancel_after_checks=2), 30, None, False)
    assert os.listdir(tmp_path) == []


def test_a_trailing_alpha_band_is_a_mask_whatever_the_model_knows_of_band_counts(tmp_path):
    """One alpha band past the bands trained on is the mask; a model that records no band
    count (chips from elsewhere) made 'None + 1' a bug report on any RGBA raster."""
    from types import SimpleNamespace

    import numpy as np
    import rasterio
    from rasterio.enums import ColorInterp
    from rasterio.transform import from_origin

    from landlearn.core.classify.classify_pixels import ClassifyConfig

    path = tmp_path / "rgba.tif"
    with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=4, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(0, 80, 10, 10),
                       photometric="RGB", alpha="YES") as ds:  # GDAL 3.10 needs ALPHA=YES
        ds.write(np.full((4, 8, 8), 255, np.uint8))
        ds.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue,
                          ColorInterp.alpha]
    config = ClassifyConfig(str(path), "m.dlpk", str(tmp_path / "out.tif"))
    for trained_on in (None, 3, 4):
        info = SimpleNamespace(source_bands=[1, 2, 3], source_band_count=trained_on,
                               in_channels=3)
        source, area = open_source(config, info, RecordingProgress())
        source.close()
        assert (area.width, area.height) == (8, 8)


def test_one_bands_own_nodata_is_its_mean_for_a_network_and_raw_for_a_classical_model():
    from types import SimpleNamespace

    from landlearn.core.classify.stream import normalise
    from landlearn.core.geo.raster import Block

    data = np.array([[[10.0, 20.0], [30.0, 40.0]],
                     [[-9999.0, 5.0], [7.0, np.inf]]], np.float32)
    block = Block(data, np.array([[True, True], [True, False]]), Window(0, 0, 2, 2))
    deep = SimpleNamespace(kind="deep", mean=np.array([20.0, 6.0]), std=np.array([10.0, 1.0]))
    z = normalise(block, deep, nodata=[-9999.0, -9999.0])
    np.testing.assert_allclose(z, [[[-1, 0], [1, 0]], [[0, -1], [1, 0]]])  # -9999 and inf: 0
    raw = normalise(block, deep, raw=True, nodata=[-9999.0, -9999.0])
    np.testing.assert_allclose(raw, [[[10, 20], [30, 20]], [[6, 5], [7, 6]]])
    classical = SimpleNamespace(kind="classical", mean=np.zeros(2), std=np.ones(2))
    assert normalise(block, classical, nodata=[-9999.0, -9999.0])[1, 0, 0] == -9999.0


def test_a_dask_blocks_skipped_tiles_count_its_own_window_not_its_halo(rf, sample, tmp_path):
    """Tiles all NoData are counted by the block whose window holds their centre: a
    block's halo tiles were counted by it and by their own block, so a run's count of
    skipped tiles could exceed its tiles."""
    with rasterio.open(sample / "nc_landsat7" / "landsat_multiband.tif") as ds:
        data, profile = ds.read(), ds.profile
    data[:, :, :128] = ds.nodata  # columns 0..127 NoData: two columns of 64 px tiles
    image = str(tmp_path / "left_empty.tif")
    with rasterio.open(image, "w", **profile) as out:
        out.write(data)
    config = ClassifyConfig(image, str(rf[0]), str(tmp_path / "p.tif"), tile_size=64)
    predictor, info = load_predictor(config.model, "cpu")
    source, _area = open_source(config, info, RecordingProgress())
    work = Window(0, 0, 256, 128)  # 4 x 2 tiles, the left 2 x 2 all NoData
    counts = []
    for counted in (None, Window(64, 0, 192, 128)):
        with ExitStack() as stack:
            outputs = stack.enter_context(ClassifyOutputs(
                config, source.grid.subgrid(work), info, work, 64, 0))
            counts.append(stream_tiles(config, source, work, 64, 0, 1, predictor, outputs,
                                       RecordingProgress(), 8, counted=counted))
    source.close()
    assert counts == [4, 2]
