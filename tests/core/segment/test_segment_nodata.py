"""Segment and NoData: a band's own NoData value where other bands hold data is left out
(not filtered, not averaged) and said; values data takes itself (0 on a photo) stay data."""

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from landlearn.core.progress import RecordingProgress
from landlearn.core.segment.segment_mean_shift import SegmentConfig, segment

pytest.importorskip("torch")


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read(masked=True)


def _cut(sample, tmp_path, shape, holes):
    """A float32 cut of nc_landsat7 with NoData -99999, written once per ``holes`` entry
    (name -> band-2 window set to -99999, or None); the cut's values returned."""
    win = Window(200, 200, *shape)
    with rasterio.open(sample / "nc_landsat7" / "landsat_multiband.tif") as ds:
        profile = ds.profile
        data = ds.read(window=win).astype(np.float32)
        transform = ds.window_transform(win)
    profile.update(width=shape[0], height=shape[1], dtype="float32", nodata=-99999,
                   transform=transform)
    for name, cut in holes.items():
        if cut is not None:
            data[(1,) + cut] = -99999
        with rasterio.open(tmp_path / f"{name}.tif", "w", **profile) as ds:
            ds.write(data)
    return data


@pytest.mark.parametrize("method", ["joint", "fast"])
def test_a_bands_own_nodata_where_others_hold_data_is_left_out_and_said(sample, tmp_path,
                                                                        method):
    """One band's -99999 block where the other bands hold data was segmented and averaged
    as a value (means of -27168, segments cut along the block; a qgis_process sweep, stop
    67). Now those pixels are NoData in every output, no segment's mean sees -99999, tiled
    as untiled, and the count is said."""
    # across the 64 px tiles' borders
    data = _cut(sample, tmp_path, (160, 130), {"hole": np.s_[54:74, 54:74]})
    runs = {}
    for tile in (1024, 64):
        progress = RecordingProgress()
        out = {k: str(tmp_path / f"{k}_{tile}.tif") for k in ("output", "output_segment_ids")}
        segment(SegmentConfig(str(tmp_path / "hole.tif"), method=method, tile_size=tile,
                              band_indexes=(1, 2, 3), **out), progress)
        said = [w for w in progress.warnings if "hold data in some bands" in w]
        assert len(said) == 1 and said[0].startswith(
            "400 pixels hold data in some bands and their NoData value (-99999"), said
        assert "leaves them out" in said[0]
        runs[tile] = _read(out["output_segment_ids"])[0], _read(out["output"])
    ids, means = runs[1024]
    hole = np.zeros(ids.shape, bool)
    hole[54:74, 54:74] = True
    assert ids.mask[hole].all() and not ids.mask[~hole].any()
    assert means.mask[:, hole].all() and not means.mask[:, ~hole].any()
    valid = data[:3, ~hole]
    assert (means[:, ~hole].min(axis=1) >= valid.min(axis=1) - 1e-3).all()
    np.testing.assert_array_equal(runs[64][0].filled(0), ids.filled(0))


def test_a_band_nodata_stretch_ignores_the_holes(sample, tmp_path):
    """The 2-98% stretch onto 0..255 counted the -99999 pixels: where 2% of the pixels held
    it, the band's whole range fell within a grey level or two and its detail was lost."""
    from landlearn.core.geo.raster import RasterSource
    from landlearn.core.segment.segment_mean_shift import band_scaling

    _cut(sample, tmp_path, (60, 50), {"whole": None, "hole": np.s_[:, :10]})  # a sixth
    with RasterSource(str(tmp_path / "whole.tif")) as a, \
            RasterSource(str(tmp_path / "hole.tif")) as b:
        whole, with_hole = band_scaling(a), band_scaling(b)
    assert with_hole[0][1] > -1000 and with_hole[1][1] > 0.5 * whole[1][1]

@pytest.mark.parametrize("dtype", ["uint8", "int16", "float32"])
def test_a_zero_in_one_band_with_nodata_0_stays_data(tmp_path, dtype):
    """NoData 0 on 8-bit RGB: a shadow's blue of 0 is data (the pixel holds data in the
    other bands); the warning of partial NoData fired on such photos (review, stop 67).
    On int16 or float bands a slope or an NDVI of 0 is data too; the first version of
    leaving pixels out dropped them (review, stop 68)."""
    data = np.stack([np.full((50, 60), v, dtype) for v in (120, 90, 40)])
    data[:, :2] = 0  # a true NoData border: the top two rows
    data[2, 20:25, 20:25] = 0  # one band at 0
    profile = dict(driver="GTiff", width=60, height=50, count=3, dtype=dtype, nodata=0,
                   crs="EPSG:32633", transform=rasterio.transform.from_origin(500000, 5e6, 1, 1))
    with rasterio.open(tmp_path / "r.tif", "w", **profile) as ds:
        ds.write(data)
    progress = RecordingProgress()
    segment(SegmentConfig(str(tmp_path / "r.tif"), output_segment_ids=str(tmp_path / "i.tif")),
            progress)
    ids = _read(tmp_path / "i.tif")[0]
    assert not ids.mask[20:25, 20:25].any() and ids.mask[:2].all()  # the top rows: NoData
    assert not any("hold data in some bands" in w for w in progress.warnings)
