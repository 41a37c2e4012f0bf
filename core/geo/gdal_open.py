"""Opening files with GDAL/OGR that answers the same in either GDAL exception mode.

QGIS 3.40 runs its Python with GDAL exceptions on (GDAL 4 makes them the default); QGIS
3.22 leaves them off. A failed open then returns None in one and raises RuntimeError in the
other, and probing "is this a vector layer?" became a crash on 3.40. These helpers return
None on failure in both modes, without switching the process-wide mode (Processing runs
algorithms in threads, and the mode belongs to the host).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["MAX_LISTED", "MAX_VRT_DEPTH", "SOURCE_FID_FIELD", "feature_name", "may_exist",
           "open_dataset_or_none", "quiet_gdal", "vrt_sources", "vrt_sources_nested"]


def may_exist(path: str) -> bool:
    """False only for what is surely a missing file: GDAL's virtual paths and connection
    strings (GPKG:a.gpkg:table, NETCDF:"x.nc":ndvi, HDF4_EOS:EOS_GRID:"f.hdf":..., two
    letters or more before the colon, unlike a drive) and URLs are no files, and GDAL
    itself says whether they open."""
    return (os.path.exists(path) or "://" in path or path.startswith("/vsi")
            or re.match(r"[A-Za-z][A-Za-z0-9_]+:", path) is not None)


@contextmanager
def quiet_gdal() -> Iterator[None]:
    """Silence GDAL's stderr chatter while probing what a file is."""
    from osgeo import gdal

    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        yield
    finally:
        gdal.PopErrorHandler()


def open_dataset_or_none(path: str, flags: int | None = None):
    """``gdal.OpenEx(path, flags)``, or None when GDAL cannot open it (either mode).

    ``flags`` defaults to raster|vector; read-only."""
    from osgeo import gdal

    if flags is None:
        flags = gdal.OF_RASTER | gdal.OF_VECTOR
    with quiet_gdal():
        try:
            ds = gdal.OpenEx(path, flags)
        except RuntimeError:
            return None
        encoding = _shapefile_encoding(ds) if flags & gdal.OF_VECTOR else None
        if encoding is None:
            return ds
        try:  # GDAL took the encoding from these files itself: this open does not fail
            return gdal.OpenEx(path, flags, open_options=[f"ENCODING={encoding}"]) or ds
        except RuntimeError:
            return ds


MAX_ENCODING_LAYERS = 1000  # a folder of shapefiles read for their declared encodings


def _shapefile_encoding(ds) -> str | None:
    """The encoding GDAL itself would decode a shapefile's text with (its .cpg file, else
    the code page byte of its .dbf), where the host process told GDAL not to recode any
    shapefile: QGIS sets SHAPE_ENCODING to '' for all of its process once it opens one (it
    decodes the text itself), and a PyQGIS script's Latin-1 'Forêt' with a right .cpg was
    then refused as not UTF-8 with advice to write the .cpg it had. None where nothing is
    to change: another driver, no such setting or another value, nothing declared. A
    folder of shapefiles opened as one source (a script's choice; QGIS hands over each
    layer's .shp) takes one encoding for all: where its layers declare different ones, or
    it holds over MAX_ENCODING_LAYERS, none is applied, and a layer's text that is not
    UTF-8 is refused by the labels' check, which names the fix."""
    from osgeo import gdal

    if ds is None or gdal.GetConfigOption("SHAPE_ENCODING") != "" \
            or ds.GetDriver().ShortName != "ESRI Shapefile" \
            or ds.GetLayerCount() > MAX_ENCODING_LAYERS:
        return None
    found = set()
    for i in range(ds.GetLayerCount()):
        meta = ds.GetLayer(i).GetMetadata("SHAPEFILE") or {}
        found.add(meta.get("ENCODING_FROM_CPG") or meta.get("ENCODING_FROM_LDID") or "")
    return found.pop() if len(found) == 1 and "" not in found else None


# A copy of a QGIS layer made for reading (a selection, a filter, an encoding set in QGIS,
# another provider) numbers its features 1..n; this field of the copy holds each feature's
# id in the layer as QGIS and ogrinfo show it, for messages (a sweep, stop 71: a shapefile's
# feature 3 was named 'feature 4', or 'feature 2' under a filter)
SOURCE_FID_FIELD = "landlearn_source_fid"


