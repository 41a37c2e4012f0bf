"""The default size limit is the one the size check and the engine's configs apply."""

import pytest

from landlearn.core.errors import InputError
from landlearn.core.geo.limits import DEFAULT_MAX_GPX
from landlearn.core.geo.sizes import check_output_size
from landlearn.core.progress import RecordingProgress
from landlearn.core.segment.segment_mean_shift import SegmentConfig


def test_the_default_limit_stops_a_larger_request_and_lets_one_at_it_pass():
    side = int((DEFAULT_MAX_GPX * 1e9) ** 0.5)
    check_output_size(side, side, [], DEFAULT_MAX_GPX, RecordingProgress())
    with pytest.raises(InputError, match=f"more than the limit of {DEFAULT_MAX_GPX:g}"):
        check_output_size(side + 1000, side, [], DEFAULT_MAX_GPX, RecordingProgress())
    assert SegmentConfig("in.tif").max_output_gpx == DEFAULT_MAX_GPX
