"""Output folders built whole under a hidden name and published at once, and the marker
that says which files in a folder a LandLearn run wrote (so that OVERWRITE replaces only
those, and not a file the user added or edited since)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import uuid
from collections.abc import Callable

from .errors import InputError
from .files import (
    GDAL_SIDECARS,
    MARKER,
    ensure_writable_folder,
    forget_temporary,
    names_matching,
    read_small_json,
    set_aside,
    track_temporary,
)
from .scratch import host_name, process_alive
from .uninterrupted import uninterrupted

__all__ = ["StagedFolder", "changed_files", "check_replaceable_folder", "foreign_files",
           "listed_files", "marker_algorithm", "sweep_dead_staging", "write_marker"]


MOSAIC = "mosaic.vrt"  # Classify Raster Collection's VRT of its items' maps


def write_marker(folder: str, algorithm: str) -> None:
    """List every file under ``folder`` (a staging folder) in its marker file, with its
    size and modification time: a file edited after the run (a label chip corrected by
    hand) is then no longer LandLearn's to delete (changed_files)."""
    files = sorted(os.path.relpath(os.path.join(root, f), folder).replace(os.sep, "/")
                   for root, _dirs, names in os.walk(folder) for f in names)
    stats = {}
    for rel in files:
        st = os.stat(os.path.join(folder, rel))
        stats[rel] = [st.st_size, st.st_mtime_ns]
    with open(os.path.join(folder, MARKER), "w", encoding="utf-8") as fh:
        json.dump({"generator": "LandLearn", "algorithm": algorithm, "files": files,
                   "stats": stats}, fh, indent=1)
        fh.write("\n")


def changed_files(folder: str) -> list[str]:
    """Files the marker in ``folder`` lists with a size and time that they no longer have
    (edited or replaced since LandLearn wrote them; a copy of the folder that did not keep
    the times counts too: refusing is safe, deleting a user's edits is not). Markers of
    LandLearn versions that recorded no stats: none."""
    try:
        stats = read_small_json(os.path.join(folder, MARKER)).get("stats")
    except (OSError, ValueError, AttributeError):
        return []
    if not isinstance(stats, dict):
        return []
    changed = []
    for rel, recorded in stats.items():
        if str(rel).endswith((*GDAL_SIDECARS, ".qml")) or str(rel).split("/")[-1] == MOSAIC:
            # QGIS and GDAL rewrite these themselves (statistics GDAL keeps in .aux.xml, or
            # inside Classify Raster Collection's mosaic.vrt once a histogram is drawn; a
            # style saved as default): they go with their rasters. Other VRTs are checked:
            # one may be the user's edit
            continue
        try:
            st = os.stat(os.path.join(folder, *str(rel).split("/")))
        except OSError:
            continue  # gone: nothing to lose
        if recorded != [st.st_size, st.st_mtime_ns]:
            changed.append(str(rel))
    return sorted(changed)


def listed_files(folder: str, legacy: Callable[[str], set[str] | None] | None = None
                 ) -> set[str] | None:
    """The files a LandLearn run wrote into ``folder``: its marker's list, or for folders
    of LandLearn versions before the marker, what ``legacy`` recognises; else None."""
    try:
        listed = read_small_json(os.path.join(folder, MARKER))
        ours = set(listed["files"]) if listed.get("generator") == "LandLearn" else None
        if ours is not None and all(isinstance(f, str) for f in ours):
            return ours
        return None
    except FileNotFoundError:
        return legacy(folder) if legacy else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def foreign_files(folder: str, legacy: Callable[[str], set[str] | None] | None = None
                  ) -> list[str] | None:
    """Files in ``folder`` that LandLearn did not write (listed_files; GDAL's own sidecars
    of listed files excepted); None when the folder is not a LandLearn folder at all."""
    ours = listed_files(folder, legacy)
    if ours is None:
        return None
    foreign = []
    for root, dirs, names in os.walk(folder):
        for name in names + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            rel = os.path.relpath(os.path.join(root, name), folder).replace(os.sep, "/")
            if rel == MARKER or rel in ours or any(
                    rel.endswith(s) and rel[: -len(s)] in ours for s in GDAL_SIDECARS):
                continue
            foreign.append(rel)
    return sorted(foreign)


