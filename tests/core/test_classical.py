"""Classical classifiers from polygons: sampling, grouped validation, packages, maps, errors."""

import json
import zipfile

import numpy as np
import pytest
import rasterio

from landlearn.core.accuracy.assess_accuracy import AssessConfig, assess_accuracy
from landlearn.core.classical.samples import collect_samples
from landlearn.core.classical.train_classifier import ClassicalConfig, train_classical
from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
from landlearn.core.errors import InputError
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


def test_samples_are_stratified_capped_and_grouped_by_polygon(sample):
    image, polys, _ = _nc(sample)
    s = collect_samples(image, polys, max_per_class=100, seed=3)
    counts = {int(v): int((s.y == v).sum()) for v in np.unique(s.y)}
    assert counts == {v: min(100, s.available[v]) for v in s.available}
    assert s.grouped_by == "polygon" and s.x.shape == (len(s.y), 5)
    # each group is one polygon, so one class
    for g in np.unique(s.groups):
        assert len(np.unique(s.y[s.groups == g])) == 1
    assert 25 <= len(np.unique(s.groups)) <= 34
    with rasterio.open(image) as ds:
        assert s.x.min() > ds.nodata  # never a NoData pixel
    everything = collect_samples(image, polys, max_per_class=0)
    assert {int(v): int((everything.y == v).sum()) for v in np.unique(everything.y)} == \
        everything.available
    again = collect_samples(image, polys, max_per_class=100, seed=3)
    np.testing.assert_array_equal(again.x, s.x)  # reproducible with a seed


