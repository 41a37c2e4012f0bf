"""Classify Raster Collection: ArcGIS's processing modes for a collection of raster items.

``mosaicked`` classifies the items as one raster: a VRT mosaic on the first item's grid
(mosaic.py), classified like any raster into one output, in one process or on Dask.
``each_item`` classifies every item into its own styled map in an output folder, and adds
``mosaic.vrt`` over those maps and ``class_areas.csv`` / ``.json``; the folder is built
under a temporary name and appears whole, or not at all.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from ...errors import Cancelled, InputError
from ...files import temporary_sibling, write_text_atomic
from ...geo.grid import crs_units
from ...model_package.format import read_package
from ...progress import NullProgress, Progress, SubProgress, check
from ...resumable_folder import STARTED_OVER, ResumableFolder
from ...runtime.deps import require_gdal
from ...termination import terminable
from ..classify_pixels import ClassifyConfig, ClassifyResult, classify_pixels
from ..distributed.cluster import shared_clients
from ..distributed.staging import map_fields, raster_identity
from ..distributed.worker import engine_fingerprint, package_sha256
from .areas import area_rows, table_text
from .items import describe_items, list_items
from .mosaic import build_vrt

MODES = ("mosaicked", "each_item")
JOURNAL = "landlearn_items"  # each_item with RESUME: a finished item's class areas, per item


@dataclass(frozen=True)
class CollectionConfig:
    model: str
    processing_mode: str = "mosaicked"
    rasters: tuple[str, ...] = ()
    folder: str | None = None
    pattern: str = "*.tif"
    list_file: str | None = None
    output: str | None = None  # mosaicked: the map
    output_folder: str | None = None  # each_item: maps, mosaic.vrt, class_areas.csv/.json
    overwrite: bool = False  # each_item: replace a folder an earlier run wrote
    # every other Classify Pixels setting (bands, tiles, blend, device, Dask...); its
    # input_raster, model and outputs are set per item
    classify: ClassifyConfig = field(default_factory=lambda: ClassifyConfig("", "", ""))

    def validate(self) -> None:
        if self.processing_mode not in MODES:
            raise InputError("processing_mode", f"'{self.processing_mode}' is not one of "
                             f"{', '.join(MODES)}")
        if self.processing_mode == "mosaicked" and not self.output:
            raise InputError("output", "PROCESSING_MODE=mosaicked writes one map: give OUTPUT")
        if self.processing_mode == "each_item" and not self.output_folder:
            raise InputError("output_folder", "PROCESSING_MODE=each_item writes one map per "
                             "item: give OUTPUT_FOLDER")


@dataclass
class CollectionResult:
    mode: str
    items: int
    outputs: list[str]
    seconds: float
    mosaic: str | None = None
    tables: tuple[str, str] | None = None
    # the Classify Pixels runs of this call (with RESUME, not those of items taken up)
    results: list[ClassifyResult] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"Classified {self.items} items ({self.mode}) in {self.seconds:.1f} s"]
        if self.mode == "mosaicked":
            lines.append(self.results[0].summary())
        else:
            lines.append(f"  maps in {os.path.dirname(self.outputs[0])}; mosaic {self.mosaic}; "
                         f"class areas {self.tables[0]}")
        return "\n".join(lines)


@terminable
def classify_collection(config: CollectionConfig, progress: Progress | None = None
                        ) -> CollectionResult:
    require_gdal()  # before any work (labels, sidecars and VRTs go through osgeo)
    progress = progress or NullProgress()
    t0 = time.perf_counter()
    config.validate()
    _refuse_object_model(config.model)
    which = "rasters" if config.rasters else "folder" if config.folder else "list_file"
    items = describe_items(list_items(config.rasters, config.folder, config.pattern,
                                      config.list_file), which)
    progress.info(f"{len(items)} items, {items[0].bands} bands, "
                  f"{items[0].crs.to_string() if items[0].crs else 'no CRS'}")
    base = dataclasses.replace(config.classify, model=config.model)
    if config.processing_mode == "mosaicked":
        return _mosaicked(config, base, items, which, progress, t0)
    return _each_item(config, base, items, which, progress, t0)


def _refuse_object_model(model: str) -> None:
    """An object-based package needs each item's segmented raster, which this algorithm
    does not take: said before any item is read (it said to give SEGMENTED_RASTER, which
    Classify Raster Collection has not)."""
    if read_package(model, "model").landlearn.get("segments"):
        raise InputError("model", f"'{model}' classifies segments (it was trained with "
                         "SEGMENTED_RASTER); Classify Raster Collection takes no segmented "
                         "rasters: run Classify Pixels on each item with its segments")


@contextmanager
def _items_parameter(which: str, output: str = "output", mosaic: str | None = None):
    """Classify Pixels' errors about its INPUT_RASTER (the mosaic, an item), named by the
    collection's parameter the user gave (RASTERS, FOLDER or LIST_FILE); its OUTPUT's by
    ``output`` (each_item's maps go into OUTPUT_FOLDER: OUTPUT is empty in that mode).
    ``mosaic``: the hidden VRT of the items, called so rather than by its name."""
    try:
        yield
    except InputError as exc:
        detail, param = exc.detail, exc.parameter
        for name in (mosaic, os.path.basename(mosaic)) if mosaic else ():
            detail = detail.replace(f"'{name}'", "the items' mosaic")
        if param == "BANDS":  # this algorithm has none: the items must hold them
            raise InputError(which, re.sub(
                r"; choose .* in BANDS.*$", "; every item must hold the bands the model was "
                "trained on, in the training order (Classify Raster Collection has no BANDS: "
                "classify such an item with Classify Pixels, whose BANDS picks them)",
                detail)) from None
        if param == "MAX_OUTPUT_GPX" or "reduce EXTENT" in detail:
            # this algorithm has no EXTENT: the mosaic spans the items' union, which items
            # far apart make huge (30.9 gigapixels said 'check CELL_SIZE and EXTENT'; a
            # qgis_process sweep, stop 68)
            detail = (detail.replace("Check CELL_SIZE and EXTENT", "The mosaic spans the "
                                     "items' union (items far apart make a large one): check "
                                     "CELL_SIZE and the items, or use PROCESSING_MODE="
                                     "each_item")
                      .replace("or reduce EXTENT", "or use PROCESSING_MODE=each_item"))
            raise InputError(param, detail) from None
        if param == "OUTPUT" and output != "output":
            raise InputError(output, re.sub(r"\bOUTPUT\b", output.upper(), detail)) from None
        if param != "INPUT_RASTER":
            if "INPUT_RASTER" not in detail:
                if detail == exc.detail:
                    raise
                raise InputError(param, detail) from None
            # another parameter's error that names the input (OUTPUT is an item): this
            # algorithm has no INPUT_RASTER, the user gave the items as ``which``
            detail = detail.replace("the input INPUT_RASTER", f"an item of {which.upper()}")
            raise InputError(param.lower(), detail.replace(
                "INPUT_RASTER", which.upper())) from None
        raise InputError(which, detail) from None


def _mosaicked(config, base, items, which, progress, t0) -> CollectionResult:
    # beside the output: workers see it too. Its name is new each run; RESUME knows the
    # mosaic by its text and its items' files (distributed.staging.raster_identity)
    vrt = temporary_sibling(config.output, ".vrt")
    try:
        build_vrt(vrt, [i.path for i in items], items[0], base.cell_size, parameter=which)
        # the mosaic is on the cell size already
        with _items_parameter(which, mosaic=vrt):
            result = classify_pixels(dataclasses.replace(base, input_raster=vrt,
                                                         output=config.output,
                                                         cell_size=None), progress)
    finally:
        if os.path.exists(vrt):
            os.remove(vrt)
    return CollectionResult("mosaicked", len(items), [config.output],
                            time.perf_counter() - t0, results=[result])


def _names(items) -> list[str]:
    """<stem>_classified.tif per item; a name taken before (by an earlier item's stem or a
    number given to one: 2020/tile, 2021/tile and x/tile_2 gave tile_2 twice, the third
    map replacing the second) gets the item's number, then more, until it is free.
    Compared without case: on Windows and macOS 'A' and 'a' are one file. A leading dot
    is dropped: '.a.tif' made a hidden map, which a resumed run's clean-up of hidden files
    removed again (and every later resume recomputed it)."""
    names, taken = [], set()
    for k, item in enumerate(items, start=1):
        stem = os.path.splitext(os.path.basename(item.path.rstrip("/")))[0].lstrip(".") \
            or f"item{k}"
        name, extra = f"{stem}_classified.tif", 0
        while name.casefold() in taken:
            name = f"{stem}_{k}{'_' + str(extra) if extra else ''}_classified.tif"
            extra += 1
        taken.add(name.casefold())
        names.append(name)
    return names


def _items_key(base, items, names) -> str:
    """What decides the folder's maps: the model's bytes, the settings, every item's path
    and its map's name, the engine. A stopped run's maps are taken up by RESUME only under
    the same key, and each only where its item's files are still those it was made from
    (_finished): the items' files were in this key, and replacing the one damaged item
    that had stopped the run discarded every finished map (a qgis_process sweep, stop 68)."""
    fields = {k: v for k, v in map_fields(base).items()
              if k not in ("input_raster", "block_size")}  # blocks give the same map
    if not os.path.exists(base.model):  # a .dlpk, an unpacked folder or the .emd in it
        raise InputError("model", f"'{base.model}' does not exist")
    fields["model"] = package_sha256(base.model)
    fields["engine"] = engine_fingerprint()  # code and library versions
    fields["items"] = [[name, item.path] for item, name in zip(items, names)]
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def _finished(folder: str, name: str, identity) -> list[dict] | None:
    """The class-area rows of an item an earlier run finished into ``folder`` (its map and
    its rows, each written whole) from the files ``identity`` names as they are now, or
    None (an item replaced since is classified again)."""
    try:
        with open(os.path.join(folder, JOURNAL, name + ".json"), encoding="utf-8") as fh:
            done = json.load(fh)
    except (OSError, ValueError):
        return None
    ok = (isinstance(done, dict) and isinstance(done.get("rows"), list)
          and done.get("item") == json.loads(json.dumps(identity))
          and os.path.isfile(os.path.join(folder, name)))
    return done["rows"] if ok else None


def _remove_hidden(folder: str) -> None:
    """Best effort: a file a file system holds (NFS's .nfs*) must not cost the run."""
    for name in os.listdir(folder):
        if name.startswith("."):
            path = os.path.join(folder, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with suppress(OSError):
                    os.remove(path)


def _keep_for_resume(exc: BaseException) -> bool:
    """With RESUME the finished items' maps stay after anything but the user's Cancel: a
    kill, one item that failed (a full disk, a raster gone), a scheduler not up yet."""
    return not isinstance(exc, Cancelled)


def _each_item(config, base, items, which, progress, t0) -> CollectionResult:
    if base.output_confidence or base.output_probabilities:
        raise InputError("output_folder", "each_item writes class maps only; classify items "
                         "one by one with Classify Pixels for confidence or probabilities")
    rows, results, outputs = [], [], []
    names = _names(items)
    # with Dask, the items share one cluster: worker processes start once. With RESUME the
    # folder is built under a fixed name and kept when the run is terminated, so a later
    # run takes up the finished items' maps (and, on Dask, the blocks of the one stopped)
    with ResumableFolder(config.output_folder, "output_folder",
                         # without RESUME only a stale resumable folder is looked for
                         key=_items_key(base, items, names) if base.resume else "",
                         resume=base.resume, keep_on=_keep_for_resume,
                         resume_only=(JOURNAL,), replace=config.overwrite,
                         what="classified collection", algorithm="classifyrastercollection"
                         ) as st, shared_clients():
        kept = ({n: _finished(st.staging, n, raster_identity(item.path))
                 for item, n in zip(items, names)} if st.resumed else {})
        kept = {n: got for n, got in kept.items() if got is not None}
        if base.resume:
            os.makedirs(os.path.join(st.staging, JOURNAL), exist_ok=True)
        if st.resumed:
            progress.info(f"RESUME: {len(kept)} of {len(items)} items were finished by an "
                          f"earlier run with the same parameters ('{st.staging}')")
        elif st.started_over:
            progress.warning(STARTED_OVER)
        for k, (item, name) in enumerate(zip(items, names)):
            check(progress)
            out = os.path.join(st.staging, name)
            outputs.append(os.path.join(config.output_folder, name))
            if name in kept:
                rows += kept[name]
                continue
            progress.info(f"item {k + 1}/{len(items)}: {item.path}")
            sub = SubProgress(progress, k / len(items), (k + 1) / len(items))
            # before it is read: an item replaced while it is classified is done again
            identity = raster_identity(item.path) if base.resume else None
            if base.resume:  # an earlier map of this item is being replaced: its rows go
                with suppress(FileNotFoundError):
                    os.remove(os.path.join(st.staging, JOURNAL, name + ".json"))
            with _items_parameter(which, "output_folder"):
                result = classify_pixels(dataclasses.replace(base, input_raster=item.path,
                                                             output=out), sub)
            results.append(result)
            pixel_area = base.cell_size ** 2 if base.cell_size else item.res[0] * item.res[1]
            mine = area_rows(item.path, name, result.class_pixels, result.class_names,
                             pixel_area, crs_units(item.crs) == "metre")
            rows += mine
            if base.resume:  # the item is done: a RESUME from here on takes its map up
                done = {"item": identity, "rows": mine}
                write_text_atomic(os.path.join(st.staging, JOURNAL, name + ".json"),
                                  json.dumps(done) + "\n", "output_folder")
        if st.resumed:  # what a killed run left half-made: writers' files, an item's parts
            _remove_hidden(st.staging)
        build_vrt(os.path.join(st.staging, "mosaic.vrt"),
                  [os.path.join(st.staging, n) for n in names], parameter="output_folder")
        csv_text, json_text = table_text(rows)
        write_text_atomic(os.path.join(st.staging, "class_areas.csv"), csv_text, "output_folder")
        write_text_atomic(os.path.join(st.staging, "class_areas.json"), json_text,
                          "output_folder")
    folder = config.output_folder
    return CollectionResult("each_item", len(items), outputs, time.perf_counter() - t0,
                            mosaic=os.path.join(folder, "mosaic.vrt"),
                            tables=(os.path.join(folder, "class_areas.csv"),
                                    os.path.join(folder, "class_areas.json")),
                            results=results)
