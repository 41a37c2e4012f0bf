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

import math
import os
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.enums import ColorInterp

from ..errors import InputError
from ..files import check_folder_can_hold, disk_full_error, filled_the_disk
from ..geo.extent import Extent, extent_to_window
from ..geo.outputs import check_distinct
from ..geo.raster import RasterSource, band_nodata, open_dataset
from ..geo.sizes import DEFAULT_MAX_GPX, PlannedOutput, check_output_size
from ..geo.writer import check_geotiff_path
from ..progress import NullProgress, Progress, SubProgress, check
from ..runtime.deps import require, require_gdal
from ..runtime.device import DEVICES, resolve_device
from ..scratch import scratch_folder
from ..termination import terminable
from .first_pass import first_pass, suspect_nodata
from .joint_shift import gpu_search
from .mean_shift import compiled_available
from .output import write_outputs
from .resolve import resolve
from .split import plan_split

METHODS = ("fast", "joint")
GDAL_CACHE = 32 << 20  # bytes: a few tiles' blocks
# the first pass's temporary files beside the outputs: int64 labels and the statistics of
# segments spooled to disk (stats.py; ~5 bytes a pixel measured on naip-like imagery, more
# on noise, where segments are small)
SPOOL_BYTES_PER_PIXEL = 5


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
        # the overrides (OTB's spatialr and ranger): a negative spatial radius shrank the
        # joint method's halo for ever (the run never ended), and 0 silently meant "unset"
        if self.spatial_radius is not None and not (
                float(self.spatial_radius).is_integer() and 1 <= self.spatial_radius <= 100):
            raise InputError("spatial_radius", f"{self.spatial_radius} is not a radius of 1..100 "
                             "pixels; leave it empty to use SPATIAL_DETAIL")
        if self.range_radius is not None and not (
                math.isfinite(self.range_radius) and 0 < self.range_radius <= 1000):
            raise InputError("range_radius", f"{self.range_radius} is not a range radius above "
                             "0 (on the 0..255 scale); leave it empty to use SPECTRAL_DETAIL")
        hs = (int(self.spatial_radius) if self.spatial_radius is not None
              else int(round(1 + (20 - self.spatial_detail) * 0.35)))
        hr = (float(self.range_radius) if self.range_radius is not None
              else 3.0 + (20 - self.spectral_detail) * 1.5)
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


def band_scaling(source: RasterSource, progress=None, area=None) -> tuple[np.ndarray,
                                                                           np.ndarray]:
    """Per-band offset and scale onto 0..255: identity for bytes, else a 2-98% stretch of
    the pixels in ``area`` (EXTENT: a sparse mosaic's data may lie between samples of the
    whole raster) that the first pass segments (a band's own -99999 left out: it set the
    band's 2% point where 2% of the pixels held it)."""
    n = source.count
    if source.dtype == np.uint8:
        return np.zeros(n, np.float64), np.ones(n, np.float32)
    data = source.sample(progress, windows=256, area=area)
    holes = band_nodata(data, suspect_nodata(source))  # the first pass's rule, reused
    if holes is not None:
        data = data[:, ~holes.any(axis=0)]
    if data.shape[1] == 0:
        raise InputError("input_raster", "no valid pixel was found in the raster"
                         + (" inside EXTENT" if area is not None else "")
                         + " (every sampled pixel is NoData)")
    lo = np.percentile(data, 2, axis=1)
    hi = np.percentile(data, 98, axis=1)
    # a band that is one value in 96% of the pixels: its 2-98% span is 0 and the stretch
    # took one grey level of noise to 10^14 range units (every speck a segment). Such a
    # band is stretched over its sampled range but never finer than one unit per step of
    # its type (a grey level of an integer band, a millionth of a float band's magnitude):
    # its noise stays under the range radius, a real feature still stands out
    step = _min_span(source.dtype, lo, hi)
    flat = hi - lo < step
    lo = np.where(flat, data.min(axis=1), lo)
    hi = np.where(flat, data.max(axis=1), hi)
    span = np.maximum(hi - lo, np.where(flat, 255.0 * step, step))
    # the offset stays float64: a uint32 or float64 band near 4e9 held in float32 steps of
    # 512 (first_pass subtracts it before narrowing the values)
    return lo.astype(np.float64), (255.0 / span).astype(np.float32)


