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
    per_segment = 3 * 8 * (2 * 3 + 9)
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
