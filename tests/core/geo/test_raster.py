import numpy as np
import pytest
import rasterio
from rasterio.enums import ColorInterp
from rasterio.transform import from_origin
from rasterio.warp import calculate_default_transform, reproject
from rasterio.windows import Window

from landlearn.core.errors import InputError
from landlearn.core.geo.raster import RasterSource
from synthetic import write


def test_nc_landsat_float32_nodata_mask(shared):
    path = shared / "nc_landsat7" / "landsat_multiband.tif"
    with rasterio.open(path) as ds:
        raw = ds.read()
    with RasterSource(path) as src:
        assert src.count == 5 and src.dtype == np.float32
        assert src.nodata == [-99999.0] * 5
        block = src.read(src.grid.full_window)
    np.testing.assert_array_equal(block.data, raw)
    expected_valid = ~np.all(raw == -99999.0, axis=0)
    np.testing.assert_array_equal(block.valid, expected_valid)
    assert 0 < (~block.valid).sum() < block.valid.size  # the scene really has NoData


def test_overhanging_window_is_filled_with_nodata_and_masked(shared):
    path = shared / "nc_landsat7" / "landsat_multiband.tif"
    with RasterSource(path) as src:
        win = Window(src.grid.width - 20, -10, 64, 64)
        block = src.read(win)
        with rasterio.open(path) as ds:
            inside = ds.read(window=Window(src.grid.width - 20, 0, 20, 54))
    assert block.data.shape == (5, 64, 64)
    np.testing.assert_array_equal(block.data[:, 10:, :20], inside)
    assert np.all(block.data[:, :10] == -99999.0) and not block.valid[:10].any()
    assert not block.valid[:, 20:].any()


def test_s2_uint16_band_selection_in_order(shared):
    path = shared / "s2_osm_sparse" / "s2l1c_T33UUU_20170216_10bands_10m.tif"
    win = Window(100, 50, 128, 96)
    with RasterSource(path, bands=[8, 3, 1]) as src:
        assert src.dtype == np.uint16 and src.count == 3
        block = src.read(win)
    with rasterio.open(path) as ds:
        expected = ds.read([8, 3, 1], window=win)
    np.testing.assert_array_equal(block.data, expected)
    assert block.valid.all()  # no nodata declared: every pixel is data


def test_band_out_of_range_names_bands(shared):
    with pytest.raises(InputError, match=r"BANDS: band\(s\) \[11\] do not exist.*1\.\.10"):
        RasterSource(shared / "s2_osm_sparse" / "s2l1c_T33UUU_20170216_10bands_10m.tif", bands=[1, 11])


def test_enmap_224_band_float32(shared):
    path = sorted((shared / "enmap_potsdam" / "images").glob("*.tif"))[0]
    with rasterio.open(path) as ds:
        raw, nodata = ds.read(), ds.nodata
    with RasterSource(path) as src:
        assert src.count == 224 and src.dtype == np.float32
        block = src.read(Window(-4, -4, 40, 40))
    np.testing.assert_array_equal(block.data[:, 4:36, 4:36], raw)
    assert block.valid[4:36, 4:36].sum() == (~np.all(raw == nodata, axis=0)).sum()


def test_int16_with_negative_nodata(tmp_path):
    data = np.arange(-50, 50, dtype=np.int16).reshape(10, 10)
    data[0, :] = -9999
    path = write(tmp_path / "i16.tif", np.stack([data, data]), nodata=-9999)
    with RasterSource(path) as src:
        block = src.read(src.grid.full_window)
    assert block.data.dtype == np.int16
    assert not block.valid[0].any() and block.valid[1:].all()


def test_nan_and_infinity_are_nodata(tmp_path):
    data = np.ones((2, 8, 8), dtype=np.float32)
    data[1, 2, 3] = np.nan
    data[0, 5, 5] = np.inf  # a ratio index over 0
    data[1, 6, 6] = -np.inf
    with RasterSource(write(tmp_path / "nan.tif", data)) as src:
        block = src.read(src.grid.full_window)
    assert not block.valid[2, 3] and not block.valid[5, 5] and not block.valid[6, 6]
    assert block.valid.sum() == 61


