"""Refine Classification: a classified map, or the class probabilities Classify Pixels
writes, cleaned up in two optional steps, streaming over rasters of any size.

1. Segments (SEGMENTED_RASTER, e.g. Segment's ids on the same grid): every pixel of a segment
   gets the segment's class: the majority of its pixels' classes (a class map; ties go to
   the lower class value) or the class with the highest mean probability (probabilities).
   Votes are gathered over the whole raster first, so a segment that crosses tiles is
   exact.
2. A minimum mapping unit (MIN_REGION_SIZE, pixels or hectares): connected regions of one
   class (4- or 8-connected) smaller than it merge into their largest neighbour, or with
   probabilities into the neighbour whose mean probabilities are closest; a merged region
   takes its neighbour's class. Regions that touch only NoData stay.

NoData stays NoData: pixels without a class in the input are never filled. The output is a
styled class map with the input's classes (names, colours, .qml), written atomically.
"""

from __future__ import annotations

import math
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.errors import CRSError

from ..errors import InputError
from ..files import check_folder_can_hold, disk_full_error, filled_the_disk
from ..geo.grid import Grid, count_tiles, crs_units, tile_windows
from ..geo.outputs import check_distinct
from ..geo.segments import open_segments, read_segments
from ..geo.sizes import DEFAULT_MAX_GPX, PlannedOutput, check_output_size
from ..geo.writer import GeoTiffWriter, check_geotiff_path
from ..progress import NullProgress, Progress, SubProgress, check, track
from ..runtime.deps import require, require_gdal
from ..scratch import scratch_folder
from ..termination import terminable
from .refine_input import RefineInput
from .regions import RegionGraph, resolve
from .segment_vote import SegmentVotes

__all__ = ["RefineConfig", "RefineResult", "refine_classification"]

UNITS = ("pixels", "hectares")
MERGE_INTO = ("largest", "similar")


@dataclass(frozen=True)
class RefineConfig:
    input_raster: str  # a class map (1 band, integers) or Classify Pixels' probabilities
    output: str
    segmented_raster: str | None = None  # integer segment ids on the same grid
    min_region_size: float = 0.0  # 0 = no minimum mapping unit
    size_unit: str = "pixels"  # or "hectares"
    connectivity: int = 4  # or 8
    merge_into: str = "largest"  # or "similar" (probabilities only)
    tile_size: int = 1024

    def validate(self) -> None:
        if not (self.min_region_size >= 0 and math.isfinite(self.min_region_size)):
            raise InputError("min_region_size", f"{self.min_region_size} is not a size; use "
                             "0 (off) or more")
        # a unit of 0 merges nothing: the settings that only shape merging are not checked
        # (they come along from saved models and batch runs; README)
        if self.min_region_size > 0 and self.size_unit not in UNITS:
            raise InputError("size_unit", f"'{self.size_unit}' is not one of {', '.join(UNITS)}")
        if self.min_region_size > 0 and self.connectivity not in (4, 8):
            raise InputError("connectivity", f"{self.connectivity} is not 4 or 8")
        if self.min_region_size > 0 and self.merge_into not in MERGE_INTO:
            raise InputError("merge_into", f"'{self.merge_into}' is not one of "
                             f"{', '.join(MERGE_INTO)}")
        if self.tile_size < 64:
            raise InputError("tile_size", f"{self.tile_size} px tiles are too small; use 64+")
        if not self.segmented_raster and self.min_region_size == 0:
            raise InputError("segmented_raster", "nothing to refine: give SEGMENTED_RASTER, a "
                             "MIN_REGION_SIZE above 0, or both")
        # before any pass: a foreign style beside OUTPUT, or a folder that cannot take it
        check_distinct({"input_raster": self.input_raster,
                        "segmented_raster": self.segmented_raster}, {"output": self.output},
                       styled=["output"])
        check_folder_can_hold(self.output, "output")
        check_geotiff_path(self.output, "output")


