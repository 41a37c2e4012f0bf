"""Output destinations: writable folders, atomic writes, and folders LandLearn may replace.

Every output is built under a hidden temporary name beside its destination (same file
system, so the final rename is atomic) and published only when complete. A folder output
(training chips, a report) carries a marker, ``landlearn_files.json``, listing every file
the run wrote; OVERWRITE replaces a folder only when that marker is there and nothing
else is, so it can never be aimed at a folder of someone else's files.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import uuid
import zipfile
from collections.abc import Callable

from .errors import InputError
from .uninterrupted import uninterrupted

MARKER = "landlearn_files.json"
GDAL_SIDECARS = (".aux.xml", ".ovr", ".msk")  # statistics, overviews, mask


def ensure_writable_folder(path: str, parameter: str) -> None:
    """Create the output's folder if needed; fail naming ``parameter`` if it is not writable."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise InputError(parameter, f"cannot create the folder '{folder}': {exc}") from exc
    if not os.access(folder, os.W_OK):
        raise InputError(parameter, f"the folder '{folder}' is not writable; choose another output")


# Every temporary name handed out in this process: what a termination signal must sweep,
# wherever it lands (even between a file's creation and the 'with' that owns it).
_TEMPORARIES: set[str] = set()


def temporary_sibling(path: str, suffix: str = "") -> str:
    """A hidden, unique name beside ``path``, on the same file system (so rename is atomic)."""
    folder, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{base}.{uuid.uuid4().hex[:8]}.part{suffix}")
    _TEMPORARIES.add(tmp)
    return tmp


def remove_stale_temporaries(path: str) -> list[str]:
    """Remove the temporaries an earlier, killed process left beside ``path`` (its hidden
    ``.<name>.<8 hex>.part*`` files and their sidecars): a SIGKILL (the OOM killer, a batch
    scheduler's time limit) runs no clean-up, and a run taken up with RESUME would leave a
    full-size hidden copy per kill. Not the ``.part.old`` set-aside copies (the only copy of
    a previous output), nor any other name. For RESUME only: the caller says the earlier
    run is over."""
    folder, base = os.path.split(os.path.abspath(path))
    pattern = re.compile(rf"\.{re.escape(base)}\.[0-9a-f]{{8}}\.part(\.(?!old$)[^/]*)?")
    removed = []
    for full, _ in names_matching(folder, pattern):
        if full not in _TEMPORARIES and os.path.isfile(full) and not os.path.islink(full):
            try:
                os.remove(full)
                removed.append(full)
            except OSError:
                pass
    return removed


