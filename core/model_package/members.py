"""Reading the files inside a model package with their sizes checked before the bytes.

A package is a .dlpk zip or an unpacked folder. Both are untrusted: a zip member may
claim 6 GiB (6 MB compressed), a header may lie about offsets, a name may point outside
the folder through '..' or a symbolic link. Every read here names its ceiling up front,
refuses what exceeds it before reading, and turns whatever the zip library or the file
system raises into one MODEL error, so memory and time stay bounded and nothing reaches
the user as a traceback.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import zipfile
import zlib

import numpy as np

from ..errors import InputError
from ..files import ZIP_METHODS

MIB = 1 << 20
MAX_EMD_BYTES = 8 * MIB
MAX_MEMBER_BYTES = 2048 * MIB  # no LandLearn model member comes near: a ceiling, not a target
MAX_DEFLATE_RATIO = 200  # zip bombs inflate ~1000x; float weights and trees barely compress
MAX_MEMBERS = 10_000
MAX_DIRECTORY = 16 * 1024 * 1024  # a zip directory of MAX_MEMBERS entries with long names
MAX_SAFETENSORS_HEADER = 16 * MIB


_METHOD_NAMES = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "LZMA", 9: "Deflate64"}


def unusual_compression(infos) -> str | None:
    """'<member>' (method) of the first member compressed with other than stored or
    deflate, or None."""
    odd = next((i for i in infos if i.compress_type not in ZIP_METHODS), None)
    if odd is None:
        return None
    method = _METHOD_NAMES.get(odd.compress_type, f"method {odd.compress_type}")
    return f"'{odd.filename[:80]}' ({method})"
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError,
               ValueError, NotImplementedError, OverflowError, struct.error, KeyError,
               RuntimeError)


def _mb(n: int) -> str:
    return f"{n / MIB:.1f} MB"


SUBFOLDERS = ("report",)  # the one folder a package has inside


class PackageFiles:
    """The members of a package, as a zip or as a folder, read under size limits."""

    def __init__(self, path: str, parameter: str = "model"):
        self.path = path
        self.parameter = parameter
        self._zip: zipfile.ZipFile | None = None
        self.folder: str | None = None
        if os.path.isdir(path):
            self.folder = os.path.realpath(path)
            return
        if not os.path.isfile(path):  # a pipe or a device would be read without end
            raise self.error("is neither a .dlpk file nor a package folder")
        try:
            entries, directory = _check_zip_end(path)
            # before zipfile builds an object per entry: 2 million empty entries are a
            # 100 MB file and over a gigabyte of memory
            if entries > MAX_MEMBERS or directory > MAX_DIRECTORY:
                raise self.error(f"holds {entries} files in a {_mb(directory)} directory; a "
                                 "model package holds a few")
            self._zip = zipfile.ZipFile(path)
            infos = self._zip.infolist()
        except _NotZip:
            raise self.error("is no zip archive (empty, or a tar, 7z or other archive named "
                             ".dlpk); a model package is a zip of its .emd and the files it "
                             "names: export or zip it again") from None
        except _ZIP_ERRORS as exc:
            raise self.error(f"is not a complete .dlpk (zip) file; it is truncated or damaged "
                             f"({type(exc).__name__}: {str(exc)[:120]}); copy it again") from None
        if len(infos) > MAX_MEMBERS:
            raise self.error(f"holds {len(infos)} files; a model package holds a few")
        odd = unusual_compression(infos)
        if odd is not None:
            raise self.error(f"holds {odd} compressed in a way model packages never use "
                             "(only stored or deflate: other methods inflate without a limit); "
                             "it is not read. Zip the package again with deflate, or export "
                             "it again")

    def error(self, why: str) -> InputError:
        return InputError(self.parameter, f"'{self.path}' {why}")

    def names(self) -> list[str]:
        if self._zip is not None:
            return self._zip.namelist()
        names = sorted(os.listdir(self.folder))
        for sub in SUBFOLDERS:  # an unpacked package's report, as "report/<file>" in a zip
            where = os.path.join(self.folder, sub)
            if os.path.isdir(where) and not os.path.islink(where):
                names += sorted(f"{sub}/{n}" for n in os.listdir(where)
                                if os.path.isfile(os.path.join(where, n)))
        return names

    def _local(self, name: str) -> str:
        """The path of ``name`` in the folder (or its report/), refusing anything that
        leaves it."""
        sub, _, plain = name.rpartition("/")
        if os.path.isabs(name) or os.sep in plain or (sub and sub not in SUBFOLDERS) \
                or plain in ("", ".", ".."):
            raise self.error(f"names '{name[:80]}', which is not a plain file name in its folder")
        home = os.path.join(self.folder, sub) if sub else self.folder
        path = os.path.realpath(os.path.join(home, plain))
        if os.path.dirname(path) != home:
            raise self.error(f"names '{name[:80]}', which leads outside the package folder "
                             "(a link); refusing to read it")
        return path

    def size(self, name: str) -> int:
        if self._zip is not None:
            try:
                return self._zip.getinfo(name).file_size
            except KeyError:
                raise self.error(f"does not hold '{name[:80]}' that its .emd names") from None
        path = self._local(name)
        if not os.path.isfile(path):
            raise self.error(f"lacks '{name[:80]}' beside its .emd")
        return os.path.getsize(path)

    def read(self, name: str, limit: int, what: str) -> bytes:
        """The bytes of ``name``, refused before reading when larger than ``limit``."""
        limit = min(limit, MAX_MEMBER_BYTES)
        size = self.size(name)
        if size > limit:
            raise self.error(f"holds {what} '{name[:80]}' of {_mb(size)}, more than the "
                             f"{_mb(limit)} such a model can need; the package is damaged or "
                             "crafted, and it is not read")
        if self._zip is None:
            with open(self._local(name), "rb") as fh:
                data = fh.read(limit + 1)
            if len(data) > limit:
                raise self.error(f"'{name[:80]}' grew while it was read")
            return data
        info = self._zip.getinfo(name)
        if info.flag_bits & 0x1:
            raise self.error(f"holds '{name[:80]}' encrypted; LandLearn packages are not")
        if info.compress_type != zipfile.ZIP_STORED and \
                info.file_size > MAX_DEFLATE_RATIO * max(info.compress_size, 1) + MIB:
            raise self.error(f"holds '{name[:80]}' compressed {info.file_size // max(info.compress_size, 1)}"
                             " times (a zip bomb); it is not read")
        try:
            with self._zip.open(info) as fh:
                data = fh.read(limit + 1)
        except _ZIP_ERRORS as exc:
            raise self.error(f"holds a damaged '{name[:80]}' ({type(exc).__name__}: "
                             f"{str(exc)[:120]}); copy the package again") from None
        if len(data) != info.file_size:
            raise self.error(f"holds a damaged '{name[:80]}' (size differs from its entry)")
        return data

    def read_json(self, name: str, what: str = "model description") -> dict:
        data = self.read(name, MAX_EMD_BYTES, what)
        try:
            return json.loads(data.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise self.error(f"holds a {what} '{name[:80]}' that is not valid JSON "
                             f"({str(exc)[:120]})") from None

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> PackageFiles:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _NotZip(zipfile.BadZipFile):
    """The file does not start as a zip does (an empty file, a tar.gz named .dlpk): no zip
    at all, not one cut short (it was said to be truncated; a sweep, stop 69)."""


def _check_zip_end(path: str) -> tuple[int, int]:
    """(entries, central directory bytes) the zip's end record declares, which must end
    the file. A .dlpk cut short can still 'open': the last end record left is then the
    one of a zip stored inside it (a skops file), and the package would read as that
    inner zip. Raises BadZipFile when cut."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        if fh.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):
            # an empty file, a tar.gz or a 7z named .dlpk: no zip at all, not one cut short
            raise _NotZip()
        fh.seek(max(0, size - (65535 + 22)))
        tail = fh.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22 or \
                struct.unpack("<H", tail[at + 20:at + 22])[0] != len(tail) - at - 22:
            raise zipfile.BadZipFile("its end record is missing: the file was cut short")
        entries, directory = struct.unpack("<HI", tail[at + 10:at + 16])
        # a zip64 locator before it: zipfile then takes the counts of the zip64 record
        # just before the locator (whatever the ordinary record says), so they are read
        # from there too
        start = size - len(tail) + at  # the end record's offset in the file
        if start >= 76:
            fh.seek(start - 76)
            record = fh.read(76)
            if record[56:60] == b"PK\x06\x07" and record[:4] == b"PK\x06\x06":
                big, big_dir = struct.unpack("<QQ", record[32:48])
                entries, directory = max(entries, big), max(directory, big_dir)
    return entries, directory


