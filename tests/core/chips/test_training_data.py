"""Reading chip folders for training: an export read back, the same folder as ArcGIS would
leave it (no manifest, no statistics), several folders together, and folders refused."""

import json
import os
import re
import shutil

import numpy as np
import pytest
import rasterio
from chip_folders import arcgis_copy, nc_export, read_json

from landlearn.core.chips.chip_reader import read_image_chip
from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
from landlearn.core.chips.training_data import read_training_data
from landlearn.core.errors import InputError
from landlearn.core.labels.base import LabelConfig
from landlearn.core.progress import RecordingProgress


@pytest.fixture(scope="module")
def export(sample, tmp_path_factory):
    return nc_export(sample, tmp_path_factory.mktemp("td") / "chips")



def test_an_export_reads_back_as_it_was_written(export):
    td = read_training_data([export])
    manifest, emd = read_json(export / "landlearn_manifest.json"), read_json(export / "esri_model_definition.emd")
    assert td.folders == [str(export)] and len(td.chips) == len(manifest["chips"]) > 10
    assert [os.path.relpath(c.image, export) for c in td.chips] == [c["image"] for c in manifest["chips"]]
    assert [c.block for c in td.chips] == [c["block"] for c in manifest["chips"]]
    assert td.chips[0].bounds == tuple(manifest["chips"][0]["bounds"])
    assert all(c.folder == 0 and c.block_key == (0, c.block) for c in td.chips)
    assert [(c.value, c.name) for c in td.classes] == [(c["Value"], c["Name"]) for c in emd["Classes"]]
    assert [c.value for c in td.classes] == [1, 2, 3, 4, 5, 6, 7]
    stats = emd["AllTilesStats"]
    np.testing.assert_array_equal(td.mean, [b["Mean"] for b in stats])
    np.testing.assert_allclose(td.std, [b["StdDev"] for b in stats], rtol=1e-12)
    np.testing.assert_array_equal(td.minimum, [b["Min"] for b in stats])
    assert td.band_names == ["Band_1", "Band_2", "Band_3", "Band_4", "Band_5"] and td.band_count == 5
    assert (td.tile_size, td.nodata, td.dtype, td.cell_size) == ((128, 128), -99999.0, "float32", (28.5, 28.5))
    assert (td.source_bands, td.source_band_count) == ([1, 2, 3, 4, 5], 5)
    assert td.class_pixels == {int(k): v for k, v in manifest["class_pixels"].items()}
    with rasterio.open(export / "images" / "000000000.tif") as ds:
        assert td.crs_wkt == ds.crs.to_wkt()
        data, missing = read_image_chip(td.chips[0].image, 5, td.tile_size)
        np.testing.assert_array_equal(data, ds.read())
        np.testing.assert_array_equal(missing, np.all(data == -99999.0, axis=0))


def test_folders_combine_with_weighted_statistics(export, sample, tmp_path):
    half = tmp_path / "half"
    shutil.copytree(export, half)
    td = read_training_data([export, half])
    one = read_training_data([export])
    assert len(td.chips) == 2 * len(one.chips) and {c.folder for c in td.chips} == {0, 1}
    # a copy lies where the folder lies (as two image dates over the same labels): its
    # chips share the folder's places, on one grid in their CRS (shared_grid.py)
    assert len({c.block_key for c in td.chips}) == len({c.block_key for c in one.chips})
    assert {c.block_key for c in td.chips if c.folder == 0} == \
        {c.block_key for c in td.chips if c.folder == 1}
    assert all(c.region == 2 for c in td.chips) and all(c.region is None for c in one.chips)
    np.testing.assert_allclose(td.mean, one.mean)
    np.testing.assert_allclose(td.std, one.std)
    assert td.class_pixels == {k: 2 * v for k, v in one.class_pixels.items()}
    other = nc_export(sample, tmp_path / "t64", tile=64, stride=64)
    with pytest.raises(InputError, match=r"^TRAINING_DATA: '.*t64' has 64 x 64 chips but '.*' has 128 x 128"):
        read_training_data([export, other])


