"""Scratch folders beside an output, and the sweep of those a killed process left.

Segment and Refine Classification keep their intermediate rasters (labels, regions: up to
8 bytes a pixel) in a hidden folder beside the output, on the output's disk. A normal end,
an error, Cancel and SIGTERM remove it; a SIGKILL (the out-of-memory killer, a batch
scheduler's hard limit) runs no clean-up, and the folder stayed for good. Its name holds
the host and the process id, so the next run on that host removes the folders of
processes that are gone, and never one a live run is using.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile

from .files import host_name, names_matching, process_alive

__all__ = ["host_name", "process_alive", "scratch_folder", "sweep_dead_scratch"]


def sweep_dead_scratch(kind: str, folder: str) -> list[str]:
    """Remove ``kind``'s scratch folders in ``folder`` that a process of this host made and
    that is gone; the removed paths. Not on Windows, where signal 0 is CTRL_C_EVENT and
    cannot ask whether a process lives."""
    if sys.platform == "win32":
        return []
    pattern = re.compile(rf"\.{re.escape(kind)}-{re.escape(host_name())}-(\d+)-[A-Za-z0-9_]+")
    removed = []
    for path, match in names_matching(folder, pattern):
        if os.path.islink(path) or not os.path.isdir(path):
            continue
        pid = int(match.group(1))
        if pid != os.getpid() and not process_alive(pid):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def scratch_folder(kind: str, folder: str) -> tempfile.TemporaryDirectory:
    """A hidden scratch folder for ``kind`` ('segment', 'refine') in ``folder``, after the
    ones killed processes of this host left there are swept."""
    sweep_dead_scratch(kind, folder)
    return tempfile.TemporaryDirectory(prefix=f".{kind}-{host_name()}-{os.getpid()}-", dir=folder)
