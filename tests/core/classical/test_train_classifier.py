"""Train a classical classifier from polygons: the package, its map, its accuracy, and errors."""

import json
import zipfile

import numpy as np
import pytest
import rasterio

from landlearn.core.accuracy.assess_accuracy import AssessConfig, assess_accuracy
from landlearn.core.classical.cv import FOREST_NOT_CALIBRATED
from landlearn.core.classical.train_classifier import (
    MODEL_TYPES,
    ClassicalConfig,
    _drop_generators,
    train_classical,
)
from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
from landlearn.core.errors import InputError
from landlearn.core.geo.grid import apply
from landlearn.core.labels.base import LabelConfig
from landlearn.core.progress import RecordingProgress

pytest.importorskip("sklearn")
pytest.importorskip("skops")


def _nc(sample):
    nc = sample / "nc_landsat7"
    return (str(nc / "landsat_multiband.tif"),
            LabelConfig(str(nc / "landsat96_polygons.shp"), class_field="id",
                        class_name_field="label"),
            LabelConfig(str(nc / "strata.tif")))


def test_an_svm_package_carries_its_confidence_calibration(svm):
    """Fitted on the out-of-fold predictions (class 2 is one polygon: the folds that test
    it never trained on it, so its samples say nothing of confidence and are left out)."""
    out, result, progress = svm
    with zipfile.ZipFile(out) as zf:
        info = json.loads(zf.read("svm.emd"))["LandLearn"]
        page = zf.read("report/report.html").decode()
    cal = info["calibration"]
    assert 0.8 * result.accuracy.samples < cal["samples"] < result.accuracy.samples
    assert cal["fitted_on"] == ("out-of-fold samples (grouped by polygon, weighted to the "
                                "labelled pixels' class shares)")
    assert cal["ece_after"] < cal["ece_before"] and 0.05 <= cal["temperature"] <= 20
    assert result.calibration.temperature == pytest.approx(cal["temperature"], rel=1e-5)
    assert "<h2>Confidence calibration</h2><p>Temperature" in page and "<svg" in page
    assert any(m.startswith("confidence calibrated on ") for m in progress.messages)


def test_random_forest_package_map_and_accuracy(sample, rf, tmp_path):
    out, result, progress = rf
    image, _, strata = _nc(sample)
    with zipfile.ZipFile(out) as zf:
        emd = json.loads(zf.read("rf.emd"))
        assert "model.skops" in zf.namelist() and "report/report.html" in zf.namelist()
        assert emd["LandLearn"]["trees_file"] in zf.namelist()
        assert not any(n.endswith((".pkl", ".pickle", ".joblib")) for n in zf.namelist())
    info = emd["LandLearn"]
    assert info["kind"] == "classical" and info["model_type"] == "random_forest"
    assert [c["Name"] for c in emd["Classes"]][:2] == ["developed", "agriculture"]
    assert "grouped by polygon" in info["training"]["validation"]
    # a forest keeps its raw vote shares, and its report says why
    assert "calibration" not in info
    with zipfile.ZipFile(out) as zf:
        page = zf.read("report/report.html").decode()
    assert "<h2>Confidence calibration</h2><p>Not calibrated: a random forest&#x27;s" in page
    assert f"confidence not calibrated: {FOREST_NOT_CALIBRATED}" in progress.messages
    assert result.accuracy is not None and 0.5 < result.accuracy.overall < 0.95
    assert any("Cross-validation grouped by polygon" in m for m in progress.messages)
    assert max(result.samples.values()) == 500
    cls_path = tmp_path / "rf_map.tif"
    progress = RecordingProgress()
    classify_pixels(ClassifyConfig(image, str(out), str(cls_path),
                                   output_confidence=str(tmp_path / "conf.tif")), progress)
    # the model's own scene: no warning (its values were once compared with mean 0, std 1)
    assert progress.warnings == []
    with rasterio.open(cls_path) as ds, rasterio.open(image) as src:
        cls = ds.read(1)
        nodata = np.all(src.read() == src.nodata, axis=0)
    assert np.all(cls[nodata] == 0) and set(np.unique(cls[~nodata])) <= set(range(1, 8))
    acc = assess_accuracy(AssessConfig(str(cls_path), strata))
    # Orfeo ToolBox's random forest on the same polygons: overall 0.388, macro F1 0.242
    assert acc.accuracy.overall > 0.45 and acc.accuracy.macro_f1 > 0.28