def test_what_is_not_training_data_is_refused(export, tmp_path):
    with pytest.raises(InputError, match="^TRAINING_DATA: no training data folder was given"):
        read_training_data([])
    with pytest.raises(InputError, match="^TRAINING_DATA: '.*missing' is not a folder"):
        read_training_data([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="is not a training data folder: it needs images/, labels/"):
        read_training_data([tmp_path / "empty"])
    objects = tmp_path / "objects"
    shutil.copytree(export, objects)
    stats = read_json(objects / "esri_accumulated_stats.json")
    (objects / "esri_accumulated_stats.json").write_text(json.dumps(dict(stats, MetaDataMode="PASCAL_VOC_rectangles")))
    with pytest.raises(InputError, match="holds 'PASCAL_VOC_rectangles' training data; pixel "
                                         "classification needs 'Classified_Tiles'"):
        read_training_data([objects])
    gone = tmp_path / "gone"
    shutil.copytree(export, gone)
    os.remove(gone / "images" / "000000001.tif")
    with pytest.raises(InputError, match="lists chips that do not exist, e.g. '.*000000001.tif'"):
        read_training_data([gone])
    change = tmp_path / "change"
    shutil.copytree(export, change)
    shutil.copytree(export / "images", change / "images2")
    with pytest.raises(InputError, match="holds change-detection training data \\(an images2/"):
        read_training_data([change])
    with pytest.raises(InputError, match=r"the chip '.*' holds 5 band\(s\) of 128 x 128 px; this "
                                         r"training data has 3 band\(s\) of 128 x 128 px"):
        read_image_chip(str(export / "images" / "000000000.tif"), 3, (128, 128))
    (tmp_path / "broken.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(InputError, match="the chip '.*broken.tif' cannot be read"):
        read_image_chip(str(tmp_path / "broken.tif"), 5, (128, 128))



@pytest.mark.heavy
def test_a_folder_without_a_list_pairs_chips_not_world_files(export, tmp_path):
    """No manifest, no map.txt: the chips are paired by name in images/ and labels/. A
    world file beside a label chip has its name: listed after it, 000000000.tfw took the
    label's place, and .pgw/.jgw files became image chips."""
    listed = arcgis_copy(export, tmp_path / "listed", keep_stats=True)
    os.remove(listed / "map.txt")
    for sub_folder in ("images", "labels"):
        for chip in (listed / sub_folder).glob("*.tif"):
            (chip.parent / (chip.stem + ".tfw")).write_text("10\n0\n0\n-10\n0\n0\n")
            (chip.parent / (chip.stem + ".pgw")).write_text("10\n0\n0\n-10\n0\n0\n")
    td = read_training_data([listed])
    assert len(td.chips) == len(list((export / "images").glob("*.tif")))
    assert all(c.image.endswith(".tif") and c.label.endswith(".tif") for c in td.chips)


@pytest.mark.heavy
def test_an_arcgis_folder_pools_by_pixels_and_its_statistics_stream(export, tmp_path,
                                                                     monkeypatch):
    """Pooled with a LandLearn folder of the same chips, an ArcGIS copy weighs as much (it
    weighed its chip count against the other's pixel count: 1/16,000 of the say); and its
    statistics are summed chip by chip, never all chips' pixels held at once."""
    from landlearn.core.chips import band_stats

    arcgis = arcgis_copy(export, tmp_path / "arcgis")
    held = []
    real = band_stats.BandStats.add

    def add(self, data, valid, nodata=None):
        held.append(data.nbytes)
        return real(self, data, valid, nodata)

    monkeypatch.setattr(band_stats.BandStats, "add", add)
    one = read_training_data([export])
    both = read_training_data([export, arcgis])
    np.testing.assert_allclose(both.mean, one.mean, rtol=1e-9)
    np.testing.assert_allclose(both.std, one.std, rtol=1e-6)
    assert len(held) == len(one.chips) and len(set(held)) == 1  # one chip at a time
    # an ArcGIS folder with statistics but no pixel count weighs by its chips' pixels too
    stats_only = arcgis_copy(export, tmp_path / "stats_only", keep_stats=True)
    s = read_json(stats_only / "esri_accumulated_stats.json")
    s.pop("BandStatsState", None)
    (stats_only / "esri_accumulated_stats.json").write_text(json.dumps(s))
    shifted = read_training_data([export, stats_only])
    np.testing.assert_allclose(shifted.mean, one.mean, rtol=1e-9)


@pytest.mark.parametrize("edit,message", [
    (lambda emd, st: emd.update(Classes=[{"Value": 300, "Name": "x"}]), "the value 300"),
    (lambda emd, st: emd.update(Classes=[{"Value": "a", "Name": "x"}]), "the value 'a'"),
    (lambda emd, st: emd.update(Classes=[{"Value": 1.5, "Name": "x"}]), "the value 1.5"),
    (lambda emd, st: emd.update(Classes=[{"Value": float("inf"), "Name": "x"}]),
     "the value inf"),
    (lambda emd, st: emd.update(Classes=[{"Name": "x"}]), "KeyError"),
    (lambda emd, st: emd.update(Classes={"Value": 1}), "damaged or not as Export"),
    (lambda emd, st: [b.pop("StdDev") for b in emd["AllTilesStats"]], "KeyError: 'StdDev'"),
    (lambda emd, st: st["BandStatsState"][0].pop("Num"), "KeyError: 'Num'"),
    # refused by the package after hours of training before: refused before it
    (lambda emd, st: emd.setdefault("InputRastersProps", {}).update(
        BandNames=["x" * 300] * len(emd["AllTilesStats"])), "band names must be texts"),
    (lambda emd, st: emd.setdefault("LandLearn", {}).update(SourceBands=[0]), "SourceBands [0]"),
])
def test_a_damaged_description_from_someone_else_names_the_folder(export, tmp_path, edit,
                                                                  message):
    bad = tmp_path / "bad"
    shutil.copytree(export, bad)
    emd = read_json(bad / "esri_model_definition.emd")
    stats = read_json(bad / "esri_accumulated_stats.json")
    edit(emd, stats)
    (bad / "esri_model_definition.emd").write_text(json.dumps(emd))
    (bad / "esri_accumulated_stats.json").write_text(json.dumps(stats))
    with pytest.raises(InputError, match=f"^TRAINING_DATA: '.*bad'.*{re.escape(message)}"):
        read_training_data([bad])


@pytest.mark.parametrize("name,text,message", [
    ("esri_accumulated_stats.json", "[]", "holds a JSON list, not the object"),
    ("esri_model_definition.emd", "[" * 100_000 + "]" * 100_000, "cannot be read as JSON"),
    ("landlearn_manifest.json", None, "chip bounds [0, 0, 0, 0] are not (left, bottom, right"),
])
def test_a_description_that_is_not_an_object_or_places_chips_nowhere_is_named(
        export, tmp_path, name, text, message):
    """A list where an object belongs (a raw AttributeError), JSON nested past Python's
    recursion (a RecursionError) and zero-area chip bounds (a ZeroDivisionError where the
    labels are counted) from a folder someone else made."""
    bad = tmp_path / "bad"
    shutil.copytree(export, bad)
    if text is None:
        manifest = read_json(bad / name)
        for chip in manifest["chips"]:
            chip["bounds"] = [0, 0, 0, 0]
        text = json.dumps(manifest)
    (bad / name).write_text(text)
    with pytest.raises(InputError, match=f"^TRAINING_DATA: '.*bad.*{re.escape(message)}"):
        read_training_data([bad])


def test_folders_that_number_classes_or_order_bands_apart_are_refused(export, tmp_path):
    """Folders were pooled by class value alone (the first folder's name kept: another
    layer's Urban = 1 trained as this one's Forest = 1) and by band count alone."""
    folders = []
    for name in ("Tundra", "Urban", "Class {}"):
        folder = tmp_path / name.split()[0]
        shutil.copytree(export, folder)
        emd = read_json(folder / "esri_model_definition.emd")
        value = emd["Classes"][0]["Value"]
        emd["Classes"][0]["Name"] = name.format(value)
        (folder / "esri_model_definition.emd").write_text(json.dumps(emd))
        folders.append(folder)
    with pytest.raises(InputError, match=rf"^TRAINING_DATA: class value {value} is 'Tundra' in "
                       r"'.*Tundra' but 'Urban' in '.*Urban'"):
        read_training_data(folders[:2])
    read_training_data([folders[0], folders[2]])  # a default name ("Class 1") beside a name
    # one name under two values (A: Tundra = 1, B: tundra = 3): two outputs for one class
    emd = read_json(folders[1] / "esri_model_definition.emd")
    second = emd["Classes"][1]
    emd["Classes"][0]["Name"], second["Name"] = f"Class {value}", "tundra"
    (folders[1] / "esri_model_definition.emd").write_text(json.dumps(emd))
    with pytest.raises(InputError, match=rf"^TRAINING_DATA: class 'tundra' is value {value} in "
                       rf"'.*Tundra' but {second['Value']} in '.*Urban'; export the folders"):
        read_training_data(folders[:2])
    # bands in another order (names a raster gave, not Band_1..)
    pair = []
    for k, order in enumerate((1, -1)):
        folder = tmp_path / f"bands{k}"
        shutil.copytree(export, folder)
        emd = read_json(folder / "esri_model_definition.emd")
        n = len(read_training_data([export]).band_names)
        emd.setdefault("InputRastersProps", {})["BandNames"] = [f"B{i + 1}" for i in range(n)][::order]
        (folder / "esri_model_definition.emd").write_text(json.dumps(emd))
        pair.append(folder)
    with pytest.raises(InputError, match=r"bands1' holds the bands \['B5', .* against \['B1', "
                       r".* in '.*bands0'; export all folders with the same bands in the same "
                       r"order"):
        read_training_data(pair)
    # unnamed bands (Band_1..) exported from the raster's bands 5..1 and 1..5
    emd = read_json(pair[1] / "esri_model_definition.emd")
    emd["InputRastersProps"]["BandNames"] = [f"Band_{i + 1}" for i in range(n)]
    emd.setdefault("LandLearn", {}).update(SourceBands=list(range(n, 0, -1)), SourceBandCount=n)
    (pair[1] / "esri_model_definition.emd").write_text(json.dumps(emd))
    with pytest.raises(InputError, match=r"bands1' holds the raster's bands \[5, 4, "):
        read_training_data([export, pair[1]])
    # names that only differ (one raster named its bands): pooled, with a warning
    emd["LandLearn"]["SourceBands"] = list(range(1, n + 1))
    emd["InputRastersProps"]["BandNames"] = [f"SR_B{i + 1}" for i in range(n)]
    (pair[1] / "esri_model_definition.emd").write_text(json.dumps(emd))
    progress = RecordingProgress()
    read_training_data([pair[0], pair[1]], progress)
    assert any("check that they are the same bands" in w for w in progress.warnings)


def test_folders_at_another_cell_size_or_number_type_are_pooled_with_a_warning(
        sample, export, tmp_path):
    """A 28.5 m and a 57 m export of one scene, and float chips beside integer ones, were
    pooled without a word; the package records the first folder's cell size and type."""
    nc = sample / "nc_landsat7"
    coarse = tmp_path / "coarse"
    export_training_data(ExportConfig(str(nc / "landsat_multiband.tif"),
                                      LabelConfig(str(nc / "strata.tif")), str(coarse),
                                      tile_size_x=64, tile_size_y=64, stride_x=64, stride_y=64,
                                      cell_size=57.0))
    progress = RecordingProgress()
    with pytest.raises(InputError, match="chips but"):  # another tile size: refused first
        read_training_data([export, coarse], progress)
    coarse_128 = tmp_path / "coarse128"
    export_training_data(ExportConfig(str(nc / "landsat_multiband.tif"),
                                      LabelConfig(str(nc / "strata.tif")), str(coarse_128),
                                      tile_size_x=128, tile_size_y=128, stride_x=64,
                                      stride_y=64, cell_size=57.0))
    read_training_data([export, coarse_128], progress)
    assert any("coarse128' has cells of 57" in w and "export the folders at one CELL_SIZE" in w
               for w in progress.warnings)
    assert not any("integer counts" in w for w in progress.warnings)  # both float32
    quiet = RecordingProgress()
    read_training_data([export, export], quiet)
    assert quiet.warnings == []
    # a folder whose chips are integers (its first chip read as the folder's type)
    counts = tmp_path / "counts"
    shutil.copytree(export, counts)
    first = counts / read_json(counts / "landlearn_manifest.json")["chips"][0]["image"]
    with rasterio.open(first) as src:
        profile, data = src.profile, src.read()
    with rasterio.open(first, "w", **dict(profile, dtype="uint16", nodata=0)) as dst:
        dst.write(np.clip(data, 0, None).astype(np.uint16))
    read_training_data([export, counts], quiet)
    assert any("holds uint16 chips" in w and "integer counts" in w for w in quiet.warnings)
