"""The tile stream of Classify Pixels: a reader thread prepares normalised tiles, the
calling thread runs batches through the predictor, a writer thread hands probabilities to
the outputs. Queues are short, so memory follows tile and batch size, not raster size.
Used for a whole raster in one process, and for one block on a Dask worker.
"""

from __future__ import annotations

import queue
import threading
import time

import numpy as np
from rasterio.windows import Window

from ..errors import Cancelled, InputError
from ..geo.extent import extent_to_window
from ..geo.grid import pad_window, resampled_grid, tile_windows
from ..geo.raster import RasterSource, band_nodata
from ..geo.sizes import check_cell_size as check_cell_size_value
from .checks import bands_named_alike
from .tiling import AUTO_TILE_CAP


def open_source(config, info, progress) -> tuple[RasterSource, Window]:
    bands = config.bands or (tuple(info.source_bands) if info.source_bands else None)
    try:
        source = RasterSource(config.input_raster, bands)
    except InputError as exc:
        if config.bands or exc.parameter != "BANDS":
            raise
        raise InputError("bands", f"the model reads bands {list(bands)} (the bands its "
                         f"training chips were exported from), which '{config.input_raster}' "
                         f"does not have ({exc.detail}); choose the {info.in_channels} bands "
                         "that match the training bands in BANDS"
                         + bands_named_alike(config.input_raster, info)) from None
    trained_on = info.source_band_count
    # one alpha band past the bands trained on is a mask (Classify Raster Collection's
    # mosaic of items without NoData marks where no item lies so)
    masked = bool(trained_on) and source.ends_in_alpha and source.source_count == trained_on + 1
    if config.bands is None and trained_on and source.source_count != trained_on and not masked:
        source.close()
        # a package that says the band count but not which bands: 'bands None' was said
        which = (f"bands {info.source_bands} of a" if info.source_bands else
                 f"{info.in_channels} band(s) of a")
        raise InputError("bands", f"the model expects {which} "
                         f"{trained_on}-band raster, but '{config.input_raster}' has "
                         f"{source.source_count} bands; choose the {info.in_channels} bands "
                         "that match the training bands in BANDS"
                         + bands_named_alike(config.input_raster, info))
    area = extent_to_window(config.extent, source.grid) if config.extent else source.grid.full_window
    if config.cell_size:
        res = source.grid.res
        try:
            check_cell_size_value(config.cell_size, source.grid, area.width * res[0],
                                  area.height * res[1])
            # the cells of the whole raster resampled, from its corner: an EXTENT takes
            # whole cells of that grid, so maps of adjacent extents (and of the whole
            # raster) share one grid (from the extent's own corner they were shifted by a
            # fraction of a cell and overlapped; review 93)
            full = resampled_grid(source.grid, source.grid.full_window, config.cell_size)
            cells = extent_to_window(config.extent, full) if config.extent else \
                full.full_window
        except BaseException:  # a rotated raster refused there too: the file closed
            source.close()
            raise
        target = full.subgrid(cells)
        # with an EXTENT, the resampled raster reaches past it, so tiles at the extent's
        # edge see the image beyond as they do without CELL_SIZE (a VRT of the extent alone
        # gave them NoData there: a seam between two adjacent extents): a padding before
        # it, and after it as far as the last tile can hang (a tile less its padding)
        before = 0 if not config.extent else (
            config.padding if config.padding is not None else max(info.padding, 32))
        after = 0 if not config.extent else max(before, (config.tile_size or AUTO_TILE_CAP))
        wide = full.subgrid(Window(int(cells.col_off) - before, int(cells.row_off) - before,
                                   target.width + before + after,
                                   target.height + before + after))
        source.close()
        source = RasterSource(config.input_raster, bands, resample_to=wide)
        area = Window(before, before, target.width, target.height)
        progress.info(f"Resampled to {config.cell_size:g} map units per pixel: "
                      f"{target.width} x {target.height} px")
    return source, area


def normalise(block, info, raw: bool = False, nodata=None) -> np.ndarray:
    """The tile as the predictor takes it: z-scores with NoData at 0, or (``raw``, for
    graphs with the normalisation inside) band values with NoData at the band mean.

    ``nodata``: each band's NoData value. For a network, a band's own NoData in a pixel
    other bands hold data for is that band's mean too (z 0), as training reads it
    (chip_dataset) and as the export's band statistics leave it out: kept, a -9999 was a
    z-score near -1000. A classical model (kind "classical") takes the raw values it was
    trained on, its own NoData included."""
    x = block.data.astype(np.float32)
    bad = ~block.valid[None] | ~np.isfinite(x)
    if getattr(info, "kind", "deep") != "classical":
        holes = band_nodata(block.data, nodata)
        if holes is not None:
            bad = bad | holes
    if raw:
        return np.where(bad, info.mean[:, None, None].astype(np.float32), x)
    x = (x - info.mean[:, None, None]) / \
        np.where(info.std > 0, info.std, 1.0).astype(np.float32)[:, None, None]
    x[np.broadcast_to(bad, x.shape)] = 0.0
    return x


