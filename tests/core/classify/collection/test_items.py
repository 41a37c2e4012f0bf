"""Items from layers, a folder, a text list or a VRT; mixed collections refused."""

import os

import pytest
import rasterio

from landlearn.core.classify.collection.items import describe_items, list_items
from landlearn.core.errors import InputError


def test_a_folder_a_text_list_and_a_vrt_give_the_same_items(nc_tiles, tmp_path):
    from osgeo import gdal

    folder, _windows, _scene = nc_tiles
    from_folder = list_items(folder=str(folder), pattern="tile_*.tif")
    assert [os.path.basename(p) for p in from_folder] == [f"tile_{c}.tif" for c in "abcd"]
    listing = tmp_path / "items.txt"
    rel = [os.path.relpath(p, tmp_path) for p in from_folder]
    listing.write_text("# the survey\n" + "\n".join(rel) + "\n\n")
    assert [os.path.realpath(p) for p in list_items(list_file=str(listing))] == from_folder
    gdal.BuildVRT(str(tmp_path / "items.vrt"), from_folder)
    assert sorted(list_items(list_file=str(tmp_path / "items.vrt"))) == from_folder
    items = describe_items(from_folder, "folder")
    assert [i.bands for i in items] == [5] * 4 and items[1].res == items[0].res


def test_hidden_files_and_a_vrts_own_overviews_are_no_items(nc_tiles, tmp_path):
    """*.tif matched macOS's ._tile.tif and a killed run's .map.tif.<hex>.part.tif; a list
    VRT with pyramids listed its own .ovr as an item (no CRS: 'mixes coordinate systems')."""
    import shutil

    from osgeo import gdal

    folder, _windows, _scene = nc_tiles
    copy = tmp_path / "items"
    shutil.copytree(folder, copy)
    (copy / "._tile_a.tif").write_bytes(b"\0" * 4096)
    shutil.copy(copy / "tile_b.tif", copy / ".map.tif.1a2b3c4d.part.tif")
    assert [os.path.basename(p) for p in list_items(folder=str(copy))] == \
        [f"tile_{c}.tif" for c in "abcd"]
    assert [os.path.basename(p) for p in list_items(folder=str(copy), pattern=".*.tif")] == \
        ["._tile_a.tif", ".map.tif.1a2b3c4d.part.tif"]  # asked for: given
    vrt = tmp_path / "list.vrt"
    tiles = [str(copy / f"tile_{c}.tif") for c in "abcd"]
    ds = gdal.BuildVRT(str(vrt), tiles)
    ds.BuildOverviews("NEAREST", [2])
    ds = None
    assert os.path.exists(f"{vrt}.ovr")
    assert sorted(list_items(list_file=str(vrt))) == tiles


def test_exactly_one_way_to_give_the_items(nc_tiles, tmp_path):
    folder = str(nc_tiles[0])
    with pytest.raises(InputError, match="^RASTERS: give the collection one way.*got RASTERS, "
                       "FOLDER"):
        list_items(rasters=("x.tif",), folder=folder)
    with pytest.raises(InputError, match="^RASTERS: give the collection one way"):
        list_items()
    with pytest.raises(InputError, match=r"^PATTERN: no file in .* matches '\*.jp2'"):
        list_items(folder=folder, pattern="*.jp2")
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    with pytest.raises(InputError, match="^LIST_FILE: .* lists no raster"):
        list_items(list_file=str(empty))


def test_mixed_band_counts_crs_and_unreadable_items_are_named(nc_tiles, tmp_path):
    folder = nc_tiles[0]
    a = str(folder / "tile_a.tif")
    with rasterio.open(a) as src:
        profile, data = src.profile, src.read()
    with rasterio.open(tmp_path / "three.tif", "w", **dict(profile, count=3)) as dst:
        dst.write(data[:3])
    with rasterio.open(tmp_path / "wgs84.tif", "w", **dict(profile, crs="EPSG:4326")) as dst:
        dst.write(data)
    (tmp_path / "junk.tif").write_bytes(b"not a raster")
    with pytest.raises(InputError, match="^RASTERS: the collection mixes band counts: .* 5 "
                       "bands, .*three.tif' has 3"):
        describe_items([a, str(tmp_path / "three.tif")], "rasters")
    with pytest.raises(InputError, match="^FOLDER: the collection mixes coordinate systems: "
                       ".*EPSG:4326; reproject"):
        describe_items([a, str(tmp_path / "wgs84.tif")], "folder")
    with pytest.raises(InputError, match="^LIST_FILE: item .*junk.tif' cannot be opened"):
        describe_items([a, str(tmp_path / "junk.tif")], "list_file")


def test_a_list_saved_with_a_byte_order_mark_reads_and_a_repeated_item_is_refused(nc_tiles,
                                                                                tmp_path):
    """Notepad's UTF-8 begins with a byte order mark, which went into the first path (its
    comment line read as an item); an item listed three times was classified three times
    and its area counted thrice (a qgis_process sweep, stop 68)."""
    folder, _windows, _scene = nc_tiles
    paths = [str(folder / f"tile_{c}.tif") for c in "ab"]
    listing = tmp_path / "bom.txt"
    listing.write_text("# survey\r\n" + "\r\n".join(paths) + "\r\n", encoding="utf-8-sig")
    assert listing.read_bytes().startswith(b"\xef\xbb\xbf#")
    assert list_items(list_file=str(listing)) == paths
    listing.write_text("\n".join(paths + [paths[0], paths[0]]), encoding="utf-8")
    with pytest.raises(InputError, match=r"^LIST_FILE: '.*tile_a\.tif' is given 3 times; "
                                         r"give each item once"):
        list_items(list_file=str(listing))
    with pytest.raises(InputError, match=r"^RASTERS: .*tile_b\.tif' is given 2 times"):
        list_items(rasters=(paths[1], paths[0], paths[1]))


def test_a_hard_linked_copy_of_an_item_is_a_repeat(nc_tiles, tmp_path):
    """A hard link is the same file under another name (`cp -al` backups, rsync
    --link-dest): realpath does not join the two, so the item was classified twice and its
    area counted twice in class_areas.csv (a sweep, stop 72)."""
    folder, _windows, _scene = nc_tiles
    first, twin = folder / "tile_a.tif", tmp_path / "twin.tif"
    os.link(first, twin)
    with pytest.raises(InputError, match=r"^RASTERS: '.*tile_a\.tif' is given 2 times \(also "
                       r"as '.*twin\.tif': the same file\); give each item once"):
        list_items(rasters=(str(first), str(twin)))
    assert list_items(rasters=(str(first), str(folder / "tile_b.tif")))  # two files: fine
