"""SIGTERM, SIGHUP and Ctrl-C end a run the way a cancel does: temporary files go, then the
process.

A closed terminal (SIGHUP) or a job scheduler's kill (SIGTERM) would otherwise stop the
interpreter on the spot and leave hidden '.part' files beside every output. While an
algorithm runs, those signals raise ``Terminated`` in the main thread instead; the
``with`` blocks that own temporary files unwind and remove them; then the signal is
delivered again with its previous handler, so the process ends as it was asked to (a
killed job still reports the signal). Outside a run nothing changes, and a signal the
process was told to ignore stays ignored (`nohup` sets SIGHUP so: a long run started that
way must survive its terminal closing, not stop cleanly at it).
"""

from __future__ import annotations

import functools
import os
import signal
import threading
from contextlib import contextmanager

from .files import remove_temporaries
from .uninterrupted import defer

__all__ = ["Terminated", "terminable", "termination_guard"]

_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
_active = threading.local()


class Terminated(BaseException):
    """A termination signal arrived during a run (a BaseException, like KeyboardInterrupt,
    so that no ``except Exception`` on the way swallows it)."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}; temporary files removed")


@contextmanager
def termination_guard():
    """Turn SIGTERM/SIGHUP (and SIGINT while Python's default handler has it) into
    ``Terminated`` inside the block (main thread only; nested guards and other threads
    leave the signals alone)."""
    if threading.current_thread() is not threading.main_thread() or getattr(_active, "on", False):
        yield
        return

    def handler(signum, frame):
        if not defer(signum):  # inside an output's renames: raised when they are done
            raise Terminated(signum)

    previous = {}
    # Ctrl-C too, where Python's own handler has it (a terminal's qgis_process, a script):
    # its KeyboardInterrupt skipped the deferral of an output's renames and the clean-up of
    # temporaries; it ends as a KeyboardInterrupt again once those are done
    interrupt = getattr(signal, "SIGINT", None)
    wanted = _SIGNALS + ((interrupt,) if interrupt is not None
                         and signal.getsignal(interrupt) is signal.default_int_handler else ())
    try:
        for s in wanted:
            if signal.getsignal(s) is not signal.SIG_IGN:
                previous[s] = signal.signal(s, handler)
    except (ValueError, OSError):  # not the main interpreter: leave the defaults
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
        yield
        return
    _active.on = True
    received = None
    try:
        yield
    except Terminated as exc:
        received = exc.signum
        remove_temporaries()  # a signal can land between a file's creation and its owner
        raise
    finally:
        _active.on = False
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
        if received is not None:
            # everything above has cleaned up: now end the way the signal asked
            os.kill(os.getpid(), received)


def terminable(func):
    """Run ``func`` inside termination_guard (the engine's entry points)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with termination_guard():
            return func(*args, **kwargs)

    return wrapper
