"""Sizes told and checked before any pixel is read: pixels, disk space, cell size."""

import math

import numpy as np
import pytest
from rasterio.crs import CRS
from rasterio.transform import from_origin

from landlearn.core.errors import InputError
from landlearn.core.geo import sizes
from landlearn.core.geo.grid import Grid
from landlearn.core.geo.sizes import PlannedOutput, check_cell_size, check_output_size
from landlearn.core.progress import RecordingProgress


def test_the_size_is_logged_and_a_request_beyond_max_gpx_stops_with_the_numbers(tmp_path):
    out = PlannedOutput("output", str(tmp_path / "m.tif"), 1, np.uint8)
    progress = RecordingProgress()
    check_output_size(2000, 1000, [out], 20, progress)
    assert progress.messages == ["The output is 2,000 x 1,000 px (2.0 MPix); uncompressed: "
                                 "OUTPUT up to 2 MB"]
    progress = RecordingProgress()
    with pytest.raises(InputError, match=r"^MAX_OUTPUT_GPX: the export area would be 200,000 x "
                                         r"150,000 = 30.0 gigapixels, more than the limit of 20\. "):
        check_output_size(200_000, 150_000, [], 20, progress, "export area")
    # told before it stops
    assert progress.messages == ["The export area is 200,000 x 150,000 px (30,000.0 MPix)"]
    check_output_size(200_000, 150_000, [], 30, RecordingProgress(), "export area")  # at the limit
    for bad in (0, -1, math.inf, math.nan):
        with pytest.raises(InputError, match="^MAX_OUTPUT_GPX: .* is not a positive number"):
            check_output_size(10, 10, [], bad, RecordingProgress())


def test_disk_space_per_folder_warns_or_stops(tmp_path, monkeypatch):
    free = {str(tmp_path / "a"): 10**9, str(tmp_path / "b"): 10**12}
    monkeypatch.setattr(sizes, "free_bytes", lambda folder: free.get(folder))
    classes = PlannedOutput("output", str(tmp_path / "a" / "m.tif"), 1, np.uint8)
    probs = PlannedOutput("output_probabilities", str(tmp_path / "a" / "p.tif"), 2, np.float32)
    elsewhere = PlannedOutput("output_probabilities", str(tmp_path / "b" / "p.tif"), 2, np.float32)
    assert classes.bytes_per_pixel == 1 and probs.bytes_per_pixel == 8
    # 4 GB of class map on 1 GB free: fits only compressed (20x at best) -> a warning
    progress = RecordingProgress()
    check_output_size(4000, 1_000_000, [classes], 20, progress)
    assert len(progress.warnings) == 1
    assert "up to 4,000 MB uncompressed" in progress.warnings[0] and "1,000 MB are free" in progress.warnings[0]
    # floats compress 3x at best: 32 GB / 3 + 4 GB / 20 cannot fit in 1 GB
    with pytest.raises(InputError, match=r"^OUTPUT_PROBABILITIES: disk full ahead: the outputs need "
                                         r"10,867 MB at least \(up to 36,000 MB uncompressed\) at .*a., which has 1,000 MB free"):
        check_output_size(4000, 1_000_000, [probs, classes], 20, RecordingProgress())
    # on another disk the same outputs are fine
    progress = RecordingProgress()
    check_output_size(4000, 1_000_000, [classes, elsewhere], 20, progress)
    assert len(progress.warnings) == 1  # only folder a is short


def test_temporary_files_are_counted_uncompressed_and_named_in_the_log(tmp_path, monkeypatch):
    monkeypatch.setattr(sizes, "free_bytes", lambda folder: 1_000_000_000)
    path = str(tmp_path / "ids.tif")
    labels = PlannedOutput("output_segment_ids", path, 1, np.int64, "temporary labels")
    ids = PlannedOutput("output_segment_ids", path, 1, np.uint32)
    progress = RecordingProgress()
    check_output_size(10_000, 10_000, [labels, ids], 20, progress)
    assert progress.messages == ["The output is 10,000 x 10,000 px (100.0 MPix); uncompressed: "
                                 "temporary labels beside OUTPUT_SEGMENT_IDS up to 800 MB, "
                                 "OUTPUT_SEGMENT_IDS up to 400 MB"]
    # 800 MB raw + 400 MB / 3 at best cannot fit in 900 MB; as a compressed output it could
    monkeypatch.setattr(sizes, "free_bytes", lambda folder: 900_000_000)
    with pytest.raises(InputError, match=r"^OUTPUT_SEGMENT_IDS: disk full ahead: the outputs "
                                         r"need 933 MB at least"):
        check_output_size(10_000, 10_000, [labels, ids], 20, RecordingProgress())
    check_output_size(10_000, 10_000, [PlannedOutput("output_segment_ids", path, 1, np.int64),
                                       ids], 20, RecordingProgress())


def _grid(crs, res):
    return Grid(CRS.from_string(crs), from_origin(0, 0, res, res), 100, 100)


def test_cell_size_must_be_positive_plausible_and_smaller_than_the_area():
    metric = _grid("EPSG:32633", 10)
    check_cell_size(None, metric, 1000, 1000)
    check_cell_size(25.5, metric, 1000, 1000)
    for bad in (0, -10, math.nan, math.inf):
        with pytest.raises(InputError, match=r"^CELL_SIZE: .* is not a positive cell size; .*\(10 metre\)"):
            check_cell_size(bad, metric, 1000, 1000)
    with pytest.raises(InputError, match=r"^CELL_SIZE: 2000 metre is larger than the whole area "
                                         r"\(1,000 x 500 metre\)"):
        check_cell_size(2000, metric, 1000, 500)
    geographic = _grid("EPSG:4326", 0.0003)
    check_cell_size(0.001, geographic, 0.03, 0.03)
    with pytest.raises(InputError, match=r"^RESOLUTION: 30 is in the raster CRS's units, degrees: "
                                         r"about 3,330 km per pixel"):
        check_cell_size(30, geographic, 0.03, 0.03, parameter="resolution")
