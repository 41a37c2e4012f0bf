"""A collection classified as one mosaic, and item by item, against the scene's own map."""

import csv
import json
import os

import numpy as np
import pytest
import rasterio

from landlearn.core.classify.classify_pixels import ClassifyConfig
from landlearn.core.classify.collection import CollectionConfig, classify_collection
from landlearn.core.errors import InputError
from landlearn.core.progress import RecordingProgress


def test_mosaicked_gives_the_scenes_map(rf, nc_tiles, scene_map, tmp_path):
    folder, _windows, _scene = nc_tiles
    out = tmp_path / "mosaic.tif"
    result = classify_collection(CollectionConfig(str(rf[0]), "mosaicked", folder=str(folder),
                                                  output=str(out)), RecordingProgress())
    with rasterio.open(out) as ds:
        assert np.array_equal(ds.read(1), scene_map)
    assert result.items == 4 and os.path.exists(tmp_path / "mosaic.qml")
    assert sorted(os.listdir(tmp_path)) == ["mosaic.qml", "mosaic.tif", "mosaic.tif.aux.xml"]


def test_each_item_maps_a_vrt_and_class_areas(rf, nc_tiles, scene_map, tmp_path):
    folder, windows, _scene = nc_tiles
    out = tmp_path / "maps"
    result = classify_collection(CollectionConfig(str(rf[0]), "each_item", folder=str(folder),
                                                  output_folder=str(out)))
    names = [f"tile_{c}_classified.tif" for c in "abcd"]
    assert result.outputs == [str(out / n) for n in names]
    for c, name in zip("abcd", names):
        with rasterio.open(out / name) as ds:
            w = windows[c]
            ref = scene_map[int(w.row_off):int(w.row_off + w.height),
                            int(w.col_off):int(w.col_off + w.width)]
            assert np.array_equal(ds.read(1), ref)
    moved = tmp_path / "moved"
    os.rename(out, moved)  # the VRT's paths are relative: the folder can move
    with rasterio.open(moved / "mosaic.vrt") as m:
        assert m.shape == scene_map.shape and np.array_equal(m.read(1), scene_map)
    rows = list(csv.DictReader(open(moved / "class_areas.csv")))
    per_item = {}
    for r in rows:
        per_item[r["item"]] = per_item.get(r["item"], 0) + int(r["pixels"])
    assert sorted(per_item.values()) == sorted(int(w.width * w.height) for w in windows.values())
    assert json.loads((moved / "class_areas.json").read_text())[0]["item"].endswith("tile_a.tif")
    assert rows[1]["hectares"] != ""  # UTM metres


def test_each_item_needs_a_folder_and_refuses_a_foreign_one(rf, nc_tiles, tmp_path):
    folder = str(nc_tiles[0])
    with pytest.raises(InputError, match="^OUTPUT_FOLDER: PROCESSING_MODE=each_item writes"):
        classify_collection(CollectionConfig(str(rf[0]), "each_item", folder=folder))
    with pytest.raises(InputError, match="^OUTPUT: PROCESSING_MODE=mosaicked writes one map"):
        classify_collection(CollectionConfig(str(rf[0]), folder=folder))
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="^OUTPUT_FOLDER: the folder .* is not empty"):
        classify_collection(CollectionConfig(str(rf[0]), "each_item", folder=folder,
                                             output_folder=str(busy), overwrite=False))
    with pytest.raises(InputError, match="^OUTPUT_FOLDER: the folder .* not written by "
                       "LandLearn"):
        classify_collection(CollectionConfig(str(rf[0]), "each_item", folder=folder,
                                             output_folder=str(busy), overwrite=True))
    assert os.listdir(busy) == ["notes.txt"]


