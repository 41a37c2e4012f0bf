"""The tile stream over part of a raster gives that part of the whole raster's map."""

from contextlib import ExitStack

import numpy as np
import rasterio
from rasterio.windows import Window

from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
from landlearn.core.classify.output import ClassifyOutputs
from landlearn.core.classify.predictor import load_predictor
from landlearn.core.classify.stream import open_source, stream_tiles
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
