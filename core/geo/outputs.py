"""A run never destroys what it did not create.

Two rules, checked before any pixel is read:

1. No output may be an input, or another output, or a sidecar of one (the .qml and
   .aux.xml a classified raster brings), whatever the spelling: relative paths, '..',
   symbolic and hard links all resolve to the same file. An input's own files count too:
   a shapefile's .dbf, a VRT's sources.
2. An existing file is replaced only when LandLearn wrote it: a GeoTIFF carrying the
   LANDLEARN_WRITER tag (or the class tags every older LandLearn map carries), a LandLearn
   model package, a report or style with LandLearn's generator mark, a GeoPackage with
   LandLearn's metadata. Anything else stays, and the run stops naming the file.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from collections.abc import Iterable, Mapping

from ..errors import InputError
from ..files import GDAL_SIDECARS, ZIP_METHODS
from .gdal_open import MAX_LISTED, MAX_VRT_DEPTH, open_dataset_or_none

__all__ = ["FILE_TAG", "GENERATOR", "LAYOUT_TAG", "WRITER_TAG", "check_distinct", "claim_output",
           "file_key",
           "gpkg_layout", "input_files", "same_file", "written_by_landlearn"]

WRITER_TAG = "LANDLEARN_WRITER"
LAYOUT_TAG = "LANDLEARN_LAYOUT"  # a GeoPackage's layers, fields and counts as written
# tables QGIS adds to a GeoPackage itself (a style saved as default, a project saved in
# it): no change of the polygons LandLearn wrote
QGIS_TABLES = ("layer_styles", "qgis_projects")
# the name the raster was written under: gdal_translate (QGIS's Clip, Translate) copies the
# tags, and a user's edited copy elsewhere carried LandLearn's mark
FILE_TAG = "LANDLEARN_FILE"
GENERATOR = "LandLearn"
_OLD_TAGS = ("LANDLEARN_CLASSES", "LANDLEARN_MODEL")


def file_key(path: str) -> tuple:
    """What identifies a file: its device and inode when it exists (links resolve), else
    its real path, case folded (a file about to be created, or a file system without
    inodes, where every file would otherwise be one)."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
        if st.st_ino:  # 0 where the file system has none (FAT, some SMB shares on Windows)
            return ("inode", st.st_dev, st.st_ino)
    except OSError:
        pass
    # case folded: on macOS, Windows, exFAT and SMB shares 'Map.tif' and 'map.tif' are one
    # file, and two outputs so named wrote into each other (refused everywhere)
    return ("path", os.path.normcase(real).casefold())


def same_file(a: str, b: str) -> bool:
    return file_key(a) == file_key(b)


_SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".qmd")


def _emd_members(path: str) -> list[str]:
    """The files beside a package's .emd that belong to it: those it names (weights, ONNX
    graphs), its metrics and its report folder; not the folder's other files (a map written
    beside a model would otherwise be its input)."""
    folder = os.path.dirname(path) or "."
    names = {"metrics.json"}
    try:
        if os.path.getsize(path) <= 8 << 20:
            with open(path, encoding="utf-8") as fh:
                emd = json.load(fh)
            info = emd.get("LandLearn") or {}
            names |= {emd.get("ModelFile"), *((info.get(k) or {}).get("file")
                                              for k in ("onnx", "onnx_int8"))}
    except (OSError, ValueError, AttributeError, RecursionError):
        pass  # not a readable package description: the .emd alone
    out = [os.path.join(folder, n) for n in names
           if isinstance(n, str) and n and os.path.basename(n) == n
           and os.path.isfile(os.path.join(folder, n))]
    report = os.path.join(folder, "report")
    if os.path.isdir(report):
        out += [os.path.join(report, f) for f in os.listdir(report)]
    return sorted(out)




# formats that are never a VRT: not opened to look
_NOT_VRT = (".tif", ".tiff", ".shp", ".gpkg", ".jp2", ".png", ".jpg", ".jpeg", ".dlpk",
            ".img", ".nc", ".h5", ".hdf", ".dbf", ".zip")


def _looks_like_vrt(path: str) -> bool:
    """A VRT whatever its name says (a mosaic saved as 'county.xml', with or without an XML
    declaration, or without extension). Regular files only: opening a pipe to read it
    would wait for ever."""
    if path.lower().endswith(_NOT_VRT) or not os.path.isfile(path):
        return False
    try:
        with open(path, "rb") as fh:
            return b"<VRTDataset" in fh.read(1024)
    except OSError:
        return False


