"""Export Training Data on another grid: CELL_SIZE resamples the image bilinear and the
labels nearest, in map units of any CRS, and takes nothing from past EXTENT."""

import numpy as np
import rasterio
from rasterio.windows import Window

from chip_checks import check_chips, manifest
from landlearn.core.chips.export_training_data import ExportConfig, export_training_data
from landlearn.core.geo.extent import Extent
from landlearn.core.labels.base import LabelConfig


def test_cell_size_resamples_image_bilinear_and_labels_nearest(sample, tmp_path):
    """Chips equal one gdalwarp -r bilinear (image) / -r near (labels) pass at that cell size."""
    from osgeo import gdal

    from chip_checks import chip_window

    nc = sample / "nc_landsat7"
    image = str(nc / "landsat_multiband.tif")
    out = tmp_path / "c"
    export_training_data(ExportConfig(image, LabelConfig(str(nc / "strata.tif")), str(out),
                                      cell_size=57.0, tile_size_x=64, tile_size_y=64,
                                      stride_x=48, stride_y=48))
    with rasterio.open(image) as src:
        b, crs = src.bounds, src.crs.to_wkt()
    box = dict(outputBounds=(b.left, b.bottom - 28.5, b.right + 28.5, b.top), xRes=57, yRes=57)
    gdal.Warp(str(tmp_path / "img.tif"), image, resampleAlg="bilinear", **box)
    gdal.Warp(str(tmp_path / "lab.tif"), str(nc / "strata.tif"), resampleAlg="near",
              dstSRS=crs, **box)
    with rasterio.open(tmp_path / "img.tif") as ri, rasterio.open(tmp_path / "lab.tif") as rl:
        ref, lref = ri.read(), rl.read(1)
        chips = manifest(out)["chips"]
        assert len(chips) >= 20
        for chip in chips:
            with rasterio.open(out / chip["image"]) as ci, rasterio.open(out / chip["label"]) as cl:
                assert ci.res == (57.0, 57.0) and ci.shape == (64, 64)
                img, lab = ci.read(), cl.read(1)
                win = chip_window(ci, ri)
            r0, c0 = int(win.row_off), int(win.col_off)
            r = ref[:, r0:r0 + 64, c0:c0 + 64]
            h, w = r.shape[1:]
            both = np.all(img[:, :h, :w] != -99999.0, axis=0) & np.all(r != -99999.0, axis=0)
            np.testing.assert_array_equal(img[:, :h, :w][:, both], r[:, both])
            lr = lref[r0:r0 + h, c0:c0 + w]
            assert (lab[:h, :w] == np.where(lr < 0, 0, lr))[both].mean() > 0.99


def test_geographic_raster_keeps_tile_size_in_pixels(tmp_path):
    from rasterio.transform import from_origin

    from synthetic import write

    rng = np.random.default_rng(0)
    data = rng.integers(1, 1000, (2, 100, 150), dtype=np.int16)
    t = from_origin(-79.0, 36.0, 0.0003, 0.0003)
    image = write(tmp_path / "geo.tif", data, crs="EPSG:4326", transform=t, nodata=-1)
    lab = write(tmp_path / "lab.tif", (np.arange(150)[None, :] // 50 + 1).repeat(100, 0)
                .astype(np.uint8), crs="EPSG:4326", transform=t, nodata=0)
    out = tmp_path / "g"
    r = export_training_data(ExportConfig(image, LabelConfig(lab), str(out), tile_size_x=64,
                                          tile_size_y=32, stride_x=64, stride_y=32))
    assert r.chips == 3 * 4
    with rasterio.open(out / "images" / "000000000.tif") as ds:
        assert ds.shape == (32, 64) and ds.crs.to_epsg() == 4326 and ds.dtypes[0] == "int16"
    check_chips(out, image)


def test_cell_size_with_an_extent_takes_nothing_from_past_it(sample, tmp_path):
    """99 px of 28.5 m are 47.0 cells of 60 m: the 48th cell's centre lies past EXTENT,
    and its image and labels (the other side of EXTENT: a test area) came in."""
    from rasterio.windows import bounds

    nc = sample / "nc_landsat7"
    image = str(nc / "landsat_multiband.tif")
    with rasterio.open(image) as ds:
        x0, y0, x1, y1 = bounds(Window(100, 100, 99, 99), ds.transform)
    out = tmp_path / "c"
    export_training_data(ExportConfig(image, LabelConfig(str(nc / "strata.tif")), str(out),
                                      extent=Extent(x0, y0, x1, y1), cell_size=60.0,
                                      tile_size_x=16, tile_size_y=16, stride_x=16,
                                      stride_y=16))
    past = 0
    for chip in manifest(out)["chips"]:
        with rasterio.open(out / chip["label"]) as cl:
            lab, t = cl.read(1), cl.transform
        rows, cols = np.indices(lab.shape)
        xs, ys = t.c + (cols + 0.5) * t.a, t.f + (rows + 0.5) * t.e
        outside = (xs > x1) | (ys < y0)
        past += int((lab[outside] > 0).sum())
    assert past == 0