@pytest.mark.parametrize("model_type", ["svm", "maximum_likelihood", "hist_gradient_boosting"])
def test_other_classifiers_train_and_classify(sample, tmp_path, model_type):
    from landlearn.core.progress import RecordingProgress

    image, polys, _ = _nc(sample)
    out = tmp_path / "m.dlpk"
    progress = RecordingProgress()
    # attributes without segments: a pixel model, and said (they were ignored quietly)
    result = train_classical(ClassicalConfig(image, polys, str(out), model_type=model_type,
                                             max_samples_per_class=150, cv_folds=3,
                                             segment_attributes=("MEAN", "STD")), progress)
    assert result.accuracy.overall > 0.4
    assert any(w.startswith("SEGMENT_ATTRIBUTES describe segments and there is no "
                            "SEGMENTED_RASTER") for w in progress.warnings)
    if model_type == "maximum_likelihood":  # the default, however spelt: nothing to say
        quiet = RecordingProgress()
        train_classical(ClassicalConfig(image, polys, str(tmp_path / "q.dlpk"),
                                        model_type=model_type, max_samples_per_class=150,
                                        cv_folds=3, segment_attributes="mean;Color"), quiet)
        assert not any("SEGMENT_ATTRIBUTES" in w for w in quiet.warnings)
    with zipfile.ZipFile(out) as zf:
        trees = json.loads(zf.read("m.emd"))["LandLearn"].get("trees_file")
        # gradient boosting's trees go beside skops, as the forest's do
        assert trees == ("boosting_trees.npz" if model_type == "hist_gradient_boosting" else None)
        assert trees is None or trees in zf.namelist()
    from rasterio.windows import Window, bounds

    from landlearn.core.geo.extent import Extent

    with rasterio.open(image) as ds:
        box = bounds(Window(200, 150, 120, 100), ds.transform)
    classify_pixels(ClassifyConfig(image, str(out), str(tmp_path / "map.tif"), extent=Extent(*box),
                                   output_probabilities=str(tmp_path / "p.tif")))
    with rasterio.open(tmp_path / "p.tif") as ds:
        p = ds.read()
    valid = p[0] >= 0
    np.testing.assert_allclose(p[:, valid].sum(axis=0), 1.0, atol=1e-4)


def _poly_layer(path, boxes):
    from synthetic import polygons

    return polygons(path, boxes, epsg=32119)


