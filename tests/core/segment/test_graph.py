"""segment.graph on hand-made graphs: components, touching pairs, union, small segments merged."""

import numpy as np
import pytest

from landlearn.core.segment.graph import (
    Graph,
    group_sums,
    local_components,
    merge_small,
    neighbour_pairs,
    staged_merge,
    union,
    unique_pairs,
)

pytest.importorskip("scipy")
pytestmark = pytest.mark.usefixtures("graph_engine")


def test_union_roots_each_component_at_its_smallest_member():
    pairs = np.array([[3, 5], [0, 2], [6, 5], [2, 4]])
    np.testing.assert_array_equal(union(8, pairs), [0, 1, 0, 3, 0, 3, 3, 7])
    np.testing.assert_array_equal(union(3, np.zeros((0, 2), dtype=np.int64)), [0, 1, 2])


def test_unique_pairs_and_neighbour_pairs():
    got = unique_pairs(np.array([[1, 2], [0, 3], [1, 2], [0, 3], [2, 2]]))
    np.testing.assert_array_equal(got, [[0, 3], [1, 2], [2, 2]])
    assert unique_pairs(np.zeros((0, 2))).shape == (0, 2)
    labels = np.array([[0, 0, 1],
                       [2, -1, 1],
                       [2, 2, 3]])
    # -1 (NoData) touches nothing; diagonal neighbours (0 and 3 via -1) do not count
    np.testing.assert_array_equal(neighbour_pairs(labels), [[0, 1], [0, 2], [1, 3], [2, 3]])


def test_local_components_follow_the_threshold_strictly_in_raster_order():
    filtered = np.array([[[0, 0, 10, 10],
                          [0, 0, 10, 30],
                          [5, 5, 5, 30]]], dtype=np.float32)
    valid = np.ones((3, 4), dtype=bool)
    expected = [[0, 0, 1, 1],
                [0, 0, 1, 2],
                [3, 3, 3, 2]]
    np.testing.assert_array_equal(local_components(filtered, valid, 3.0), expected)
    # a difference of exactly the threshold does not join (strict <)
    np.testing.assert_array_equal(local_components(filtered, valid, 5.0), expected)
    # just above it, 0 / 5 / 10 join through the bottom row; 30 stays apart
    np.testing.assert_array_equal(local_components(filtered, valid, 5.5),
                                  [[0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1]])
    # an invalid pixel gets -1, joins nothing, and the numbering stays compact
    valid[0, 1] = False
    np.testing.assert_array_equal(local_components(filtered, valid, 3.0),
                                  [[0, -1, 1, 1], [0, 0, 1, 2], [3, 3, 3, 2]])
    # more bands: the distance is Euclidean over the bands: (0, 0) and (3, 4) are 5 apart
    two = np.array([[[0, 3]], [[0, 4]]], dtype=np.float32)
    ok = np.ones((1, 2), dtype=bool)
    np.testing.assert_array_equal(local_components(two[:1], ok, 4.5), [[0, 0]])
    np.testing.assert_array_equal(local_components(two, ok, 4.5), [[0, 1]])
    np.testing.assert_array_equal(local_components(two, ok, 5.5), [[0, 0]])


def test_merge_small_picks_the_most_similar_neighbour():
    # four segments: means 0, 9, 10, 100; the last has no neighbour (an island in NoData)
    count = np.array([10, 2, 10, 1])
    sums = (np.array([0.0, 9.0, 10.0, 100.0]) * count)[:, None]
    pairs = np.array([[0, 1], [1, 2]])
    root = merge_small(count, sums, pairs, min_size=5)
    # 1 joins 2 (distance 1, not 81); the root is the smaller id; 3 stays alone and small
    np.testing.assert_array_equal(root, [0, 1, 1, 3])
    # nothing small: nothing changes
    np.testing.assert_array_equal(merge_small(count, sums, pairs, min_size=1), [0, 1, 2, 3])


