"""Output destinations: writable folders, atomic writes, and folders LandLearn may replace.

Every output is built under a hidden temporary name beside its destination (same file
system, so the final rename is atomic) and published only when complete. A folder output
(training chips, a report) carries a marker, ``landlearn_files.json``, listing every file
the run wrote; OVERWRITE replaces a folder only when that marker is there and nothing
else is, so it can never be aimed at a folder of someone else's files.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import uuid
import zipfile

from .errors import InputError

MARKER = "landlearn_files.json"
GDAL_SIDECARS = (".aux.xml", ".ovr", ".msk")  # statistics, overviews, mask


def absolute_if_file(path: str) -> str:
    """A file's (or folder's) absolute path; anything else as given: a GDAL virtual path
    ('/vsis3/...'), a URL or a connection string ('NETCDF:x.nc:var', 'GPKG:/d/r.gpkg:land',
    which abspath would prefix with the working folder). What a model package records, and
    what a Dask worker started in another folder must be sent (a relative path named
    another file there, or none: a sweep, stop 71)."""
    return os.path.abspath(path) if os.path.exists(path) else path


def check_folder_can_hold(path: str, parameter: str) -> None:
    """Fail naming ``parameter`` where the output's folder could not be made or written,
    without making it: a check before the work, so a run refused later (a bad input)
    leaves no empty folder behind (a sweep, stop 71); the writer makes it
    (ensure_writable_folder)."""
    folder = os.path.dirname(os.path.abspath(path))
    existing = folder
    while not os.path.isdir(existing):
        if os.path.lexists(existing):
            raise InputError(parameter, f"cannot create the folder '{folder}': "
                             f"'{existing}' is a file")
        up = os.path.dirname(existing)
        if up == existing:
            break
        existing = up
    if not os.access(existing, os.W_OK):
        raise InputError(parameter, f"the folder '{existing}' is not writable; choose another "
                         "output" if existing == folder else
                         f"cannot create the folder '{folder}': '{existing}' is not writable; "
                         "choose another output")


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
    """A hidden, unique name beside ``path``, on the same file system (so rename is atomic).
    It holds this host and process, so that the next temporary named beside ``path``
    removes those a killed process of this host left there (``sweep_dead_temporaries``)."""
    folder, base = os.path.split(os.path.abspath(path))
    if (folder, base) not in _SWEPT:
        _SWEPT.add((folder, base))
        sweep_dead_temporaries(path)
    name = f".{base}.{uuid.uuid4().hex[:8]}.{host_name()}-{os.getpid()}.part{suffix}"
    if len(name.encode("utf-8")) > 230:  # room for '.aux.xml' within 255 bytes: unswept
        name = f".{base}.{uuid.uuid4().hex[:8]}.part{suffix}"
    tmp = os.path.join(folder, name)
    _TEMPORARIES.add(tmp)
    return tmp


_SWEPT: set[tuple[str, str]] = set()  # outputs beside which this process has swept
# what follows '.part' in a temporary's name: its kind and sidecars ('.tif', '.tif.aux.xml',
# '.qml'), never '.old' (a previous output set aside: maybe its only copy) or '.aside'
_PART_TAIL = r"\.part(\.(?!old|aside)[^/]*)?"


def host_name() -> str:
    """This host and its process-id space as a file name may hold them: the host's name
    (its first 16 characters) and 8 hex digits of its name, machine id and PID namespace.
    A leftover is swept only where its process could be seen from here: two containers
    that share a host name (docker --network host, Kubernetes hostNetwork) see each
    other's live processes as gone, and one removed the other's temporaries (review, stop
    69). Short, so a long output name still fits (its sidecars' names reach 255 bytes)."""
    global _HOST
    if _HOST is None:
        name = socket.gethostname()
        identity = [name]
        for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
            try:
                with open(path, encoding="ascii", errors="replace") as fh:
                    identity.append(fh.read(64).strip())
                break
            except OSError:
                continue
        try:
            identity.append(str(os.stat("/proc/self/ns/pid").st_ino))
        except OSError:
            pass
        digest = hashlib.sha1("\0".join(identity).encode("utf-8", "replace")).hexdigest()[:8]
        _HOST = f"{re.sub(r'[^A-Za-z0-9]', '_', name)[:16] or 'host'}.{digest}"
    return _HOST


_HOST: str | None = None


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host lives (a pid no process can have: as if it
    did, so a leftover so named is never removed)."""
    try:
        os.kill(pid, 0)  # signal 0: asks whether the process exists, sends nothing
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):  # another user's, or no pid at all
        return True
    return True


def sweep_dead_temporaries(path: str) -> list[str]:
    """Remove the temporary files beside ``path`` that a process of this host named and
    that is gone: a SIGKILL (the OOM killer, a batch scheduler's limit) runs no clean-up,
    and without RESUME each kill left a hidden, full-size GeoTIFF beside the output for
    good (review, stop 69). Never a live process's, another host's, or a set-aside copy.
    Not on Windows, where a process cannot be asked whether it lives."""
    if sys.platform == "win32":
        return []
    folder, base = os.path.split(os.path.abspath(path))
    pattern = re.compile(rf"\.{re.escape(base)}\.[0-9a-f]{{8}}\.{re.escape(host_name())}-(\d+)"
                         + _PART_TAIL)
    return _remove_files(full for full, match in names_matching(folder, pattern)
                         if int(match.group(1)) != os.getpid()
                         and not process_alive(int(match.group(1))))


def remove_stale_temporaries(path: str) -> list[str]:
    """Remove the temporaries an earlier, killed process left beside ``path`` (its hidden
    ``.<name>.<8 hex>[.<host>-<pid>].part*`` files and their sidecars), whichever host
    named them: a run taken up with RESUME would leave a full-size hidden copy per kill.
    Not the ``.part.old`` set-aside copies (the only copy of a previous output), nor any
    other name. For RESUME only: the caller says the earlier run is over."""
    folder, base = os.path.split(os.path.abspath(path))
    pattern = re.compile(rf"\.{re.escape(base)}\.[0-9a-f]{{8}}(\.[A-Za-z0-9._]+-\d+)?"
                         + _PART_TAIL)
    return _remove_files(full for full, _ in names_matching(folder, pattern)
                         if full not in _TEMPORARIES)


def _remove_files(paths) -> list[str]:
    """Remove those of ``paths`` that are plain files (not links, not folders); the removed."""
    removed = []
    for full in paths:
        if os.path.isfile(full) and not os.path.islink(full):
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


# what zip writers use for packages (LandLearn, ArcGIS, numpy, skops): Python's zipfile
# bounds what deflate inflates per read, but hands bzip2 and LZMA data to a decompressor
# with no output limit, so one crafted member could take all the memory before any size
# check ran; no package needs them
ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)

MAX_MARKER_BYTES = 256 << 20  # a marker listing a million chips is ~80 MB


def read_small_json(path: str, limit: int = MAX_MARKER_BYTES, before_parse=None):
    """The JSON at ``path``, read only when it is at most ``limit`` bytes; ValueError for
    a larger file, bad JSON or nesting deeper than Python's recursion (a marker or manifest
    in someone else's folder is untrusted too). ``before_parse(data)`` may refuse the
    bytes read before they are parsed."""
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"more than {limit >> 20} MB" if limit >= 1 << 20
                         else f"more than {limit} bytes")
    if before_parse is not None:
        before_parse(data)
    try:
        return json.loads(data.decode("utf-8"))
    except (RecursionError, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)[:80]) from None


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
