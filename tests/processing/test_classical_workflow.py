"""Polygons -> random forest (Train Classifier) -> map -> accuracy, through processing.run and
qgis_process.bin; the deprecated Train Model id forwards to Train Classifier."""

import json
import os
import zipfile

import pytest

from qgis_cli import QP, qgis_process

pytest.importorskip("sklearn")


def _metrics(package):
    with zipfile.ZipFile(package) as zf:
        emd = json.loads(zf.read(os.path.basename(package)[:-5] + ".emd"))
    return emd["LandLearn"]["metrics"]


def _params(sample):
    nc = sample / "nc_landsat7"
    return {"MODEL_TYPE": "random_forest", "INPUT_RASTER": str(nc / "landsat_multiband.tif"),
            "LABELS": str(nc / "landsat96_polygons.shp"), "CLASS_FIELD": "id",
            "CLASS_NAME_FIELD": "label", "TREES": 50, "MAX_SAMPLES_PER_CLASS": 200}


@pytest.mark.skipif(QP is None, reason="qgis_process.bin is not installed")
def test_train_classify_assess(provider, sample, tmp_path):
    import processing

    params = _params(sample)
    cli, py = tmp_path / "cli.dlpk", tmp_path / "py.dlpk"
    out = qgis_process("run", "landlearn:trainclassifier", "--",
                       *[f"{k}={v}" for k, v in params.items()], f"OUTPUT_MODEL={cli}")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Cross-validation grouped by polygon" in out.stdout
    assert out.stdout.count("overall accuracy ") == 1  # the table once (it came twice)
    res = processing.run("landlearn:trainclassifier", {**params, "OUTPUT_MODEL": str(py)})
    assert _metrics(str(cli))["confusion_matrix"] == _metrics(str(py))["confusion_matrix"]
    assert res["OVERALL_ACCURACY"] == pytest.approx(_metrics(str(py))["overall_accuracy"])
    assert os.path.exists(res["REPORT"])
    nc = sample / "nc_landsat7"
    processing.run("landlearn:classifypixels", {"INPUT_RASTER": params["INPUT_RASTER"],
                                                "MODEL": str(py), "OUTPUT": str(tmp_path / "rf.tif")})
    acc = processing.run("landlearn:assessaccuracy", {
        "INPUT": str(tmp_path / "rf.tif"), "LABELS": str(nc / "strata.tif"),
        "OUTPUT_REPORT": str(tmp_path / "acc.html")})
    assert acc["OVERALL_ACCURACY"] > 0.45 and -1 < acc["KAPPA"] < 1
    # the reference covers (nearly) every mapped pixel, so weighting changes little
    assert acc["AREA_WEIGHTED_ACCURACY"] == pytest.approx(acc["OVERALL_ACCURACY"], abs=1e-3)
    assert "Olofsson" in (tmp_path / "acc.html").read_text()


def test_assess_accuracy_takes_the_band_of_class_values(provider, sample, tmp_path):
    """BAND names the band of a stack; an RGB rendering of a map is refused without it."""
    import numpy as np
    import processing
    import rasterio
    from qgis.core import QgsProcessingException

    strata = sample / "nc_landsat7" / "strata.tif"
    with rasterio.open(strata) as src:
        truth, profile = np.maximum(src.read(1), 0).astype(np.uint8), src.profile
    profile.update(count=3, photometric="RGB", nodata=None, dtype="uint8")
    with rasterio.open(tmp_path / "rgb.tif", "w", **profile) as dst:
        dst.write(np.stack([np.where(truth > 0, 200, 0), truth, truth]).astype(np.uint8))
    args = {"INPUT": str(tmp_path / "rgb.tif"), "LABELS": str(strata)}
    with pytest.raises(QgsProcessingException, match="INPUT: .*RGB image"):
        processing.run("landlearn:assessaccuracy", args)
    assert processing.run("landlearn:assessaccuracy",
                          args | {"BAND": 2})["OVERALL_ACCURACY"] == 1.0