def test_merge_small_breaks_ties_by_the_lower_id_and_repeats_rounds():
    count = np.array([10, 2, 10])
    sums = (np.array([0.0, 5.0, 10.0]) * count)[:, None]
    np.testing.assert_array_equal(merge_small(count, sums, np.array([[0, 1], [1, 2]]), 5),
                                  [0, 0, 2])
    # two tiny neighbours merge first (size 2 < 3), then the pair merges into the big one
    count = np.array([1, 1, 10])
    sums = (np.array([0.0, 1.0, 50.0]) * count)[:, None]
    np.testing.assert_array_equal(merge_small(count, sums, np.array([[0, 1], [1, 2]]), 3),
                                  [0, 0, 0])
    # a segment reaching the minimum after one round stops there
    np.testing.assert_array_equal(merge_small(count, sums, np.array([[0, 1], [1, 2]]), 2),
                                  [0, 0, 2])


def test_merge_small_into_the_largest_neighbour():
    # 0 (2 px) touches 1 (10 px, far in value) and 2 (5 px, close in value)
    count = np.array([2, 10, 5])
    sums = np.array([[2.0], [1000.0], [15.0]])
    pairs = np.array([[0, 1], [0, 2]])
    # roots are each group's lowest id: 0 joins 2 by value, 1 by size
    assert list(merge_small(count, sums, pairs, min_size=3)) == [0, 1, 0]
    assert list(merge_small(count, sums, pairs, min_size=3, into="largest")) == [0, 0, 2]


def test_small_segments_merge_one_size_at_a_time():
    """A chain 0..4 of 50, 4, 5, 4 and 2 px (means 55, 23, 59, 2, 84), minimum size 6: the
    2 px segment joins 3 first, then the 4 px segment 1 joins 0, and only then does the
    5 px segment 2 choose, seeing 0+1 (mean 52.6) rather than 1 alone (23). Merging 4 and
    5 px segments in one round (rounds of doubling size) would send 2 to 3+4 instead."""
    count = np.array([50, 4, 5, 4, 2])
    sums = (np.array([55, 23, 59, 2, 84]) * count)[:, None].astype(np.float64)
    pairs = np.array([(0, 1), (1, 2), (2, 3), (3, 4)])
    graph = Graph(count, sums, pairs)
    np.testing.assert_array_equal(staged_merge(graph, 6), [0, 0, 0, 3, 3])
    assert graph.count is None and graph.pairs is None  # taken: the merge frees it


def _one_size_at_a_time(count, sums, pairs, min_size):
    """staged_merge as it was: every size from 2 to ``min_size``, none skipped."""
    root = np.arange(len(count))
    c, s, p = count.astype(np.float64), sums.astype(np.float64), pairs
    for size in range(2, min_size + 1):
        r = merge_small(c, s, p, size)
        root = r[root]
        c = np.bincount(r, c, len(c))
        s = np.stack([np.bincount(r, s[:, b], len(c)) for b in range(s.shape[1])], 1)
        q = r[p]
        p = np.unique(np.sort(q[q[:, 0] != q[:, 1]], axis=1), axis=0)
    return root


def test_sizes_that_merge_nothing_are_skipped_with_the_same_result():
    """MIN_SEGMENT_SIZE 10^7 ran 10^7 stages, uncancellable. Stages that merge nothing are
    now skipped to the next size that can: the same roots, and few stages."""
    rng = np.random.default_rng(4)
    n = 300
    count = rng.choice([1, 2, 3, 7, 40, 41, 300], n)
    sums = (rng.random((n, 2)) * 255 * count[:, None])
    a = rng.integers(0, n, 900)
    b = rng.integers(0, n, 900)
    pairs = np.unique(np.sort(np.stack([a, b], 1)[a != b], axis=1), axis=0)
    for min_size in (5, 45, 120, 10_000_000):
        stages = []
        got = staged_merge(Graph(count.copy(), sums.copy(), pairs.copy()), min_size,
                           lambda s=stages: s.append(1))
        if min_size < 1000:
            want = _one_size_at_a_time(count, sums, pairs, min_size)
            # same groups (the roots named as staged_merge names them: smallest member)
            assert len(np.unique(got)) == len(np.unique(want))
            np.testing.assert_array_equal(got, np.minimum.reduceat(
                np.arange(n)[np.argsort(want, kind="stable")],
                np.r_[0, np.flatnonzero(np.diff(np.sort(want))) + 1])[
                    np.unique(want, return_inverse=True)[1]])
        # each stage run merges something (at most n - 1 of them), not one per size
        assert len(stages) < min(n, min_size), (min_size, len(stages))


