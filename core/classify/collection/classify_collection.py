"""Classify Raster Collection: ArcGIS's processing modes for a collection of raster items.

``mosaicked`` classifies the items as one raster: a VRT mosaic on the first item's grid
(mosaic.py), classified like any raster into one output, in one process or on Dask.
``each_item`` classifies every item into its own styled map in an output folder, and adds
``mosaic.vrt`` over those maps and ``class_areas.csv`` / ``.json``; the folder is built
under a temporary name and appears whole, or not at all.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field

from ...errors import InputError
from ...files import StagedFolder, temporary_sibling, write_text_atomic
from ...geo.grid import crs_units
from ...progress import NullProgress, Progress, SubProgress, check
from ...termination import terminable
from ..classify_pixels import ClassifyConfig, ClassifyResult, classify_pixels
from ..distributed.cluster import shared_clients
from .areas import area_rows, table_text
from .items import describe_items, list_items
from .mosaic import build_vrt

MODES = ("mosaicked", "each_item")


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
    progress = progress or NullProgress()
    t0 = time.perf_counter()
    config.validate()
    which = "rasters" if config.rasters else "folder" if config.folder else "list_file"
    items = describe_items(list_items(config.rasters, config.folder, config.pattern,
                                      config.list_file), which)
    progress.info(f"{len(items)} items, {items[0].bands} bands, "
                  f"{items[0].crs.to_string() if items[0].crs else 'no CRS'}")
    base = dataclasses.replace(config.classify, model=config.model)
    if config.processing_mode == "mosaicked":
        return _mosaicked(config, base, items, progress, t0)
    return _each_item(config, base, items, progress, t0)


def _mosaicked(config, base, items, progress, t0) -> CollectionResult:
    vrt = temporary_sibling(config.output, ".vrt")  # beside the output: workers see it too
    try:
        build_vrt(vrt, [i.path for i in items], items[0], base.cell_size)
        # the mosaic is on the cell size already
        result = classify_pixels(dataclasses.replace(base, input_raster=vrt,
                                                     output=config.output, cell_size=None),
                                 progress)
    finally:
        if os.path.exists(vrt):
            os.remove(vrt)
    return CollectionResult("mosaicked", len(items), [config.output],
                            time.perf_counter() - t0, results=[result])


def _names(items) -> list[str]:
    """<stem>_classified.tif per item; a stem seen before gets the item's number."""
    names, seen = [], set()
    for k, item in enumerate(items, start=1):
        stem = os.path.splitext(os.path.basename(item.path.rstrip("/")))[0] or f"item{k}"
        name = f"{stem}_classified.tif" if stem not in seen else f"{stem}_{k}_classified.tif"
        seen.add(stem)
        names.append(name)
    return names


def _each_item(config, base, items, progress, t0) -> CollectionResult:
    if base.output_confidence or base.output_probabilities:
        raise InputError("output_folder", "each_item writes class maps only; classify items "
                         "one by one with Classify Pixels for confidence or probabilities")
    rows, results, outputs = [], [], []
    names = _names(items)
    # with Dask, the items share one cluster: worker processes start once
    with StagedFolder(config.output_folder, "output_folder", replace=config.overwrite,
                      what="classified collection", algorithm="classifyrastercollection"
                      ) as st, shared_clients():
        for k, (item, name) in enumerate(zip(items, names)):
            check(progress)
            progress.info(f"item {k + 1}/{len(items)}: {item.path}")
            out = os.path.join(st.staging, name)
            sub = SubProgress(progress, k / len(items), (k + 1) / len(items))
            result = classify_pixels(dataclasses.replace(base, input_raster=item.path,
                                                         output=out), sub)
            results.append(result)
            outputs.append(os.path.join(config.output_folder, name))
            pixel_area = base.cell_size ** 2 if base.cell_size else item.res[0] * item.res[1]
            rows += area_rows(item.path, name, result.class_pixels, result.class_names,
                              pixel_area, crs_units(item.crs) == "metre")
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
