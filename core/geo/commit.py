"""Several outputs of one run published together: all replaced, or none.

A run writes a class map, a confidence raster, probabilities, polygons; each is verified
under a temporary name first, then all are renamed in one section a SIGTERM waits for,
with the files they replace set aside and put back if any of them fails.
"""

from __future__ import annotations

import os
from contextlib import suppress

from ..files import forget_temporary, not_replaced_error, set_aside, track_temporary
from ..uninterrupted import uninterrupted
from .outputs import claim_output
from .writer import GeoTiffWriter

__all__ = ["FinishedFile", "commit_together"]


class FinishedFile:
    """A complete, verified temporary file (a GeoPackage of segment polygons) published
    with commit_together beside rasters: renamed in the same uninterrupted section, the
    old file and its SQLite sidecars set aside and put back if any output fails (renamed
    after the rasters, a SIGTERM between them left new rasters beside old polygons, and
    an old database's -wal beside a new one)."""

    SIDECARS = ("-wal", "-shm", "-journal")

    def __init__(self, tmp: str, path: str, parameter: str):
        self._tmp, self.path, self.parameter = tmp, path, parameter
        self._staged: list[tuple[str, str]] = []
        self._done = False

    def prepare(self) -> None:
        claim_output(self.path, self.parameter)  # a file of the user's appeared meanwhile?

    def sidecar_paths(self) -> list[str]:
        return [self.path + s for s in self.SIDECARS if os.path.lexists(self.path + s)]

    def publish(self) -> str:
        try:
            os.replace(self._tmp, self.path)
        except OSError as exc:  # on Windows: the old file open as a QGIS layer
            raise not_replaced_error(self.path, self.parameter, exc, "no output of the run "
                                     "was changed") from None
        self._done = True
        return self.path

    def abort(self) -> None:
        for p in [self._tmp] + [self._tmp + s for s in self.SIDECARS]:
            if os.path.exists(p):
                os.remove(p)
        self._done = True


def commit_together(writers: list[GeoTiffWriter]) -> None:
    """Verify every output first, then rename them all: a run that fails on its third
    output (a full disk) replaces none of the files its first two would have replaced.

    The old files (each raster with its sidecars) are moved aside before any new one takes
    a name: on Windows a file open as a QGIS layer can be neither replaced nor moved, and
    with the class map renamed before the confidence raster failed, a new map stood beside
    the old confidence. Any failure puts every old file back and removes the new ones."""
    try:
        for w in writers:
            w.prepare()
    except BaseException:
        for w in writers:
            if not w._done:
                w.abort()
        raise
    aside: list[tuple[str, str]] = []  # (hidden name, where it stood)
    with uninterrupted():
        try:
            for w in writers:
                if not os.path.lexists(w.path):
                    continue
                for f in [w.path] + w.sidecar_paths():
                    if any(f == where for _, where in aside):
                        continue  # a style two outputs' stems share
                    aside.append((set_aside(f), f))  # listed first: restored if cut short
                    try:
                        os.replace(f, aside[-1][0])
                    except OSError as exc:
                        raise not_replaced_error(f, w.parameter, exc, "no output of the run "
                                                 "was changed") from None
            for w in writers:
                w.publish()
            # published: the old copies are temporaries again, so a SIGTERM held until the
            # section ends removes them in its clean-up (they were left hidden for good)
            for hidden, _ in aside:
                track_temporary(hidden)
        except BaseException:
            for w in writers:  # the new files out of the way, then the old ones back
                if w._done:
                    for f in [w.path] + [dst for _, dst in w._staged]:
                        with suppress(OSError):
                            os.remove(f)
            for hidden, where in aside:
                if os.path.lexists(hidden):
                    with suppress(OSError):  # else left under its hidden name: not deleted
                        os.replace(hidden, where)
            raise
        finally:  # one that could not take its name: the others' temporaries go too
            for w in writers:
                if not w._done:
                    w.abort()
    for hidden, _ in aside:
        with suppress(OSError):  # a scanner holding it: a hidden file left, the run done
            os.remove(hidden)
        forget_temporary(hidden)
