"""segment.graph_jit: the compiled grouping and merge give graph.py's numpy results, integer
for integer and bit for bit, on real pixels and on graphs with ties, many bands and
NoData; and a whole Segment run gives the same ids either way."""

import numpy as np
import pytest
import rasterio

from landlearn.core.classical.trees.kernel import numba_version
from landlearn.core.segment import graph, merge
from landlearn.core.segment import segment_mean_shift as sms

pytestmark = pytest.mark.skipif(numba_version() is None, reason="numba is not installed")
pytest.importorskip("scipy")


def both(monkeypatch, fn, *args, **kwargs):
    """``fn(*args)`` compiled, then with graph.py's numpy."""
    assert graph._jit() is not None
    ours = fn(*args, **kwargs)
    with monkeypatch.context() as m:
        m.setattr(graph, "_jit", lambda: None)
        theirs = fn(*args, **kwargs)
    return ours, theirs


def assert_same(a, b):
    if isinstance(a, tuple):
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
        return
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def s2(sample):
    with rasterio.open(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif") as ds:
        return ds.read()[:, :300, :400].astype(np.float32) / 16


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bands", [1, 3, 6])
def test_components_and_their_pairs_equal_numpys_on_real_pixels(s2, monkeypatch, dtype, bands):
    f = s2[:bands].astype(dtype)
    valid = np.ones(f.shape[1:], bool)
    valid[100:140, 50:200] = False  # a NoData hole
    valid[:, 399] = False
    found = []
    for threshold in (1.0, 2.0, 4.0, 8.0, 16.0):
        labels = assert_same_and_return(*both(monkeypatch, graph.local_components, f, valid,
                                              threshold))
        assert (labels[~valid] == -1).all()
        found.append(labels.max() + 1)
        assert_same(*both(monkeypatch, graph.neighbour_pairs, labels))
        assert_same(*both(monkeypatch, graph.neighbour_pairs, labels.astype(np.int32)))
    assert found == sorted(found, reverse=True) and found[0] > 10 * found[-1]


def assert_same_and_return(a, b):
    assert_same(a, b)
    return a


def test_the_threshold_is_compared_in_float32_as_numpy_compares_it(monkeypatch):
    """numpy compares a float32 distance with the float threshold in float32: a threshold
    a hair above the distance (in float64) but equal to it in float32 keeps the pixels
    apart, in the compiled loop too."""
    f = np.array([[[0.0, 0.3]]], np.float32)
    ok = np.ones((1, 2), bool)
    d = float(f[0, 0, 1] * f[0, 0, 1])  # the float32 distance
    hair = float(np.sqrt(d * (1 + 2.0 ** -30)))
    ours, theirs = both(monkeypatch, graph.local_components, f, ok, hair)
    assert_same(ours, theirs)
    np.testing.assert_array_equal(ours, [[0, 1]])
    # float64 values: compared in float64, where a hair above joins
    d64 = float(np.float64(f[0, 0, 1]) ** 2)
    hair64 = float(np.sqrt(d64 * (1 + 2.0 ** -30)))
    ours, theirs = both(monkeypatch, graph.local_components, f.astype(np.float64), ok, hair64)
    np.testing.assert_array_equal(ours, [[0, 0]])
    assert_same(ours, theirs)


def test_a_two_pixel_tile_of_many_bands_sums_its_distance_band_by_band(monkeypatch):
    """A 1 x 2 px tile (an area's corner) with 9 channels: numpy's sum over the band axis
    pairs terms there (it walks that axis), where everywhere else it adds band by band.
    A threshold between the two sums joined the pixels one way and not the other; both
    paths now add band by band."""
    rng = np.random.default_rng(3)
    for _ in range(1000):
        f = rng.random((9, 1, 2)).astype(np.float32) * 10
        t = (f[:, :, :1] - f[:, :, 1:]) ** 2
        pairwise = t.sum(0)[0, 0]
        seq = t[0, 0, 0]
        for k in range(1, 9):
            seq = np.float32(seq + t[k, 0, 0])
        if seq < pairwise:
            break
    else:
        pytest.fail("no 9-band pair whose two sums differ")
    threshold = float(np.sqrt(np.float64(pairwise)))
    while np.float32(threshold * threshold) > pairwise:
        threshold = float(np.nextafter(threshold, 0))
    while np.float32(threshold * threshold) < pairwise:
        threshold = float(np.nextafter(threshold, 1e9))
    ok = np.ones((1, 2), bool)
    ours, theirs = both(monkeypatch, graph.local_components, f, ok, threshold)
    assert_same(ours, theirs)
    np.testing.assert_array_equal(ours, [[0, 0]])  # band by band: below the threshold


def test_empty_graphs_and_ids_out_of_range(monkeypatch):
    none = np.zeros((0, 2), np.int64)
    assert_same(*both(monkeypatch, graph.remap_pairs, none, np.arange(3), 3))
    assert_same(*both(monkeypatch, graph.union, 3, none))
    assert_same(*both(monkeypatch, merge.closest, none, np.ones(3, bool), np.ones(3),
                      np.ones((3, 2)), "similar", distances=True))
    assert_same(*both(monkeypatch, graph.neighbour_pairs, np.full((2, 3), -1)))
    assert_same(*both(monkeypatch, graph.local_components, np.zeros((2, 2, 3), np.float32),
                      np.zeros((2, 3), bool), 1.0))
    # the compiled loops check no bounds: a caller's id past the nodes is refused first
    with pytest.raises(ValueError, match="outside 0..2"):
        graph.union(3, np.array([[0, 3]]))
    with pytest.raises(ValueError, match="outside 0..1"):
        graph.remap_pairs(np.array([[0, 1]]), np.array([0, 2]), 2)


def _random_graph(rng, n, e, bands, fine=False):
    pairs = np.sort(rng.integers(0, n, (e, 2)), axis=1)
    pairs = graph.unique_pairs(pairs[pairs[:, 0] != pairs[:, 1]])
    count = rng.integers(1, 6, n).astype(np.float64)
    # values on a coarse grid: many equal distances, so the tie rule decides; ``fine``:
    # real fractions, whose sums round differently in another order
    values = rng.integers(0, 4, (n, bands)) + (rng.random((n, bands)) * 1e3 if fine else 0)
    return pairs, count, values * count[:, None]


@pytest.mark.parametrize("fine", [False, True])
@pytest.mark.parametrize("bands", [1, 3, 10])
def test_closest_union_and_remap_equal_numpys(monkeypatch, bands, fine):
    rng = np.random.default_rng(bands)
    n = 3000
    pairs, count, sums = _random_graph(rng, n, 9000, bands, fine)
    small = count < 3
    skip = rng.random(n) < 0.2
    for p in (pairs, pairs.astype(np.int32)):
        for into in ("similar", "largest"):
            got = both(monkeypatch, merge.closest, p, small, count, sums, into, skip,
                       distances=True)
            assert_same(*got)
            assert (got[0][0] >= 0).sum() > n / 10
        lut = rng.integers(0, n // 3, n).astype(p.dtype)
        assert_same(*both(monkeypatch, graph.remap_pairs, p, lut, n // 3))
        assert_same(*both(monkeypatch, graph.union, n, p[: len(p) // 4]))


@pytest.mark.parametrize("bands", [3, 10])
def test_merges_equal_numpys(monkeypatch, bands):
    """merge_small (heirs too, as Refine uses it) and the staged merge, 10 bands included:
    their distances are summed band by band both ways (numpy's own sum pairs terms past 7)."""
    rng = np.random.default_rng(7)
    pairs, count, sums = _random_graph(rng, 4000, 10000, bands, fine=bands > 3)
    for into in ("similar", "largest"):
        assert_same(*both(monkeypatch, merge.merge_small, count, sums, pairs, 4, into,
                          heirs=True))

    def staged():
        return merge.staged_merge(merge.Graph(count.copy(), sums.copy(), pairs), 9)

    merged = assert_same_and_return(*both(monkeypatch, staged))
    assert 50 < len(np.unique(merged)) < 2000


def test_a_whole_segment_run_gives_the_same_ids_either_way(sample, tmp_path, monkeypatch):
    """Real s2 pixels in 128 px tiles (borders, settling, the staged merge): compiled
    grouping and merge against numpy's, the search the same."""
    image = str(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif")

    def run():
        out = tmp_path / ("numpy.tif" if graph._jit() is None else "compiled.tif")
        sms.segment(sms.SegmentConfig(image, output_segment_ids=str(out), tile_size=128,
                                      band_indexes=(3, 2, 1), min_segment_size=20,
                                      method="joint"))
        with rasterio.open(out) as ds:
            return ds.read(1)

    ids, ids0 = both(monkeypatch, run)
    np.testing.assert_array_equal(ids, ids0)
    assert ids.max() > 50