def marker_algorithm(folder: str) -> str | None:
    """The algorithm a LandLearn marker in ``folder`` names (None: no readable marker)."""
    try:
        algorithm = read_small_json(os.path.join(folder, MARKER)).get("algorithm")
        return algorithm if isinstance(algorithm, str) else None
    except (OSError, ValueError, AttributeError):
        return None


def check_replaceable_folder(path: str, parameter: str, what: str = "output",
                             legacy: Callable[[str], set[str] | None] | None = None,
                             algorithm: str = "") -> None:
    """Refuse unless ``path`` is missing, empty, or a folder that LandLearn wrote whole (with
    ``algorithm``: that algorithm wrote it; an export's OVERWRITE replaced a classified
    collection's folder as readily as an earlier export)."""
    if not os.path.isdir(path) or not os.listdir(path):
        return
    # a report folder is named after the package beside it, with no OVERWRITE of its own:
    # it was told of OVERWRITE and of choosing a folder (a sweep, stop 69)
    beside = what == "report folder"
    even = "" if beside else " even with OVERWRITE"
    fix = (f"move or rename that folder, or choose another {parameter.upper()} (its report "
           "is written beside it as <name>_report)" if beside
           else "choose an empty or new folder")
    wrote = marker_algorithm(path)
    if algorithm and wrote and wrote != algorithm:
        raise InputError(parameter, f"the folder '{path}' holds the results of LandLearn's "
                         f"{wrote}, not an earlier {what}; it is not replaced{even}: {fix}")
    foreign = foreign_files(path, legacy)
    if foreign is None:
        names = sorted(os.listdir(path))
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise InputError(parameter, f"the folder '{path}' is not empty ({shown}) and was not "
                         f"written by LandLearn ({MARKER} is missing), so it is not replaced"
                         f"{even}; {fix}")
    if foreign:
        shown = ", ".join(foreign[:8]) + (f" and {len(foreign) - 8} more" if len(foreign) > 8
                                           else "")
        raise InputError(parameter, f"the folder '{path}' holds {len(foreign)} file(s) that "
                         f"LandLearn did not write ({shown}); they are not deleted, so the "
                         f"{what} is not replaced. Move them out or choose another folder")
    changed = changed_files(path)
    if changed:
        shown = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8
                                           else "")
        raise InputError(parameter, f"the folder '{path}' holds {len(changed)} file(s) changed "
                         f"or copied since LandLearn wrote them ({shown}): perhaps edits of "
                         f"yours, which are not deleted, so the {what} is not replaced. Choose "
                         "another folder, or delete that folder yourself first")


def sweep_dead_staging(path: str) -> list[str]:
    """Remove the staged folders beside ``path`` that a process of this host made and that
    is gone (a SIGKILL runs no clean-up): without RESUME nothing removed them, and an
    each_item run killed at its second item kept its finished maps hidden beside
    OUTPUT_FOLDER for good (gigabytes on a survey; a qgis_process sweep, stop 68). Never a
    live process's, another host's, or a RESUME folder (another name). Not on Windows,
    where a process cannot be asked whether it lives."""
    if sys.platform == "win32":
        return []
    folder, base = os.path.split(os.path.abspath(path))
    pattern = re.compile(rf"\.{re.escape(base)}\.[0-9a-f]{{8}}\.{re.escape(host_name())}-(\d+)"
                         r"\.part")
    removed = []
    for full, match in names_matching(folder, pattern):
        pid = int(match.group(1))
        if os.path.islink(full) or not os.path.isdir(full) or pid == os.getpid() \
                or process_alive(pid):
            continue
        shutil.rmtree(full, ignore_errors=True)
        removed.append(full)
    return removed