def _gdal_files(name: str) -> list[str]:
    """The local files GDAL reads for ``name`` (a VRT, or a connection string such as
    'vrt:///d/map.tif?bands=1' or 'GTIFF_DIR:1:/d/map.tif'), through VRTs of VRTs."""
    try:
        from osgeo import gdal
    except ImportError:
        return []
    out, seen, todo = [], set(), [(name, 0)]
    while todo and len(out) < MAX_LISTED:
        current, depth = todo.pop()
        ds = open_dataset_or_none(current, gdal.OF_RASTER | gdal.OF_VECTOR)
        listed = (ds.GetFileList() or []) if ds is not None else []
        ds = None
        for f in listed:
            if f.startswith("/vsi") or f in seen:
                continue
            seen.add(f)
            out.append(f)
            if f != current and depth < MAX_VRT_DEPTH and os.path.isfile(f) and (
                    f.lower().endswith(".vrt") or _looks_like_vrt(f)):
                todo.append((f, depth + 1))
    return out


def _connection(path: str) -> bool:
    """A GDAL connection string naming local files: 'vrt://...' or 'DRIVER:...' (not a
    Windows drive such as 'C:/')."""
    low = path.lower()
    return low.startswith("vrt://") or bool(re.match(r"^[A-Za-z][A-Za-z0-9_]+:(?!//)", path))


def input_files(path: str) -> list[str]:
    """The files an input consists of: the file and GDAL's sidecars beside it, a
    shapefile's parts, a VRT's sources (GDAL's own list, through VRTs of VRTs, for VRTs
    only, by extension or by content: it takes tens of milliseconds a file), the files
    of a GDAL connection string ('vrt://', 'GTIFF_DIR:'), every file of a folder, and the
    members a package's .emd names beside it (its weights, graphs, metrics and report).
    Remote inputs ('/vsicurl/', 'https://') have no local files."""
    if not path or path.startswith("/vsi"):
        return []
    if "://" in path or (_connection(path) and not os.path.exists(path)):
        return _gdal_files(path) if _connection(path) else []
    if os.path.isdir(path):
        out = []
        for root, _dirs, files in os.walk(path):
            out.extend(os.path.join(root, f) for f in files)
        return out
    stem, ext = os.path.splitext(path)
    if ext.lower() == ".emd":  # a model package given as its .emd: its members beside it
        return [path] + _emd_members(path)
    files = [path] + [path + s for s in GDAL_SIDECARS if os.path.exists(path + s)]
    if ext.lower() == ".shp":
        files += [stem + p for p in _SHAPEFILE_PARTS + tuple(p.upper() for p in _SHAPEFILE_PARTS)
                  if os.path.exists(stem + p)]
    if ext.lower() == ".vrt" or _looks_like_vrt(path):
        files += [f for f in _gdal_files(path) if f not in files]
    return files


def output_files(path: str, styled: bool = False) -> list[str]:
    """An output and the sidecars written with it."""
    files = [path, path + ".aux.xml"]
    if styled:
        files.append(os.path.splitext(path)[0] + ".qml")
    return files


def check_distinct(inputs: Mapping[str, str | Iterable[str] | None],
                   outputs: Mapping[str, str | None], styled: Iterable[str] = (),
                   folders: Iterable[str] = ()) -> None:
    """Refuse, naming both parameters, any output that is an input or another output, and
    any existing output file that LandLearn did not write (claim_output).

    ``inputs`` maps parameters to a path or paths; ``outputs`` maps parameters to paths
    (None = not requested); parameters in ``styled`` also write a .qml beside them;
    parameters in ``folders`` are output folders, which no input may lie inside (their
    own replacement rule is staged_folder.StagedFolder's).
    """
    styled = {s.upper() for s in styled}
    folders = {f.upper() for f in folders}
    taken: dict[tuple, tuple[str, str, str]] = {}  # file -> (parameter, path, "input"/"output")
    for param, value in inputs.items():
        paths = [value] if isinstance(value, str) else list(value or [])
        for path in paths:
            for f in input_files(path):
                taken.setdefault(file_key(f), (param.upper(), f, "input"))
    for param, path in outputs.items():
        if not path:
            continue
        param = param.upper()
        mine = output_files(path, param in styled)
        for f in mine:
            other = taken.get(file_key(f))
            if other is None:
                continue
            what = "is" if f == path else f"writes '{os.path.basename(f)}', which is"
            raise InputError(param, f"'{path}' {what} the {other[2]} {other[0]} ('{other[1]}'); "
                             f"a run never writes over its {other[2]}s: choose another {param}")
        for f in mine:
            taken.setdefault(file_key(f), (param, f, "output"))
        if param in folders:
            _check_not_inside(path, param, taken)
        else:
            claim_output(path, param, mine[2:])


def _check_not_inside(folder: str, param: str, taken: dict) -> None:
    target = file_key(folder)
    for other, f, kind in taken.values():
        if kind == "input" and _under(f, target):
            raise InputError(param, f"the folder '{folder}' holds the input {other} ('{f}'); "
                             f"choose another {param}, outside the inputs")


