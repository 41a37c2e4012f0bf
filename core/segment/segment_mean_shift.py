"""Segment: mean-shift segmentation of any raster into objects, tile by tile, seamlessly.

1. Bands are scaled to 0..255 (8-bit data as is; other types by a 2-98% stretch from band
   statistics), so SPECTRAL_DETAIL means the same on Landsat reflectance and NAIP bytes.
2. Each tile is mean-shift filtered with a halo wide enough that its pixels equal a
   one-pass result, and cut into 4-connected components of similar filtered values.
3. Components touching across tile borders are joined by the same rule, so a segment that
   spans tiles gets one id (as Orfeo ToolBox's LargeScaleMeanShift stitches); segments
   smaller than MIN_SEGMENT_SIZE merge into their most similar neighbour.
4. Labels wait in a temporary GeoTIFF between passes: memory follows the tile size and
   the number of segments, not the raster size.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.windows import Window

from ..errors import InputError
from ..files import disk_full_error, is_disk_full
from ..geo.extent import Extent, extent_to_window
from ..geo.grid import count_tiles, pad_window, tile_windows
from ..geo.outputs import check_distinct
from ..geo.raster import RasterSource, open_dataset
from ..geo.sizes import DEFAULT_MAX_GPX, PlannedOutput, check_output_size
from ..progress import NullProgress, Progress, SubProgress, check, track
from ..runtime.device import DEVICES, may_have_cuda, resolve_device
from ..termination import terminable
from .graph import (
    Graph,
    group_sums,
    index_dtype,
    local_components,
    merge_small,
    remap_pairs,
    staged_merge,
    union,
    unique_pairs,
)
from .joint_shift import joint_filter
from .mean_shift import compiled_available, halo, mean_shift_filter
from .output import write_outputs
from .settle import first_stage, tile_segments
from .split import plan_split
from .stats import SegmentStats, StatsSpool

METHODS = ("fast", "joint")
GDAL_CACHE = 32 << 20  # bytes: a few tiles' blocks
# the first pass's temporary files beside the outputs: int64 labels and the statistics of
# segments (~5 bytes a pixel measured on naip-like imagery)
TEMPORARY_BYTES_PER_PIXEL = 13


@dataclass(frozen=True)
class SegmentConfig:
    input_raster: str
    output: str | None = None  # mean colour per segment
    output_segment_ids: str | None = None  # uint32 ids
    output_polygons: str | None = None  # vector: id, pixels, band means
    spectral_detail: float = 15.5
    spatial_detail: float = 15.0
    min_segment_size: int = 20
    max_segment_size: int = 0  # 0 = none; larger segments are cut into pieces (split.py)
    band_indexes: tuple[int, ...] | None = None  # default: the first three (or all if fewer)
    extent: Extent | None = None
    device: str = "auto"
    method: str = "joint"  # joint spatial-range mean shift (joint_shift.py), or "fast"
    threshold: float = 0.1  # joint: convergence, in kernel units (OTB's thres)
    max_iterations: int = 100  # joint: OTB's maxiter
    spatial_radius: int | None = None  # overrides SPATIAL_DETAIL (pixels)
    range_radius: float | None = None  # overrides SPECTRAL_DETAIL (0..255 scale)
    iterations: int = 3
    tile_size: int = 1024
    max_output_gpx: float = DEFAULT_MAX_GPX

    def radii(self) -> tuple[int, float]:
        for key in ("spectral_detail", "spatial_detail"):
            v = getattr(self, key)
            if not 1 <= v <= 20:
                raise InputError(key, f"{v} is outside 1..20")
        hs = self.spatial_radius or int(round(1 + (20 - self.spatial_detail) * 0.35))
        hr = self.range_radius or 3.0 + (20 - self.spectral_detail) * 1.5
        return hs, hr


@dataclass
class SegmentResult:
    segments: int
    width: int
    height: int
    seconds: float
    spatial_radius: int
    range_radius: float
    outputs: dict

    def summary(self) -> str:
        return (f"{self.segments} segments over {self.width} x {self.height} px in "
                f"{self.seconds:.1f} s (spatial radius {self.spatial_radius} px, range radius "
                f"{self.range_radius:.1f} on a 0..255 scale)")


def band_scaling(source: RasterSource, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """Per-band offset and scale onto 0..255: identity for bytes, else a 2-98% stretch."""
    n = source.count
    if source.dtype == np.uint8:
        return np.zeros(n, np.float32), np.ones(n, np.float32)
    data = source.sample(progress, windows=256)
    if data.shape[1] == 0:
        raise InputError("input_raster", "no valid pixel was found in the raster (every sampled "
                         "pixel is NoData)")
    lo = np.percentile(data, 2, axis=1)
    hi = np.percentile(data, 98, axis=1)
    scale = 255.0 / np.maximum(hi - lo, 1e-12)
    return lo.astype(np.float32), scale.astype(np.float32)


@terminable
def segment(config: SegmentConfig, progress: Progress | None = None) -> SegmentResult:
    progress = progress or NullProgress()
    t0 = time.perf_counter()
    hs, hr = config.radii()
    if config.min_segment_size < 1:
        raise InputError("min_segment_size", "use 1 or more pixels")
    if config.method not in METHODS:
        raise InputError("method", f"'{config.method}' is not one of {', '.join(METHODS)}")
    if not 0 <= config.threshold < 10:
        raise InputError("threshold", f"{config.threshold} is not in 0..10 (kernel units; "
                         "0.1 as Orfeo ToolBox)")
    if not 1 <= config.max_iterations <= 1000:
        raise InputError("max_iterations", f"{config.max_iterations} is not in 1..1000")
    if config.max_segment_size and config.max_segment_size < max(config.min_segment_size, 4):
        raise InputError("max_segment_size", f"{config.max_segment_size} px is below "
                         f"MIN_SEGMENT_SIZE ({config.min_segment_size}) or 4; use 0 (no "
                         "maximum) or a larger size")
    if not (config.output or config.output_segment_ids or config.output_polygons):
        raise InputError("output", "choose at least one output")
    if not 64 <= config.tile_size <= 8192:
        raise InputError("tile_size", "use 64..8192 pixels")
    check_distinct({"input_raster": config.input_raster},
                   {"output": config.output, "output_segment_ids": config.output_segment_ids,
                    "output_polygons": config.output_polygons})
    device = _engine(config.device)
    # GDAL's block cache (5% of the RAM by default) would keep every block of the input,
    # the temporary labels and the outputs until full: bounded, memory follows the tile
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE), \
            RasterSource(config.input_raster, _bands(config)) as src:
        area = extent_to_window(config.extent, src.grid) if config.extent else src.grid.full_window
        check_output_size(int(area.width), int(area.height), _planned(config, src),
                          config.max_output_gpx, progress, "segmentation")
        offset, scale = band_scaling(src, progress)
        grid = src.grid.subgrid(area)
        progress.info(f"Mean shift on bands {src.bands}: spatial radius {hs} px, range radius "
                      f"{hr:.1f} (0..255 scale), {config.iterations} iterations, on "
                      + ("the CPU, compiled" if device == "compiled" else f"{device}"))
        with tempfile.TemporaryDirectory(prefix=".segment", dir=_tmp_dir(config)) as tmp:
            labels_path = os.path.join(tmp, "labels.tif")
            try:
                stats = _first_pass(config, src, area, offset, scale, hs, hr, device,
                                    labels_path, SubProgress(progress, 0.0, 0.75))
            except Exception as exc:  # the temporary labels and statistics filled the disk
                if not is_disk_full(exc):
                    raise
                first = _planned(config, src)[0]
                raise disk_full_error(first.path, first.parameter, TEMPORARY_BYTES_PER_PIXEL
                                      * int(area.width) * int(area.height), exc) from None
            try:
                check(progress)
                final, n_final = _resolve(stats, config.min_segment_size, config.method, tmp)
                progress.set_fraction(0.8)
                split = None
                if config.max_segment_size:
                    split = plan_split(labels_path, area, src, final, n_final, stats,
                                       config.max_segment_size, config.min_segment_size,
                                       SubProgress(progress, 0.8, 0.85), config.tile_size)
                    n_final = split.n if split else n_final
                outputs = write_outputs(config, grid, labels_path, final, n_final, stats,
                                        src.band_names, SubProgress(progress, 0.85, 1.0),
                                        src.dtype, src.nodata[0], split)
            finally:
                stats.release()  # its memory-mapped files are in tmp
    progress.set_fraction(1.0)
    return SegmentResult(n_final, grid.width, grid.height, time.perf_counter() - t0, hs, hr,
                         outputs)


def _engine(name: str):
    """"compiled" (the CPU pass without torch) on the CPU when numba is there, else a
    torch.device: a GPU only ever through torch."""
    name = (name or "auto").strip().lower()
    if name not in DEVICES and not name.startswith("cuda:"):
        resolve_device(name)  # the DEVICE error, named as everywhere
    if (name == "cpu" or (name == "auto" and not may_have_cuda())) and compiled_available():
        return "compiled"
    return resolve_device(name)


def _planned(config: SegmentConfig, src: RasterSource) -> list[PlannedOutput]:
    """The outputs, and the temporary int64 labels that wait beside the first of them."""
    first = next((key, path) for key, path in (
        ("output", config.output), ("output_segment_ids", config.output_segment_ids),
        ("output_polygons", config.output_polygons)) if path)
    out = [PlannedOutput(*first, 1, np.dtype(np.int64))]
    if config.output:
        out.append(PlannedOutput("output", config.output, src.count, src.dtype))
    if config.output_segment_ids:
        out.append(PlannedOutput("output_segment_ids", config.output_segment_ids, 1,
                                 np.dtype(np.uint32)))
    return out


def _bands(config: SegmentConfig):
    if config.band_indexes:
        return config.band_indexes
    with open_dataset(config.input_raster) as ds:
        return tuple(range(1, min(3, ds.count) + 1))


def _tmp_dir(config: SegmentConfig) -> str:
    for path in (config.output, config.output_segment_ids, config.output_polygons):
        if path:
            folder = os.path.dirname(os.path.abspath(path))
            os.makedirs(folder, exist_ok=True)
            return folder
    return tempfile.gettempdir()


def _join_radius(method: str, hr: float) -> float:
    """Neighbours whose filtered values (and, joint, modes' positions) lie closer than this
    join one segment: half the range radius for the fast filter; a quarter for joint modes,
    which converge tighter (chosen on bench_segment's nb_aerial and nc quality sweep)."""
    return hr / 2 if method == "fast" else hr / 4


def _first_pass(config, src, area, offset, scale, hs, hr, device, labels_path, progress):
    core = config.tile_size
    join = _join_radius(config.method, hr)
    width = int(area.width)
    profile = dict(driver="GTiff", width=width, height=int(area.height), count=1,
                   dtype="int64", tiled=True, blockxsize=256, blockysize=256,
                   crs=src.grid.crs, transform=src.grid.window_transform(area))
    # local ids never exceed the pixel count: int32 edges where that allows
    idt = index_dtype(int(area.width) * int(area.height))
    # 8-bit bands are not scaled: their scaled sums are the source sums, kept once
    same = bool((offset == 0).all() and (scale == 1).all()
                and np.can_cast(src.dtype, np.float32))
    # single pixels settled in their tile (settle.py): the joint method's staged merge only
    settle = config.method == "joint" and config.min_segment_size >= 2
    next_id = 0
    above: dict[int, tuple] = {}  # tile column -> (labels, filtered) of its last row
    n = count_tiles(area, (core, core))
    spool = StatsSpool(os.path.dirname(labels_path), len(offset), idt, not same, settle)
    with spool, rasterio.open(labels_path, "w", **profile) as out:
        left = None
        for win in track(tile_windows(area, (core, core)), progress, n):
            inner = win.intersection(area)
            f, v, raw, xs = _filter_tile(config, src, inner, area, offset, scale, hs, hr,
                                         device)
            h, w = int(inner.height), int(inner.width)
            r0, c0 = int(inner.row_off - area.row_off), int(inner.col_off - area.col_off)
            lab, count, s, rs, first, p, dec = tile_segments(
                local_components(f, v, join), xs, None if same else raw, r0, c0, width, settle)
            if dec is not None:
                spool.add_decisions(dec.shifted(next_id))
            m = len(count)
            g = np.where(lab >= 0, lab + next_id, -1)
            out.write(g[None], window=Window(c0, r0, w, h))
            spool.add(count=count, sums=s, first=first, pairs=p + next_id)  # first: area index
            if not same:
                spool.add(raw_sums=rs)
            col_key = c0
            if left is not None and left[2] == r0:
                _border(left[0], g[:, 0], left[1], f[:, :, 0], join, spool)
            if col_key in above:
                _border(above[col_key][0], g[0, :], above[col_key][1], f[:, 0, :], join, spool)
            left = (g[:, -1].copy(), f[:, :, -1].copy(), r0)
            above[col_key] = (g[-1, :].copy(), f[:, -1, :].copy())
            next_id += m
            del f, v, raw, xs, lab, g, s, rs, p, dec  # not alive beside the next tile's
        return spool.finish()


def _filter_tile(config, src, inner: Window, area: Window, offset, scale, hs: int, hr: float,
                 device):
    """(filtered values, valid, raw values, scaled values) of tile ``inner``, computed with
    the halo that makes them equal to an untiled run. The joint method's halo starts at
    4 spatial radii and grows when a pixel's mode travelled farther; its filtered values
    carry the modes' positions too (two channels scaled so that a spatial radius weighs
    what the joining radius does), so grouping also looks at where modes lie."""
    pad = halo(hs, config.iterations) if config.method == "fast" else 4 * hs
    h, w = int(inner.height), int(inner.width)
    while True:
        window = pad_window(inner, pad)
        block = src.read(window)
        valid = block.valid & _inside_area(window, area)
        x = (block.data.astype(np.float32) - offset[:, None, None]) * scale[:, None, None]
        x[:, ~valid] = 0
        core = (slice(None), slice(pad, pad + h), slice(pad, pad + w))
        if config.method == "fast":
            f = mean_shift_filter(x, valid, hs, hr, config.iterations, device)[core]
            break
        f, disp, travel = joint_filter(x, valid, hs, hr, config.threshold,
                                       config.max_iterations, device)
        short = _halo_shortfall(travel[core[1:]] + hs + 1, inner, area, pad)
        if short <= 0:
            rows = np.arange(h)[:, None] + float(inner.row_off) + disp[0][core[1:]]
            cols = np.arange(w)[None, :] + float(inner.col_off) + disp[1][core[1:]]
            k = _join_radius(config.method, hr) / hs
            f = np.concatenate([f[core], (np.stack([rows, cols]) * k).astype(np.float32)])
            break
        pad += short + hs
    return f, valid[core[1:]], block.data[core], x[core]


def _halo_shortfall(reach: np.ndarray, inner: Window, area: Window, pad: int) -> int:
    """How many pixels the halo lacks: ``reach`` (h, w) is how far each core pixel's result
    looked. Only sides where the halo ends inside ``area`` count; beyond the area there is
    nothing to see, tiled or not."""
    h, w = reach.shape
    rows, cols = np.arange(h)[:, None], np.arange(w)[None, :]
    short = 0
    r0, c0 = int(inner.row_off), int(inner.col_off)
    for inside, room in ((r0 - pad > area.row_off, pad + rows),
                         (r0 + h + pad < area.row_off + area.height, pad + h - 1 - rows),
                         (c0 - pad > area.col_off, pad + cols),
                         (c0 + w + pad < area.col_off + area.width, pad + w - 1 - cols)):
        if inside:
            short = max(short, int((reach - room).max(initial=0)))
    return short


def _inside_area(window: Window, area: Window) -> np.ndarray:
    """Mask of ``window`` pixels that lie inside ``area`` (the extent bounds the context)."""
    h, w = int(window.height), int(window.width)
    rows = np.arange(h) + int(window.row_off)
    cols = np.arange(w) + int(window.col_off)
    r = (rows >= area.row_off) & (rows < area.row_off + area.height)
    c = (cols >= area.col_off) & (cols < area.col_off + area.width)
    return r[:, None] & c[None, :]


def _border(la, lb, fa, fb, threshold, spool: StatsSpool) -> None:
    """Edges across a tile border: neighbours always, joins where values are close."""
    ok = (la >= 0) & (lb >= 0)
    if not ok.any():
        return
    a, b = la[ok], lb[ok]
    spool.add(pairs=unique_pairs(np.stack([np.minimum(a, b), np.maximum(a, b)], 1)))
    d = ((fa[:, ok] - fb[:, ok]) ** 2).sum(0)
    close = d < threshold * threshold
    if close.any():
        spool.add(joins=np.stack([a[close], b[close]], 1))


def _resolve(stats: SegmentStats, min_size: int, method: str = "fast",
             spill: str | None = None) -> tuple[np.ndarray, int]:
    """Local id -> final id (1..n, in raster order of each segment's first pixel). Takes
    from ``stats`` what only the merge needs (pairs, joins, decisions, scaled sums), and
    with ``spill`` (a folder) leaves what only the outputs read memory-mapped there."""
    n = len(stats.count)
    root = union(n, np.sort(stats.joins, axis=1)) if len(stats.joins) else np.arange(n)
    stats.joins = None
    # a root is its component's smallest member, so the roots are the nodes that are their
    # own root: numbered in order, as np.unique(root, return_inverse=True) would, unsorted
    is_root = root == np.arange(n)
    k = int(np.count_nonzero(is_root))
    idt = index_dtype(n)  # int32 lookups where ids fit: these five arrays live at once
    inverse = (np.cumsum(is_root, dtype=idt) - 1)[root]
    del root, is_root
    first = np.full(k, np.iinfo(stats.first.dtype).max, stats.first.dtype)
    np.minimum.at(first, inverse, stats.first)
    order = np.argsort(first, kind="stable")
    if stats.decisions is not None:
        first.sort()  # each canonical segment's first pixel: first_stage's tie order
    else:
        first = None
    canon = np.empty(k, dtype=idt)
    canon[order] = np.arange(k, dtype=idt)
    del order
    seg = canon[inverse]  # local -> canonical segment (raster order)
    del canon, inverse
    # the canonical graph, each part built once the one before has freed what only it
    # needed (this is the peak of Segment's memory on large rasters); what only the
    # outputs read then waits on disk (``spill``: a folder), and the merge frees the
    # graph it is handed as it goes
    pairs = remap_pairs(stats.pairs, seg, k)
    stats.pairs = None
    stage = None if stats.decisions is None else \
        first_stage(stats.decisions.renamed(seg), first)
    stats.decisions = first = None
    count = np.bincount(seg, stats.count, k)
    sums = group_sums(seg, stats.sums, k)
    stats.sums = None
    if spill:
        stats.spill(spill)
    graph = Graph(count, sums, pairs, stage)
    del count, sums, pairs, stage
    merged = staged_merge(graph, min_size) if method == "joint" else \
        merge_small(*graph.take()[:3], min_size, overwrite=True)
    kept, final = np.unique(merged, return_inverse=True)
    # kept roots are canonical ids, already in raster order: final ids follow it
    return final[seg] + 1, len(kept)