@pytest.mark.heavy
def test_each_item_on_worker_processes_gives_the_same_maps(rf, nc_tiles, scene_map, tmp_path,
                                                           monkeypatch):
    pytest.importorskip("distributed")
    from landlearn.core.classify.distributed import cluster

    opened = []
    real = cluster.open_client
    monkeypatch.setattr(cluster, "open_client", lambda *a: opened.append(1) or real(*a))
    folder, windows, _scene = nc_tiles
    out = tmp_path / "maps"
    progress = RecordingProgress()
    classify_collection(CollectionConfig(
        str(rf[0]), "each_item", rasters=tuple(str(folder / f"tile_{c}.tif") for c in "ab"),
        output_folder=str(out), classify=ClassifyConfig("", "", "", tile_size=64,
                                                        block_size=256,
                                                        parallel_processing_factor="2")),
        progress)
    with rasterio.open(out / "mosaic.vrt") as m:
        assert np.array_equal(m.read(1)[:240], scene_map[:240])
    assert opened == [1]  # one cluster for both items: worker processes started once
    import psutil

    assert not [p for p in psutil.Process().children(recursive=True)
                if "spawn_main" in " ".join(p.cmdline())]  # and closed at the end
    assert sum("Dask: " in m for m in progress.messages) == 2


def test_mosaicked_items_without_nodata_leave_the_gaps_between_them_unclassified(
        rf, nc_tiles, scene_map, tmp_path):
    """Two diagonal tiles with no NoData value (as RGB aerial tiles come): the corners no
    item covers read as 0 and were classified as land cover; an alpha band marks them."""
    folder, windows, _scene = nc_tiles
    items = tmp_path / "items"
    items.mkdir()
    for name in ("a", "d"):
        with rasterio.open(folder / f"tile_{name}.tif") as src:
            profile, data = dict(src.profile, nodata=None), src.read()
        data[data == src.nodata] = 0
        with rasterio.open(items / f"tile_{name}.tif", "w", **profile) as dst:
            dst.write(data)
    out = tmp_path / "mosaic.tif"
    classify_collection(CollectionConfig(str(rf[0]), "mosaicked", folder=str(items),
                                         output=str(out)), RecordingProgress())
    with rasterio.open(out) as ds:
        got = ds.read(1)
    covered = np.zeros_like(got, dtype=bool)
    for name in ("a", "d"):
        w = windows[name]
        covered[int(w.row_off):int(w.row_off + w.height), int(w.col_off):int(w.col_off + w.width)] = True
    assert got.shape == scene_map.shape
    assert (got[~covered] == 0).all() and (~covered).sum() > 50_000
    inner = covered & (scene_map > 0)
    assert (got[inner] == scene_map[inner]).mean() > 0.99


def test_each_items_map_gets_a_name_no_other_item_has():
    """2020/tile, 2021/tile and x/tile_2 gave tile_2_classified.tif twice: the third map
    replaced the second. Case does not tell names apart (Windows, macOS)."""
    from types import SimpleNamespace

    from landlearn.core.classify.collection.classify_collection import _names

    items = [SimpleNamespace(path=p) for p in
             ("2020/tile.tif", "2021/tile.tif", "x/tile_2.tif", "y/TILE.tif", "z/a.jp2")]
    names = _names(items)
    assert len({n.casefold() for n in names}) == len(names)
    assert names == ["tile_classified.tif", "tile_2_classified.tif", "tile_2_3_classified.tif",
                     "TILE_4_classified.tif", "a_classified.tif"]
    # hidden items give visible maps (a resume's clean-up of hidden files removed them)
    assert _names([SimpleNamespace(path=p) for p in (".a.tif", "a.tif", "..tif")]) == [
        "a_classified.tif", "a_2_classified.tif", "tif_classified.tif"]


def test_an_output_that_is_an_item_is_refused_naming_the_items_parameter(rf, nc_tiles,
                                                                         tmp_path):
    import shutil

    folder, _windows, _scene = nc_tiles
    items = tmp_path / "items"
    shutil.copytree(folder, items)
    with pytest.raises(InputError) as err:
        classify_collection(CollectionConfig(str(rf[0]), "mosaicked", folder=str(items),
                                             output=str(items / "tile_a.tif")))
    assert "INPUT_RASTER" not in str(err.value) and "is an item of FOLDER" in str(err.value)


