"""The progress/cancel protocol: sub-spans, tracking and cancellation between items."""

import pytest

from landlearn.core.errors import Cancelled
from landlearn.core.progress import (
    NullProgress,
    Progress,
    RecordingProgress,
    SubProgress,
    check,
    track,
)


def test_sub_progress_maps_its_fractions_onto_the_parent_span():
    parent = RecordingProgress()
    sub = SubProgress(parent, 0.2, 0.6)
    for f in (0.0, 0.5, 1.0, -0.3, 1.7):  # out-of-range fractions are clamped
        sub.set_fraction(f)
    assert parent.fractions == pytest.approx([0.2, 0.4, 0.6, 0.2, 0.6])
    nested = SubProgress(sub, 0.5, 1.0)  # the second half of 0.2..0.6
    nested.set_fraction(0.5)
    assert parent.fractions[-1] == pytest.approx(0.5)
    nested.info("hello")
    nested.warning("careful")
    assert parent.messages == ["hello"] and parent.warnings == ["careful"]


def test_sub_progress_passes_the_parent_cancel_through():
    parent = RecordingProgress(cancel_after_checks=1)
    sub = SubProgress(SubProgress(parent, 0, 0.5), 0, 1)
    assert not sub.is_canceled()
    assert sub.is_canceled()  # the second check: the parent is cancelled
    with pytest.raises(Cancelled):
        check(sub)


def test_track_yields_every_item_and_reports_after_each():
    progress = RecordingProgress()
    assert list(track(iter("abcd"), progress, 4)) == ["a", "b", "c", "d"]
    assert progress.fractions == [0.25, 0.5, 0.75, 1.0]
    empty = RecordingProgress()
    assert list(track([], empty, 0)) == [] and empty.fractions == []
    odd = RecordingProgress()
    list(track(["x"], odd, 0))  # a total of 0 counts as 1, never a division by zero
    assert odd.fractions == [1.0]


def test_track_stops_before_the_next_item_once_cancelled():
    progress = RecordingProgress(cancel_after_checks=2)
    seen = []
    with pytest.raises(Cancelled):
        for item in track(range(10), progress, 10):
            seen.append(item)
    assert seen == [0, 1] and progress.fractions == [0.1, 0.2]


def test_null_and_recording_progress_are_progress():
    assert isinstance(NullProgress(), Progress) and isinstance(RecordingProgress(), Progress)
    null = NullProgress()
    null.set_fraction(0.5)
    null.info("x")
    null.warning("y")
    check(null)  # never cancelled
    assert not null.is_canceled()
