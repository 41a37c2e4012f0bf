"""A run never destroys what it did not create: outputs vs inputs by file identity, and
existing files replaced only when LandLearn wrote them."""

import json
import os
import zipfile

import numpy as np
import pytest

from landlearn.core.errors import InputError
from landlearn.core.geo.classes import ClassInfo
from landlearn.core.geo.outputs import (
    WRITER_TAG,
    check_distinct,
    claim_output,
    input_files,
    same_file,
    written_by_landlearn,
)
from landlearn.core.geo.qml import paletted_style
from synthetic import write


def test_same_file_through_spellings_and_links(tmp_path):
    a = write(tmp_path / "a.tif", np.ones((4, 4), np.uint8))
    os.mkdir(tmp_path / "sub")
    os.link(a, tmp_path / "hard.tif")
    os.symlink(a, tmp_path / "soft.tif")
    for other in (tmp_path / "sub" / ".." / "a.tif", tmp_path / "hard.tif", tmp_path / "soft.tif"):
        assert same_file(a, str(other))
    assert not same_file(a, str(tmp_path / "b.tif"))
    assert same_file(str(tmp_path / "new.tif"), str(tmp_path / "sub" / ".." / "new.tif"))


def test_check_distinct_catches_a_hard_link_to_an_input(tmp_path):
    image = write(tmp_path / "image.tif", np.ones((4, 4), np.uint8))
    os.link(image, tmp_path / "map.tif")
    with pytest.raises(InputError, match=r"^OUTPUT: '.*map.tif' is the input INPUT_RASTER \('.*image.tif'\); "
                                         "a run never writes over its inputs: choose another OUTPUT"):
        check_distinct({"input_raster": image}, {"output": str(tmp_path / "map.tif")})
    assert os.path.exists(tmp_path / "map.tif")


def test_check_distinct_catches_sidecars_parts_and_two_outputs_alike(tmp_path):
    image = write(tmp_path / "image.tif", np.ones((4, 4), np.uint8))
    style = tmp_path / "labels.qml"
    style.write_text("<qgis/>")
    # a styled output writes labels.qml, which here is an input
    with pytest.raises(InputError, match="^OUTPUT: .* writes 'labels.qml', which is the input LABELS"):
        check_distinct({"labels": str(style)}, {"output": str(tmp_path / "labels.tif")},
                       styled=["output"])
    check_distinct({"labels": str(style)}, {"output": str(tmp_path / "labels.tif")})  # unstyled: fine
    for part in ("polys.shp", "polys.dbf", "polys.shx"):
        (tmp_path / part).write_text("x")
    with pytest.raises(InputError, match="^OUTPUT: .*polys.dbf' is the input LABELS"):
        check_distinct({"labels": str(tmp_path / "polys.shp")}, {"output": str(tmp_path / "polys.dbf")})
    with pytest.raises(InputError, match="^OUTPUT_CONFIDENCE: .* is the output OUTPUT"):
        check_distinct({"input": image}, {"output": str(tmp_path / "m.tif"), "output_probabilities": None,
                                          "output_confidence": str(tmp_path / "sub" / ".." / "m.tif")})
    check_distinct({"input": [image, None]}, {"output": str(tmp_path / "m.tif"), "other": None})


def test_an_output_folder_may_not_hold_an_input(tmp_path):
    (tmp_path / "data").mkdir()
    image = write(tmp_path / "data" / "image.tif", np.ones((4, 4), np.uint8))
    with pytest.raises(InputError, match="^OUTPUT_FOLDER: the folder .* holds the input INPUT_RASTER"):
        check_distinct({"input_raster": image}, {"output_folder": str(tmp_path)},
                       folders=["output_folder"])
    check_distinct({"input_raster": image}, {"output_folder": str(tmp_path / "chips")},
                   folders=["output_folder"])