def test_gdal_connection_strings_open_like_files(tmp_path):
    """A GeoPackage raster table (QGIS passes its layer's source as GPKG:path:table)."""
    data = np.arange(64, dtype=np.uint8).reshape(1, 8, 8)
    path = tmp_path / "tiles.gpkg"
    with rasterio.open(path, "w", driver="GPKG", width=8, height=8, count=1, dtype="uint8",
                       crs="EPSG:32633", transform=rasterio.transform.from_origin(0, 80, 10, 10),
                       RASTER_TABLE="scene") as ds:
        ds.write(data)
    with RasterSource(f"GPKG:{path}:scene") as src:
        assert src.grid.width == 8 and src.read(src.grid.full_window).data[0, 7, 7] == 63
    with pytest.raises(InputError, match="INPUT_RASTER: GDAL cannot open"):
        RasterSource(f"GPKG:{tmp_path / 'missing.gpkg'}:scene")


def test_alpha_band_is_the_mask_not_a_feature(tmp_path):
    data = np.full((4, 8, 8), 100, dtype=np.uint8)
    data[3] = 255
    data[3, 5, 5] = 0
    path = write(tmp_path / "rgba.tif", data, photometric="RGB", alpha="YES")
    with rasterio.open(path) as ds:
        assert ds.colorinterp[3] == ColorInterp.alpha
    with RasterSource(path) as src:
        assert src.bands == [1, 2, 3]
        block = src.read(src.grid.full_window)
    assert not block.valid[5, 5] and block.valid.sum() == 63
    # the band chosen as data (an RGB+NIR file tagged RGBA): its 0 is a value, and GDAL's
    # mask built from it left that pixel unclassified (and out of training)
    with RasterSource(path, bands=[1, 2, 3, 4]) as src:
        block = src.read(src.grid.full_window)
    assert block.valid.all() and block.data[3, 5, 5] == 0
    # resampled, the warper would take it for the mask and hold its own alpha there
    with RasterSource(path) as src:
        grid = src.grid
    with pytest.raises(InputError, match="^BANDS: band 4 of 'rgba.tif' is tagged alpha, which "
                       "resampling"):
        RasterSource(path, bands=[1, 2, 3, 4], resample_to=grid)


def test_epsg4326_raster(shared, tmp_path):
    src_path = shared / "rgb_byte" / "RGB.byte.tif"
    with rasterio.open(src_path) as ds:
        t, w, h = calculate_default_transform(ds.crs, "EPSG:4326", ds.width, ds.height, *ds.bounds)
        out = np.zeros((3, h, w), dtype=np.uint8)
        reproject(ds.read(), out, src_transform=ds.transform, src_crs=ds.crs, src_nodata=0,
                  dst_transform=t, dst_crs="EPSG:4326", dst_nodata=0)
    path = write(tmp_path / "geo.tif", out, crs="EPSG:4326", transform=t, nodata=0)
    with RasterSource(path) as src:
        assert src.grid.crs.to_epsg() == 4326
        assert src.grid.res[0] < 0.01  # degrees: tile sizes stay in pixels
        block = src.read(Window(0, 0, 256, 256))
    assert block.data.shape == (3, 256, 256)
    assert 0 < block.valid.mean() < 1


def test_missing_raster_names_parameter(tmp_path):
    with pytest.raises(InputError, match="INPUT_RASTER: the raster .* does not exist"):
        RasterSource(tmp_path / "nope.tif")
    (tmp_path / "junk.tif").write_text("not a tiff")
    with pytest.raises(InputError, match="INPUT_RASTER: GDAL cannot open"):
        RasterSource(tmp_path / "junk.tif")


def test_grid_of_synthetic(tmp_path):
    path = write(tmp_path / "g.tif", np.zeros((3, 5), np.uint8), transform=from_origin(0, 30, 10, 10))
    with RasterSource(path) as src:
        assert src.grid.shape == (3, 5) and src.grid.bounds == (0, 0, 50, 30)