def test_bad_input(sample, rf, tmp_path):
    image, polys, _ = _nc(sample)
    with rasterio.open(image) as ds:
        b = ds.bounds
    inside = (b.left + 3000, b.bottom + 3000, b.left + 4000, b.bottom + 4000)
    inside2 = (b.left + 6000, b.bottom + 6000, b.left + 7000, b.bottom + 7000)
    far = (b.right + 5000, b.top + 5000, b.right + 6000, b.top + 6000)
    # a square metre between pixel centres: a feature over the image that burns no pixel
    speck = (b.left + 9001, b.bottom + 9001, b.left + 9002, b.bottom + 9002)
    cases = [
        ([(1, inside), (2, inside2), (3, speck)], "^LABELS: class.* 3 'Class 3' have no labelled"),
        ([(1, far), (2, far)], "^LABELS: no label feature overlaps the raster"),
        ([(1, inside), (1, inside2)], "^LABELS: only one class"),
    ]
    for i, (polygons, message) in enumerate(cases):
        labels = LabelConfig(_poly_layer(tmp_path / f"p{i}.gpkg", polygons), class_field="cls")
        with pytest.raises(InputError, match=message):
            train_classical(ClassicalConfig(image, labels, str(tmp_path / "m.dlpk")))
    # labels only where the image is NoData
    with rasterio.open(image) as ds:
        nodata_col = int(np.argmax(np.all(ds.read() == ds.nodata, axis=(0, 1))))
        x, y = apply(ds.transform, nodata_col + 0.5, 10.5)
    labels = LabelConfig(_poly_layer(tmp_path / "nd.gpkg", [(1, (x - 1, y - 1, x + 1, y + 1)),
                                                            (2, (x - 1, y - 30, x + 1, y - 28))]),
                         class_field="cls")
    with pytest.raises(InputError, match="^LABELS: no labelled pixel falls on valid image"):
        train_classical(ClassicalConfig(image, labels, str(tmp_path / "m.dlpk")))
    with pytest.raises(InputError, match="^SVM_GAMMA: 'wide' is not"):
        train_classical(ClassicalConfig(image, polys, str(tmp_path / "m.dlpk"), model_type="svm",
                                        svm_gamma="wide"))
    with pytest.raises(InputError, match="^CV_FOLDS"):
        train_classical(ClassicalConfig(image, polys, str(tmp_path / "m.dlpk"), cv_folds=1))
    # a model of 5 bands against a 10-band raster
    out, _, _ = rf
    s2 = str(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif")
    with pytest.raises(InputError, match="^BANDS: the model expects bands"):
        classify_pixels(ClassifyConfig(s2, str(out), str(tmp_path / "x.tif")))
    assert not (tmp_path / "m.dlpk").exists() and not (tmp_path / "x.tif").exists()


def test_config_validation_names_the_parameter(tmp_path):
    base = dict(input_raster="in.tif", labels=LabelConfig("l.gpkg"),
                output_model=str(tmp_path / "m.dlpk"))
    ClassicalConfig(**base).validate()
    for m, _ in MODEL_TYPES:
        ClassicalConfig(**base, model_type=m).validate()
    ClassicalConfig(**base, svm_gamma="0.25", cv_folds=0).validate()
    for bad, message in ((dict(model_type="knn"), "^MODEL_TYPE: 'knn' is not one of random_forest"),
                         (dict(trees=0), "^TREES: a forest needs at least one tree"),
                         (dict(max_depth=0), "^MAX_DEPTH"), (dict(svm_c=0.0), "^SVM_C: C must be"),
                         (dict(svm_gamma="-1"), "^SVM_GAMMA: '-1' is not scale, auto"),
                         (dict(svm_gamma="nan"), "^SVM_GAMMA: 'nan' is not scale, auto"),
                         (dict(svm_gamma="inf"), "^SVM_GAMMA: 'inf' is not scale, auto"),
                         (dict(svm_c=float("nan")), "^SVM_C: C must be a positive number"),
                         (dict(cv_folds=21), "^CV_FOLDS"), (dict(cv_folds=1), "^CV_FOLDS"),
                         (dict(segmented_raster="s.tif", segment_attributes=("SHAPE",)),
                          "^SEGMENT_ATTRIBUTES: SHAPE is not"),
                         (dict(segmented_raster=str(tmp_path / "m.dlpk")), "^OUTPUT_MODEL")):
        with pytest.raises(InputError, match=message):
            ClassicalConfig(**base, **bad).validate()
    with pytest.raises(InputError, match="^OUTPUT_MODEL"):
        ClassicalConfig("in.tif", LabelConfig("l.gpkg"), str(tmp_path / "m.zip")).validate()


def test_object_based_package_records_its_segments(nc_objects):
    """One sample per segment, validated by polygon; the package says which attributes it
    needs, and Classify Pixels' predictor takes them rather than bands."""
    from landlearn.core.classical.predictor import ClassicalPredictor
    from landlearn.core.model_package.format import read_package
    from landlearn.core.model_package.info import model_info

    _, pkg, result, progress = nc_objects
    assert 250 < sum(result.samples.values()) < 400  # segments, not 500 pixels per class
    assert result.grouped_by == "polygon" and result.accuracy.overall > 0.4
    # 4 small polygons cover under MIN_LABELLED_SHARE of every segment they touch
    assert any("segments over 7 classes from 28 polygons" in m for m in progress.messages)
    package = read_package(str(pkg))
    info = package.landlearn
    assert info["segments"]["attributes"] == ["MEAN", "STD"]
    assert len(info["segments"]["features"]) == 2 * info["in_channels"] == 10
    assert info["training"]["parameters"]["segment_attributes"] == ["MEAN", "STD"]
    predictor = ClassicalPredictor(package, model_info(package))
    assert predictor.segment_attributes == ("MEAN", "STD") and predictor.features == 10
    assert "<p>Features: 10 per segment (MEAN, STD).</p>" in \
        package.read("report/report.html", 1 << 20, "report").decode()


def test_drop_generators_clears_numpy_generators_inside_the_model():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    class Holder:
        __module__ = "sklearn.fake"

        def __init__(self):
            self.rng = np.random.default_rng(0)
            self.kept = 3

    inner = Holder()
    model = make_pipeline(StandardScaler(), inner)
    model.extra = [Holder(), ("named", Holder())]
    _drop_generators(model)
    assert inner.rng is None and inner.kept == 3
    assert model.extra[0].rng is None and model.extra[1][1].rng is None


def test_the_package_names_the_rasters_bands_it_reads_for_arcgis(sample, tmp_path):
    """ExtractBands (ArcGIS's 0-based bands of the raster a model reads) said [0, 1] for
    a model that reads bands 3 and 1 (deep-learning sweep, stop 69)."""
    nc = sample / "nc_landsat7"
    package = tmp_path / "rf.dlpk"
    train_classical(ClassicalConfig(
        str(nc / "landsat_multiband.tif"), LabelConfig(str(nc / "landsat96_polygons.shp"),
                                                       class_field="id"),
        str(package), bands=(3, 1), trees=10, cv_folds=0), RecordingProgress())
    with zipfile.ZipFile(package) as zf:
        emd = json.loads(zf.read("rf.emd"))
    assert emd["ExtractBands"] == [2, 0] and emd["LandLearn"]["source_bands"] == [3, 1]
    # and the raster's NoData, which Classify Pixels looks for in a raster declaring none
    # (classical packages recorded none; a sweep, stop 69)
    assert emd["LandLearn"]["nodata"] == -99999.0
