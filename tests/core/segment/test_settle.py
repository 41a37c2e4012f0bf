"""Single pixels settled inside their tile: fewer segments reach the merge, the same
segments come out of it."""

import numpy as np
import pytest
import rasterio

from landlearn.core.segment import first_pass as fp
from landlearn.core.segment import segment_mean_shift as sms
from landlearn.core.segment import settle
from landlearn.core.segment.graph import local_components, neighbour_pairs
from landlearn.core.segment.merge import merge_small
from landlearn.core.segment.settle import first_stage, settle_singles, tile_segments

pytest.importorskip("scipy")
pytestmark = pytest.mark.usefixtures("graph_engine")


def _chain(counts, means, touch):
    count = np.array(counts, np.int32)
    sums = np.array(means, np.float64)[:, None] * count[:, None]
    pairs = np.array([(i, i + 1) for i in range(len(counts) - 1)])
    return count, sums, pairs, np.array(touch, bool), np.arange(len(counts)) * 10


def test_a_group_collapses_and_a_later_choice_still_sees_its_member():
    """0 touches the tile's edge, so single pixel 1 (its neighbour) decides later; 2 joins
    3 and 4 joins 5 here. 1's closest neighbour is 2, now inside the collapsed (2, 3): that
    choice is carried for the whole-raster stage, where it beats 0."""
    count, sums, pairs, touch, first = _chain([50, 1, 1, 30, 1, 40], [0, 12, 20, 21, 50, 52],
                                              [1, 0, 0, 0, 0, 0])
    lut, dec = settle_singles(count, sums, pairs, touch, first)
    np.testing.assert_array_equal(lut, [0, 1, 2, 2, 3, 3])
    np.testing.assert_array_equal(dec.collapsed, [2, 3])
    assert (dec.later.tolist(), dec.to.tolist(), dec.distance.tolist(), dec.key.tolist()) == \
        ([1], [2], [64.0], [20])
    c = np.bincount(lut, count).astype(np.float64)
    s = np.bincount(lut, sums[:, 0])[:, None]
    root = first_stage(dec, np.array([0, 10, 20, 40]))(c, s, np.array([(0, 1), (1, 2), (2, 3)]))
    np.testing.assert_array_equal(root, [0, 1, 1, 3])


def test_a_group_holding_a_later_pixel_stays_apart_and_chooses_again():
    """2 joins 1 here, but 1 decides later (it touches 0, on the edge): nothing collapses,
    and over the whole raster both choose again, the same way."""
    count, sums, pairs, touch, first = _chain([50, 1, 1, 30], [0, 12, 13, 30], [1, 0, 0, 0])
    lut, dec = settle_singles(count, sums, pairs, touch, first)
    np.testing.assert_array_equal(lut, [0, 1, 2, 3])
    assert len(dec.collapsed) == len(dec.later) == 0
    root = first_stage(dec, first)(count.astype(np.float64), sums, pairs)
    np.testing.assert_array_equal(root, [0, 1, 1, 3])


def test_nothing_to_settle():
    assert settle_singles(*_chain([5, 6, 7], [0, 1, 2], [0, 0, 0])) is None
    assert settle_singles(*_chain([1, 1, 5], [0, 1, 2], [1, 0, 0])) is None


def _partition(root_of_pixel):
    """Each pixel's group named by the group's first pixel (raster order)."""
    flat = root_of_pixel.ravel()
    first = np.full(flat.max() + 2, flat.size)
    np.minimum.at(first, flat + 1, np.arange(flat.size))
    return first[flat + 1]


@pytest.mark.parametrize("seed", range(6))
def test_settled_first_stage_equals_the_first_stage_over_every_segment(seed):
    """Noisy 40 x 50 tiles (most segments single pixels, NoData holes): the first stage
    from settled segments plus carried decisions joins exactly the pixels that
    merge_small's first stage over every local segment joins."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 6, (2, 40, 50)).astype(np.float32) * 20
    x[:, 10:14, 20:30] = 7
    valid = rng.random((40, 50)) > 0.05
    lab = local_components(x, valid, 1.0)
    m = lab.max() + 1
    count = np.bincount(lab[valid], minlength=m).astype(np.float64)
    sums = np.stack([np.bincount(lab[valid], b[valid], m) for b in x], 1)
    full = merge_small(count, sums, neighbour_pairs(lab), 2)
    out, c, s, _, first, pairs, dec = tile_segments(lab, x, None, 0, 0, 50, True)
    assert dec is not None and len(c) < 0.6 * m and len(dec.later) > 10
    root = first_stage(dec, first)(c.astype(np.float64), s, pairs)
    a = np.where(valid, full[np.maximum(lab, 0)], -1)
    b = np.where(valid, root[np.maximum(out, 0)], -1)
    np.testing.assert_array_equal(_partition(a), _partition(b))


@pytest.mark.parametrize("fast", [True, False], ids=["running max", "minimum.at"])
def test_tile_statistics_follow_the_settled_labels(fast, monkeypatch):
    """Both ways of finding first pixels (the running maximum over ids in raster order,
    and np.minimum.at where the ids are in another order) give each segment's first."""
    if not fast:
        monkeypatch.setattr(settle, "first_of_each", lambda labels, k: None)
    rng = np.random.default_rng(1)
    x = rng.integers(0, 4, (2, 30, 30)).astype(np.float32) * 30
    lab = local_components(x, np.ones((30, 30), bool), 1.0)
    out, count, sums, raw, first, pairs, dec = tile_segments(lab, x, x + 1, 10, 20, 100, True)
    assert dec is not None and len(count) < lab.max() + 1
    for i in range(len(count)):
        px = out == i
        assert count[i] == px.sum()
        np.testing.assert_allclose(sums[i], x[:, px].sum(1))
        np.testing.assert_allclose(raw[i], x[:, px].sum(1) + px.sum())
        r, c = np.argwhere(px)[0]
        assert first[i] == (r + 10) * 100 + c + 20
    np.testing.assert_array_equal(pairs, neighbour_pairs(out))


@pytest.mark.heavy
@pytest.mark.parametrize("tile", [1024, 64])
def test_settling_changes_no_segment(sample, tmp_path, monkeypatch, tile):
    """The s2 sample, METHOD=joint: with single pixels settled in their tiles (most local
    segments gone before the merge) ids and mean colours equal those of the merge over
    every local segment, untiled and in 64 px tiles."""
    image = str(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif")
    real = fp.tile_segments
    nodes = {}

    def run(name, settle):
        def counted(*args):
            out = real(*args[:-1], args[-1] and settle)
            nodes[name] = nodes.get(name, 0) + len(out[1])
            return out

        monkeypatch.setattr(fp, "tile_segments", counted)
        sms.segment(sms.SegmentConfig(image, output_segment_ids=str(tmp_path / f"{name}.tif"),
                                      output=str(tmp_path / f"{name}_m.tif"), tile_size=tile,
                                      band_indexes=(3, 2, 1), min_segment_size=20,
                                      method="joint"))
        with rasterio.open(tmp_path / f"{name}.tif") as a, \
                rasterio.open(tmp_path / f"{name}_m.tif") as b:
            return a.read(1), b.read()

    ids, mean = run("settled", True)
    ids0, mean0 = run("every", False)
    np.testing.assert_array_equal(ids, ids0)
    np.testing.assert_array_equal(mean, mean0)
    assert ids.max() > 50
    assert nodes["settled"] < 0.6 * nodes["every"]