@pytest.mark.parametrize("layout", ["internal_mask", "nodata", "alpha", "plain"])
def test_a_resampled_raster_keeps_its_mask_and_its_edge(tmp_path, layout):
    """CELL_SIZE through a warped VRT: an internal mask (JPEG orthophotos), a nodata value
    and an alpha band stay NoData, and the strip past the source's edge (1000 m at 30 m is
    33.3 pixels) is NoData too (without an alpha band the warped VRT called both valid)."""
    from landlearn.core.geo.grid import Grid

    path = str(tmp_path / f"{layout}.tif")
    data = np.full((4 if layout == "alpha" else 3, 100, 100), 7, np.uint8)
    profile = dict(driver="GTiff", width=100, height=100, count=len(data), dtype="uint8",
                   crs="EPSG:32633", transform=from_origin(0, 1000, 10, 10))
    if layout == "nodata":
        profile["nodata"] = 0
        data[:, :, :50] = 0
    if layout == "alpha":
        profile.update(photometric="RGB", alpha="YES")
        data[3] = 255
        data[3, :, :50] = 0
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
        if layout == "internal_mask":
            mask = np.full((100, 100), 255, np.uint8)
            mask[:, :50] = 0
            ds.write_mask(mask)
    target = Grid(rasterio.crs.CRS.from_epsg(32633), from_origin(0, 1000, 30, 30), 34, 34)
    with RasterSource(path, resample_to=target) as src:
        assert src.count == 3
        # the file's NoData (what chips record), not the warped VRT's (none, beside alpha)
        assert src.nodata == ([0, 0, 0] if layout == "nodata" else [None] * 3)
        block = src.read(src.grid.full_window)
        if layout == "nodata":
            assert (block.data[:, ~block.valid] == 0).all()
    assert not block.valid[:, -1].any() and not block.valid[-1].any()  # past the edge
    if layout != "plain":
        assert not block.valid[:, :16].any()  # the masked half
    assert block.valid[:33, 17:33].all() and (block.data[:, :33, 17:33] == 7).all()


def test_a_resampled_float_raster_fills_its_nodata_with_its_own_value(tmp_path):
    """-9999 declared: resampled, the pixels without data hold -9999 (the warper writes 0
    there), so chips that record -9999 as NoData mean it."""
    from landlearn.core.geo.grid import Grid

    data = np.full((2, 100, 100), 0.5, np.float32)
    data[:, :, :50] = -9999
    path = write(tmp_path / "f.tif", data, transform=from_origin(0, 1000, 10, 10), nodata=-9999)
    target = Grid(rasterio.crs.CRS.from_epsg(32633), from_origin(0, 1000, 30, 30), 34, 34)
    with RasterSource(path, resample_to=target) as src:
        block = src.read(src.grid.full_window)
        assert src.nodata == [-9999.0, -9999.0]
    assert (block.data[:, ~block.valid] == -9999).all() and block.valid[:33, 20:30].all()
    # the last row's centres lie past the source (34 x 30 m > 1000 m): the warper's alpha
    # says so; read as valid zeros before (GDAL takes alpha for the mask in 2 or 4 bands)
    assert not block.valid[33].any()


def test_an_alpha_band_is_the_mask_whatever_the_band_count(tmp_path):
    """GDAL takes alpha for the mask only in 2- and 4-band rasters: five bands and an alpha
    (a collection's mosaic of items without NoData, built here the same way: a VRT with an
    alpha band over a larger extent) read every pixel as valid."""
    from osgeo import gdal
    from rasterio.transform import from_origin

    from landlearn.core.geo.raster import RasterSource

    data = np.arange(5 * 8 * 10, dtype=np.uint8).reshape(5, 8, 10) % 200 + 1
    five = tmp_path / "five.tif"
    with rasterio.open(five, "w", driver="GTiff", width=10, height=8, count=5, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(30, 80, 10, 10)) as ds:
        ds.write(data)
    vrt = str(tmp_path / "mosaic.vrt")  # 3 columns and 2 rows more, left and top: no item
    gdal.BuildVRT(vrt, [str(five)], outputBounds=(0, 0, 130, 100), addAlpha=True)
    with rasterio.open(vrt) as ds:
        assert ds.count == 6 and ds.colorinterp[5] == ColorInterp.alpha
        alpha = ds.read(6) > 0
    assert not alpha[:2].any() and not alpha[:, :3].any() and alpha[2:, 3:].all()
    with RasterSource(vrt) as src:
        assert src.bands == [1, 2, 3, 4, 5]
        block = src.read(Window(0, 0, 13, 10))
        np.testing.assert_array_equal(block.valid, alpha)
    with RasterSource(vrt, (2, 3)) as src:  # chosen bands: the same mask
        np.testing.assert_array_equal(src.read(Window(0, 0, 13, 10)).valid, alpha)


def test_band_nodata_marks_each_bands_own_value_only():
    from landlearn.core.geo.raster import band_nodata

    data = np.array([[[0, 5]], [[9, -9]]], np.int16)
    holes = band_nodata(data, [0, -9])
    assert holes.tolist() == [[[True, False]], [[False, True]]]
    assert band_nodata(data, [None, float("nan")]) is None
    assert band_nodata(data, [3, 4]) is None and band_nodata(data, None) is None