@dataclass
class RefineResult:
    output: str
    changed: int  # pixels whose class differs from the input's
    pixels: int  # pixels with a class
    min_pixels: int
    seconds: float

    def summary(self) -> str:
        share = 100 * self.changed / max(self.pixels, 1)
        return (f"Refined map: {self.output}; {self.changed} of {self.pixels} classified "
                f"pixels changed class ({share:.2f}%) in {self.seconds:.1f} s")


def _segments(path: str | None, grid: Grid, progress: Progress):
    return open_segments(path, grid, progress=progress) if path else None


def _min_pixels(config: RefineConfig, grid: Grid) -> int:
    """The unit in whole pixels: regions of fewer pixels are merged. Exact sizes stay exact
    (0.07 ha of 10 m pixels is 7, not the 8 that float rounding would give)."""
    if config.size_unit == "pixels":
        return math.ceil(config.min_region_size - 1e-9)
    metres = _metres_per_unit(grid)
    if metres is None:
        raise InputError("size_unit", "the input's CRS is geographic or not known, so "
                         "hectares cannot be counted in pixels; give MIN_REGION_SIZE in "
                         "pixels, or project the map")
    pixel = abs(grid.transform.a * grid.transform.e - grid.transform.b * grid.transform.d)
    return math.ceil(config.min_region_size * 10_000 / (pixel * metres ** 2) - 1e-9)


def _metres_per_unit(grid: Grid) -> float | None:
    """Metres in the projected CRS's linear unit (1 for metres, 0.3048 for feet, 0.3048006
    for US survey feet: state planes), from the CRS's own factor rather than its unit's
    spelling; None for a geographic or missing CRS."""
    if grid.crs is None or grid.crs.is_geographic:
        return None
    try:
        factor = float(grid.crs.linear_units_factor[1])
    except CRSError:  # no linear unit
        return None if crs_units(grid.crs) not in ("metre", "meter", "m") else 1.0
    return factor if math.isfinite(factor) and factor > 0 else None


def _mercator_note(config: RefineConfig, grid: Grid) -> str | None:
    """Hectares counted on a Mercator grid (Web Mercator above all) are not hectares on the
    ground: a map area is 1/cos^2(latitude) times the ground's. Other projections a map is
    kept in (UTM, state planes, equal-area ones) are within a few percent."""
    if config.size_unit != "hectares" or grid.crs is None:
        return None
    from osgeo import osr

    srs = osr.SpatialReference()
    if srs.ImportFromWkt(grid.crs.to_wkt()) != 0 or \
            not str(srs.GetAttrValue("PROJECTION") or "").startswith("Mercator"):
        return None
    geo = srs.CloneGeogCS()
    for s in (srs, geo):
        s.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    x0, y0, x1, y1 = grid.bounds
    _, lat, _ = osr.CoordinateTransformation(srs, geo).TransformPoint((x0 + x1) / 2,
                                                                      (y0 + y1) / 2)
    stretch = 1 / max(math.cos(math.radians(lat)), 1e-6) ** 2
    if stretch < 1.05:
        return None
    size = config.min_region_size
    return (f"The input is on a Mercator grid: at its latitude ({lat:.0f}°) a hectare on the "
            f"map is {1 / stretch:.2f} ha on the ground, so MIN_REGION_SIZE {size:g} ha merges "
            f"only regions under {size / stretch:.2g} ha of ground. Give it in pixels, or "
            "project the map to an equal-area CRS first.")