def test_missing_inputs_are_named(provider, sample, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    params = _params(sample)
    with pytest.raises(QgsProcessingException, match="INPUT_RASTER"):
        processing.run("landlearn:trainclassifier", {k: v for k, v in params.items()
                                                     if k != "INPUT_RASTER"}
                       | {"OUTPUT_MODEL": str(tmp_path / "m.dlpk")})
    with pytest.raises(QgsProcessingException, match="LABELS: give training polygons"):
        processing.run("landlearn:trainclassifier", {k: v for k, v in params.items()
                                                     if k != "LABELS"}
                       | {"OUTPUT_MODEL": str(tmp_path / "m.dlpk")})
    with pytest.raises(QgsProcessingException, match="CLASS_FIELD: choose the field"):
        processing.run("landlearn:trainclassifier", {k: v for k, v in params.items()
                                                     if k != "CLASS_FIELD"}
                       | {"OUTPUT_MODEL": str(tmp_path / "m.dlpk")})
    # the deprecated id names what is missing as it always did
    with pytest.raises(QgsProcessingException, match="INPUT_RASTER: classical classifiers"):
        processing.run("landlearn:trainmodel", {k: v for k, v in params.items()
                                                if k != "INPUT_RASTER"}
                       | {"OUTPUT_MODEL": str(tmp_path / "m.dlpk")})
    with pytest.raises(QgsProcessingException, match="TRAINING_DATA: deep learning trains"):
        processing.run("landlearn:trainmodel", {"MODEL_TYPE": "deep",
                                                "OUTPUT_MODEL": str(tmp_path / "m.dlpk")})
    assert os.listdir(tmp_path) == []


def test_train_classifier_takes_a_label_raster_and_the_old_id_forwards(provider, sample, tmp_path):
    """LABEL_RASTER instead of polygons; landlearn:trainmodel with a raster in LABELS goes
    to Train Classifier's LABEL_RASTER and gives the same model."""
    import processing

    nc = sample / "nc_landsat7"
    base = {"MODEL_TYPE": "random_forest", "INPUT_RASTER": str(nc / "landsat_multiband.tif"),
            "TREES": 20, "MAX_SAMPLES_PER_CLASS": 100}
    new = processing.run("landlearn:trainclassifier", {
        **base, "LABEL_RASTER": str(nc / "strata.tif"), "OUTPUT_MODEL": str(tmp_path / "a.dlpk")})
    from qgis.core import QgsProcessingFeedback

    class Log(QgsProcessingFeedback):
        warnings = []

        def pushWarning(self, warning):
            self.warnings.append(warning)

    log = Log()
    # deep-only settings the user gave: said to be ignored (they were dropped quietly)
    old = processing.run("landlearn:trainmodel", {
        **base, "LABELS": str(nc / "strata.tif"), "OUTPUT_MODEL": str(tmp_path / "b.dlpk"),
        "FREEZE": True, "RADIOMETRIC_JITTER": 0.5, "EPOCHS": 20}, feedback=log)
    ignored = [w for w in log.warnings if "are ignored by landlearn:trainclassifier" in w]
    assert ignored == ["FREEZE, RADIOMETRIC_JITTER apply to deep learning and are ignored by "
                       "landlearn:trainclassifier."]
    assert _metrics(new["OUTPUT_MODEL"])["confusion_matrix"] == \
        _metrics(old["OUTPUT_MODEL"])["confusion_matrix"]
    assert len(_metrics(new["OUTPUT_MODEL"])["classes"]) == 7
    # an error about labels given as a raster names LABEL_RASTER, which the user set
    import numpy as np
    import rasterio
    from qgis.core import QgsProcessingException

    with rasterio.open(nc / "strata.tif") as src:
        one = np.where(src.read(1) > 0, 1, 0).astype(src.dtypes[0])
        profile = src.profile
    with rasterio.open(tmp_path / "one.tif", "w", **profile) as dst:
        dst.write(one[None])
    with pytest.raises(QgsProcessingException, match="^LABEL_RASTER: only one class"):
        processing.run("landlearn:trainclassifier", {
            **base, "LABEL_RASTER": str(tmp_path / "one.tif"),
            "OUTPUT_MODEL": str(tmp_path / "c.dlpk")})


def test_both_label_inputs_are_refused_where_the_modeler_skips_the_dialogs_check(provider,
                                                                                  sample,
                                                                                  tmp_path):
    """QGIS's model engine runs a child algorithm without its checkParameterValues: given
    LABELS and LABEL_RASTER there, Train Classifier trained on the raster alone."""
    from qgis.core import (
        QgsApplication,
        QgsProcessingContext,
        QgsProcessingException,
        QgsProcessingFeedback,
    )

    nc = sample / "nc_landsat7"
    alg = QgsApplication.processingRegistry().algorithmById("landlearn:trainclassifier")
    alg = alg.create()
    params = {"MODEL_TYPE": "random_forest", "INPUT_RASTER": str(nc / "landsat_multiband.tif"),
              "LABELS": str(nc / "landsat96_polygons.shp"), "CLASS_FIELD": "id",
              "LABEL_RASTER": str(nc / "strata.tif"), "OUTPUT_MODEL": str(tmp_path / "m.dlpk")}
    with pytest.raises(QgsProcessingException, match="^LABELS: give training polygons"):
        alg.processAlgorithm(params, QgsProcessingContext(), QgsProcessingFeedback())
    assert not (tmp_path / "m.dlpk").exists()


@pytest.mark.skipif(QP is None, reason="qgis_process.bin is not installed")
def test_neighbourhood_features_from_the_toolbox_and_the_command_line(provider, sample, tmp_path):
    """NEIGHBOURHOOD_SIZES / NEIGHBOURHOOD_STATISTICS by name and by index, through
    qgis_process and the deprecated id; the map comes out of Classify Pixels as any other."""
    import processing
    from qgis.core import QgsProcessingException

    params = {**_params(sample), "NEIGHBOURHOOD_SIZES": "7,3"}
    cli, py, old = tmp_path / "cli.dlpk", tmp_path / "py.dlpk", tmp_path / "old.dlpk"
    out = qgis_process("run", "landlearn:trainclassifier", "--",
                       *[f"{k}={v}" for k, v in params.items()],
                       "NEIGHBOURHOOD_STATISTICS=mean", f"OUTPUT_MODEL={cli}")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Neighbourhood features: 15 per pixel" in out.stdout
    processing.run("landlearn:trainclassifier", {**params, "NEIGHBOURHOOD_STATISTICS": 1,
                                                 "OUTPUT_MODEL": str(py)})
    processing.run("landlearn:trainmodel", {**params, "NEIGHBOURHOOD_STATISTICS": "mean",
                                            "OUTPUT_MODEL": str(old)})
    for package in (cli, py, old):
        with zipfile.ZipFile(package) as zf:
            hood = json.loads(zf.read(package.stem + ".emd"))["LandLearn"]["neighbourhood"]
        assert hood["sizes"] == [3, 7] and hood["statistics"] == "mean"
    assert _metrics(str(cli))["confusion_matrix"] == _metrics(str(py))["confusion_matrix"] \
        == _metrics(str(old))["confusion_matrix"]
    res = processing.run("landlearn:classifypixels", {"INPUT_RASTER": params["INPUT_RASTER"],
                                                      "MODEL": str(py),
                                                      "OUTPUT": str(tmp_path / "map.tif")})
    assert os.path.exists(res["OUTPUT"])
    with pytest.raises(QgsProcessingException, match="NEIGHBOURHOOD_SIZES: 4 is not an odd "
                                                     "window size"):
        processing.run("landlearn:trainclassifier", {**params, "NEIGHBOURHOOD_SIZES": "3,4",
                                                     "OUTPUT_MODEL": str(tmp_path / "bad.dlpk")})
    assert not (tmp_path / "bad.dlpk").exists()


@pytest.mark.skipif(QP is None, reason="qgis_process.bin is not installed")
def test_object_based_train_and_classify(provider, sample, tmp_path):
    """Segment -> Train Classifier with SEGMENTED_RASTER and SEGMENT_ATTRIBUTES from
    qgis_process -> Classify Pixels with the segments through processing.run: one class per
    segment; a typo in the attributes is refused naming the parameter."""
    import numpy as np
    import processing
    import rasterio
    from qgis.core import QgsProcessingException

    params = _params(sample)
    segs = tmp_path / "segs.tif"
    processing.run("landlearn:segment", {"INPUT_RASTER": params["INPUT_RASTER"],
                                         "MIN_SEGMENT_SIZE": 5, "OUTPUT": str(tmp_path / "mean.tif"),
                                         "OUTPUT_SEGMENT_IDS": str(segs)})
    out = qgis_process("run", "landlearn:trainclassifier", "--",
                       *[f"{k}={v}" for k, v in params.items()], f"SEGMENTED_RASTER={segs}",
                       "SEGMENT_ATTRIBUTES=MEAN;STD;COMPACTNESS",
                       f"OUTPUT_MODEL={tmp_path / 'obj.dlpk'}")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "segments over 7 classes" in out.stdout
    # left empty: the default, not QGIS's bare 'Incorrect parameter value' (a sweep, stop 67)
    empty = qgis_process("run", "landlearn:trainclassifier", "--",
                         *[f"{k}={v}" for k, v in params.items()], f"SEGMENTED_RASTER={segs}",
                         "SEGMENT_ATTRIBUTES=", f"OUTPUT_MODEL={tmp_path / 'default.dlpk'}")
    assert empty.returncode == 0, empty.stdout + empty.stderr
    processing.run("landlearn:classifypixels", {
        "INPUT_RASTER": params["INPUT_RASTER"], "MODEL": str(tmp_path / "obj.dlpk"),
        "SEGMENTED_RASTER": str(segs), "OUTPUT": str(tmp_path / "obj.tif")})
    cli = qgis_process("run", "landlearn:classifypixels", "--",
                       f"INPUT_RASTER={params['INPUT_RASTER']}", f"MODEL={tmp_path / 'obj.dlpk'}",
                       f"SEGMENTED_RASTER={segs}", f"OUTPUT={tmp_path / 'obj_cli.tif'}")
    assert cli.returncode == 0, cli.stdout + cli.stderr
    with rasterio.open(tmp_path / "obj.tif") as m, rasterio.open(segs) as s, \
            rasterio.open(tmp_path / "obj_cli.tif") as c:
        cls, ids = m.read(1), s.read(1)
        np.testing.assert_array_equal(c.read(1), cls)  # the CLI gives the same map
    for i in np.unique(ids)[::50]:
        assert len(np.unique(cls[ids == i])) == 1
    with pytest.raises(QgsProcessingException, match="SEGMENT_ATTRIBUTES: SHAPE is not"):
        processing.run("landlearn:trainclassifier", {
            **params, "SEGMENTED_RASTER": str(segs), "SEGMENT_ATTRIBUTES": "MEAN;SHAPE",
            "OUTPUT_MODEL": str(tmp_path / "x.dlpk")})
    with pytest.raises(QgsProcessingException, match="SEGMENTED_RASTER: this model classifies "
                                                     "segments"):
        processing.run("landlearn:classifypixels", {
            "INPUT_RASTER": params["INPUT_RASTER"], "MODEL": str(tmp_path / "obj.dlpk"),
            "OUTPUT": str(tmp_path / "x.tif")})
    assert not (tmp_path / "x.dlpk").exists() and not (tmp_path / "x.tif").exists()


def test_the_package_records_the_users_files_not_a_copy_or_a_relative_path(
        provider, sample, tmp_path, monkeypatch):
    """A filtered layer is copied for reading: the package recorded that copy in QGIS's
    temporary folder as its labels, and the image as the relative path typed (qgis_process
    sweep, stop 69). It records the layer's source and the image's absolute path."""
    import processing
    from qgis.core import QgsProject, QgsVectorLayer

    nc = sample / "nc_landsat7"
    layer = QgsVectorLayer(str(nc / "landsat96_polygons.shp"), "polygons", "ogr")
    layer.setSubsetString('"id" <> 7')
    QgsProject.instance().addMapLayer(layer)
    monkeypatch.chdir(nc)
    try:
        processing.run("landlearn:trainclassifier", {
            **_params(sample), "INPUT_RASTER": "landsat_multiband.tif", "LABELS": layer.id(),
            "TREES": 10, "CV_FOLDS": 0, "OUTPUT_MODEL": str(tmp_path / "rf.dlpk")})
        source = layer.publicSource()  # a database layer's password left out
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
    with zipfile.ZipFile(tmp_path / "rf.dlpk") as zf:
        recorded = json.loads(zf.read("rf.emd"))["LandLearn"]["training"]["parameters"]
    assert recorded["labels"] == source and "subset=" in source
    assert recorded["input_raster"] == str(nc / "landsat_multiband.tif")