def test_a_raster_placed_by_gcps_alone_is_refused_naming_the_warp(tmp_path):
    """GCPs and no geotransform (a scanned map, a raw scene): read at (0, 0) with no CRS,
    its map could be placed nowhere. Refused with the warp that gives it a grid."""
    from rasterio.control import GroundControlPoint

    path = str(tmp_path / "scan.tif")
    gcps = [GroundControlPoint(0, 0, 500000, 4000000), GroundControlPoint(0, 99, 500000, 3999010),
            GroundControlPoint(99, 99, 500990, 3999010), GroundControlPoint(99, 0, 500990, 4000000)]
    with rasterio.open(path, "w", driver="GTiff", width=100, height=100, count=1,
                       dtype="uint8") as dst:
        dst.write(np.full((1, 100, 100), 7, np.uint8))
        dst.gcps = (gcps, rasterio.crs.CRS.from_epsg(32617))
    with pytest.raises(InputError, match=r"LABELS: 'scan.tif' is placed by 4 ground control "
                       r"points \(GCPs\), not by a grid.*gdalwarp -tps"):
        RasterSource(path, parameter="labels")
    plain = write(tmp_path / "plain.tif", np.ones((1, 10, 10), np.uint8))
    with RasterSource(plain) as src:  # a grid (even an identity one without GCPs) is read
        assert src.grid.width == 10


def test_cell_size_refuses_bands_with_nodata_of_their_own(tmp_path):
    """GDAL's warper gives every band band 1's NoData: a DEM band's -9999 beside
    reflectance with 0 (a VRT of both) was blended into values near -4000 by CELL_SIZE.
    Without CELL_SIZE each band keeps its own; with it, refused naming the band."""
    from osgeo import gdal

    from landlearn.core.geo.grid import Grid

    t = from_origin(0, 1000, 10, 10)
    refl = write(tmp_path / "refl.tif", np.full((1, 100, 100), 500, np.uint16), transform=t,
                 nodata=0)
    dem = np.full((1, 100, 100), 120.0, np.float32)
    dem[:, 40:60, 40:60] = -9999
    dem_path = write(tmp_path / "dem.tif", dem, transform=t, nodata=-9999)
    vrt = str(tmp_path / "both.vrt")
    gdal.BuildVRT(vrt, [str(refl), str(dem_path)], separate=True)
    target = Grid(rasterio.crs.CRS.from_epsg(32633), from_origin(0, 1000, 15, 15), 66, 66)
    with RasterSource(vrt) as src:
        assert src.nodata == [0.0, -9999.0]
    with pytest.raises(InputError, match=r"CELL_SIZE: band 2 of 'both.vrt' has its own NoData "
                       r"value \(-9999.0\) where band 1 has 0.0"):
        RasterSource(vrt, resample_to=target)
    with RasterSource(vrt, bands=[1], resample_to=target) as src:  # band 1 alone: its own
        assert src.read(src.grid.full_window).valid.all()


def test_bands_of_several_types_are_read_together(tmp_path):
    """A VRT of a uint16 scene and a float32 DEM (gdalbuildvrt -separate): rasterio 1.3
    refused to read them in one call ("more than one 'dtype' found"), so Export Training
    Data, Classify Pixels and Segment stopped on such stacks. Read band by band into the
    common type."""
    from osgeo import gdal

    t = from_origin(0, 1000, 10, 10)
    scene = np.arange(100 * 100, dtype=np.uint16).reshape(1, 100, 100)
    dem = np.linspace(-5.5, 300.25, 100 * 100, dtype=np.float32).reshape(1, 100, 100)
    a = write(tmp_path / "scene.tif", scene, transform=t)
    b = write(tmp_path / "dem.tif", dem, transform=t)
    vrt = str(tmp_path / "stack.vrt")
    gdal.BuildVRT(vrt, [str(a), str(b)], separate=True)
    with RasterSource(vrt) as src:
        block = src.read(Window(90, 90, 20, 20))  # hangs over the edge too
        assert src.dtype == np.float32 and block.data.dtype == np.float32
        np.testing.assert_array_equal(block.data[0, :10, :10], scene[0, 90:, 90:])
        np.testing.assert_array_equal(block.data[1, :10, :10], dem[0, 90:, 90:])
        assert block.valid[:10, :10].all() and not block.valid[10:].any()
