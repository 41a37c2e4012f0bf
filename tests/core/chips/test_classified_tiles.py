"""The Classified Tiles metadata: Esri's files as ArcGIS writes them, and LandLearn's
manifest, written from one description and read back."""

import json
import os

import pytest

from landlearn.core.chips import classified_tiles as ct
from landlearn.core.chips.band_stats import BandSummary
from landlearn.core.chips.classified_tiles import ChipRecord, ExportDescription, legacy_export_files
from landlearn.core.geo.classes import ClassInfo


def _description():
    classes = [ClassInfo(1, "water", (0, 0, 255)), ClassInfo(3, "forest", (0, 128, 0))]
    chips = [ChipRecord(0, 0, 0, (0.0, 90.0, 10.0, 100.0), 0, 0, 0, 100, {1: 60, 3: 40}),
             ChipRecord(1, 5, 0, (5.0, 90.0, 15.0, 100.0), 0, 0, 0, 90, {1: 30}),
             ChipRecord(2, 10, 10, (10.0, 80.0, 20.0, 90.0), 3, 1, 1, 100, {3: 100})]
    bands = [BandSummary("Band_4", 250, 1.0, 9.0, 4.5, 2.0), BandSummary("Band_3", 250, 0.0, 5.0, 2.5, 1.0)]
    return ExportDescription("/data/image.tif", [4, 3], 5, ["Band_4", "Band_3"], "uint16", [0, 0],
                             "WKT", (1.0, 1.0), (1.0, 0.0, 0.0, 0.0, -1.0, 100.0), (10, 10), (5, 10),
                             (10, 10), classes, bands, chips)


def test_chip_names_and_records():
    assert ct.chip_name(7) == "000000007.tif"
    record = ChipRecord(12, 64, 128, (1.0 / 3, 2.0, 3.0, 4.0), 5, 1, 2, 900, {3: 10, 1: 5})
    assert record.image_name == record.label_name == "000000012.tif"
    jpeg = ChipRecord(3, 0, 0, None, 0, 0, 0, 1, {}, suffixes=(".jpg", ".png"))
    assert (jpeg.to_json()["image"], jpeg.to_json()["label"]) == ("images/000000003.jpg",
                                                                  "labels/000000003.png")
    assert record.to_json() == {
        "image": "images/000000012.tif", "label": "labels/000000012.tif", "col_off": 64,
        "row_off": 128, "bounds": [0.333333333, 2.0, 3.0, 4.0], "block": 5, "block_row": 1,
        "block_col": 2, "valid_pixels": 900, "class_pixels": {"1": 5, "3": 10}}


def test_metadata_files_round_trip(tmp_path):
    d = _description()
    assert d.class_pixels() == {1: 90, 3: 140}
    ct.write_metadata(str(tmp_path), d, "3 chips")
    assert sorted(os.listdir(tmp_path)) == sorted([ct.STATS_JSON, ct.EMD, ct.MANIFEST, ct.MAP_TXT,
                                                   ct.STATS_TXT])
    # map.txt: Windows separators and newlines of its own, as ArcGIS writes it
    assert (tmp_path / "map.txt").read_bytes() == (
        b"images\\000000000.tif labels\\000000000.tif\nimages\\000000001.tif labels\\000000001.tif\n"
        b"images\\000000002.tif labels\\000000002.tif\n")
    stats = json.loads((tmp_path / ct.STATS_JSON).read_text())
    assert (stats["NumTiles"], stats["NumBands"], stats["TileSizeX"], stats["NumClasses"]) == (3, 2, 10, 2)
    assert stats["MetaDataMode"] == "Classified_Tiles"
    assert stats["Classes"] == [{"ClassValue": 1, "ClassName": "water", "Color": [0, 0, 255]},
                                {"ClassValue": 3, "ClassName": "forest", "Color": [0, 128, 0]}]
    px = stats["ClassPixelStats"]
    assert px["NumPixelsPerClass"] == [90, 140] and px["NumImagesPerClass"] == [2, 2]
    assert px["NumClassesPerImage"] == {"Min": 1, "Max": 2, "Mean": pytest.approx(4 / 3), "Sum": 4,
                                        "Count": 3}
    assert px["PixelsPerClass"][1] == {"Min": 0, "Max": 100, "Mean": pytest.approx(140 / 3),
                                       "Sum": 140, "Count": 3}
    assert stats["BandStatsState"][0] == {"Min": 1.0, "Max": 9.0, "M1": 4.5, "M2": 1000.0, "Num": 250}
    emd = json.loads((tmp_path / ct.EMD).read_text())
    assert (emd["ImageWidth"], emd["ImageHeight"], emd["ExtractBands"]) == (10, 10, [0, 1])
    assert emd["Classes"] == [{"Value": 1, "Name": "water", "Color": [0, 0, 255]},
                              {"Value": 3, "Name": "forest", "Color": [0, 128, 0]}]
    assert emd["AllTilesStats"][1] == {"BandName": "Band_3", "Min": 0.0, "Max": 5.0, "Mean": 2.5,
                                       "StdDev": 1.0}
    assert emd["InputRastersProps"]["BandNames"] == ["Band_4", "Band_3"]
    assert emd["LandLearn"] == {"CellSize": [1.0, 1.0], "DataType": "uint16", "NoData": [0, 0],
                                "SourceBands": [4, 3], "SourceBandCount": 5, "SourceScaling": None,
                                "SpatialReference": "WKT"}
    manifest = json.loads((tmp_path / ct.MANIFEST).read_text())
    assert manifest["format"] == "landlearn-chips" and manifest["version"] == ct.MANIFEST_VERSION
    assert manifest["chips"] == [c.to_json() for c in d.chips]
    assert manifest["class_pixels"] == {"1": 90, "3": 140}
    assert (manifest["tile_size"], manifest["stride"], manifest["block_size"]) == ([10, 10], [5, 10], [10, 10])
    text = (tmp_path / ct.STATS_TXT).read_text()
    assert text.startswith("3 chips\n\nBand statistics over valid chip pixels:\n")
    assert "  Band_4: min 1, max 9, mean 4.5, std 2 (250 px)" in text