class StagedFolder:
    """Build an output folder under a hidden temporary name; publish it whole, or not at all.

    A cancelled or failed export must not leave half a training set that a later training
    run would happily read. ``replace`` allows an existing non-empty folder to be swapped
    out, but only once the new one is complete, and only when that folder is one a
    LandLearn run wrote (its marker lists every file in it); otherwise the run stops
    before doing anything, naming the files it would not touch.
    """

    def __init__(self, path: str, parameter: str, replace: bool = False,
                 what: str = "output", algorithm: str = "",
                 legacy: Callable[[str], set[str] | None] | None = None):
        # a link to a folder (chips -> /scratch/chips) is the folder it leads to: renaming
        # onto the link itself failed at the very end (rmdir of a link), losing the export
        bare = path.rstrip("/\\") or path  # 'chips/' is the link too, not what it holds
        linked = os.path.islink(bare) or getattr(os.path, "isjunction", lambda _: False)(bare)
        self.path = os.path.realpath(bare) if linked else os.path.abspath(path)
        self.parameter = parameter
        self.what = what
        self.algorithm = algorithm
        self.legacy = legacy
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise InputError(parameter, f"'{self.path}' is a file; choose a folder")
        if os.path.isdir(self.path) and os.listdir(self.path):
            if not replace:
                raise InputError(parameter, f"the folder '{self.path}' is not empty; choose an "
                                 "empty or new folder, or set OVERWRITE to replace it")
            self._check_replaceable()
        ensure_writable_folder(self.path, parameter)
        sweep_dead_staging(self.path)  # what a killed run of this host left beside it
        self.staging = self._make_staging()
        self._done = False

    def _make_staging(self) -> str:
        """A hidden folder beside the output whose name holds this host and process, so
        that the next run there removes it when this process was killed (sweep_dead_staging)
        and never while it lives."""
        folder, base = os.path.split(self.path)
        staging = os.path.join(folder, f".{base}.{uuid.uuid4().hex[:8]}.{host_name()}-"
                                       f"{os.getpid()}.part")
        track_temporary(staging)
        os.makedirs(staging)
        return staging

    def _check_replaceable(self) -> None:
        check_replaceable_folder(self.path, self.parameter, self.what, self.legacy,
                                 self.algorithm)

    def publish(self) -> str:
        write_marker(self.staging, self.algorithm)
        old = None
        with uninterrupted():  # a SIGTERM between the two renames stranded the old folder
            if os.path.isdir(self.path):
                try:
                    if os.listdir(self.path):
                        # again: files may have appeared (or been edited) during the run
                        self._check_replaceable()
                        old = set_aside(self.path)
                        os.replace(self.path, old)
                    else:
                        os.rmdir(self.path)
                except (InputError, OSError) as exc:
                    # the old folder stays (a file of the user's in it, or open in QGIS on
                    # Windows); the finished work is not thrown away with the staging
                    raise self._kept(exc) from None
            try:
                os.replace(self.staging, self.path)
            except BaseException:
                if old and not os.path.lexists(self.path):
                    os.replace(old, self.path)  # the previous output back where it was
                raise
            self._done = True
            if old:  # a temporary again: removed below, or by a termination's clean-up
                track_temporary(old)
        if old:  # outside the section: a large folder must not hold a SIGTERM for minutes
            shutil.rmtree(old, ignore_errors=True)
            forget_temporary(old)
        return self.path

    def _kept(self, exc: BaseException) -> InputError:
        """The finished staging folder moved to a visible name beside the output, and the
        error that says where (hours of chips or maps are not deleted because the old
        folder could not be replaced at the very end)."""
        why = exc.detail if isinstance(exc, InputError) else f"{type(exc).__name__}: {exc}"
        kept = self.path + ".new"
        n = 1
        while os.path.lexists(kept):
            n += 1
            kept = f"{self.path}.new{n}"
        try:
            os.replace(self.staging, kept)
        except OSError:
            kept = self.staging
        self._done = True
        forget_temporary(self.staging)
        return InputError(self.parameter, f"the finished {self.what} could not replace "
                          f"'{self.path}' ({why}); it is kept whole in '{kept}': move or "
                          "rename it yourself")

    def discard(self) -> None:
        if self._done:  # published, or kept whole by _kept (never deleted after that)
            return
        shutil.rmtree(self.staging, ignore_errors=True)
        self._done = True

    def __enter__(self) -> StagedFolder:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._done:
            return
        if exc_type is None:
            try:
                self.publish()
            except BaseException:
                self.discard()
                raise
        else:
            self.discard()
