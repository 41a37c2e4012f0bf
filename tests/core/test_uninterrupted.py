"""uninterrupted: a termination signal noted inside an output's renames, sent again after.

The whole path (a real SIGTERM during a folder's swap) is in test_termination.py."""

import signal

import pytest

from landlearn.core.uninterrupted import defer, uninterrupted

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="POSIX signals")


def test_a_signal_inside_waits_for_the_end_of_the_outermost_section():
    got = []
    previous = signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
    try:
        assert not defer(signal.SIGUSR1)  # outside a section: the handler raises at once
        with uninterrupted():
            with uninterrupted():
                assert defer(signal.SIGUSR1)
            assert got == []  # the inner section's end is not the end
        assert got == [signal.SIGUSR1]  # sent again once the renames are done
        with uninterrupted():
            pass
        assert got == [signal.SIGUSR1]  # nothing pending, nothing sent
    finally:
        signal.signal(signal.SIGUSR1, previous)
