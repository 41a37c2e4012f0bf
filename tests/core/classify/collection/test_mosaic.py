"""The mosaic VRT: the first item's grid over the union; later items on top."""

import numpy as np
import rasterio

from landlearn.core.classify.collection.items import describe_items
from landlearn.core.classify.collection.mosaic import build_vrt


def test_the_tiles_mosaic_back_into_the_scene(nc_tiles, tmp_path):
    folder, _windows, scene = nc_tiles
    paths = [str(folder / f"tile_{c}.tif") for c in "abcd"]
    items = describe_items(paths, "folder")
    vrt = build_vrt(str(tmp_path / "m.vrt"), paths, items[0])
    with rasterio.open(vrt) as m, rasterio.open(scene) as s:
        assert (m.width, m.height) == (s.width, s.height) and m.transform == s.transform
        assert np.array_equal(m.read(), s.read())


def test_later_items_lie_on_top_and_the_cell_size_can_change(nc_tiles, tmp_path):
    folder, _windows, _scene = nc_tiles
    a, b = str(folder / "tile_a.tif"), str(folder / "tile_b.tif")
    with rasterio.open(b) as src:
        profile = src.profile
        data = np.full((src.count, src.height, src.width), 7, dtype=src.dtypes[0])
    marked = str(tmp_path / "b7.tif")
    with rasterio.open(marked, "w", **profile) as dst:
        dst.write(data)
    items = describe_items([a, marked], "rasters")
    with rasterio.open(build_vrt(str(tmp_path / "ab.vrt"), [a, marked], items[0])) as m:
        overlap = m.read(1, window=((0, 240), (250, 260)))
        assert (overlap == 7).all()  # columns 250..259 are in both: b, listed later, wins
    with rasterio.open(build_vrt(str(tmp_path / "ba.vrt"), [marked, a], items[1])) as m:
        assert not (m.read(1, window=((0, 240), (250, 260))) == 7).all()
    res = items[0].res[0] * 2
    with rasterio.open(build_vrt(str(tmp_path / "c.vrt"), [a, marked], items[0], res)) as m:
        assert m.res == (res, res) and m.width == 245