_DONE = object()


def stream_tiles(config, source, area, tile, pad, batch, predictor, outputs, progress, n_tiles,
                 timings: dict[str, float] | None = None, overlap: bool = True,
                 counted: Window | None = None) -> int:
    """Stream ``area``'s tiles; returns the number of all-NoData tiles skipped (with
    ``counted``, those that start in it: a Dask block's own window, not the halo
    its neighbours count too). ``timings``,
    when given, receives the seconds spent reading, computing and writing (each thread's
    busy time: they overlap). ``overlap=False`` reads and writes in the calling thread,
    between batches: for a Dask worker on a machine whose cores the workers' predictors
    already fill, where reader and writer threads would only take turns with them."""
    spent = {"read": 0.0, "compute": 0.0, "write": 0.0}
    core = tile - 2 * pad
    stop = threading.Event()
    errors: list[BaseException] = []
    q_in: queue.Queue = queue.Queue(maxsize=2 * batch)
    q_out: queue.Queue = queue.Queue(maxsize=2)
    info = outputs.info
    raw = getattr(predictor, "takes_raw", False)

    def read(win):
        t0 = time.perf_counter()
        block = source.read(pad_window(win, pad))
        x = normalise(block, info, raw, getattr(source, "nodata", None)) \
            if block.valid.any() else None
        spent["read"] += time.perf_counter() - t0
        return win, x, block.valid

    def write(item):
        t0 = time.perf_counter()
        outputs.add(*item)
        spent["write"] += time.perf_counter() - t0

    def reader():
        try:
            for win in tile_windows(area, (core, core)):
                if stop.is_set():
                    break
                q_in.put(read(win))
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
                    write(item)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
            stop.set()
            while q_out.get() is not _DONE:
                pass

    if overlap:
        threads = [threading.Thread(target=reader, daemon=True),
                   threading.Thread(target=writer, daemon=True)]
        take, give = q_in.get, q_out.put
    else:
        threads = []
        tiles = (read(win) for win in tile_windows(area, (core, core)))

        def take():
            return next(tiles, _DONE)

        def give(item):
            if item is not _DONE:
                write(item)
    for t in threads:
        t.start()
    done, skipped = 0, 0
    n_classes = len(info.class_values)
    try:
        finished = False
        while not finished:
            items = []
            while len(items) < batch:
                item = take()
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
                t0 = time.perf_counter()
                # is_canceled: ONNX Runtime asks it while a batch runs (a slow graph held
                # Cancel for minutes); torch and scikit-learn ask only here, between batches.
                # A weighted blend averages raw probabilities; the outputs temper the
                # blend (ClassifyOutputs): tempered first, T could change the map's class
                out = predictor(np.stack([items[i][1] for i in work]), config.test_time_augmentation,
                                valid=np.stack([items[i][2] for i in work]),
                                calibrate=config.blend != "weighted",
                                is_canceled=progress.is_canceled)
                spent["compute"] += time.perf_counter() - t0
                for k, i in enumerate(work):
                    probs[i] = out[k]
            for (win, _x, valid), p in zip(items, probs):
                if p is None:
                    skipped += 1 if counted is None or _starts_in(win, counted) else 0
                    p = np.zeros((n_classes, tile, tile), dtype=np.float32)
                give((win, p, valid))
            done += len(items)
            progress.set_fraction(0.99 * done / max(n_tiles, 1))
        give(_DONE)
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        t0 = time.perf_counter()
        outputs.finish()
        spent["write"] += time.perf_counter() - t0
        if timings is not None:
            timings.update(spent)
    except BaseException:
        stop.set()
        if threads:
            _drain(q_in)
            q_out.put(_DONE)
        for t in threads:
            # no time limit: the caller closes the source next, and a reader still inside
            # GDAL (a stalled /vsicurl/ read) would read a closed dataset (review 93)
            t.join()
        raise
    return skipped


def _starts_in(win: Window, box: Window) -> bool:
    """Whether the tile's first pixel lies in ``box``: blocks and halos are whole tile
    cores, so each tile starts in one block (the last tiles' centres can lie past the
    area's edge, outside every block)."""
    return (box.col_off <= win.col_off < box.col_off + box.width
            and box.row_off <= win.row_off < box.row_off + box.height)


def _drain(q: queue.Queue) -> None:
    while True:
        try:
            if q.get(timeout=0.5) is _DONE:
                return
        except queue.Empty:
            return