def test_an_object_based_model_is_refused_before_any_item(nc_objects, nc_tiles, tmp_path):
    """Classify Pixels' advice (give SEGMENTED_RASTER) named a parameter this algorithm
    does not have; the package is refused by MODEL before an item is read."""
    folder, _windows, _scene = nc_tiles
    pkg = nc_objects[1]
    with pytest.raises(InputError, match="^MODEL: .* classifies segments .* Classify Raster "
                       "Collection takes no segmented rasters: run Classify Pixels on each item"):
        classify_collection(CollectionConfig(str(pkg), "mosaicked", folder=str(folder),
                                             output=str(tmp_path / "m.tif")))
    assert not list(tmp_path.iterdir())


def test_each_items_output_errors_name_the_output_folder(rf, nc_tiles, tmp_path, monkeypatch):
    """An item's map is Classify Pixels' OUTPUT inside the folder: its errors (disk full
    ahead, a staging folder workers cannot see) name OUTPUT_FOLDER, which the user gave,
    not OUTPUT, which each_item leaves empty."""
    import importlib

    module = importlib.import_module("landlearn.core.classify.collection.classify_collection")

    def full(config, progress=None):
        raise InputError("output", f"'{config.output}' needs 9.9 GB and the disk has 0.1 GB; "
                         "choose another OUTPUT")

    monkeypatch.setattr(module, "classify_pixels", full)
    with pytest.raises(InputError, match="^OUTPUT_FOLDER: '.*' needs 9.9 GB.*choose another "
                       "OUTPUT_FOLDER$"):
        classify_collection(CollectionConfig(str(rf[0]), "each_item", folder=str(nc_tiles[0]),
                                             output_folder=str(tmp_path / "maps")))
    assert not (tmp_path / "maps").exists()


def test_items_without_the_models_bands_are_named_without_a_bands_parameter(rf, nc_tiles,
                                                                            tmp_path):
    """Classify Pixels' advice (choose the bands in BANDS) named a parameter this
    algorithm does not have (a qgis_process sweep, stop 66)."""
    folder, _windows, _scene = nc_tiles
    four = tmp_path / "four.tif"
    with rasterio.open(folder / "tile_a.tif") as src:
        with rasterio.open(four, "w", **dict(src.profile, count=4)) as dst:
            dst.write(src.read([1, 2, 3, 4]))
    with pytest.raises(InputError) as err:
        classify_collection(CollectionConfig(str(rf[0]), "mosaicked", rasters=(str(four),),
                                             output=str(tmp_path / "m.tif")))
    said = str(err.value)
    assert said.startswith("RASTERS: ") and "in BANDS" not in said
    assert "every item must hold the bands the model was trained on" in said
    assert "the items' mosaic" in said and ".part.vrt" not in said  # not the hidden VRT
    assert not (tmp_path / "m.tif").exists()


def test_a_mosaic_of_items_far_apart_too_large_names_the_union_not_extent(rf, nc_tiles,
                                                                          tmp_path):
    """Two tiles 100 km apart: the mosaic's size limit said 'Check CELL_SIZE and EXTENT',
    and this algorithm has no EXTENT (a qgis_process sweep, stop 68)."""
    from rasterio.transform import Affine

    folder, _windows, _scene = nc_tiles
    items = tmp_path / "items"
    items.mkdir()
    for name, shift in (("tile_a.tif", 0), ("tile_b.tif", 100_000)):
        with rasterio.open(folder / name) as src:
            profile, data = src.profile, src.read()
        profile["transform"] = Affine.translation(shift, -shift) * profile["transform"]
        with rasterio.open(items / name, "w", **profile) as dst:
            dst.write(data)
    with pytest.raises(InputError, match=r"^MAX_OUTPUT_GPX: the classified map would be .* "
                       r"= 0\.015 gigapixels.* The mosaic spans the items' union .* or use PROCESSING_MODE=each_item"):
        classify_collection(CollectionConfig(
            str(rf[0]), "mosaicked", folder=str(items), output=str(tmp_path / "m.tif"),
            classify=ClassifyConfig("", "", "", max_output_gpx=0.01)))
    assert sorted(os.listdir(tmp_path)) == ["items"]