def test_a_nan_nodata_is_written_as_strict_json(tmp_path):
    """json.dump wrote the bare token NaN for a float raster's NaN NoData: strict JSON
    readers (and other languages' parsers) refuse the file."""
    import dataclasses

    d = dataclasses.replace(_description(), nodata=[float("nan"), None], dtype="float32")
    ct.write_metadata(str(tmp_path), d, "3 chips")
    def refuse(token):
        raise ValueError(f"not strict JSON: {token}")

    for name in (ct.EMD, ct.MANIFEST, ct.STATS_JSON):
        json.loads((tmp_path / name).read_text(), parse_constant=refuse)
    assert json.loads((tmp_path / ct.EMD).read_text())["LandLearn"]["NoData"] == ["nan", None]


def test_empty_export_statistics():
    d = _description()
    d.chips = []
    stats = ct.accumulated_stats(d)
    assert stats["ClassPixelStats"]["NumClassesPerImage"] == {"Min": 0, "Max": 0, "Mean": 0.0,
                                                              "Sum": 0, "Count": 0}
    assert stats["ClassPixelStats"]["NumPixelsPerClass"] == [0, 0] and ct.map_lines(d) == ""


def test_legacy_exports_are_recognised_by_their_manifest_only(tmp_path):
    ct.write_metadata(str(tmp_path), _description(), "")
    files = legacy_export_files(str(tmp_path))
    assert files == {"map.txt", ct.STATS_JSON, ct.EMD, ct.MANIFEST, ct.STATS_TXT,
                     "images/000000000.tif", "labels/000000000.tif", "images/000000001.tif",
                     "labels/000000001.tif", "images/000000002.tif", "labels/000000002.tif"}
    manifest = json.loads((tmp_path / ct.MANIFEST).read_text())
    for bad in ("../../home/user/thesis.docx", "images/../../x", "images/sub/x.tif", "labels/x.tif",
                "images/..", 7):
        tampered = dict(manifest, chips=[dict(manifest["chips"][0], image=bad)])
        (tmp_path / ct.MANIFEST).write_text(json.dumps(tampered))
        assert legacy_export_files(str(tmp_path)) is None, bad
    (tmp_path / ct.MANIFEST).write_text(json.dumps(dict(manifest, format="other")))
    assert legacy_export_files(str(tmp_path)) is None
    (tmp_path / ct.MANIFEST).write_text("{broken")
    assert legacy_export_files(str(tmp_path)) is None
    assert legacy_export_files(str(tmp_path / "nowhere")) is None


def test_the_manifest_records_no_token_or_password_of_the_source():
    """A folder is made to be shared; its manifest recorded the raster as given, with a
    /vsicurl/ token or a presigned link's signature and a URL's user and password."""
    assert ct.shareable_source("/vsicurl/https://bob:pw@host.org/a/b.tif?token=abc#x") == \
        "/vsicurl/https://host.org/a/b.tif"
    assert ct.shareable_source("https://b.s3.amazonaws.com/k.tif?X-Amz-Signature=1") == \
        "https://b.s3.amazonaws.com/k.tif"
    # GDAL's option syntax: the URL kept (decoded), the options (headers, keys) left out
    assert ct.shareable_source("/vsicurl?url=https%3A%2F%2Fhost.org%2Fa%2Fb.tif%3Fsig%3D1"
                               "&header.Authorization=Bearer%20x&use_head=no") == \
        "/vsicurl/https://host.org/a/b.tif"
    assert ct.shareable_source("/vsicurl?use_head=no&url=https://u:p@h.org/c.tif") == \
        "/vsicurl/https://h.org/c.tif"
    assert ct.shareable_source("/vsicurl?header_file=/secret/h.txt") == "/vsicurl"
    for plain in ("/data/scene.tif", "/vsis3/bucket/k.tif", "GPKG:/a.gpkg:t", "C:\\d\\x?.tif"):
        assert ct.shareable_source(plain) == plain
