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
import queue
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from rasterio.windows import Window

from ..errors import Cancelled, InputError
from ..geo.extent import Extent, extent_to_window
from ..geo.grid import count_tiles, pad_window, resampled_grid, tile_windows
from ..geo.outputs import check_distinct
from ..geo.raster import RasterSource
from ..geo.sizes import DEFAULT_MAX_GPX, PlannedOutput, check_output_size
from ..geo.sizes import check_cell_size as check_cell_size_value
from ..progress import NullProgress, Progress
from ..runtime.device import describe_device
from ..termination import terminable
from .checks import check_bands, check_cell_size, check_values
from .objects import check_object_model, object_notes, stream_objects
from .output import ClassifyOutputs
from .predictor import load_predictor


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
    mixed_precision: bool = True
    output_confidence: str | None = None
    output_probabilities: str | None = None
    max_output_gpx: float = DEFAULT_MAX_GPX  # stop before writing a larger map
    segmented_raster: str | None = None  # object-based models: the segments (objects.py)

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
                             "32..8192 (the encoder halves the tile five times)")
        if not 0 <= self.confidence_threshold < 1:
            raise InputError("confidence_threshold", f"{self.confidence_threshold} is not in "
                             "0..1 (0 = off)")
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


# One tile's bands and class scores in float32: what a default tile may take. A package
# with 1024 bands and ImageWidth 8192 would otherwise ask for 275 GB per tile.
TILE_MEMORY = 1 << 30
MAX_MEMORY = 4 * TILE_MEMORY  # what explicit TILE_SIZE, BATCH_SIZE or a blend strip may take


def _tile_bytes(tile: int, info) -> int:
    return tile * tile * (info.in_channels + len(info.class_values)) * 4