def feature_name(feat) -> str:
    """'feature N' of an OGR feature, N as the user's layer numbers it."""
    index = feat.GetFieldIndex(SOURCE_FID_FIELD)
    if index >= 0 and feat.IsFieldSetAndNotNull(index):
        return f"feature {feat.GetFieldAsInteger64(index)}"
    return f"feature {feat.GetFID()}"


def vrt_sources(path: str) -> list[str] | None:
    """The files a VRT reads (GDAL's list, without opening them), less the VRT itself and
    its own overviews, mask and statistics (``x.vrt.ovr``, ``.msk``, ``.aux.xml``, which
    GDAL lists too), and then those its XML names that are missing (GDAL lists only files
    that exist); None when GDAL cannot open it."""
    from osgeo import gdal

    ds = open_dataset_or_none(path, gdal.OF_RASTER)
    if ds is None:
        return None
    with quiet_gdal():
        files = ds.GetFileList() or []
    own = os.path.abspath(path) + "."
    found = [f for f in files[1:] if not os.path.abspath(f).startswith(own)]
    known = {os.path.abspath(f) for f in found}
    return found + [f for f in _named_sources(path) if os.path.abspath(f) not in known]


MAX_VRT_DEPTH = 4  # VRTs of VRTs followed this deep (a mosaic of per-year mosaics)
MAX_LISTED = 100_000  # files gathered from one input's VRTs, at most


def vrt_sources_nested(path: str, max_depth: int = MAX_VRT_DEPTH,
                       max_files: int = MAX_LISTED) -> list[str]:
    """``vrt_sources`` through VRTs of VRTs (a mosaic of per-year mosaics of tiles), for a
    damaged-input message: a tile gone two levels down failed with GDAL's message naming
    the tile, which no parameter held, so the error called itself a bug in LandLearn
    (stop 71). Bounded: ``max_depth`` levels, ``max_files`` files, each file once (a VRT
    naming itself or its parent is not followed again)."""
    out: list[str] = []
    seen = {os.path.abspath(path)}
    todo = [(path, 0)]
    while todo and len(out) < max_files:
        current, depth = todo.pop(0)
        for source in vrt_sources(current) or []:
            key = os.path.abspath(source)
            if key in seen:
                continue
            seen.add(key)
            out.append(source)
            if depth + 1 < max_depth and source.lower().endswith(".vrt") \
                    and os.path.isfile(source):
                todo.append((source, depth + 1))
    return out[:max_files]


MAX_VRT_BYTES = 1 << 30  # read in chunks: a list VRT of 10^5 items is ~200 MB


class _Refused(Exception):
    pass


def _named_sources(path: str) -> list[str]:
    """The source files a VRT's XML names that GDAL's file list leaves out: those that do
    not exist. A mosaic VRT with one tile gone read as a mosaic with a hole: Classify Raster
    Collection's LIST_FILE dropped the item unsaid, and a damaged-input message could not
    name the input (stop 68). Read from a plain .vrt file, streamed with expat (memory
    bounded whatever its size); a document type or entity declaration, which GDAL's VRTs
    never hold and which can expand a small file into gigabytes, stops the reading (the
    sources GDAL listed are all there is then)."""
    from xml.parsers import expat

    if not os.path.isfile(path) or os.path.getsize(path) > MAX_VRT_BYTES:
        return []
    base = os.path.dirname(os.path.abspath(path))
    named: list[str] = []
    state: dict = {"in": False, "text": [], "relative": False}

    def refuse(*_args):
        raise _Refused()

    def start(name, attrs):
        if name == "SourceFilename":
            state.update({"in": True, "text": [], "relative": attrs.get("relativeToVRT") == "1"})

    def text(data):
        if state["in"]:
            state["text"].append(data)

    def end(name):
        if name != "SourceFilename" or not state["in"]:
            return
        state["in"] = False
        source = "".join(state["text"]).strip()
        if state["relative"] and not source.startswith("/vsi"):
            source = os.path.join(base, source)
        if source and not source.startswith("/vsi") and not os.path.exists(source) \
                and source not in named:
            named.append(source)

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.CharacterDataHandler = text
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
    except (_Refused, expat.ExpatError, OSError):
        return []
    return named
