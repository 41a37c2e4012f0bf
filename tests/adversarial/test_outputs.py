"""Dangerous output paths: a run never writes over its inputs, over another output, over a
file LandLearn did not write, or into a folder of someone else's files."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import rasterio

import builder
from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
from landlearn.core.classify.classify_pixels import ClassifyConfig, classify_pixels
from landlearn.core.labels.base import LabelConfig
from landlearn.core.labels.rasterize_labels import LabelRasterConfig, write_label_raster
from landlearn.core.segment.segment_mean_shift import SegmentConfig, segment
from synthetic import write

NC = builder.NC


def _classify(image, model, out, **kw):
    return lambda: classify_pixels(ClassifyConfig(str(image), str(model), str(out), device="cpu",
                                                  **kw))


@pytest.mark.parametrize("spelling", ["same", "relative", "dotdot", "symlink", "hardlink"])
def test_classify_output_may_not_be_its_input(bases, guard, image, tmp_path, spelling,
                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = {"same": str(image), "relative": os.path.relpath(image),
           "dotdot": str(image.parent / ".." / "input" / image.name)}.get(spelling)
    if spelling == "symlink":
        out = str(tmp_path / "link.tif")
        os.symlink(image, out)
    elif spelling == "hardlink":
        out = str(tmp_path / "hard.tif")
        os.link(image, out)
    guard.refused(_classify(image, bases["classical"], out), "output", "INPUT_RASTER",
                  keep=[image])


def test_classify_outputs_may_not_collide(bases, guard, image, tmp_path):
    out = tmp_path / "map.tif"
    guard.refused(_classify(image, bases["classical"], out, output_confidence=str(out)),
                  "output_confidence", "the output OUTPUT", keep=[image])
    guard.refused(_classify(image, bases["classical"], out,
                            output_probabilities=str(tmp_path / "p.tif"),
                            output_confidence=str(tmp_path / "p.tif")),
                  "output_probabilities", "OUTPUT_CONFIDENCE", keep=[image])
    assert not out.exists()


def test_classify_output_may_not_be_the_model(bases, guard, image, tmp_path):
    model = tmp_path / "model.tif"  # a package renamed .tif: still the input MODEL
    shutil.copy(bases["classical"], model)
    guard.refused(_classify(image, model, model), "output", "MODEL", keep=[model, image])


def test_foreign_files_are_never_replaced_but_landlearn_outputs_are(bases, guard, image,
                                                                    tmp_path):
    theirs = tmp_path / "theirs.tif"
    write(theirs, np.ones((4, 4), np.uint8))
    guard.refused(_classify(image, bases["classical"], theirs), "output",
                  "not written by LandLearn", keep=[theirs, image])
    text = tmp_path / "notes.tif"
    text.write_text("my notes")
    guard.refused(_classify(image, bases["classical"], text), "output",
                  "not written by LandLearn", keep=[text])
    # a style of someone else's beside a new map stays too
    style = tmp_path / "fresh.qml"
    style.write_text("<qgis>mine</qgis>")
    guard.refused(_classify(image, bases["classical"], tmp_path / "fresh.tif"), "output",
                  "fresh.qml", keep=[style])
    # our own map is replaced on the next run, its style with it
    ours = tmp_path / "ours.tif"
    _classify(image, bases["classical"], ours)()
    first = ours.stat().st_mtime_ns
    _classify(image, bases["classical"], ours, confidence_threshold=0.5)()
    assert ours.stat().st_mtime_ns != first
    guard.after({})


def test_rasterize_labels_never_replaces_its_inputs(guard, image, tmp_path):
    labels = tmp_path / "strata.tif"
    shutil.copy(NC / "strata.tif", labels)
    for out, what in ((image, "INPUT_RASTER"), (labels, "LABELS")):
        guard.refused(lambda out=out: write_label_raster(LabelRasterConfig(
            str(image), LabelConfig(str(labels)), str(out))), "output", what,
            keep=[image, labels])


def test_rasterize_labels_never_replaces_a_shapefile_part(guard, image, tmp_path):
    for part in ("shp", "dbf", "shx", "prj"):
        shutil.copy(NC / f"landsat96_polygons.{part}", tmp_path / f"polys.{part}")
    labels = LabelConfig(str(tmp_path / "polys.shp"), class_field="id")
    # GeoTIFF outputs must end in .tif, so the parts are reached through links
    os.symlink(tmp_path / "polys.dbf", tmp_path / "dbf_link.tif")
    guard.refused(lambda: write_label_raster(LabelRasterConfig(
        str(image), labels, str(tmp_path / "dbf_link.tif"))), "output", "LABELS",
        keep=[tmp_path / "polys.dbf"])


def test_segment_never_replaces_its_input(guard, image, tmp_path):
    guard.refused(lambda: segment(SegmentConfig(str(image), output=str(image))), "output",
                  "INPUT_RASTER", keep=[image])
    ids = tmp_path / "ids.tif"
    guard.refused(lambda: segment(SegmentConfig(str(image), output=str(ids),
                                                output_segment_ids=str(ids))),
                  "output_segment_ids", "OUTPUT", keep=[image])


def _export(image, folder, **kw):
    labels = LabelConfig(str(NC / "strata.tif"))
    base = dict(tile_size_x=128, tile_size_y=128, stride_x=128, stride_y=128)
    base.update(kw)
    return lambda: export_training_data(ExportConfig(str(image), labels, str(folder), **base))


@pytest.mark.parametrize("content", ["lone_map_txt", "images_and_labels", "source_code"])
def test_overwrite_never_deletes_folders_that_merely_look_like_training_data(guard, image,
                                                                             tmp_path, content):
    folder = tmp_path / "work"
    folder.mkdir()
    if content == "lone_map_txt":
        (folder / "map.txt").write_text("images\\000000000.tif labels\\000000000.tif\n")
    elif content == "images_and_labels":
        (folder / "images").mkdir()
        (folder / "labels").mkdir()
        (folder / "images" / "photo.jpg").write_bytes(b"\xff\xd8 holiday")
    else:
        (folder / "map.txt").write_text("x")
        (folder / "train.py").write_text("print('my code')\n")
    guard.refused(_export(image, folder, overwrite=True), "output_folder",
                  "not written by LandLearn", keep=[folder, image])


def test_overwrite_replaces_an_export_but_not_the_files_added_to_it(guard, image, tmp_path):
    folder = tmp_path / "chips"
    _export(image, folder)()
    first = sorted(os.listdir(folder / "images"))
    (folder / "my_notes.txt").write_text("keep me")
    guard.refused(_export(image, folder, overwrite=True, tile_size_x=64, tile_size_y=64),
                  "output_folder", "my_notes.txt", keep=[folder])
    (folder / "my_notes.txt").unlink()
    # GDAL's own sidecar of a chip (QGIS computed statistics) is the export's too
    (folder / "images" / (first[0] + ".aux.xml")).write_text("<PAMDataset/>")
    _export(image, folder, overwrite=True, tile_size_x=64, tile_size_y=64, stride_x=64,
            stride_y=64)()
    assert len(os.listdir(folder / "images")) > len(first)
    guard.after({})


def test_export_never_puts_its_input_in_harms_way(guard, tmp_path):
    """The input raster inside the folder that OVERWRITE would replace: refused."""
    folder = tmp_path / "chips"
    image = tmp_path / "landsat.tif"
    shutil.copy(builder.IMAGE, image)
    _export(image, folder)()
    inside = folder / "landsat.tif"
    shutil.move(str(image), inside)
    guard.refused(_export(inside, folder, overwrite=True), "output_folder",
                  "holds the input INPUT_RASTER", keep=[inside])


def test_training_refuses_a_foreign_report_folder_before_training(guard, tmp_path):
    from landlearn.core.classical.train_classifier import ClassicalConfig, train_classical

    out = tmp_path / "rf.dlpk"
    report = tmp_path / "rf_report"
    report.mkdir()
    (report / "thesis.docx").write_bytes(b"PK chapter 1")
    labels = LabelConfig(str(NC / "landsat96_polygons.shp"), class_field="id")
    guard.refused(lambda: train_classical(ClassicalConfig(str(builder.IMAGE), labels, str(out),
                                                          trees=5)),
                  "output_model", "thesis.docx", keep=[report])
    assert not out.exists()


def test_model_output_may_not_replace_foreign_files_or_inputs(guard, tmp_path):
    from landlearn.core.classical.train_classifier import ClassicalConfig, train_classical

    labels = LabelConfig(str(NC / "landsat96_polygons.shp"), class_field="id")
    theirs = tmp_path / "theirs.dlpk"
    theirs.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip, not a LandLearn package
    guard.refused(lambda: train_classical(ClassicalConfig(str(builder.IMAGE), labels,
                                                          str(theirs), trees=5)),
                  "output_model", "not written by LandLearn", keep=[theirs])
    image = tmp_path / "image.dlpk"
    shutil.copy(builder.IMAGE, image)
    guard.refused(lambda: train_classical(ClassicalConfig(str(image), labels, str(image),
                                                          trees=5)),
                  "output_model", "INPUT_RASTER", keep=[image])


def test_deep_model_output_may_not_be_its_pretrained_weights(bases, guard, tmp_path):
    if "deep" not in bases:
        pytest.skip("segmentation-models-pytorch is not installed")
    from landlearn.core.deep.train_deep_learning_model import TrainConfig, train_model

    weights = tmp_path / "start.dlpk"
    shutil.copy(bases["deep"], weights)
    guard.refused(lambda: train_model(TrainConfig((str(tmp_path / "chips"),), str(weights),
                                                  pretrained_weights=str(weights))),
                  "output_model", "PRETRAINED_WEIGHTS", keep=[weights])


def test_assessment_report_may_not_replace_the_map(bases, guard, image, tmp_path):
    from landlearn.core.accuracy.assess_accuracy import AssessConfig, assess_accuracy

    out = tmp_path / "map.tif"
    _classify(image, bases["classical"], out)()
    report = tmp_path / "map.html"
    os.symlink(out, report)
    guard.refused(lambda: assess_accuracy(AssessConfig(str(out), LabelConfig(
        str(NC / "strata.tif")), str(report))), "output_report", "INPUT", keep=[out])
    with rasterio.open(out) as ds:
        assert ds.read(1).any()
