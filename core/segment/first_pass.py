"""Segment's first pass: each tile mean-shift filtered (with the halo that makes it equal to
an untiled run), cut into local segments, their statistics spooled to files, and the
edges and joins across tile borders recorded, so that the merge sees the whole raster."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import closing

import numpy as np
import rasterio
from rasterio.windows import Window

from ..geo.grid import count_tiles, pad_window, tile_windows
from ..geo.raster import band_nodata
from ..progress import check, track
from ..uninterrupted import uninterrupted
from .graph import index_dtype, local_components, squared_distance, unique_pairs
from .joint_shift import joint_filter
from .mean_shift import halo, mean_shift_filter
from .settle import tile_segments
from .stats import StatsSpool


def join_radius(method: str, hr: float) -> float:
    """Neighbours whose filtered values (and, joint, modes' positions) lie closer than this
    join one segment: half the range radius for the fast filter; a quarter for joint modes,
    which converge tighter (chosen on bench_segment's nb_aerial and nc quality sweep)."""
    return hr / 2 if method == "fast" else hr / 4


def first_pass(config, src, area, offset, scale, hs, hr, device, labels_path, progress):
    core = config.tile_size
    join = join_radius(config.method, hr)
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
    partial = 0  # pixels with data where a band holds its own NoData value
    suspect = suspect_nodata(src)
    with spool, rasterio.open(labels_path, "w", **profile) as out:
        left = None

        halt = threading.Event()  # set on the way out: the search under way stops early

        def filtered(win):
            inner = win.intersection(area)
            return inner, _filter_tile(config, src, inner, area, offset, scale, hs, hr,
                                       device, halt, suspect)

        tiles = ahead(filtered, tile_windows(area, (core, core)), lambda: check(progress),
                      halt)
        # closed on the way out, whatever the way: the tile under way finishes before the
        # source it reads is closed
        with closing(tiles):
            for inner, (f, v, raw, xs, left_out) in track(tiles, progress, n):
                h, w = int(inner.height), int(inner.width)
                r0, c0 = int(inner.row_off - area.row_off), int(inner.col_off - area.col_off)
                partial += left_out
                lab, count, s, rs, first, p, dec = tile_segments(
                    local_components(f, v, join), xs, None if same else raw, r0, c0, width, settle)
                if dec is not None:
                    spool.add_decisions(dec.shifted(next_id))
                m = len(count)
                g = np.where(lab >= 0, lab + next_id, -1)
                out.write(g[None], window=Window(c0, r0, w, h))
                spool.add(count=count, sums=s, first=first,  # first: area index
                          pairs=p.astype(np.int64) + next_id)  # int32 pairs wrapped past 2**31 ids
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
                # not alive beside the tile after next (the next one is being filtered)
                del f, v, raw, xs, lab, g, s, rs, p, dec
        if partial:
            _say_partial(partial, src, progress)
        return spool.finish()


def suspect_nodata(src) -> list | None:
    """The bands' NoData values that data does not take itself: not 0, in any type (NoData
    0 on RGB: a shadow's blue of 0 is data, review, stop 67; a slope or an NDVI of 0 in an
    int16 or float band, review, stop 68), nor the top of an unsigned integer type, which
    a saturated channel holds. A -99999 or -9999 fill, or another float value, is suspect."""
    dtype = np.dtype(src.dtype)
    ordinary = {0, np.iinfo(dtype).max} if np.issubdtype(dtype, np.unsignedinteger) else {0}
    values = [None if v is None or v in ordinary else v for v in src.nodata]
    return values if any(v is not None for v in values) else None


def _say_partial(partial: int, src, progress) -> None:
    """Elsewhere a pixel is data where any band is (a dark water pixel whose red alone is 0
    holds data). Segment cannot place a pixel in the range domain without one of its bands:
    taken as a value, one band's -99999 hole made means of -27168 and cut segments along
    the hole (a qgis_process sweep, stop 67). Such pixels are left out and said, with the
    ways to keep them."""
    values = ", ".join(dict.fromkeys(f"{v:g}" for v in src.nodata if v is not None))
    progress.warning(f"{partial:,} pixels hold data in some bands and their NoData value "
                     f"({values}) in others; Segment leaves them out (NoData in the segments; they take no part in "
                     "the filter nor the segments' statistics). To segment them, leave such "
                     "bands out (BAND_INDEXES) or fill their holes (GDAL's Fill nodata)")


def ahead(work, items, stop=lambda: None, halt: threading.Event | None = None):
    """``work(item)`` of each item in order, the next one computed in a thread of its own
    while the caller works on the current one: the mean-shift search of a tile (on the
    cores, or a GPU) runs beside the grouping and writing of the previous one, which
    are single-threaded. ``stop()`` is called before each item is started and every
    WAIT_S while the caller waits for one (Cancel raises there). Two tiles at most are
    held (about twice one tile's memory); the source is read by that thread alone. An error
    comes out where its item would have; closed early (an error, Cancel, a termination
    signal), ``halt`` is set (the compiled search then starts no more of its row spans),
    the item under way ends and nothing more starts."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="landlearn-tile")
    try:
        it = iter(items)
        item = next(it, _END)
        if item is _END:
            return
        stop()
        job = pool.submit(work, item)
        for item in it:
            done = _waited(job, stop)
            stop()
            job = pool.submit(work, item)
            yield done
            del done  # not alive beside the next tile's
        yield _waited(job, stop)
    finally:
        if halt is not None:
            halt.set()
        # the tile under way ends before the source it reads can be closed: a second
        # signal (Ctrl-C pressed again while the first waits) is held until then
        with uninterrupted():
            pool.shutdown(wait=True, cancel_futures=True)


WAIT_S = 0.1  # how often a wait for a tile's search asks for Cancel


def _waited(job, stop):
    """``job``'s result, ``stop()`` asked every WAIT_S meanwhile: a tile's search at a large
    SPATIAL_DETAIL takes tens of seconds on a few cores, and Cancel was heard only after."""
    while not wait([job], WAIT_S).done:  # not result(timeout): a tile's own TimeoutError
        stop()
    return job.result()


_END = object()


def _scaled(data: np.ndarray, offset: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Values on the 0..255 scale, float32. Types float32 holds exactly (bytes, 16-bit
    integers, float32) are narrowed first; wider ones (uint32, int64, float64) have their
    offset taken off in float64 first: 4e9 +- 1,000 narrowed first kept three levels."""
    if data.dtype.itemsize <= 2 or data.dtype == np.float32:
        return (data.astype(np.float32) - offset.astype(np.float32)[:, None, None]) \
            * scale[:, None, None]
    return ((data.astype(np.float64) - offset[:, None, None]).astype(np.float32)
            * scale[:, None, None])


def _filter_tile(config, src, inner: Window, area: Window, offset, scale, hs: int, hr: float,
                 device, halt: threading.Event | None = None, suspect: list | None = None):
    """(filtered values, valid, raw values, scaled values, pixels left out for a band's own
    NoData value ``suspect``) of tile ``inner``, computed with the halo that makes them
    equal to an untiled run (a pixel left out is left out in the halo too). The joint method's halo starts at
    4 spatial radii and grows when a pixel's mode travelled farther; its filtered values
    carry the modes' positions too (two channels scaled so that a spatial radius weighs
    what the joining radius does), so grouping also looks at where modes lie."""
    pad = halo(hs, config.iterations) if config.method == "fast" else 4 * hs
    h, w = int(inner.height), int(inner.width)
    while True:
        window = pad_window(inner, pad)
        block = src.read(window)
        valid = block.valid & _inside_area(window, area)
        holes = band_nodata(block.data, suspect) if suspect else None
        gap = holes.any(axis=0) & valid if holes is not None else None
        if gap is not None:
            valid &= ~gap
        with np.errstate(over="ignore", invalid="ignore"):  # overflow: handled just below
            x = _scaled(block.data, offset, scale)
        # a value that overflows float32 once scaled (a -3.4e38 fill with no NoData tag,
        # float64 beyond float32) takes no part, as NoData: kept, it made a one-pixel
        # segment that no merge could reach, and NaN modes around it on the torch path
        valid &= np.isfinite(x).all(axis=0)
        x[:, ~valid] = 0
        core = (slice(None), slice(pad, pad + h), slice(pad, pad + w))
        if config.method == "fast":
            f = mean_shift_filter(x, valid, hs, hr, config.iterations, device)[core]
            break
        f, disp, travel = joint_filter(x, valid, hs, hr, config.threshold,
                                       config.max_iterations, device, halt)
        short = _halo_shortfall(travel[core[1:]] + hs + 1, inner, area, pad)
        if short <= 0:
            rows = np.arange(h)[:, None] + float(inner.row_off) + disp[0][core[1:]]
            cols = np.arange(w)[None, :] + float(inner.col_off) + disp[1][core[1:]]
            k = join_radius(config.method, hr) / hs
            f = np.concatenate([f[core], (np.stack([rows, cols]) * k).astype(np.float32)])
            break
        pad += short + hs
    left_out = 0 if gap is None else int(np.count_nonzero(gap[core[1:]]))
    return f, valid[core[1:]], block.data[core], x[core], left_out


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
    d = squared_distance(fa[:, ok], fb[:, ok], 0)  # band by band, as inside a tile
    close = d < threshold * threshold
    if close.any():
        spool.add(joins=np.stack([a[close], b[close]], 1))