def names_matching(folder: str, pattern: re.Pattern) -> list[tuple[str, re.Match]]:
    """(path, match) of the entries of ``folder`` whose whole name ``pattern`` matches
    ([] when the folder cannot be listed): what a sweep of leftovers looks at."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = []
    for name in names:
        match = pattern.fullmatch(name)
        if match is not None:
            found.append((os.path.join(folder, name), match))
    return found


def set_aside(path: str) -> str:
    """A hidden name beside ``path`` for the previous output while its replacement is put in
    place: not a temporary (a termination's clean-up must not remove the only copy)."""
    hidden = temporary_sibling(path, ".old")
    _TEMPORARIES.discard(hidden)
    return hidden


def track_temporary(path: str) -> None:
    """Count ``path`` (an old copy set aside, once its replacement is published) among the
    temporaries a termination's clean-up removes."""
    _TEMPORARIES.add(path)


def forget_temporary(path: str) -> None:
    _TEMPORARIES.discard(path)


def remove_temporaries() -> list[str]:
    """Remove every temporary file or folder this process named that still exists (with the
    sidecars writers put beside them); for a process that is being terminated."""
    removed = []
    for tmp in list(_TEMPORARIES):
        stem = tmp[:-4] if tmp.endswith(".tif") else tmp
        for path in (tmp, tmp + ".aux.xml", stem + ".qml"):
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                elif os.path.lexists(path):
                    os.remove(path)
                else:
                    continue
                removed.append(path)
            except OSError:
                pass
        _TEMPORARIES.discard(tmp)
    return removed


def free_bytes(path: str) -> int | None:
    """Free space for new files where ``path`` goes (its nearest existing folder)."""
    folder = os.path.abspath(path)
    while folder and not os.path.isdir(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def is_disk_full(exc: BaseException) -> bool:
    text = str(exc)
    return (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)) \
        or "No space left" in text or "Disk quota" in text or "File too large" in text


def filled_the_disk(exc: BaseException, path: str, needed: int) -> bool:
    """Whether a failed write at ``path`` (``needed`` bytes at most) met a full disk: the
    error says so, or (GDAL >= 3.10 says only "Write failed") little space is left."""
    free = free_bytes(path)
    return is_disk_full(exc) or (free is not None and free < max(needed // 20, 1 << 20))


def disk_full_error(path: str, parameter: str, needed: int, exc: BaseException) -> InputError:
    """The error for an output that could not be written whole: 'disk full' with the numbers
    when the disk is (nearly) full, the underlying cause otherwise."""
    free = free_bytes(path)
    folder = os.path.dirname(os.path.abspath(path))
    if filled_the_disk(exc, path, needed):
        free_txt = "" if free is None else f", {free / 1e6:.0f} MB free"
        return InputError(parameter, f"disk full: up to {needed / 1e6:.0f} MB needed at "
                          f"'{folder}'{free_txt}; nothing was written there. Free some space "
                          f"or choose another {parameter}")
    return InputError(parameter, f"'{path}' could not be written completely ({exc}); nothing "
                      "was written there")


def not_replaced_error(path: str, parameter: str, exc: OSError, after: str) -> InputError:
    """A finished output that cannot take the old one's name: on Windows, most often because
    the old file is open as a QGIS layer. ``after`` says what became of the run's work."""
    return InputError(parameter, f"'{path}' cannot be replaced ({exc.strerror or exc}): it "
                      "may be open in another program (a layer in QGIS: remove it from the "
                      f"project), or choose another {parameter.upper()}; {after}")


def write_bytes_atomic(path: str, data: bytes, parameter: str) -> str:
    """Write ``data`` to a temporary sibling, then rename it onto ``path``."""
    ensure_writable_folder(path, parameter)
    tmp = temporary_sibling(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise disk_full_error(path, parameter, len(data), exc) from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def write_text_atomic(path: str, text: str, parameter: str) -> str:
    return write_bytes_atomic(path, text.encode("utf-8"), parameter)


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
        try:
            st = os.stat(os.path.join(folder, *str(rel).split("/")))
        except OSError:
            continue  # gone: nothing to lose
        if recorded != [st.st_size, st.st_mtime_ns]:
            changed.append(str(rel))
    return sorted(changed)


# what zip writers use for packages (LandLearn, ArcGIS, numpy, skops): Python's zipfile
# bounds what deflate inflates per read, but hands bzip2 and LZMA data to a decompressor
# with no output limit, so one crafted member could take all the memory before any size
# check ran; no package needs them
ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)

MAX_MARKER_BYTES = 256 << 20  # a marker listing a million chips is ~80 MB


def read_small_json(path: str, limit: int = MAX_MARKER_BYTES):
    """The JSON at ``path``, read only when it is at most ``limit`` bytes; ValueError for
    a larger file, bad JSON or nesting deeper than Python's recursion (a marker or manifest
    in someone else's folder is untrusted too)."""
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"more than {limit >> 20} MB" if limit >= 1 << 20
                         else f"more than {limit} bytes")
    try:
        return json.loads(data.decode("utf-8"))
    except (RecursionError, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)[:80]) from None


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
    wrote = marker_algorithm(path)
    if algorithm and wrote and wrote != algorithm:
        raise InputError(parameter, f"the folder '{path}' holds the results of LandLearn's "
                         f"{wrote}, not an earlier {what}; it is not replaced even with "
                         "OVERWRITE: choose an empty or new folder")
    foreign = foreign_files(path, legacy)
    if foreign is None:
        names = sorted(os.listdir(path))
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise InputError(parameter, f"the folder '{path}' is not empty ({shown}) and was not "
                         f"written by LandLearn ({MARKER} is missing), so it is not replaced "
                         "even with OVERWRITE; choose an empty or new folder")
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
                         f"since LandLearn wrote them ({shown}): edits of yours, which are not "
                         f"deleted, so the {what} is not replaced. Choose another folder, or "
                         "delete that folder yourself first")


def empty_dir(path: str) -> bool:
    """A real folder with nothing in it (removing it loses nothing)."""
    try:
        return os.path.isdir(path) and not os.path.islink(path) and not os.listdir(path)
    except OSError:
        return False


def landlearn_manifest(path: str) -> dict | None:
    """The JSON manifest at ``path`` when LandLearn wrote it (its "generator"), else None:
    how a staging folder of a run is told from someone else's folder of that name."""
    try:
        got = read_small_json(path)
    except (OSError, ValueError):
        return None
    return got if isinstance(got, dict) and got.get("generator") == "LandLearn" else None


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
        self.staging = self._make_staging()
        self._done = False

    def _make_staging(self) -> str:
        staging = temporary_sibling(self.path)
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
                _TEMPORARIES.add(old)
        if old:  # outside the section: a large folder must not hold a SIGTERM for minutes
            shutil.rmtree(old, ignore_errors=True)
            _TEMPORARIES.discard(old)
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
        _TEMPORARIES.discard(self.staging)
        return InputError(self.parameter, f"the finished {self.what} could not replace "
                          f"'{self.path}' ({why}); it is kept whole in '{kept}': move or "
                          "rename it yourself")

    def discard(self) -> None:
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