# safetensors: an 8-byte little-endian header length, a JSON header, then the data
SAFETENSORS_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2,
                      "I8": 1, "U8": 1, "BOOL": 1}


def safetensors_header(data: bytes, where: str, parameter: str) -> dict[str, tuple]:
    """{name: (dtype, shape)} of a safetensors blob, after checking that its header is
    well formed and that its offsets tile the data exactly (no gap, overlap or overrun)."""

    def bad(why):
        return InputError(parameter, f"'{where}': the weights are damaged ({why}); copy or "
                          "train the model again")

    if len(data) < 8:
        raise bad("shorter than a safetensors header")
    (n,) = struct.unpack("<Q", data[:8])
    if n > min(len(data) - 8, MAX_SAFETENSORS_HEADER):
        raise bad(f"the header claims {n} bytes of a {len(data)}-byte file")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise bad("the header is not JSON") from None
    if not isinstance(header, dict):
        raise bad("the header is not a JSON object")
    body = len(data) - 8 - n
    spans, out = [], {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict) or entry.get("dtype") not in SAFETENSORS_DTYPES:
            raise bad(f"tensor '{name[:60]}' has no known data type")
        shape, offsets = entry.get("shape"), entry.get("data_offsets")
        if not (isinstance(shape, list) and len(shape) <= 8 and all(
                isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**40 for s in shape)):
            raise bad(f"tensor '{name[:60]}' has an impossible shape")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(
                isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
            raise bad(f"tensor '{name[:60]}' has no offsets")
        start, end = offsets
        if not 0 <= start <= end <= body or \
                end - start != math.prod(shape) * SAFETENSORS_DTYPES[entry["dtype"]]:
            raise bad(f"tensor '{name[:60]}' lies about its offsets or length")
        spans.append((start, end))
        out[name] = (entry["dtype"], tuple(shape))
    spans.sort()
    at = 0
    for start, end in spans:
        if start != at:
            raise bad("tensors overlap or leave gaps")
        at = end
    if at != body:
        raise bad("the data does not end where the last tensor does")
    return out


def check_npz(data: bytes, limit: int, where: str, parameter: str, what: str
              ) -> dict[str, tuple[int, ...]]:
    """An .npz (or a skops zip's .npy members) that np.load can read within ``limit``:
    every member's declared size is checked, and every array header's shape and dtype
    must account for exactly the member's bytes (no object arrays, so no pickle).
    Returns each .npy member's shape (what a skops file's other checks compare with)."""

    def bad(why):
        return InputError(parameter, f"'{where}': {what} is damaged or crafted ({why}); it "
                          "is not loaded")

    shapes: dict[str, tuple[int, ...]] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise bad(f"{len(infos)} members")
            odd = unusual_compression(infos)
            if odd is not None:
                raise bad(f"{odd} is compressed with other than stored or deflate")
            total = sum(i.file_size for i in infos)
            if total > limit:
                raise bad(f"its members unpack to {_mb(total)}, more than {_mb(limit)}")
            for info in infos:
                if info.compress_type != zipfile.ZIP_STORED and \
                        info.file_size > MAX_DEFLATE_RATIO * max(info.compress_size, 1) + MIB:
                    raise bad(f"'{info.filename[:60]}' is a zip bomb")
                with zf.open(info) as fh:
                    # np.load's archive reads a member named "nodes" for ["nodes"] before
                    # "nodes.npy": every member an array can be read from is checked
                    npy = info.filename.endswith(".npy") or fh.read(6) == b"\x93NUMPY"
                if npy:
                    with zf.open(info) as fh:
                        shapes[info.filename] = _check_npy_header(fh, info.file_size,
                                                                  info.filename, bad)
    except InputError:
        raise
    except _ZIP_ERRORS as exc:
        raise bad(f"{type(exc).__name__}: {str(exc)[:120]}") from None
    return shapes


def _check_npy_header(fh, size: int, name: str, bad) -> tuple[int, ...]:
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    except Exception as exc:  # noqa: BLE001 - numpy's header parser fails in many ways
        raise bad(f"'{name[:60]}' has no valid array header ({str(exc)[:80]})") from None
    if dtype.hasobject:
        raise bad(f"'{name[:60]}' holds Python objects")
    if math.prod(shape) * dtype.itemsize != size - fh.tell():
        raise bad(f"'{name[:60]}' claims {shape} {dtype} in {size - fh.tell()} bytes")
    return tuple(shape)