@terminable
def refine_classification(config: RefineConfig, progress: Progress | None = None
                          ) -> RefineResult:
    require_gdal()  # before any work (labels, sidecars and VRTs go through osgeo)
    progress = progress or NullProgress()
    require("scipy")  # its connected components: named before any work, not a bare import
    t0 = time.perf_counter()
    config.validate()
    src = RefineInput(config.input_raster)
    seg_ds = None
    try:
        seg_ds = _segments(config.segmented_raster, src.grid, progress)
        # a unit of 0 merges nothing: the settings that only shape merging are not checked
        # (they come along from saved models and batch runs)
        merging = config.min_region_size > 0
        if merging and config.merge_into == "similar" and not src.is_prob:
            raise InputError("merge_into", "'similar' compares class probabilities: give "
                             "Classify Pixels' probabilities as INPUT_RASTER, or merge into "
                             "the largest neighbour")
        min_pixels = _min_pixels(config, src.grid) if merging else 0
        note = _mercator_note(config, src.grid) if merging else None
        if note:
            progress.warning(note)
        if merging and min_pixels <= 1:
            text = (f"{config.min_region_size:g} {config.size_unit} is at most one pixel, "
                    "so no region is smaller")
            if seg_ds is None:
                raise InputError("min_region_size", f"{text}; give a larger unit, or "
                                 "SEGMENTED_RASTER")
            progress.warning(f"MIN_REGION_SIZE: {text}: only the segment vote runs")
        progress.info(f"Refining {src.grid.width} x {src.grid.height} px: "
                      + ", ".join(filter(None, [
                          "segment " + ("probability averaging" if src.is_prob else
                                        "majority vote") if seg_ds else None,
                          f"minimum mapping unit {min_pixels} px ({config.connectivity}-"
                          f"connected, into the "
                          f"{'most similar' if config.merge_into == 'similar' else 'largest'}"
                          " neighbour)" if min_pixels > 1 else None])))
        if min_pixels > src.grid.width * src.grid.height:
            progress.warning(f"MIN_REGION_SIZE: {min_pixels:,} px is more than the whole map "
                             f"({src.grid.width * src.grid.height:,} px): every region is "
                             "under it, and the map is merged into one class")
        return _run(config, src, seg_ds, min_pixels, progress, t0)
    finally:
        src.ds.close()
        if seg_ds is not None:
            seg_ds.close()


def _run(config, src: RefineInput, seg_ds, min_pixels: int, progress, t0) -> RefineResult:
    area = src.grid.full_window
    size = (config.tile_size, config.tile_size)
    n_tiles = count_tiles(area, size)
    windows = [w.intersection(area) for w in tile_windows(area, size)]
    # the output, and the region ids (8 bytes a pixel, uncompressed) beside it meanwhile
    planned = [PlannedOutput("output", config.output, 1, np.dtype(np.uint8))]
    if min_pixels > 1:
        planned.insert(0, PlannedOutput("output", config.output, 1, np.dtype(np.int64),
                                        "temporary region ids"))
    pixels_in = int(area.width) * int(area.height)
    check_output_size(int(area.width), int(area.height), planned,
                      max(DEFAULT_MAX_GPX, pixels_in / 1e9), progress, "refined map")
    scan = seg_ds is not None and src.classes is None
    passes = [p for p, on in (("scan", scan), ("votes", seg_ds is not None),
                              ("regions", min_pixels > 1), ("write", True)) if on]
    span = {p: SubProgress(progress, i / len(passes), (i + 1) / len(passes))
            for i, p in enumerate(passes)}
    classes = src.classes
    if scan:  # a class map without LandLearn's tag: its classes are the values it holds
        seen = np.zeros(256, bool)
        for win in track(windows, span["scan"], n_tiles):
            seen[np.unique(src.read(win)[0])] = True
        classes = src.found_classes(seen)
        src.allow(classes)
    votes = values = None
    if seg_ds is not None:
        values = np.array([c.value for c in classes], np.uint8)
        index = np.zeros(256, np.int64)
        index[values] = np.arange(len(values))
        votes = SegmentVotes(len(values))
        for win in track(windows, span["votes"], n_tiles):
            cls, prob = src.read(win)
            if prob is not None:
                votes.add(*read_segments(seg_ds, win), prob)
            else:
                votes.add_classes(*read_segments(seg_ds, win), index[cls], cls > 0)

    def refined(win):
        cls, prob = src.read(win)
        if votes is None or len(values) == 0:  # no segments, or a map without any class
            return cls, cls, prob
        win_idx, voted = votes.lookup(*read_segments(seg_ds, win))
        return cls, np.where(voted & (cls > 0), values[win_idx], cls).astype(np.uint8), prob

    with scratch_folder("refine", _folder(config.output)) as tmp, \
            ExitStack() as stack:
        if min_pixels > 1:
            graph = RegionGraph(config.connectivity, len(classes) if src.is_prob else 1)
            labels_path = os.path.join(tmp, "regions.tif")
            try:
                _first_pass(src, windows, n_tiles, refined, graph, labels_path,
                            span["regions"])
            except OSError as exc:  # the region ids filled the disk?
                needed = 8 * pixels_in
                if not filled_the_disk(exc, labels_path, needed):
                    raise
                raise disk_full_error(config.output, "output", needed, exc) from None
            final = resolve(graph, min_pixels, config.merge_into)
            labels = stack.enter_context(rasterio.open(labels_path))

            def final_classes(win):
                lab = labels.read(1, window=win)
                if len(final) == 0:  # no region at all: the map is all NoData
                    return src.read(win)[0], np.zeros(lab.shape, np.uint8)
                return src.read(win)[0], np.where(lab >= 0, final[np.maximum(lab, 0)],
                                                  0).astype(np.uint8)
        else:
            def final_classes(win):
                return refined(win)[:2]
        if classes is None:
            classes = src.found_classes(src.seen)
        changed = pixels = 0
        with GeoTiffWriter(config.output, src.grid, 1, np.uint8, nodata=0, classes=classes,
                           tags={"LANDLEARN_REFINED": config.input_raster},
                           parameter="output") as out:
            for win in track(windows, span["write"], n_tiles):
                cls, new = final_classes(win)
                changed += int((cls != new).sum())
                pixels += int((cls > 0).sum())
                out.write(new[None], win)
    if src.zero_class:
        progress.warning(f"INPUT_RASTER holds class value 0 where its NoData "
                         f"({src.ds.nodata:g}) is another value: LandLearn's maps keep 0 for "
                         "NoData, so those pixels are NoData in OUTPUT. To keep them as a "
                         "class, recode 0 to a free value first (e.g. Reclassify by table)")
    check(progress)
    progress.set_fraction(1.0)
    return RefineResult(config.output, changed, pixels, min_pixels, time.perf_counter() - t0)