def _under(path: str, folder_key: tuple) -> bool:
    """Whether one of ``path``'s parent folders is the folder of ``folder_key``, compared
    as files are (device and inode): the paths' text missed '/Data/Chips' holding
    '/data/chips/scene.tif' on macOS's case-insensitive disks (and SMB or exFAT ones),
    where realpath keeps the case typed."""
    parent = os.path.dirname(os.path.realpath(path))
    while True:
        if file_key(parent) == folder_key:
            return True
        up = os.path.dirname(parent)
        if up == parent:
            return False
        parent = up


def gpkg_layout(ds) -> dict:
    """{layer: [field names..., feature count]} of an open GDAL vector dataset: what
    LandLearn records (LAYOUT_TAG) when it writes a GeoPackage and compares before
    replacing one."""
    layout = {}
    for i in range(ds.GetLayerCount()):
        layer = ds.GetLayerByIndex(i)
        if layer.GetName() in QGIS_TABLES:
            continue
        defn = layer.GetLayerDefn()
        layout[layer.GetName()] = [defn.GetFieldDefn(k).GetName()
                                   for k in range(defn.GetFieldCount())] + [
            int(layer.GetFeatureCount())]
    return layout


def written_by_landlearn(path: str) -> bool:
    """Whether the existing file at ``path`` carries LandLearn's mark."""
    low = path.lower()
    try:
        if low.endswith((".tif", ".tiff")):
            import rasterio

            with rasterio.open(path) as ds:
                tags = ds.tags()
            if WRITER_TAG in tags:  # a copy under another name is not what LandLearn wrote
                name = os.path.normcase(os.path.basename(path)).casefold()  # Map.tif = map.tif
                return os.path.normcase(tags.get(FILE_TAG, name)).casefold() == name
            return any(t in tags for t in _OLD_TAGS)  # maps from before the writer's mark
        if low.endswith(".dlpk"):
            with zipfile.ZipFile(path) as zf:
                emds = [n for n in zf.namelist() if n.endswith(".emd") and "/" not in n]
                if len(emds) != 1 or zf.getinfo(emds[0]).file_size > 8 << 20 or \
                        zf.getinfo(emds[0]).compress_type not in ZIP_METHODS:
                    return False  # bzip2 / LZMA inflate without limit: not LandLearn's
                info = json.loads(zf.read(emds[0])).get("LandLearn")
            return isinstance(info, dict) and info.get("format") == "landlearn-model"
        if low.endswith(".gpkg"):
            from osgeo import gdal

            ds = open_dataset_or_none(path, gdal.OF_VECTOR)
            if ds is None or ds.GetMetadataItem(WRITER_TAG) != GENERATOR:
                return False
            # a layer, field or feature added or removed since (segments labelled by hand
            # in a new field, training polygons saved into it): the user's work now
            layout = ds.GetMetadataItem(LAYOUT_TAG)
            return layout is None or json.loads(layout) == gpkg_layout(ds)
        if low.endswith(".onnx"):
            # protobuf writes fields in number order: ir_version (1), then producer_name (2)
            with open(path, "rb") as fh:
                return b"\x12\x09LandLearn" in fh.read(64)
        if low.endswith((".html", ".htm", ".json", ".qml", ".csv")):
            with open(path, encoding="utf-8", errors="replace") as fh:
                head = fh.read(4096)
            # the mark LandLearn writes, not the word: a user's {"project": "LandLearn"}
            # notes passed as ours and could be replaced (review, stop 69)
            return _MARKS.search(head) is not None
    except Exception:  # noqa: BLE001 - a file we cannot read is not one we wrote
        return False
    return False


# LandLearn's marks in the text files it writes: a JSON's "generator" key, an HTML page's
# generator meta tag, a .qml's comment, a text file's first-column note
_MARKS = re.compile(rf'"generator"\s*:\s*"{GENERATOR}"|<meta name="generator" content='
                    rf'"{GENERATOR}"|<!-- written by {GENERATOR} -->|^#? ?(generator: |'
                    rf'written by ){GENERATOR}\b', re.MULTILINE)


def claim_output(path: str, parameter: str, sidecars: Iterable[str] = ()) -> None:
    """Refuse to go on when ``path`` (or one of ``sidecars``) exists and is not LandLearn's.

    Sidecars of a LandLearn raster (its .qml) belong to it and go with it, even when the
    user restyled it in QGIS; without that raster, a foreign sidecar stays untouched.
    """
    name = parameter.upper()
    if os.path.isdir(path):
        raise InputError(parameter, f"'{path}' is a folder; give a file name")
    ours = os.path.exists(path) and written_by_landlearn(path)
    if os.path.exists(path) and not ours:
        raise InputError(parameter, f"'{path}' exists and was not written by LandLearn (or "
                         f"was changed since); it is not replaced. Choose another {name} "
                         "or delete that file first")
    if ours:
        return
    for side in sidecars:
        if os.path.exists(side) and not written_by_landlearn(side):
            raise InputError(parameter, f"'{side}' exists beside '{path}' and was not written "
                             f"by LandLearn; it is not replaced. Choose another {name} "
                             "or move that file")
