"""Fixtures shared by the core tests of several packages (classical, classify)."""

import pytest


def _nc_classifier(sample, folder, **kw):
    pytest.importorskip("sklearn")
    pytest.importorskip("skops")
    from landlearn.core.classical.train_classifier import ClassicalConfig, train_classical
    from landlearn.core.labels.base import LabelConfig
    from landlearn.core.progress import RecordingProgress

    nc = sample / "nc_landsat7"
    polys = LabelConfig(str(nc / "landsat96_polygons.shp"), class_field="id",
                        class_name_field="label")
    out = folder / f"{kw.get('model_type', 'rf')}.dlpk".replace("random_forest", "rf")
    progress = RecordingProgress()
    result = train_classical(ClassicalConfig(str(nc / "landsat_multiband.tif"), polys, str(out),
                                             **kw), progress)
    return out, result, progress


@pytest.fixture(scope="session")
def rf(sample, tmp_path_factory):
    """A random forest package trained on the nc_landsat7 polygons with the defaults:
    (package path, ClassicalResult, RecordingProgress of its training)."""
    return _nc_classifier(sample, tmp_path_factory.mktemp("rf"))


@pytest.fixture(scope="session")
def rf_neighbourhood(sample, tmp_path_factory):
    """The same forest with neighbourhood features: each band's mean and standard deviation
    over 3x3 and 7x7 px windows (tiles padded by 3 px)."""
    from landlearn.core.classical.neighbourhood import Neighbourhood

    return _nc_classifier(sample, tmp_path_factory.mktemp("rf_neighbourhood"),
                          neighbourhood=Neighbourhood((3, 7), "mean_std"))


@pytest.fixture(scope="session")
def svm(sample, tmp_path_factory):
    """The same with an RBF SVM, whose package carries a confidence calibration."""
    return _nc_classifier(sample, tmp_path_factory.mktemp("svm"), model_type="svm")


@pytest.fixture(scope="session")
def nc_objects(sample, tmp_path_factory):
    """An object-based random forest of nc_landsat7: Segment's ids (MIN_SEGMENT_SIZE 5) and
    a forest trained on their MEAN;STD with the polygons: (segments path, package path,
    ClassicalResult, RecordingProgress of its training)."""
    pytest.importorskip("sklearn")
    pytest.importorskip("skops")
    from landlearn.core.classical.train_classifier import ClassicalConfig, train_classical
    from landlearn.core.labels.base import LabelConfig
    from landlearn.core.progress import RecordingProgress
    from landlearn.core.segment import SegmentConfig, segment

    nc = sample / "nc_landsat7"
    out = tmp_path_factory.mktemp("objects")
    image = str(nc / "landsat_multiband.tif")
    segment(SegmentConfig(image, output_segment_ids=str(out / "segments.tif"),
                          min_segment_size=5))
    polys = LabelConfig(str(nc / "landsat96_polygons.shp"), class_field="id",
                        class_name_field="label")
    progress = RecordingProgress()
    result = train_classical(ClassicalConfig(
        image, polys, str(out / "objects.dlpk"), segmented_raster=str(out / "segments.tif"),
        segment_attributes=("MEAN", "STD")), progress)
    return out / "segments.tif", out / "objects.dlpk", result, progress
