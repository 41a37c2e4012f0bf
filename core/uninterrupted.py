"""Renames a termination signal must not split.

Replacing an output is a few renames (the old folder aside, the new one in; a raster, then
its sidecars). A SIGTERM between two of them stranded the previous output under a hidden
'.old' name, or put a new raster beside its predecessor's statistics. Inside
``uninterrupted()`` termination.py's handler notes the signal instead of raising; it is
sent again when the section ends, and the run then stops as it would have.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

__all__ = ["defer", "uninterrupted"]

_state = threading.local()


def defer(signum: int) -> bool:
    """Called by the signal handler (main thread): True when a section is running and the
    signal was noted for its end."""
    if getattr(_state, "depth", 0) > 0:
        _state.pending = signum
        return True
    return False


@contextmanager
def uninterrupted():
    if getattr(_state, "depth", 0) == 0:
        _state.pending = None  # one left by a signal that came as the last section ended
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        yield
    finally:
        _state.depth -= 1
        pending = getattr(_state, "pending", None)
        if _state.depth == 0 and pending is not None:
            _state.pending = None
            os.kill(os.getpid(), pending)  # delivered now, to the handler in charge
