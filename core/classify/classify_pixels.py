"""Classify Pixels: stream a raster through a model into a styled classified GeoTIFF.

Tiles of TILE_SIZE overlap by PADDING on each side; only the centre of each is kept
(BLEND=centre), or every tile's probabilities are blended with a weight that fades to the
edges (BLEND=weighted). Three threads overlap the work: a reader prepares normalised tiles,
the main thread runs batches on the device, a writer turns probabilities into classes and
writes them. Queues are short, so memory follows tile and batch size, not raster size
(weighted blending adds one strip of tile height across the raster's width).
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..geo.band_presence import all_nodata_words
from ..geo.extent import Extent
from ..geo.grid import count_tiles
from ..geo.outputs import check_distinct
from ..geo.sizes import DEFAULT_MAX_GPX, PlannedOutput, check_output_size
from ..model_package.format import read_package
from ..model_package.info import model_info
from ..progress import NullProgress, Progress
from ..runtime.deps import require_gdal
from ..runtime.device import describe_device
from ..termination import terminable
from .checks import check_bands, check_cell_size, check_scaling, check_values
from .distributed.engine import classify_on_cluster
from .distributed.plan import DEFAULT_BLOCK_SIZE, parse_factor, plan_blocks, usable_cores
from .distributed.staging import staging_path
from .memory import fit_batch, fitted_tile, local_cpu, runs_on
from .objects import check_object_model, object_notes, stream_objects
from .output import ClassifyOutputs
from .predictor import engine_of, load_predictor
from .stream import open_source, stream_tiles
from .tiling import batch_size, check_strip, check_tile_memory, geometry, padding_cut


@dataclass(frozen=True)
class ClassifyConfig:
    input_raster: str
    model: str
    output: str
    bands: tuple[int, ...] | None = None  # default: the bands the model was exported from
    extent: Extent | None = None
    cell_size: float | None = None
    tile_size: int | None = None  # default: the model's chip size
    padding: int | None = None  # default: the model's recommended padding
    batch_size: int | None = None
    blend: str = "centre"  # or "weighted"
    test_time_augmentation: bool = False
    confidence_threshold: float = 0.0
    device: str = "auto"
    runtime: str = "auto"  # deep models: "onnxruntime", "torch", or auto (ONNX Runtime on CPU)
    quantize: bool = False  # deep models: the package's int8 graph on ONNX Runtime (CPU)
    mixed_precision: bool = False  # CUDA autocast: faster, not the CPU's map (GPU bench)
    output_confidence: str | None = None
    output_probabilities: str | None = None
    max_output_gpx: float = DEFAULT_MAX_GPX  # stop before writing a larger map
    segmented_raster: str | None = None  # object-based models: the segments (objects.py)
    # Dask (distributed/): a running scheduler's address, or worker processes started here
    dask_scheduler: str = ""
    parallel_processing_factor: str = ""  # "4" workers, "50%" of the cores; "" / "1" = none
    retries: int = 3  # of a failed block
    block_size: int = DEFAULT_BLOCK_SIZE  # pixels per side of a block (whole tiles)
    resume: bool = False  # take up the finished blocks of a killed run with these parameters

    def validate(self) -> None:
        """What can be refused before the model or the raster is opened."""
        if self.cell_size is not None and not (isinstance(self.cell_size, (int, float))
                                               and self.cell_size > 0
                                               and self.cell_size < float("inf")):
            raise InputError("cell_size", f"{self.cell_size} is not a positive cell size; leave "
                             "it empty to keep the raster's own")
        if self.padding is not None and self.padding < 0:
            raise InputError("padding", f"{self.padding} px is negative; use 0 or more pixels of "
                             "context (empty: the model's recommendation)")
        if self.tile_size is not None and (not 32 <= self.tile_size <= 8192
                                           or self.tile_size % 32):
            raise InputError("tile_size", f"{self.tile_size} px must be a multiple of 32 in "
                             "32..8192 (a deep model's encoder halves the tile five times; "
                             "one rule for every model, so a tile size suits them all); leave "
                             "it empty for the model's own")
        if not 0 <= self.confidence_threshold < 1:
            raise InputError("confidence_threshold", f"{self.confidence_threshold} is not in "
                             "0..1 (0 = off)")
        if not isinstance(self.retries, int) or self.retries < 0:
            raise InputError("retries", f"{self.retries} is not a number of retries (0 or more)")
        if not isinstance(self.block_size, int) or self.block_size < 256:
            raise InputError("block_size", f"{self.block_size} px is too small a block; use at "
                             "least 256 (blocks are whole tiles; the default is 4096)")
        check_distinct({"input_raster": self.input_raster, "model": self.model,
                        "segmented_raster": self.segmented_raster},
                       {"output": self.output, "output_confidence": self.output_confidence,
                        "output_probabilities": self.output_probabilities}, styled=["output"])


@dataclass
class ClassifyResult:
    output: str
    output_confidence: str | None
    output_probabilities: str | None
    width: int
    height: int
    tiles: int
    skipped_tiles: int
    seconds: float
    device: str
    class_pixels: dict[int, int] = field(default_factory=dict)
    class_names: dict[int, str] = field(default_factory=dict)
    # where the time went, for benchmarks: in one process the model's load and the busy
    # seconds of the reader, the predictor and the writer (threads: they overlap; an
    # object-based run has the load only); Dask runs sum those over blocks and add
    # publish, blocks and the client's assembly
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self, names: dict[int, str] | None = None) -> str:
        names = names or self.class_names
        total = sum(self.class_pixels.values()) or 1
        mpix = self.width * self.height / 1e6
        lines = [f"Classified {self.width} x {self.height} px ({mpix:.2f} MPix) in "
                 f"{self.seconds:.1f} s on {self.device}: {mpix / max(self.seconds, 1e-9):.2f} "
                 f"MPix/s; {self.tiles} tiles ({self.skipped_tiles} all NoData, skipped)"]
        for v, n in sorted(self.class_pixels.items()):
            if v:
                lines.append(f"  {v:>3} {names.get(v, v)}: {n} px ({100 * n / total:.1f}%)")
        if self.class_pixels.get(0):
            lines.append(f"  NoData / unclassified: {self.class_pixels[0]} px")
        return "\n".join(lines)


@terminable
def classify_pixels(config: ClassifyConfig, progress: Progress | None = None) -> ClassifyResult:
    require_gdal()  # before any work (labels, sidecars and VRTs go through osgeo)
    progress = progress or NullProgress()
    t0 = time.perf_counter()
    config.validate()
    workers = parse_factor(config.parallel_processing_factor)
    if config.dask_scheduler and workers > 1:
        progress.warning("PARALLEL_PROCESSING_FACTOR starts worker processes on this machine "
                         "when DASK_SCHEDULER is empty; with a scheduler its workers compute "
                         f"(started with `dask worker`), so {config.parallel_processing_factor}"
                         " is not applied")
    elif workers > usable_cores():
        progress.warning(f"PARALLEL_PROCESSING_FACTOR {config.parallel_processing_factor}: "
                         f"{workers} worker processes on {usable_cores()} usable cores, each with its "
                         "own copy of the model (and GPU context): more than the cores only "
                         "adds memory")
    if config.dask_scheduler or workers > 1:
        return _classify_distributed(config, workers, progress, t0)
    t_load = time.perf_counter()
    predictor, info = load_predictor(config.model, config.device, config.mixed_precision,
                                     config.runtime, config.quantize)
    timings = {"load": time.perf_counter() - t_load}
    device = getattr(predictor, "device", None)
    where = getattr(predictor, "where", None) or describe_device(device)
    if config.mixed_precision and not getattr(predictor, "amp", False):
        progress.info(f"MIXED_PRECISION is for torch on a CUDA GPU; this run is {where}: not "
                      "applied (the map is the float32 one).")
    objects = check_object_model(config, predictor)
    if objects:  # whole segments: tiles only pace the reading, no padding or blending
        object_notes(config, progress)
        config = dataclasses.replace(config, blend="centre", test_time_augmentation=False)
        tile, pad = config.tile_size or 512, 0
        check_tile_memory(tile, info)  # geometry() checks the pixel models' tiles
    elif info.kind == "classical" and config.test_time_augmentation:
        # a pixel's features are the same in a flipped tile (its bands, and windows that are
        # symmetric): the four passes would give the same numbers four times over
        progress.info("TEST_TIME_AUGMENTATION has no effect on a pixel classifier (a "
                      "flipped tile gives every pixel the same features); not applied.")
        config = dataclasses.replace(config, test_time_augmentation=False)
    source, area = open_source(config, info, progress)
    with source:
        if not objects:  # the tile fitted to the area (tiling.geometry)
            tile, pad = geometry(config, info, area)
            if config.tile_size and tile < config.tile_size:
                progress.info(f"TILE_SIZE {config.tile_size} px is larger than the area "
                              f"with its padding: one tile of {tile} px covers it.")
            fitted = None if config.tile_size else fitted_tile(
                info, device, tile, **runs_on(predictor))
            if fitted:
                try:  # a PADDING too large for the fitted tile: fit_batch says so below
                    tile, pad = geometry(dataclasses.replace(config, tile_size=fitted),
                                         info, area)
                    progress.info(f"automatic tile lowered to {tile} px: one network pass "
                                  "over a larger one would not fit in the memory left")
                except InputError:
                    pass
        if not objects and (cut := padding_cut(config, info, tile, pad)):
            progress.warning(cut)
        _check_before_work(config, info, source, area, tile, pad, progress)
        batch = 1 if objects else fit_batch(
            config, info, device, tile, pad, batch_size(config, device, tile, info), progress,
            **runs_on(predictor))
        core = tile - 2 * pad
        n_tiles = count_tiles(area, (core, core))
        progress.info(f"{where}; " + (f"segments of '{config.segmented_raster}', read in "
                                      f"tiles of {tile} px ({n_tiles} tiles)" if objects else
                                      f"tiles of {tile} px with {pad} px padding ({n_tiles} "
                                      f"tiles), batch {batch}, blend {config.blend}")
                      + (", test-time augmentation" if config.test_time_augmentation else ""))
        outputs = ClassifyOutputs(config, source.grid.subgrid(area), info, area, tile, pad)
        with outputs:
            if objects:
                skipped = stream_objects(config, source, area, predictor, outputs, progress,
                                         tile)
            else:
                skipped = stream_tiles(config, source, area, tile, pad, batch, predictor,
                                       outputs, progress, n_tiles, timings)
            _said_if_empty(source, n_tiles, skipped, progress,
                           config.segmented_raster if objects else None)
        counts = outputs.class_counts
    return ClassifyResult(config.output, config.output_confidence, config.output_probabilities,
                          int(area.width), int(area.height), n_tiles, skipped,
                          time.perf_counter() - t0, where, counts,
                          dict(zip(info.class_values, info.class_names)), timings)


def _said_if_empty(source, n_tiles: int, skipped: int, progress: Progress,
                   segments: str | None = None) -> None:
    """A map of NoData only is written (the run did what was asked), but said, with the
    band to blame where one holds no value. With segments a tile is skipped where either
    the raster or the segments hold nothing: the raster was blamed for a segmented raster
    of 0s (a qgis_process sweep, stop 67)."""
    if n_tiles and skipped >= n_tiles and segments:
        progress.warning(f"The map holds no class: no tile holds both data in the raster and "
                         f"a segment in SEGMENTED_RASTER '{segments}' (ids 0 and its NoData are "
                         "no segment); check that the segments cover the raster, and both "
                         "NoData values")
    elif n_tiles and skipped >= n_tiles:
        progress.warning(all_nodata_words(
            source, "The map holds no class: every tile of the raster is NoData",
            "fill those bands, or train a model without them (Export Training Data's BANDS)"))


def _classify_distributed(config: ClassifyConfig, workers: int, progress: Progress,
                          t0: float) -> ClassifyResult:
    """The same map, computed block by block on Dask workers (distributed/)."""
    pkg = read_package(config.model, "model")
    if config.segmented_raster or pkg.landlearn.get("segments"):
        raise InputError("parallel_processing_factor" if not config.dask_scheduler else
                         "dask_scheduler", "object-based classification runs in one process "
                         "(each segment is described from all its pixels first); leave "
                         "DASK_SCHEDULER and PARALLEL_PROCESSING_FACTOR empty")
    info = model_info(pkg)
    source, area = open_source(config, info, progress)
    with source:
        tile, pad = geometry(config, info, area)
        if cut := padding_cut(config, info, tile, pad):
            progress.warning(cut)
        # each worker keeps a weighted blend's strip only across its own block and halo
        widest = max(int(b.work_win.width) for b in plan_blocks(
            area, tile - 2 * pad, pad, config.block_size, config.blend == "weighted"))
        _check_before_work(config, info, source, area, tile, pad, progress, widest)
        grid = source.grid.subgrid(area)
    core = tile - 2 * pad
    n_tiles = count_tiles(area, (core, core))
    progress.info(f"tiles of {tile} px with {pad} px padding ({n_tiles} tiles), blend "
                  f"{config.blend}" + (", test-time augmentation"
                                        if config.test_time_augmentation else ""))
    if not config.dask_scheduler and local_cpu(config.device):
        # the workers pass at once, each in a share of this machine's memory: refused here,
        # before the cluster starts (each worker checks its own again), on the engine
        # they will run (ONNX Runtime's large tiles take more than torch's); an ONNX
        # graph's own count (a graph from someone else holding more than its architecture)
        # is known only where it is loaded: each worker checks it
        onnx = engine_of(pkg, config.runtime, config.device,
                         config.quantize).startswith("onnxruntime")
        fit_batch(config, info, None, tile, pad, config.batch_size or 1, progress, workers,
                  onnx=onnx)
    run = classify_on_cluster(config, info, grid, area, tile, pad, workers, progress)
    if n_tiles and run.skipped >= n_tiles:
        with open_source(config, info, NullProgress())[0] as again:
            _said_if_empty(again, n_tiles, run.skipped, progress)
    where = f"Dask, {run.workers} worker threads" if run.workers else "Dask (all blocks resumed)"
    timings = dict(run.timings, load=run.load_seconds, blocks=run.block_seconds,
                   assembly=run.assembly_seconds)
    return ClassifyResult(config.output, config.output_confidence, config.output_probabilities,
                          int(area.width), int(area.height), n_tiles, run.skipped,
                          time.perf_counter() - t0, where, run.class_counts,
                          dict(zip(info.class_values, info.class_names)), timings)


def _check_before_work(config, info, source, area, tile, pad, progress,
                       strip_width: int | None = None) -> None:
    """Sizes, memory and the raster against the model: before any tile runs.
    ``strip_width``: on Dask, the widest block's work window (a worker's strip)."""
    planned = _planned(config, info)
    parts = staging_path(config.output)
    if strip_width is not None and not (config.resume and os.path.isdir(parts)):
        # a Dask run's parts (zstd, every output's) wait in the staging folder beside
        # OUTPUT until the outputs are assembled: the disk must hold both (a resumed run's
        # finished parts are on the disk already: not counted twice)
        planned += [dataclasses.replace(o, path=parts,
                                        temporary="Dask parts", packed=True) for o in planned]
    check_output_size(int(area.width), int(area.height), planned,
                      config.max_output_gpx, progress, "classified map")
    check_strip(config, info, tile, pad, area, strip_width)
    check_bands(source, info, progress)
    check_scaling(source, info, progress)
    check_values(source, info, progress)
    check_cell_size(source, info, progress)


def _planned(config: ClassifyConfig, info) -> list[PlannedOutput]:
    out = [PlannedOutput("output", config.output, 1, np.dtype(np.uint8))]
    if config.output_confidence:
        out.append(PlannedOutput("output_confidence", config.output_confidence, 1,
                                 np.dtype(np.float32)))
    if config.output_probabilities:
        out.append(PlannedOutput("output_probabilities", config.output_probabilities,
                                 len(info.class_values), np.dtype(np.float32)))
    return out


