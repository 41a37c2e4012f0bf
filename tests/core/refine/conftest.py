"""A real noisy map to refine: the random forest's classes and probabilities over
nc_landsat7 (Classify Pixels), and Segment's ids of the same scene."""

import pytest


@pytest.fixture(scope="session")
def rf_maps(rf, sample, tmp_path_factory):
    from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
    from landlearn.core.segment import SegmentConfig, segment

    out = tmp_path_factory.mktemp("refine")
    image = str(sample / "nc_landsat7" / "landsat_multiband.tif")
    classify_pixels(ClassifyConfig(image, str(rf[0]), str(out / "rf.tif"),
                                   output_probabilities=str(out / "rf_prob.tif")))
    segment(SegmentConfig(image, output_segment_ids=str(out / "segments.tif")))
    return out