def _geometry(config: ClassifyConfig, info) -> tuple[int, int]:
    # Larger tiles than the training chips waste less on padding; a CNN takes any size.
    # Pixel classifiers need no context at all.
    if config.tile_size is None:
        tile = min(max(info.tile - info.tile % 32, 256), 2048)
        while tile > 256 and _tile_bytes(tile, info) > TILE_MEMORY:
            tile = max(256, tile // 2 - (tile // 2) % 32)
    else:
        tile = config.tile_size
        if _tile_bytes(tile, info) > MAX_MEMORY:
            raise InputError("tile_size", f"a {tile} px tile of {info.in_channels} bands and "
                             f"{len(info.class_values)} classes takes "
                             f"{_tile_bytes(tile, info) / 1e9:.1f} GB; use a smaller TILE_SIZE")
    default_pad = info.padding if info.kind == "classical" else max(info.padding, 32)
    pad = min(default_pad, (tile - 16) // 2) if config.padding is None else config.padding
    if tile - 2 * pad < 16:
        raise InputError("padding", f"a padding of {pad} px on each side leaves {tile - 2 * pad}"
                         f" px of a {tile} px tile; use at most {(tile - 16) // 2}, or a larger "
                         "TILE_SIZE")
    if config.blend not in ("centre", "weighted"):
        raise InputError("blend", f"'{config.blend}' is not centre or weighted")
    return tile, pad


def _check_strip(config: ClassifyConfig, info, tile: int, pad: int, area: Window) -> None:
    """Weighted blending keeps one strip of tile height across the map: bounded here."""
    if config.blend != "weighted":
        return
    strip = (len(info.class_values) + 2) * tile * (int(area.width) + 2 * pad + tile) * 4
    if strip > MAX_MEMORY:
        raise InputError("blend", f"weighted blending of a {int(area.width):,} px wide map keeps "
                         f"a strip of {strip / 1e9:.1f} GB in memory; use BLEND=centre, a smaller "
                         "TILE_SIZE or EXTENT")


def _batch_size(config, device, tile: int, info) -> int:
    per_tile = _tile_bytes(tile, info)
    if config.batch_size is not None:
        if config.batch_size < 1:
            raise InputError("batch_size", "the batch size must be 1 or more")
        if config.batch_size * per_tile > MAX_MEMORY:
            raise InputError("batch_size", f"{config.batch_size} tiles of {tile} px take "
                             f"{config.batch_size * per_tile / 1e9:.1f} GB; use at most "
                             f"{max(1, MAX_MEMORY // per_tile)}")
        return config.batch_size
    if device is None:  # a classical model: one tile is already 262,144 samples
        return 1
    if device.type == "cuda":
        size = max(1, min(64, 16 * 512 * 512 // (tile * tile)))
    else:
        size = max(1, min(16, 4 * 256 * 256 // (tile * tile)))
    return max(1, min(size, 2 * TILE_MEMORY // per_tile))


def _open_source(config: ClassifyConfig, info, progress) -> tuple[RasterSource, Window]:
    bands = config.bands or (tuple(info.source_bands) if info.source_bands else None)
    try:
        source = RasterSource(config.input_raster, bands)
    except InputError as exc:
        if config.bands or exc.parameter != "BANDS":
            raise
        raise InputError("bands", f"the model reads bands {list(bands)} (the bands its "
                         f"training chips were exported from), which '{config.input_raster}' "
                         f"does not have ({exc.detail}); choose the {info.in_channels} bands "
                         "that match the training bands in BANDS") from None
    trained_on = info.source_band_count
    if config.bands is None and trained_on and source.source_count != trained_on:
        source.close()
        raise InputError("bands", f"the model expects bands {info.source_bands} of a "
                         f"{trained_on}-band raster, but '{config.input_raster}' has "
                         f"{source.source_count} bands; choose the {info.in_channels} bands "
                         "that match the training bands in BANDS")
    area = extent_to_window(config.extent, source.grid) if config.extent else source.grid.full_window
    if config.cell_size:
        res = source.grid.res
        try:
            check_cell_size_value(config.cell_size, source.grid, area.width * res[0],
                                  area.height * res[1])
        except InputError:
            source.close()
            raise
        target = resampled_grid(source.grid, area, config.cell_size)
        source.close()
        source = RasterSource(config.input_raster, bands, resample_to=target)
        area = source.grid.full_window
        progress.info(f"Resampled to {config.cell_size:g} map units per pixel: "
                      f"{target.width} x {target.height} px")
    return source, area


@terminable
def classify_pixels(config: ClassifyConfig, progress: Progress | None = None) -> ClassifyResult:
    progress = progress or NullProgress()
    t0 = time.perf_counter()
    config.validate()
    predictor, info = load_predictor(config.model, config.device, config.mixed_precision,
                                     config.runtime, config.quantize)
    device = getattr(predictor, "device", None)
    where = getattr(predictor, "where", None) or describe_device(device)
    objects = check_object_model(config, predictor)
    if objects:  # whole segments: tiles only pace the reading, no padding or blending
        object_notes(config, progress)
        config = dataclasses.replace(config, blend="centre", test_time_augmentation=False)
        tile, pad = config.tile_size or 512, 0
    else:
        tile, pad = _geometry(config, info)
    source, area = _open_source(config, info, progress)
    with source:
        check_output_size(int(area.width), int(area.height), _planned(config, info),
                          config.max_output_gpx, progress, "classified map")
        _check_strip(config, info, tile, pad, area)
        check_bands(source, info, progress)
        check_values(source, info, progress)
        check_cell_size(source, info, progress)
        batch = 1 if objects else _batch_size(config, device, tile, info)
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
                skipped = _stream(config, source, area, tile, pad, batch, predictor, outputs,
                                  progress, n_tiles)
        counts = outputs.class_counts
    return ClassifyResult(config.output, config.output_confidence, config.output_probabilities,
                          int(area.width), int(area.height), n_tiles, skipped,
                          time.perf_counter() - t0, where, counts,
                          dict(zip(info.class_values, info.class_names)))


def _planned(config: ClassifyConfig, info) -> list[PlannedOutput]:
    out = [PlannedOutput("output", config.output, 1, np.dtype(np.uint8))]
    if config.output_confidence:
        out.append(PlannedOutput("output_confidence", config.output_confidence, 1,
                                 np.dtype(np.float32)))
    if config.output_probabilities:
        out.append(PlannedOutput("output_probabilities", config.output_probabilities,
                                 len(info.class_values), np.dtype(np.float32)))
    return out


def _normalise(block, info, raw: bool = False) -> np.ndarray:
    """The tile as the predictor takes it: z-scores with NoData at 0, or (``raw``, for
    graphs with the normalisation inside) band values with NoData at the band mean."""
    if raw:
        x = block.data.astype(np.float32)
        bad = ~block.valid[None] | ~np.isfinite(x)
        return np.where(bad, info.mean[:, None, None].astype(np.float32), x)
    x = (block.data.astype(np.float32) - info.mean[:, None, None]) / \
        np.where(info.std > 0, info.std, 1.0).astype(np.float32)[:, None, None]
    x[:, ~block.valid] = 0.0
    return np.nan_to_num(x, copy=False)


_DONE = object()


def _stream(config, source, area, tile, pad, batch, predictor, outputs, progress, n_tiles) -> int:
    core = tile - 2 * pad
    stop = threading.Event()
    errors: list[BaseException] = []
    q_in: queue.Queue = queue.Queue(maxsize=2 * batch)
    q_out: queue.Queue = queue.Queue(maxsize=2)
    info = outputs.info
    raw = getattr(predictor, "takes_raw", False)

    def reader():
        try:
            for win in tile_windows(area, (core, core)):
                if stop.is_set():
                    break
                block = source.read(pad_window(win, pad))
                x = _normalise(block, info, raw) if block.valid.any() else None
                q_in.put((win, x, block.valid))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)
        finally:
            q_in.put(_DONE)

    def writer():
        try:
            while True:
                item = q_out.get()
                if item is _DONE:
                    break
                if not stop.is_set():
                    outputs.add(*item)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
            stop.set()
            while q_out.get() is not _DONE:
                pass

    threads = [threading.Thread(target=reader, daemon=True), threading.Thread(target=writer, daemon=True)]
    for t in threads:
        t.start()
    done, skipped = 0, 0
    n_classes = len(info.class_values)
    try:
        finished = False
        while not finished:
            items = []
            while len(items) < batch:
                item = q_in.get()
                if item is _DONE:
                    finished = True
                    break
                items.append(item)
            if errors:
                raise errors[0]
            if progress.is_canceled():
                raise Cancelled()
            work = [i for i, it in enumerate(items) if it[1] is not None]
            probs = [None] * len(items)
            if work:
                out = predictor(np.stack([items[i][1] for i in work]), config.test_time_augmentation,
                                valid=np.stack([items[i][2] for i in work]))
                for k, i in enumerate(work):
                    probs[i] = out[k]
            for (win, _x, valid), p in zip(items, probs):
                if p is None:
                    skipped += 1
                    p = np.zeros((n_classes, tile, tile), dtype=np.float32)
                q_out.put((win, p, valid))
            done += len(items)
            progress.set_fraction(0.99 * done / max(n_tiles, 1))
        q_out.put(_DONE)
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        outputs.finish()
    except BaseException:
        stop.set()
        _drain(q_in)
        q_out.put(_DONE)
        for t in threads:
            t.join(timeout=60)
        raise
    return skipped


def _drain(q: queue.Queue) -> None:
    while True:
        try:
            if q.get(timeout=0.5) is _DONE:
                return
        except queue.Empty:
            return
