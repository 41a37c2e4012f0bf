"""The mosaic VRT: the first item's grid over the union; later items on top."""

import numpy as np
import pytest
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


def test_each_item_keeps_its_own_nodata(nc_tiles, tmp_path):
    """The first item's NoData applied to every item: an item filled with -9999 had its
    fill taken for data, lying over the earlier item's pixels."""
    folder, _windows, _scene = nc_tiles
    a = str(folder / "tile_a.tif")
    with rasterio.open(folder / "tile_b.tif") as src:
        profile = dict(src.profile, nodata=-9999)
        data = src.read()
    data[:, :, :20] = -9999  # b's first 20 columns (250..269) are fill: 250..259 overlap a
    other = str(tmp_path / "b_fill.tif")
    with rasterio.open(other, "w", **profile) as dst:
        dst.write(data)
    items = describe_items([a, other], "rasters")
    assert items[0].nodata != -9999
    with rasterio.open(build_vrt(str(tmp_path / "m.vrt"), [a, other], items[0])) as m, \
            rasterio.open(a) as src:
        got = m.read(1, window=((0, 240), (250, 260)))
        np.testing.assert_array_equal(got, src.read(1, window=((0, 240), (250, 260))))
        assert m.nodata == items[0].nodata


def test_the_per_item_maps_are_shown_at_the_finest_cell_size(nc_tiles, tmp_path):
    """Without a first item (each_item's maps) GDAL averaged the cell sizes: no map was
    on its own grid."""
    folder, _windows, _scene = nc_tiles
    a = str(folder / "tile_a.tif")
    coarse = str(tmp_path / "d_coarse.tif")
    with rasterio.open(folder / "tile_d.tif") as src:
        t = src.transform
        profile = dict(src.profile, width=src.width // 2, height=src.height // 2,
                       transform=rasterio.Affine(t.a * 2, t.b, t.c, t.d, t.e * 2, t.f))
        data = src.read(out_shape=(src.count, src.height // 2, src.width // 2))
    with rasterio.open(coarse, "w", **profile) as dst:
        dst.write(data)
    with rasterio.open(build_vrt(str(tmp_path / "maps.vrt"), [a, coarse])) as m, \
            rasterio.open(a) as fine:
        assert m.res == fine.res


@pytest.fixture(params=["gdal exceptions off", "gdal exceptions on"])
def gdal_exceptions(request):
    """Both of GDAL's error modes: QGIS 3.40's Processing turns exceptions on for the
    process, and then a left-out item's reason came back empty ("()") in the trixie root
    after a processing test had run."""
    from osgeo import gdal

    was = gdal.GetUseExceptions()
    (gdal.UseExceptions if request.param.endswith("on") else gdal.DontUseExceptions)()
    yield
    (gdal.UseExceptions if was else gdal.DontUseExceptions)()


def test_an_item_gdal_would_leave_out_of_the_mosaic_is_refused(nc_tiles, tmp_path,
                                                                gdal_exceptions):
    """BuildVRT skips a source of another data type (here float64 beside float32) with a
    warning only: the item's area was NoData in a map that reported success."""
    from landlearn.core.errors import InputError

    folder, _windows, _scene = nc_tiles
    a, b = str(folder / "tile_a.tif"), str(folder / "tile_b.tif")
    with rasterio.open(b) as src:
        profile, data = src.profile, src.read()
    other = str(tmp_path / "b_double.tif")
    profile.update(dtype="float64")
    with rasterio.open(other, "w", **profile) as dst:
        dst.write(data.astype("float64"))
    items = describe_items([a, other], "rasters")
    with pytest.raises(InputError, match=r"^RASTERS: GDAL cannot mosaic 1 item\(s\) with the "
                       r"first, e\.g\. '.*b_double\.tif' \(.*data type.*\); give the items one"
                       r" data type and band layout"):
        build_vrt(str(tmp_path / "ab.vrt"), [a, other], items[0])
    assert not (tmp_path / "ab.vrt").exists()


def test_without_a_first_nodata_each_items_nodata_and_mask_stay_missing(nc_tiles, tmp_path):
    """The first item has no NoData (an RGB tile): GDAL's added alpha band was 255 over
    each item's whole footprint, so a later item's NoData strip where no item lies read as
    valid 0s and was classified, and a masked edge of a third item too. Each item's own
    NoData and mask now say where it has data; where an earlier item lies, it still shows."""
    from landlearn.core.geo.raster import RasterSource

    folder, _windows, _scene = nc_tiles

    def copy(name, out, nodata, edit, mask=None):
        with rasterio.open(folder / f"tile_{name}.tif") as src:
            profile = dict(src.profile, nodata=nodata)
            data = src.read()
        edit(data)
        with rasterio.open(out, "w", **profile) as dst:
            dst.write(data)
            if mask is not None:
                dst.write_mask(mask)
        return str(out)

    def fill_b(d):
        d[:, :, :10] = -9999   # columns 250..259: over a
        d[:, :, -10:] = -9999  # columns 479..488: no other item
        d[0, :, -20:-10] = -9999  # columns 469..478: band 1 alone (data: others have it)

    a = copy("a", tmp_path / "a.tif", None, lambda d: np.copyto(d, np.abs(d)))
    b = copy("b", tmp_path / "b.tif", -9999, fill_b)
    edge = np.full((213, 260), 255, np.uint8)
    edge[:, :10] = 0  # a masked edge (a JPEG COG's): columns 0..9 of rows 230..442
    c = copy("c", tmp_path / "c.tif", None, lambda d: np.copyto(d, np.abs(d)), mask=edge)
    items = describe_items([a, b, c], "rasters")
    assert items[0].nodata is None
    vrt = build_vrt(str(tmp_path / "m.vrt"), [a, b, c], items[0])
    with RasterSource(vrt) as src, rasterio.open(a) as first:
        block = src.read(src.grid.full_window)
        assert not block.valid[:230, 479:489].any()  # b's own NoData, no item below
        assert not block.valid[240:, :10].any()  # c's masked edge, no item below
        assert block.valid[:240, 250:260].all()  # b's NoData over a: a's pixels
        np.testing.assert_array_equal(block.data[0, :240, 250:260],
                                      first.read(1, window=((0, 240), (250, 260))))
        assert block.valid[:230, 269:479].all() and block.valid[240:, 10:250].all()
        assert block.valid[:230, 469:479].all()  # one band's NoData is no hole


def test_one_crs_described_two_ways_mosaics_whole(nc_tiles, tmp_path):
    """A tile given EPSG:32119 (gdal_translate -a_srs) beside tiles whose WKT names the same
    projection 'unnamed': equal to rasterio, different text to BuildVRT, which left it out
    and failed an each_item run after every item was classified (a qgis_process sweep,
    stop 68). Mosaicked whole, as the scene."""
    from osgeo import gdal

    folder, _windows, scene = nc_tiles
    paths = [str(folder / f"tile_{c}.tif") for c in "abcd"]
    renamed = str(tmp_path / "tile_b.tif")
    gdal.Translate(renamed, paths[1], outputSRS="EPSG:32119")
    paths[1] = renamed
    items = describe_items(paths, "folder")
    assert items[0].crs == items[1].crs and items[1].crs.to_wkt() != items[0].crs.to_wkt()
    for first in (items[0], None):
        vrt = build_vrt(str(tmp_path / f"m{first is None}.vrt"), paths, first)
        with rasterio.open(vrt) as m, rasterio.open(scene) as s:
            assert (m.width, m.height) == (s.width, s.height)
            assert np.array_equal(m.read(list(range(1, s.count + 1))), s.read())


def test_a_left_out_items_reason_is_found_where_gdal_said_none(nc_tiles, tmp_path,
                                                                monkeypatch):
    """Where GDAL's warning is lost (another error handler took it), the item is compared
    with the first: the reason is never an empty "()"."""
    from osgeo import gdal

    from landlearn.core.errors import InputError

    folder, _windows, _scene = nc_tiles
    a, b = str(folder / "tile_a.tif"), str(folder / "tile_b.tif")
    with rasterio.open(b) as src:
        profile, data = src.profile, src.read()
    other = str(tmp_path / "b_int.tif")
    with rasterio.open(other, "w", **dict(profile, dtype="int32")) as dst:
        dst.write(data.astype("int32"))
    monkeypatch.setattr(gdal, "GetLastErrorMsg", lambda: "")
    with pytest.raises(InputError, match=r"'.*b_int\.tif' \(data type int32, the first item "
                       r"float32\); give"):
        build_vrt(str(tmp_path / "ab.vrt"), [a, other], describe_items([a, other], "r")[0])
