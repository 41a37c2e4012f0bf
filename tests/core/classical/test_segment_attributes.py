"""Segment attributes: each one against a direct computation, tiled = untiled, and the
attribute names as ArcGIS writes them."""

import numpy as np
import pytest
import rasterio

from landlearn.core.classical.segment_attributes import (
    feature_names,
    gather_segment_stats,
    outside_edges,
    parse_attributes,
)
from landlearn.core.errors import InputError
from landlearn.core.geo.raster import RasterSource
from synthetic import write

ALL = ("COLOR", "MEAN", "STD", "COUNT", "COMPACTNESS", "RECTANGULARITY")


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """Irregular segments crossing 64 px tiles, NoData in both rasters, uint16 bands."""
    tmp = tmp_path_factory.mktemp("segattr")
    rng = np.random.default_rng(3)
    h, w = 150, 170
    rr, cc = np.mgrid[:h, :w]
    seg = (1 + (rr // 37) * 10 + (cc + rr // 3) // 45).astype(np.int32)
    seg[(rr - 75) ** 2 + (cc - 90) ** 2 < 30 ** 2] = 99  # a disc across four tiles
    seg[:3, :] = -1  # NoData: no segment
    img = rng.integers(1000, 3000, (3, h, w)).astype(np.uint16) + (seg % 7 * 100).astype(np.uint16)
    img[:, 100:104, 10:20] = 0  # image NoData inside segments
    return (write(tmp / "img.tif", img, nodata=0), write(tmp / "seg.tif", seg, nodata=-1),
            img, seg)


def direct(img, seg, sid):
    """The attributes of one segment by the definitions in the module's docstring."""
    m = seg == sid
    ok = m & (img != 0).any(0)
    x = img[:, ok].astype(np.float64)
    mean, std = x.mean(1), x.std(1)
    pad = np.pad(seg, 1, constant_values=-1)
    per = 0
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        nb = pad[1 + dr:1 + dr + seg.shape[0], 1 + dc:1 + dc + seg.shape[1]]
        per += int((m & (nb != sid)).sum())
    rows, cols = np.nonzero(m)
    area = m.sum()
    box = (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
    return np.concatenate([mean[:3] / mean[:3].sum(), mean, std,
                           [area, min(1.0, 64 * area / (np.pi * per ** 2)), area / box]])


def gather(scene, tile, keep=None):
    img_path, seg_path = scene[:2]
    with RasterSource(img_path) as src, rasterio.open(seg_path) as seg_ds:
        return gather_segment_stats(src, seg_ds, src.grid.full_window, keep, tile=tile)


def test_every_attribute_matches_its_definition(scene):
    ids, x = gather(scene, 64).features(ALL)
    img, seg = scene[2:]
    assert list(ids) == sorted(set(np.unique(seg)) - {-1})
    for i, sid in enumerate(ids):
        np.testing.assert_allclose(x[i], direct(img, seg, sid), rtol=1e-9, atol=1e-9)
    disc = x[list(ids).index(99)]
    assert disc[-2] > 0.95 and 0.75 < disc[-1] < 0.82  # a disc: compact, ~pi/4 of its box


def test_tiled_equals_untiled(scene):
    a_ids, a = gather(scene, 64).features(ALL)
    b_ids, b = gather(scene, 1024).features(ALL)
    np.testing.assert_array_equal(a_ids, b_ids)
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_only_the_kept_segments_whole(scene):
    ids, x = gather(scene, 64, keep=np.array([11, 99], np.int64)).features(("MEAN", "COUNT"))
    assert list(ids) == [11, 99]
    img, seg = scene[2:]
    assert x[1, -1] == (seg == 99).sum()


def test_more_segments_than_the_memory_budget_are_refused_by_name(scene, monkeypatch):
    """The per-segment sums grow with the segments, not the tile: past the budget (a
    quarter of the memory) the run stops naming SEGMENTED_RASTER instead of ending QGIS."""
    from landlearn.core.classical import segment_attributes as module

    n = len(gather(scene, 64))  # every segment of the scene
    per_segment = 3 * 8 * (3 * 3 + 8)
    monkeypatch.setattr(module, "stats_budget", lambda: (n - 1) * per_segment)
    with pytest.raises(InputError, match=rf"^SEGMENTED_RASTER: it holds more than {n - 1} "
                       "segments in the area"):
        gather(scene, 64)
    monkeypatch.setattr(module, "stats_budget", lambda: n * per_segment)
    assert len(gather(scene, 64)) == n


def test_a_thin_line_is_not_compact():
    ids = np.zeros((3, 12), np.int64)
    ids[1, 1:11] = 5
    edges = outside_edges(ids, ids > 0)
    assert edges.sum() == 22  # 2 n + 2 edges around a line of n = 10


@pytest.mark.parametrize("text, expected", [
    ("COLOR;MEAN", ("COLOR", "MEAN")),
    ("rectangularity; mean ;Std", ("MEAN", "STD", "RECTANGULARITY")),
    (["COUNT", "COMPACTNESS"], ("COUNT", "COMPACTNESS")),
])
def test_attribute_names_as_arcgis_writes_them(text, expected):
    assert parse_attributes(text) == expected


@pytest.mark.parametrize("text, bands, message", [
    ("", None, "name at least one"),
    ("MEAN;SHAPE", None, "SHAPE is not a segment attribute"),
    ("COLOR;MEAN", 2, "COLOR needs three bands"),
])
def test_bad_attributes_are_refused(text, bands, message):
    with pytest.raises(InputError, match=f"^SEGMENT_ATTRIBUTES: .*{message}"):
        parse_attributes(text, bands)


def test_feature_names_follow_the_bands():
    assert feature_names(("COLOR", "STD", "COUNT"), ["b1", "b2", "b3", "b4"]) == [
        "color_share_b1", "color_share_b2", "color_share_b3",
        "std_b1", "std_b2", "std_b3", "std_b4", "count"]


def test_color_of_bands_with_negative_values_stays_a_share(tmp_path):
    """SAR backscatter in dB (negative), a temperature around 0 degrees C: the signed
    means of a segment can sum to nearly 0, and their shares were thousands, of either
    sign. The shares are of the means' sizes: 0 to 1, summing to 1, as ArcGIS's RGB
    shares; on non-negative bands unchanged (the scene test above)."""
    h, w = 8, 12
    seg = np.ones((h, w), np.int32)
    seg[:, 6:] = 2
    img = np.zeros((3, h, w), np.float32)
    img[0], img[1], img[2] = -12.0, -8.0, 20.001  # segment 1: the signed sum is 0.001
    img[:, :, 6:] = np.array([-3.0, 1.0, 2.0], np.float32)[:, None, None]
    a = write(tmp_path / "sar.tif", img)
    seg_path = write(tmp_path / "seg.tif", seg)
    with RasterSource(a) as src, rasterio.open(seg_path) as seg_ds:
        ids, x = gather_segment_stats(src, seg_ds, src.grid.full_window, tile=16).features(
            ("COLOR",))
    assert list(ids) == [1, 2]
    assert (x >= 0).all() and (x <= 1).all()
    np.testing.assert_allclose(x.sum(1), 1.0, rtol=1e-9)
    np.testing.assert_allclose(x[1], [0.5, 1 / 6, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(x[0], np.array([12, 8, 20.001]) / 40.001, rtol=1e-5)


def test_a_bands_own_nodata_is_left_out_of_its_mean_and_std(tmp_path):
    """A scene (NoData 0) stacked with a DEM (NoData -32768, voids over a lake): the voids
    are not DEM values. A segment partly void has the mean and STD of its DEM pixels; a
    segment wholly void has the DEM's NoData as its mean (what a pixel model is given) and
    STD 0; the scene band's attributes are untouched; COLOR and the band means too."""
    from osgeo import gdal

    h, w = 20, 30
    seg = np.ones((h, w), np.int32)
    seg[:, 10:20], seg[:, 20:] = 2, 3
    refl = np.full((h, w), 500, np.uint16) + (np.arange(w) * 3).astype(np.uint16)[None]
    dem = (100 + np.arange(h * w).reshape(h, w) % 17).astype(np.int16)
    dem[:, 5:10] = -32768  # half of segment 1 void
    dem[:, 10:20] = -32768  # all of segment 2 void
    a = write(tmp_path / "refl.tif", refl, nodata=0)
    b = write(tmp_path / "dem.tif", dem, nodata=-32768)
    stack = str(tmp_path / "stack.vrt")
    gdal.BuildVRT(stack, [a, b], separate=True)
    seg_path = write(tmp_path / "seg.tif", seg)
    with RasterSource(stack) as src, rasterio.open(seg_path) as seg_ds:
        assert src.nodata == [0, -32768]
        stats = gather_segment_stats(src, seg_ds, src.grid.full_window, tile=16)
        ids, x = stats.features(("MEAN", "STD", "COUNT"))
        mean, std = stats.band_means()
    assert list(ids) == [1, 2, 3]
    for i, cols in enumerate((slice(0, 10), slice(10, 20), slice(20, 30))):
        assert x[i, 0] == pytest.approx(refl[:, cols].mean())
        assert x[i, 2] == pytest.approx(refl[:, cols].std())
        assert x[i, 4] == 200  # COUNT: every pixel of the segment
    assert x[0, 1] == pytest.approx(dem[:, :5].mean()) and x[0, 3] == pytest.approx(dem[:, :5].std())
    assert x[1, 1] == -32768 and x[1, 3] == 0
    assert x[2, 1] == pytest.approx(dem[:, 20:].mean())
    real = dem[dem != -32768]
    assert mean[1] == pytest.approx(real.mean()) and std[1] == pytest.approx(real.std())
    assert mean[0] == pytest.approx(refl.mean())