def _min_span(dtype, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The smallest span a stretch may spread over 0..255: one step of an integer type, a
    millionth of a float band's magnitude (float32 holds about 7 digits), at least 1e-30."""
    if np.issubdtype(np.dtype(dtype), np.integer):
        return np.ones_like(lo, dtype=np.float64)
    return np.maximum(np.maximum(np.abs(lo), np.abs(hi)) * 1e-6, 1e-30)


@terminable
def segment(config: SegmentConfig, progress: Progress | None = None) -> SegmentResult:
    require_gdal()  # before any work (labels, sidecars and VRTs go through osgeo)
    progress = progress or NullProgress()
    require("scipy")  # its connected components: named before any work, not a bare import
    t0 = time.perf_counter()
    hs, hr = config.radii()
    if config.min_segment_size < 1:
        raise InputError("min_segment_size", "use 1 or more pixels")
    if config.method not in METHODS:
        raise InputError("method", f"'{config.method}' is not one of {', '.join(METHODS)}")
    if not 0 <= config.threshold < 10:
        raise InputError("threshold", f"{config.threshold} is not 0 or more and under 10 "
                         "(kernel units; 0.1 as Orfeo ToolBox)")
    if not 1 <= config.max_iterations <= 1000:
        raise InputError("max_iterations", f"{config.max_iterations} is not in 1..1000")
    if config.max_segment_size and config.max_segment_size < max(config.min_segment_size, 4):
        raise InputError("max_segment_size", f"{config.max_segment_size} px is below "
                         f"MIN_SEGMENT_SIZE ({config.min_segment_size}) or 4; use 0 (no "
                         "maximum) or a larger size")
    side = math.isqrt(config.max_segment_size)
    if config.max_segment_size and side * side < config.min_segment_size:
        # large segments are cut into cells of isqrt(MAX) px a side: cells under the
        # minimum were joined again into pieces above the maximum
        raise InputError("max_segment_size", f"{config.max_segment_size} px cuts large "
                         f"segments into cells of {side} x {side} = {side * side} px, under "
                         f"MIN_SEGMENT_SIZE ({config.min_segment_size}); use at least "
                         f"{(math.isqrt(config.min_segment_size - 1) + 1) ** 2} px, or 0")
    if not (config.output or config.output_segment_ids or config.output_polygons):
        raise InputError("output", "choose at least one output")
    if not 64 <= config.tile_size <= 8192:
        raise InputError("tile_size", "use 64..8192 pixels")
    check_distinct({"input_raster": config.input_raster},
                   {"output": config.output, "output_segment_ids": config.output_segment_ids,
                    "output_polygons": config.output_polygons})
    for key in ("output", "output_segment_ids"):
        check_geotiff_path(getattr(config, key), key)
    if config.output_polygons:
        if not config.output_polygons.lower().endswith(".gpkg"):
            raise InputError("output_polygons", f"'{config.output_polygons}' is not a "
                             "GeoPackage path; use a .gpkg name (segment polygons with their "
                             "statistics)")
        # before the mean shift, not after it: a folder that cannot take them
        check_folder_can_hold(config.output_polygons, "output_polygons")
    device = _engine(config.device)
    # GDAL's block cache (5% of the RAM by default) would keep every block of the input,
    # the temporary labels and the outputs until full: bounded, memory follows the tile
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE), \
            RasterSource(config.input_raster, _bands(config)) as src:
        area = extent_to_window(config.extent, src.grid) if config.extent else src.grid.full_window
        check_output_size(int(area.width), int(area.height), _planned(config, src),
                          config.max_output_gpx, progress, "segmentation")
        offset, scale = band_scaling(src, progress, area if config.extent else None)
        grid = src.grid.subgrid(area)
        steps = (f"joint, at most {config.max_iterations} steps to a shift under "
                 f"{config.threshold:g}" if config.method == "joint"
                 else f"fast, {config.iterations} passes")
        progress.info(f"Mean shift on bands {src.bands}: spatial radius {hs} px, range radius "
                      f"{hr:.1f} (0..255 scale), {steps}, on "
                      + ("the CPU, compiled" if device == "compiled"
                         else f"{device}" + (f", {gpu_search(device, len(src.bands))}"
                                             if config.method == "joint" else "")))
        with scratch_folder("segment", _tmp_dir(config)) as tmp:
            labels_path = os.path.join(tmp, "labels.tif")
            try:
                stats = first_pass(config, src, area, offset, scale, hs, hr, device,
                                    labels_path, SubProgress(progress, 0.0, 0.75))
            except OSError as exc:  # the temporary labels and statistics filled the disk?
                # judged before the temporary folder goes, as every output's write is
                planned = _planned(config, src)
                needed = (sum(o.bytes_per_pixel for o in planned if o.temporary)
                          * int(area.width) * int(area.height))
                if not filled_the_disk(exc, labels_path, needed):
                    raise
                first = planned[0]
                raise disk_full_error(first.path, first.parameter, needed, exc) from None
            try:
                check(progress)
                final, n_final = resolve(stats, config.min_segment_size, config.method, tmp,
                                         lambda: check(progress))
                if n_final == 0:  # bytes are not sampled first (band_scaling): said here
                    raise InputError("input_raster", "every pixel is NoData"
                                     + (" inside EXTENT" if config.extent else "")
                                     + ": there is nothing to segment")
                progress.set_fraction(0.8)
                split = None
                if config.max_segment_size:
                    split = plan_split(labels_path, area, src, final, n_final, stats,
                                       config.max_segment_size, config.min_segment_size,
                                       SubProgress(progress, 0.8, 0.85), config.tile_size)
                    n_final = split.n if split else n_final
                outputs = write_outputs(config, grid, labels_path, final, n_final, stats,
                                        src.band_names, SubProgress(progress, 0.85, 1.0),
                                        src.dtype, src.nodata[0], split,
                                        masked=src.has_mask
                                        or np.issubdtype(src.dtype, np.floating))
            finally:
                stats.release()  # its memory-mapped files are in tmp
    progress.set_fraction(1.0)
    return SegmentResult(n_final, grid.width, grid.height, time.perf_counter() - t0, hs, hr,
                         outputs)


