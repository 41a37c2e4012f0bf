"""The raster items of a collection: from layers, a folder and a file pattern, or a list.

A list is a text file with one path per line (relative paths are read from the list's
folder; blank lines and lines starting with # are skipped) or a VRT, whose source files
are the items. Every item is opened before any pixel is classified: one that does not
open, or a collection that mixes band counts or coordinate systems, stops the run naming
the items, since a model reads the same bands everywhere and a mosaic needs one CRS.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass

from rasterio.crs import CRS

from ...errors import InputError
from ...geo.gdal_open import vrt_sources
from ...geo.grid import crs_name
from ...geo.outputs import file_key

MAX_ITEMS = 100_000


@dataclass(frozen=True)
class Item:
    path: str
    bands: int
    crs: CRS | None
    res: tuple[float, float]
    bounds: tuple[float, float, float, float]  # left, bottom, right, top
    nodata: float | None


def list_items(rasters: tuple[str, ...] = (), folder: str | None = None,
               pattern: str = "*.tif", list_file: str | None = None) -> list[str]:
    given = [name for name, on in (("rasters", rasters), ("folder", folder),
                                   ("list_file", list_file)) if on]
    if len(given) != 1:
        raise InputError("rasters", "give the collection one way: raster layers in RASTERS, "
                         "a FOLDER (with PATTERN), or a LIST_FILE (a .txt of paths or a .vrt)"
                         + (f"; got {', '.join(g.upper() for g in given)}" if given else ""))
    if rasters:
        paths = list(rasters)
    elif folder:
        if not os.path.isdir(folder):
            raise InputError("folder", f"'{folder}' is not a folder")
        # hidden names only when the pattern asks for them, as a shell matches: macOS's
        # ._tile.tif companions and a killed run's .out.tif.<hex>.part.tif matched *.tif
        hidden_too = (pattern or "*").startswith(".")
        paths = sorted(os.path.join(folder, f) for f in os.listdir(folder)
                       if fnmatch.fnmatch(f, pattern or "*")
                       and (hidden_too or not f.startswith("."))
                       and os.path.isfile(os.path.join(folder, f)))
        if not paths:
            raise InputError("pattern", f"no file in '{folder}' matches '{pattern}'; change "
                             "PATTERN (e.g. *.tif or scene_*.jp2)")
    else:
        paths = _from_list(list_file)
    if len(paths) > MAX_ITEMS:
        raise InputError("rasters", f"{len(paths):,} items are more than {MAX_ITEMS:,}; split "
                         "the collection")
    _refuse_repeats(paths, "rasters" if rasters else "list_file")
    return paths


def _refuse_repeats(paths: list[str], parameter: str) -> None:
    """An item given twice was classified twice (each_item: 'a_2', 'a_3') and its area
    counted as often in class_areas.csv, with no word (a qgis_process sweep, stop 68). The
    same file under two names (a link: `cp -al` backups, rsync --link-dest, deduplicated
    archives) too (a sweep, stop 72): items are told apart by file_key, as outputs are."""
    seen: dict[object, list[str]] = {}
    for p in paths:
        seen.setdefault(p if p.startswith("/vsi") else file_key(p), []).append(p)
    repeated = [names for names in seen.values() if len(names) > 1]
    if repeated:
        names = repeated[0]
        others = [n for n in dict.fromkeys(names) if n != names[0]]
        raise InputError(parameter, f"'{names[0]}' is given {len(names)} times"
                         + (f" (also as '{others[0]}': the same file)"
                            if others else "")
                         + (f" (and {len(repeated) - 1} other item(s) more than once)"
                            if len(repeated) > 1 else "") + "; give each item once")


def _from_list(path: str) -> list[str]:
    if not os.path.isfile(path):
        raise InputError("list_file", f"'{path}' does not exist")
    if path.lower().endswith(".vrt"):
        files = vrt_sources(path)
        if files is None:
            raise InputError("list_file", f"'{path}' is not a VRT GDAL can open")
        return files
    if os.path.getsize(path) > 16 << 20:
        raise InputError("list_file", f"'{path}' is larger than 16 MB; it should hold one path "
                         "per line")
    base = os.path.dirname(os.path.abspath(path))
    try:
        # utf-8-sig: Windows Notepad and PowerShell 5 begin a UTF-8 file with a byte order
        # mark, which went into the first path (invisible in the message; stop 68)
        with open(path, encoding="utf-8-sig") as fh:
            lines = [line.strip() for line in fh]
    except UnicodeDecodeError:
        raise InputError("list_file", f"'{path}' is not a UTF-8 text file of paths") from None
    paths = [line if os.path.isabs(line) or line.startswith("/vsi") else os.path.join(base, line)
             for line in lines if line and not line.startswith("#")]
    if not paths:
        raise InputError("list_file", f"'{path}' lists no raster")
    return paths


def describe_items(paths: list[str], parameter: str) -> list[Item]:
    """Open every item; refuse unreadable ones and mixed band counts or CRSs."""
    import rasterio

    items = []
    for path in paths:
        try:
            with rasterio.open(path) as ds:
                items.append(Item(path, ds.count, ds.crs, (abs(ds.res[0]), abs(ds.res[1])),
                                  tuple(ds.bounds), ds.nodata))
        except rasterio.errors.RasterioIOError as exc:
            raise InputError(parameter, f"item '{path}' cannot be opened as a raster ({exc})"
                             ) from None
    first = items[0]
    for item in items[1:]:
        if item.bands != first.bands:
            raise InputError(parameter, f"the collection mixes band counts: '{first.path}' has "
                             f"{first.bands} bands, '{item.path}' has {item.bands}; classify "
                             "items of one sensor and band set together")
        if item.crs != first.crs:
            raise InputError(parameter, f"the collection mixes coordinate systems: "
                             f"'{first.path}' is in {crs_name(first.crs)}, '{item.path}' in "
                             f"{crs_name(item.crs)}; reproject the items to one CRS first (e.g. "
                             "gdal:warpreproject)")
    return items