def test_an_output_folder_named_otherwise_may_not_hold_an_input(tmp_path, monkeypatch):
    """macOS keeps the case typed in realpath, and its disks are case-insensitive:
    '/Data/Chips' holds '/data/chips/scene.tif'. Here a symbolic link stands in for the
    second spelling (realpath made to keep it, as macOS keeps the case): the folder is
    compared as a file, by device and inode, not by its text."""
    from landlearn.core.geo import outputs

    (tmp_path / "data").mkdir()
    image = write(tmp_path / "data" / "image.tif", np.ones((4, 4), np.uint8))
    (tmp_path / "Data").symlink_to(tmp_path / "data")
    monkeypatch.setattr(outputs.os.path, "realpath", os.path.abspath)
    with pytest.raises(InputError, match="^OUTPUT_FOLDER: the folder .*Data' holds the input"):
        check_distinct({"input_raster": image}, {"output_folder": str(tmp_path / "Data")},
                       folders=["output_folder"])
    check_distinct({"input_raster": image}, {"output_folder": str(tmp_path / "Data" / "new")},
                   folders=["output_folder"])


def test_input_files_of_a_raster_a_shapefile_and_a_folder(tmp_path):
    tif = write(tmp_path / "a.tif", np.ones((4, 4), np.uint8))
    (tmp_path / "a.tif.aux.xml").write_text("<PAMDataset/>")
    for part in ("p.shp", "p.shx", "p.dbf", "p.prj"):
        (tmp_path / part).write_text("x")
    assert sorted(input_files(tif)) == sorted([tif, tif + ".aux.xml"])
    assert sorted(os.path.basename(f) for f in input_files(str(tmp_path / "p.shp"))) == \
        ["p.dbf", "p.prj", "p.shp", "p.shp", "p.shx"]  # the .shp itself, then its parts
    assert len(input_files(str(tmp_path))) == 6
    assert input_files("/vsicurl/https://example.org/a.tif") == [] and input_files("") == []


