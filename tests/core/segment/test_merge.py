"""segment.merge on hand-made graphs: small segments merged into their most similar or
largest neighbour, a size at a time, ties to the lower id."""

import numpy as np
import pytest

from landlearn.core.segment.merge import Graph, group_sums, merge_small, staged_merge

pytest.importorskip("scipy")
pytestmark = pytest.mark.usefixtures("graph_engine")


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