def test_group_sums_adds_rows_in_order_as_bincount():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(1000, 3)) * 1e6
    group = rng.integers(0, 40, 1000)
    expect = np.stack([np.bincount(group, values[:, b], 45) for b in range(3)], 1)
    got = group_sums(group, values, 45)
    assert got.shape == (45, 3) and np.array_equal(got, expect)  # bit for bit
    assert not got[40:].any()


def test_pairs_past_what_int64_keys_hold_are_refused_not_wrapped():
    """a * base + b wrapped in int64 past 3.04e9 ids: distinct pairs became one."""
    from landlearn.core.errors import InputError
    from landlearn.core.segment.graph import MAX_PACKED_BASE, remap_pairs, unique_pairs

    big = np.array([[0, MAX_PACKED_BASE], [1, 2]], np.int64)  # base MAX + 1
    with pytest.raises(InputError, match="^INPUT_RASTER: 3,037,000,500 regions before merging are more"):
        unique_pairs(big)
    with pytest.raises(InputError, match="regions before merging are more than LandLearn can pair up"):
        remap_pairs(np.array([[0, 1]]), np.array([0, 1]), MAX_PACKED_BASE + 1)
    np.testing.assert_array_equal(unique_pairs(np.array([[3, 4], [1, 2], [3, 4]])),
                                  [[1, 2], [3, 4]])


def test_first_of_each_finds_first_occurrences_only_in_first_occurrence_order():
    from landlearn.core.segment.graph import first_of_each

    labels = np.array([0, 0, 1, 0, 2, 1, 3, 3, 2])
    assert first_of_each(labels, 4).tolist() == [0, 2, 4, 6]
    assert first_of_each(np.array([1, 0, 0, 2]), 3) is None  # 1 before 0: not that order
    assert first_of_each(np.array([0, 2, 1]), 3) is None
    assert first_of_each(np.array([0, 1, 1]), 3) is None  # a label missing
    assert first_of_each(np.array([0, -1, 1]), 2) is None  # NoData is no label
    assert first_of_each(np.zeros(0, int), 0).tolist() == []
    rng = np.random.default_rng(0)  # against the slow way, on labels in that order
    raw = rng.integers(0, 500, 20000)
    _, first_at, inverse = np.unique(raw, return_index=True, return_inverse=True)
    rank = np.empty(len(first_at), int)
    rank[np.argsort(first_at)] = np.arange(len(first_at))
    ordered = rank[inverse]
    want = np.full(len(first_at), len(raw))
    np.minimum.at(want, ordered, np.arange(len(raw)))
    assert np.array_equal(first_of_each(ordered, len(first_at)), want)


def test_union_finds_the_smallest_member_either_way(monkeypatch):
    """The running maximum over scipy's component numbers, and np.minimum.at where that
    numbering is not by lowest node: the same roots."""
    from landlearn.core.segment import graph

    rng = np.random.default_rng(3)
    pairs = np.sort(rng.integers(0, 3000, (2500, 2)), axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    fast = graph.union(3000, pairs)
    monkeypatch.setattr(graph, "first_of_each", lambda labels, k: None)
    slow = graph.union(3000, pairs)
    assert fast.dtype == slow.dtype and np.array_equal(fast, slow)
    assert (fast <= np.arange(3000)).all() and len(np.unique(fast)) < 3000