def test_a_package_given_as_its_emd_holds_its_members(tmp_path):
    """MODEL 'pkg/model.emd' with OUTPUT_ONNX 'pkg/model.onnx': the package's own graph
    (LandLearn's, so claimable) would have been replaced. Only what the .emd names (and
    its metrics and report) is the package: a map written beside it is not."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "model.emd").write_text(json.dumps({
        "ModelFile": "model.safetensors",
        "LandLearn": {"onnx": {"file": "model.onnx"}, "onnx_int8": {"file": "model_int8.onnx"}}}))
    for name in ("model.safetensors", "model.onnx", "model_int8.onnx", "metrics.json",
                 "map.tif", "map.qml"):
        (pkg / name).write_text("x")
    (pkg / "report").mkdir()
    (pkg / "report" / "report.html").write_text("x")
    emd = str(pkg / "model.emd")
    assert sorted(os.path.relpath(f, pkg) for f in input_files(emd)) == [
        "metrics.json", "model.emd", "model.onnx", "model.safetensors", "model_int8.onnx",
        os.path.join("report", "report.html")]
    with pytest.raises(InputError, match="^OUTPUT_ONNX: .*model.onnx' is the input MODEL"):
        check_distinct({"model": emd}, {"output_onnx": str(pkg / "model.onnx")})
    check_distinct({"model": emd}, {"output_onnx": str(tmp_path / "model.onnx")})
    check_distinct({"model": emd}, {"output": str(pkg / "new_map.tif")}, styled=["output"])
    (pkg / "model.emd").write_text("{not json")  # the .emd alone, nothing guessed
    assert input_files(emd) == [emd, str(pkg / "metrics.json"),
                                str(pkg / "report" / "report.html")]


def test_written_by_landlearn_reads_each_kind_of_mark(tmp_path):
    ours = write(tmp_path / "ours.tif", np.ones((4, 4), np.uint8))
    import rasterio

    with rasterio.open(ours, "r+") as ds:
        ds.update_tags(**{WRITER_TAG: "LandLearn 0.1"})
    theirs = write(tmp_path / "theirs.tif", np.ones((4, 4), np.uint8))
    assert written_by_landlearn(ours) and not written_by_landlearn(theirs)
    qml = tmp_path / "s.qml"
    qml.write_text(paletted_style([ClassInfo(1, "a", (1, 2, 3))]))
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"generator": "LandLearn", "x": 1}))
    other = tmp_path / "o.json"
    other.write_text(json.dumps({"generator": "someone"}))
    assert written_by_landlearn(str(qml)) and written_by_landlearn(str(report))
    assert not written_by_landlearn(str(other))
    # the word alone is no mark: a user's notes naming LandLearn were replaceable (review,
    # stop 69); LandLearn's own reports are
    (tmp_path / "notes.json").write_text(json.dumps({"project": "LandLearn"}))
    (tmp_path / "notes.html").write_text('<p>made with "LandLearn"; generator: LandLearns</p>')
    assert not written_by_landlearn(str(tmp_path / "notes.json"))
    assert not written_by_landlearn(str(tmp_path / "notes.html"))
    (tmp_path / "acc.html").write_text('<!doctype html><html><head><meta charset="utf-8">'
                                       '<meta name="generator" content="LandLearn"><title>')
    assert written_by_landlearn(str(tmp_path / "acc.html"))
    for name, info in (("m.dlpk", {"format": "landlearn-model"}), ("esri.dlpk", None)):
        with zipfile.ZipFile(tmp_path / name, "w") as zf:
            zf.writestr("m.emd", json.dumps({"LandLearn": info} if info else {"Framework": "arcgis"}))
    assert written_by_landlearn(str(tmp_path / "m.dlpk"))
    assert not written_by_landlearn(str(tmp_path / "esri.dlpk"))
    (tmp_path / "broken.tif").write_bytes(b"not a tiff")
    (tmp_path / "notes.txt").write_text('"LandLearn"')
    assert not written_by_landlearn(str(tmp_path / "broken.tif"))
    assert not written_by_landlearn(str(tmp_path / "notes.txt"))  # an unknown kind is never ours


def test_claim_output_replaces_only_what_landlearn_wrote(tmp_path):
    import rasterio

    ours = write(tmp_path / "ours.tif", np.ones((4, 4), np.uint8))
    with rasterio.open(ours, "r+") as ds:
        ds.update_tags(**{WRITER_TAG: "LandLearn 0.1"})
    restyled = tmp_path / "ours.qml"
    restyled.write_text("<qgis>restyled in QGIS</qgis>")
    claim_output(ours, "output", [str(restyled)])  # its sidecar goes with it
    claim_output(str(tmp_path / "new.tif"), "output")
    theirs = write(tmp_path / "theirs.tif", np.ones((4, 4), np.uint8))
    with pytest.raises(InputError, match="^OUTPUT: .*theirs.tif' exists and was not written by LandLearn"):
        claim_output(theirs, "output")
    (tmp_path / "new.qml").write_text("<qgis>someone's style</qgis>")
    with pytest.raises(InputError, match="^OUTPUT: .*new.qml' exists beside .*new.tif'"):
        claim_output(str(tmp_path / "new.tif"), "output", [str(tmp_path / "new.qml")])
    with pytest.raises(InputError, match="^OUTPUT: .* is a folder; give a file name"):
        claim_output(str(tmp_path), "output")


def test_two_outputs_whose_names_differ_only_in_case_are_one_file(tmp_path):
    """On macOS, Windows, exFAT and SMB 'Map.tif' and 'map.tif' are one file: the second
    output was written over the first. Refused everywhere (a case-sensitive disk loses
    nothing by it)."""
    with pytest.raises(InputError, match="^OUTPUT_CONFIDENCE: .*map.tif' is the output OUTPUT"):
        check_distinct({}, {"output": str(tmp_path / "Map.tif"),
                            "output_confidence": str(tmp_path / "map.tif")})


def test_a_copy_of_a_landlearn_map_under_another_name_is_not_landlearns(tmp_path):
    """gdal_translate (QGIS's Clip and Translate) copies the tags: a user's edited copy of a
    LandLearn map carried the mark and could be replaced as LandLearn's own. The mark names
    the file it was written as; maps marked before that keep counting as LandLearn's."""
    import rasterio
    from osgeo import gdal
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    from landlearn.core.geo.grid import Grid
    from landlearn.core.geo.writer import GeoTiffWriter

    grid = Grid(rasterio.crs.CRS.from_epsg(32633), from_origin(500000, 5000000, 10, 10), 8, 8)
    ours = str(tmp_path / "map.tif")
    with GeoTiffWriter(ours, grid, 1, np.uint8) as out:
        out.write(np.ones((8, 8), np.uint8), Window(0, 0, 8, 8))
    copy = str(tmp_path / "my_edit.tif")
    gdal.Translate(copy, ours)
    with rasterio.open(copy) as ds:
        assert ds.tags()["LANDLEARN_WRITER"] == "LandLearn"  # the copy carries the mark
    assert written_by_landlearn(ours) and not written_by_landlearn(copy)
    with pytest.raises(InputError, match="^OUTPUT: .*my_edit.tif' exists and was not written"):
        claim_output(copy, "OUTPUT")
    with rasterio.open(ours, "r+") as ds:  # written as Map.tif on a case-insensitive disk
        ds.update_tags(LANDLEARN_FILE="MAP.TIF")
    assert written_by_landlearn(ours)
    legacy = write(tmp_path / "old.tif", np.ones((4, 4), np.uint8))
    with rasterio.open(legacy, "r+") as ds:
        ds.update_tags(LANDLEARN_WRITER="LandLearn")  # a map from before the file's name
    assert written_by_landlearn(legacy)


def test_inputs_through_connection_strings_and_vrts_of_vrts_are_inputs(tmp_path):
    """'vrt:///d/a.tif?bands=1', a VRT of a VRT, and a VRT saved without its extension all
    read a.tif: an output at a.tif is refused for each (they were taken for remote or
    single files, and the map replaced its own source)."""
    from osgeo import gdal

    tif = write(tmp_path / "a.tif", np.ones((4, 4), np.uint8))
    inner = str(tmp_path / "inner.vrt")
    gdal.BuildVRT(inner, [tif]).FlushCache()
    outer = str(tmp_path / "outer.vrt")
    gdal.BuildVRT(outer, [inner]).FlushCache()
    plain = tmp_path / "mosaic.xml"
    plain.write_bytes(open(inner, "rb").read())
    vrt_url = f"vrt://{tif}?bands=1"
    for given in (vrt_url, outer, str(plain)):
        assert tif in input_files(given), given
        with pytest.raises(InputError, match=r"^OUTPUT: '.*a.tif' is the input INPUT_RASTER"):
            check_distinct({"input_raster": given}, {"output": tif})
    assert input_files("/vsicurl/https://example.com/a.tif") == []
    assert input_files("https://example.com/a.tif") == []


def test_a_pipe_among_the_inputs_is_not_opened_and_a_declared_xml_vrt_is_found(tmp_path):
    """Looking inside an input for a VRT must not open a pipe (the read waits for ever,
    QGIS hangs before the algorithm's own refusal); a VRT beginning with an XML
    declaration is still a VRT."""
    import threading

    from osgeo import gdal

    pipe = tmp_path / "w.safetensors"
    os.mkfifo(pipe)
    done = []
    worker = threading.Thread(target=lambda: done.append(input_files(str(pipe))), daemon=True)
    worker.start()
    worker.join(10)
    assert done == [[str(pipe)]]
    tif = write(tmp_path / "a.tif", np.ones((4, 4), np.uint8))
    vrt = str(tmp_path / "m.vrt")
    gdal.BuildVRT(vrt, [tif]).FlushCache()
    declared = tmp_path / "county.xml"
    declared.write_bytes(b'<?xml version="1.0"?>\n' + open(vrt, "rb").read())
    assert tif in input_files(str(declared))
