"""refine.segment_vote: each segment's class from votes gathered block by block."""

import numpy as np

from landlearn.core.refine.segment_vote import SegmentVotes


def test_votes_from_blocks_equal_votes_from_the_whole():
    rng = np.random.default_rng(0)
    seg = rng.integers(-1, 40, (60, 50))
    scores = rng.random((3, 60, 50))
    scores[:, rng.random((60, 50)) < 0.1] = 0  # NoData pixels do not vote
    whole, parts = SegmentVotes(3), SegmentVotes(3)
    has = seg != -1  # -1 stands for NoData here; other negative ids are ids
    seg = np.where(has, seg - 20, seg)
    whole.add(seg, has, scores)
    for r in range(0, 60, 16):
        for c in range(0, 50, 16):
            parts.add(seg[r:r + 16, c:c + 16], has[r:r + 16, c:c + 16],
                      scores[:, r:r + 16, c:c + 16])
    ids, win = whole.winners()
    np.testing.assert_array_equal(ids, parts.winners()[0])
    np.testing.assert_array_equal(win, parts.winners()[1])
    np.testing.assert_allclose(whole.sums, parts.sums)
    for s, w in zip(ids[:10], win[:10]):
        inside = (seg == s) & has & (scores.sum(0) > 0)
        assert w == scores[:, inside].sum(1).argmax()
    assert ids.min() == -20 and len(ids) == 40


def test_a_tie_goes_to_the_lower_class_and_unknown_segments_are_not_found():
    votes = SegmentVotes(2)
    empty = votes.lookup(np.array([[5]]), np.array([[True]]))
    assert not empty[1].any() and len(votes.winners()[1]) == 0  # no vote yet: no winner
    seg = np.array([[5, 5, 7]])
    votes.add(seg, np.ones(seg.shape, bool), np.array([[[1, 0, 0]], [[0, 1, 1]]], float))
    cls, found = votes.lookup(np.array([[5, 7, 9, -1]]), np.array([[True, True, True, False]]))
    assert list(found[0]) == [True, True, False, False]
    assert list(cls[0][:2]) == [0, 1]


def test_class_votes_merge_a_few_times_over_many_blocks_and_match_one_hot_votes(monkeypatch):
    """A class map's votes counted per block (no one-hot planes) give the one-hot
    probabilities' result, and 400 blocks of new segments are merged O(log) times, not
    400 (each merge re-sorted every segment so far)."""
    monkeypatch.setattr(SegmentVotes, "MERGE_ROWS", 500)
    rng = np.random.default_rng(1)
    merges = []
    real = SegmentVotes._merge

    def counted(self):
        merges.append(len(self._pending))
        real(self)

    monkeypatch.setattr(SegmentVotes, "_merge", counted)
    counts, onehot = SegmentVotes(4), SegmentVotes(4)
    for block in range(400):
        seg = rng.integers(0, 60, (16, 16)) + 60 * block  # new segments in every block
        cls = rng.integers(0, 4, (16, 16))
        valid = rng.random((16, 16)) > 0.2
        has = np.ones(seg.shape, bool)
        counts.add_classes(seg, has, cls, valid)
        onehot.add(seg, has, (np.arange(4)[:, None, None] == cls) * valid)
    ids, win = counts.winners()
    assert sum(m > 0 for m in merges) < 20 and len(ids) == len(set(ids))
    np.testing.assert_array_equal(ids, onehot.winners()[0])
    np.testing.assert_array_equal(win, onehot.winners()[1])
    np.testing.assert_array_equal(counts.sums, onehot.sums)
    before = len(merges)
    counts.lookup(ids[None, :5], np.ones((1, 5), bool))
    counts.lookup(ids[None, 5:9], np.ones((1, 4), bool))
    assert len(merges) == before + 2 and counts._winners is not None  # winners kept


def test_more_segments_than_the_memory_budget_is_refused_by_name():
    """Votes are segments x classes float64: 10^7 segments of a 44-class map were 3.5 GB,
    and a merge some three times that, with no check (the OS ended QGIS). Refused past a
    budget (a quarter of the memory), naming SEGMENTED_RASTER and the fix."""
    import pytest

    from landlearn.core.errors import InputError

    per = 3 * 8 * (3 + 1)
    seg = np.arange(100).reshape(10, 10)
    index = np.zeros((10, 10), np.int64)
    ok = SegmentVotes(3, budget=100 * per)
    ok.add_classes(seg, np.ones(seg.shape, bool), index, np.ones(seg.shape, bool))
    assert len(ok.winners()[0]) == 100
    with pytest.raises(InputError, match="^SEGMENTED_RASTER: it holds more than 99 segments"):
        SegmentVotes(3, budget=99 * per).add_classes(seg, np.ones(seg.shape, bool), index,
                                                     np.ones(seg.shape, bool))