def _engine(name: str):
    """"compiled" (the CPU pass without torch) for DEVICE auto and cpu when numba is there,
    else a torch.device: a GPU only when asked for (DEVICE cuda), or for auto without numba.

    Why auto is not the GPU: end to end on a lent H200 (BENCHMARKS.md, "Classify Pixels
    and Segment end to end") the torch search, thousands of small kernels per iteration,
    took 1.9 s on naip against the compiled pass's 0.78 s on the same machine's 16 cores,
    and 73.5 s on a 29 MPix raster (a 2-core VM's compiled pass: 46 s, another machine);
    the fast filter gained 0.06 s on the GPU, less than importing torch costs a whole run.
    The joint search on CUDA is now one Triton kernel (joint_shift_triton), not yet timed
    on a GPU: auto waits for that measurement (bench/device/run.sh)."""
    name = (name or "auto").strip().lower()
    if name not in DEVICES and not name.startswith("cuda:"):
        resolve_device(name)  # the DEVICE error, named as everywhere
    if name in ("cpu", "auto") and compiled_available():
        return "compiled"
    return resolve_device(name)


def _planned(config: SegmentConfig, src: RasterSource) -> list[PlannedOutput]:
    """The outputs, and the temporary labels and statistics that wait beside the first of
    them, uncompressed."""
    first = next((key, path) for key, path in (
        ("output", config.output), ("output_segment_ids", config.output_segment_ids),
        ("output_polygons", config.output_polygons)) if path)
    # the spool holds per-segment sums of each band, and for other than bytes their raw
    # sums too: the figure measured on 3 bands of bytes, scaled (a 10-band uint16 stack
    # spooled some 3-4 times it and the disk filled late in the run)
    spool = math.ceil(SPOOL_BYTES_PER_PIXEL * max(1.0, src.count / 3)
                      * (1 if src.dtype == np.uint8 else 2))
    out = [PlannedOutput(*first, 1, np.dtype(np.int64), "temporary labels"),
           PlannedOutput(*first, spool, np.dtype(np.uint8), "temporary statistics")]
    if config.output:
        out.append(PlannedOutput("output", config.output, src.count, src.dtype))
    if config.output_segment_ids:
        out.append(PlannedOutput("output_segment_ids", config.output_segment_ids, 1,
                                 np.dtype(np.uint32)))
    return out


def _bands(config: SegmentConfig):
    """BAND_INDEXES, or the first three bands that are not alpha (an alpha band says where
    the image is, it is no colour to segment by: a grey + alpha scan has one band)."""
    with open_dataset(config.input_raster) as ds:
        if config.band_indexes:
            chosen = [int(b) for b in config.band_indexes]
            bad = [b for b in chosen if not 1 <= b <= ds.count]
            if bad:
                raise InputError("band_indexes", f"band(s) {bad} do not exist; "
                                 f"'{os.path.basename(config.input_raster)}' has bands "
                                 f"1..{ds.count}")
            twice = sorted({b for b in chosen if chosen.count(b) > 1})
            if twice:
                # a band named twice weighs twice in every range distance
                raise InputError("band_indexes", f"band(s) {twice} are named more than "
                                 "once; name each band once")
            return tuple(chosen)
        data = [i + 1 for i, ci in enumerate(ds.colorinterp) if ci != ColorInterp.alpha]
    if not data:
        raise InputError("band_indexes", f"every band of '{config.input_raster}' is an alpha "
                         "band (a mask, no colour); name the bands to segment by in "
                         "BAND_INDEXES")
    return tuple(data[:3])


def _tmp_dir(config: SegmentConfig) -> str:
    for path in (config.output, config.output_segment_ids, config.output_polygons):
        if path:
            folder = os.path.dirname(os.path.abspath(path))
            os.makedirs(folder, exist_ok=True)
            return folder
    return tempfile.gettempdir()