@pytest.fixture(scope="module")
def rf(sample, tmp_path_factory):
    image, polys, _ = _nc(sample)
    out = tmp_path_factory.mktemp("rf") / "rf.dlpk"
    progress = RecordingProgress()
    result = train_classical(ClassicalConfig(image, polys, str(out)), progress)
    return out, result, progress


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
    image, polys, _ = _nc(sample)
    out = tmp_path / "m.dlpk"
    result = train_classical(ClassicalConfig(image, polys, str(out), model_type=model_type,
                                             max_samples_per_class=150, cv_folds=3))
    assert result.accuracy.overall > 0.4
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
    cases = [
        ([(1, inside), (2, inside2), (3, far)], "^LABELS: class.* 3 'Class 3' have no labelled"),
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
        x, y = ds.transform * (nodata_col + 0.5, 10.5)
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


def test_package_with_untrusted_types_is_refused(rf, sample, tmp_path):
    import operator

    import skops.io as sio
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.tree import DecisionTreeClassifier

    out, _, _ = rf
    evil = make_pipeline(FunctionTransformer(operator.neg), DecisionTreeClassifier()).fit(
        np.random.rand(20, 5), np.arange(20) % 7 + 1)
    bad = tmp_path / "evil.dlpk"
    with zipfile.ZipFile(out) as src, zipfile.ZipFile(bad, "w") as dst:
        for name in src.namelist():
            data = sio.dumps(evil) if name == "model.skops" else src.read(name)
            dst.writestr(name, data)
    image = str(sample / "nc_landsat7" / "landsat_multiband.tif")
    with pytest.raises(InputError, match="^MODEL: .* its classifier file holds a .* of type .*; LandLearn loads only"):
        classify_pixels(ClassifyConfig(image, str(bad), str(tmp_path / "x.tif")))


def test_values_far_from_the_training_samples_are_warned_about(sample, rf, tmp_path):
    out, _, _ = rf
    image = str(sample / "nc_landsat7" / "landsat_multiband.tif")
    scaled = tmp_path / "x100.tif"
    with rasterio.open(image) as src:
        data = src.read()
        profile = dict(src.profile)
    data = np.where(data == src.nodata, data, data * 100)  # reflectance x 100, say
    with rasterio.open(scaled, "w", **profile) as dst:
        dst.write(data)
    progress = RecordingProgress()
    classify_pixels(ClassifyConfig(str(scaled), str(out), str(tmp_path / "m.tif")), progress)
    assert len(progress.warnings) == 1 and "band means are far" in progress.warnings[0]
    assert "Band_1: 8057 vs 83.02" in progress.warnings[0]  # against the samples, not 0


def test_package_with_the_trees_inside_skops_still_loads(rf, sample, tmp_path):
    """Packages from before the trees were stored apart keep the whole forest in skops."""
    import skops.io as sio

    from landlearn.core.classify.predictor import load_predictor

    out, _, _ = rf
    predictor, _ = load_predictor(str(out), "cpu", False)
    assert len(predictor.model[-1].estimators_) == 100
    old = tmp_path / "old.dlpk"
    with zipfile.ZipFile(out) as src, zipfile.ZipFile(old, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "model.skops":
                data = sio.dumps(predictor.model)
            elif name.endswith(".emd"):
                emd = json.loads(data)
                trees = emd["LandLearn"].pop("trees_file")
                data = json.dumps(emd)
            if name != trees:
                dst.writestr(name.replace("rf.", "old."), data)
    image = str(sample / "nc_landsat7" / "landsat_multiband.tif")
    for model in (out, old):
        classify_pixels(ClassifyConfig(image, str(model), str(tmp_path / f"{model.stem}.tif"),
                                       output_probabilities=str(tmp_path / f"{model.stem}_p.tif")))
    with rasterio.open(tmp_path / "rf_p.tif") as a, rasterio.open(tmp_path / "old_p.tif") as b:
        np.testing.assert_allclose(a.read(), b.read(), atol=1e-6)


def test_area_weighted_estimates_match_the_formulas(tmp_path):
    """Olofsson et al. 2014 estimators, recomputed here with explicit loops."""
    from synthetic import write

    rng = np.random.default_rng(1)
    truth = rng.integers(1, 4, (60, 80)).astype(np.uint8)
    mapped = truth.copy()
    flip = rng.random(truth.shape) < 0.25
    mapped[flip] = rng.integers(1, 4, int(flip.sum()))
    mapped[:10] = 1  # class 1 over-mapped in the top rows
    reference = np.zeros_like(truth)
    reference[::3, ::4] = truth[::3, ::4]  # a sparse reference sample
    m = write(tmp_path / "map.tif", mapped, nodata=0)
    r = write(tmp_path / "ref.tif", reference, nodata=0)
    res = assess_accuracy(AssessConfig(m, LabelConfig(r), str(tmp_path / "acc.json")))
    n = np.zeros((3, 3))
    sel = reference > 0
    for a, b in zip(mapped[sel], reference[sel]):
        n[a - 1, b - 1] += 1
    w = np.array([(mapped == k).sum() for k in (1, 2, 3)]) / mapped.size
    p = np.array([[w[i] * n[i, j] / n[i].sum() for j in range(3)] for i in range(3)])
    e = res.areas
    np.testing.assert_allclose(e.proportions, p)
    assert e.overall == pytest.approx(np.trace(p))
    np.testing.assert_allclose(e.producers, np.diag(p) / p.sum(axis=0))
    np.testing.assert_allclose(e.area, p.sum(axis=0) * mapped.size * 100)  # 10 m pixels
    se = [np.sqrt(sum(w[i] ** 2 * (n[i, j] / n[i].sum()) * (1 - n[i, j] / n[i].sum())
                      / (n[i].sum() - 1) for i in range(3))) for j in range(3)]
    np.testing.assert_allclose(e.area_ci95, 1.96 * np.array(se) * mapped.size * 100)
    np.testing.assert_array_equal(res.accuracy.matrix, n.T)  # rows reference, columns map
    data = json.loads((tmp_path / "acc.json").read_text())
    assert data["area_weighted"]["overall_accuracy"] == pytest.approx(np.trace(p))