def _first_pass(src, windows, n_tiles, refined, graph: RegionGraph, labels_path, progress):
    """Region ids of every pixel into ``labels_path``; the region graph gathered."""
    grid = src.grid
    profile = dict(driver="GTiff", width=grid.width, height=grid.height, count=1,
                   dtype="int64", tiled=True, blockxsize=256, blockysize=256, crs=grid.crs,
                   transform=grid.transform)
    prev_lab = np.full(grid.width, -1, np.int64)  # the last row of the tile row above
    prev_cls = np.zeros(grid.width, np.uint8)
    next_lab, next_cls = prev_lab.copy(), prev_cls.copy()
    left = None
    row = None
    with rasterio.open(labels_path, "w", **profile) as out:
        for win in track(windows, progress, n_tiles):
            r0, c0 = int(win.row_off), int(win.col_off)
            w = int(win.width)
            if r0 != row:
                prev_lab, prev_cls = next_lab.copy(), next_cls.copy()
                row, left = r0, None
            _, cls, prob = refined(win)
            g = graph.add_tile(cls, prob, r0, c0, grid.width)
            out.write(g[None], window=win)
            if left is not None:
                graph.border_line(left[0], left[1], g[:, 0], cls[:, 0])
            if r0 > 0:
                # the row above, one pixel wider on each side for the diagonals
                lo, hi = max(c0 - 1, 0), min(c0 + w + 1, grid.width)
                top_lab = np.full(hi - lo, -1, np.int64)
                top_cls = np.zeros(hi - lo, np.uint8)
                top_lab[c0 - lo:c0 - lo + w] = g[0]
                top_cls[c0 - lo:c0 - lo + w] = cls[0]
                graph.border_line(prev_lab[lo:hi], prev_cls[lo:hi], top_lab, top_cls)
            left = (g[:, -1].copy(), cls[:, -1].copy())
            next_lab[c0:c0 + w] = g[-1]
            next_cls[c0:c0 + w] = cls[-1]


def _folder(path: str) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    return folder
