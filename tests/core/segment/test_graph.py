"""segment.graph on hand-made graphs: components, touching pairs, union."""

import numpy as np
import pytest

from landlearn.core.segment.graph import local_components, neighbour_pairs, union, unique_pairs

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
