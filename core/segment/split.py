"""MAX_SEGMENT_SIZE: segments larger than it are cut into pieces, as ArcGIS's Segment Mean
Shift does to keep huge segments (a lake, a field of one crop) from dominating.

The rule, exact whatever the tiling: a grid of square cells of side floor(sqrt(MAX)) px,
anchored at the area's top-left pixel, cuts each segment above MAX pixels; the part of it
inside one cell is one piece (so a piece holds at most MAX pixels). A piece smaller than
MIN_SEGMENT_SIZE (a corner clipped by a cell) merges into the most similar piece of the
same segment that it touches and can take it within MAX; one that no such piece can take
stays a piece under MIN (counted in the log). MAX is kept: joined without that cap, the
slivers of a cut put most pieces back over it (MAX 25 with MIN 20 on nc_landsat7: 3,797
of 5,424 segments over 25 px, up to 119; every sliver rejoined its piece). Ids are then
renumbered in raster order of each segment's or piece's first pixel, like all ids.
A piece may be split by its cell into parts that touch only through other cells; those
keep one id.
"""

from __future__ import annotations

import math

import numpy as np
import rasterio
from rasterio.windows import Window

from ..errors import InputError
from ..geo.grid import count_tiles, tile_windows
from ..progress import Progress, track
from .graph import squared_distance, union

__all__ = ["Split", "plan_split"]


class Split:
    """New ids for a window of local labels, and the new segments' pixel counts and means."""

    def __init__(self, lut, big, keys, key_ids, final_ids, side, cells_x, cells, count,
                 means):
        self.lut, self.big, self.keys, self.key_ids = lut, big, keys, key_ids
        self.final_ids, self.side, self.cells_x, self.cells = final_ids, side, cells_x, cells
        self.count, self.means, self.n = count, means, len(count)

    def __call__(self, local: np.ndarray, win: Window) -> np.ndarray:
        base = self.lut[local + 1]
        out = self.final_ids[base]
        big = self.big[base]
        if big.any():
            key = _keys(base, win, self.side, self.cells_x, self.cells)[big]
            out[big] = self.key_ids[np.searchsorted(self.keys, key)]
        return out.astype(np.uint32)


def _keys(base, win: Window, side: int, cells_x: int, cells: int) -> np.ndarray:
    """Piece key of each pixel: its segment id and the cell it lies in (``cells`` cells in
    all: a fixed 2**31 let cells of one segment take another's keys past 8.6 GPix)."""
    rows = (np.arange(base.shape[0]) + int(win.row_off)) // side
    cols = (np.arange(base.shape[1]) + int(win.col_off)) // side
    return base.astype(np.int64) * cells + rows[:, None] * cells_x + cols[None, :]


def plan_split(labels_path: str, area: Window, src, final: np.ndarray, n: int, stats,
               max_size: int, min_size: int, progress: Progress, tile: int = 1024
               ) -> Split | None:
    """The pieces of the segments above ``max_size`` pixels, or None when none is. ``final``
    maps local labels to ids 1..n; ``src`` reads the segmented bands, ``area`` is where the
    labels lie in it."""
    seg = final - 1
    count = np.bincount(seg, stats.count, n)
    big = np.concatenate([[False], count > max_size])
    if not big.any():
        return None
    side = max(1, math.isqrt(max_size))
    cells_x = -(-int(area.width) // side)
    cells = cells_x * -(-int(area.height) // side)
    if (n + 1) * cells >= 2 ** 63:
        raise InputError("max_segment_size", f"{n:,} segments in {cells:,} cells of {side} px "
                         "are more pieces than LandLearn can number; raise MAX_SEGMENT_SIZE, "
                         "or segment smaller areas (EXTENT)")
    lut = np.concatenate([[0], final]).astype(np.int64)
    parts, pairs = [], []
    width = int(area.width)
    with rasterio.open(labels_path) as lab:
        full = Window(0, 0, width, int(area.height))
        for win in track(tile_windows(full, (tile, tile)), progress, count_tiles(full, (tile, tile))):
            win = win.intersection(full)
            r0, c0 = int(win.row_off), int(win.col_off)
            up, left = int(r0 > 0), int(c0 > 0)
            ext = Window(c0 - left, r0 - up, int(win.width) + left, int(win.height) + up)
            base = lut[lab.read(1, window=ext) + 1]
            key = _keys(base, ext, side, cells_x, cells)
            is_big = big[base]
            _border_pairs(key, base, is_big, up, left, pairs)
            inner = (slice(up, None), slice(left, None))
            kb, ib = key[inner], is_big[inner]
            if not ib.any():
                continue
            raw = src.read(Window(c0 + int(area.col_off), r0 + int(area.row_off),
                                  int(win.width), int(win.height))).data.astype(np.float64)
            parts.append(_tile_pieces(kb, ib, raw, r0, c0, width))
    # the tiles' pieces summed: a piece (one cell of a segment) lies in a few tiles at most.
    # Kept per pixel until 2026-12, the plan held 40 bytes per pixel of the big segments
    # (3 bands): 20 GB for a 1 GPix scene half covered by them
    keys, inv = np.unique(np.concatenate([p[0] for p in parts]), return_inverse=True)
    m = len(keys)
    piece_count = np.bincount(inv, np.concatenate([p[1] for p in parts]), m)
    sums = np.concatenate([p[2] for p in parts])
    piece_sums = np.stack([np.bincount(inv, sums[:, b], m) for b in range(sums.shape[1])], 1)
    first = np.full(m, np.iinfo(np.int64).max)
    np.minimum.at(first, inv, np.concatenate([p[3] for p in parts]))
    root = _join_slivers(keys, piece_count, piece_sums, pairs, min_size, max_size)
    groups, g = np.unique(root, return_inverse=True)
    k = len(groups)
    g_count = np.bincount(g, piece_count, k)
    g_sums = np.stack([np.bincount(g, piece_sums[:, b], k) for b in range(piece_sums.shape[1])], 1)
    g_first = np.full(k, np.iinfo(np.int64).max)
    np.minimum.at(g_first, g, first)
    # the segments left whole keep their counts and first pixels
    whole = np.nonzero(~big[1:])[0]
    f_first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(f_first, seg, stats.first)
    f_sums = np.stack([np.bincount(seg, stats.raw_sums[:, b], n)
                       for b in range(stats.raw_sums.shape[1])], 1)
    firsts = np.concatenate([f_first[whole], g_first])
    order = np.argsort(firsts, kind="stable")
    new = np.empty(len(firsts), np.int64)
    new[order] = np.arange(1, len(firsts) + 1)
    final_ids = np.zeros(n + 1, np.int64)
    final_ids[whole + 1] = new[:len(whole)]
    key_ids = new[len(whole):][g]
    all_count = np.concatenate([count[whole], g_count])
    all_sums = np.concatenate([f_sums[whole], g_sums])
    count_out = np.empty(len(firsts))
    sums_out = np.empty_like(all_sums)
    count_out[new - 1] = all_count
    sums_out[new - 1] = all_sums
    slivers = int((g_count < min_size).sum())
    progress.info(f"MAX_SEGMENT_SIZE: {int(big.sum())} segments over {max_size} px cut into "
                  f"{k} pieces (cells of {side} px)"
                  + (f"; {slivers} of them stay under MIN_SEGMENT_SIZE ({min_size} px): no "
                     f"piece of their segment beside them could take them within {max_size} "
                     "px" if slivers else ""))
    return Split(lut, big, keys, key_ids, final_ids, side, cells_x, cells, count_out,
                 sums_out / np.maximum(count_out, 1)[:, None])


def _tile_pieces(key, is_big, raw, r0: int, c0: int, width: int):
    """One tile's pieces: (keys, pixels, band sums, first pixel in raster order)."""
    k, inv = np.unique(key[is_big], return_inverse=True)
    count = np.bincount(inv, minlength=len(k)).astype(np.float64)
    sums = np.stack([np.bincount(inv, band[is_big], len(k)) for band in raw], 1)
    rr, cc = np.nonzero(is_big)
    first = np.full(len(k), np.iinfo(np.int64).max)
    np.minimum.at(first, inv, (rr + r0).astype(np.int64) * width + cc + c0)
    return k, count, sums, first


def _border_pairs(key, base, is_big, up: int, left: int, pairs: list) -> None:
    """Pairs of pieces of one segment that touch (each once per window: a pair per pixel
    edge grew with the pixels); edges inside the halo row or column belong to the window
    they are inner to."""
    found = []
    for a, b, sel in ((key[up:, :-1], key[up:, 1:], (base[up:, :-1] == base[up:, 1:])
                       & is_big[up:, :-1]),
                      (key[:-1, left:], key[1:, left:], (base[:-1, left:] == base[1:, left:])
                       & is_big[:-1, left:])):
        sel = sel & (a != b)
        if sel.any():
            found.append(np.stack([np.minimum(a[sel], b[sel]), np.maximum(a[sel], b[sel])], 1))
    if found:
        pairs.append(np.unique(np.concatenate(found), axis=0))


def _join_slivers(keys, count, sums, pairs: list, min_size: int, max_size: int) -> np.ndarray:
    """Each piece's root: pieces under ``min_size`` merged into the most similar piece of
    their own segment (the only edges gathered) whose group stays within ``max_size``.

    In rounds: each small group picks its closest neighbour group that can take it (ties
    to the lower id); a group receives one small group a round, and one that merges away
    receives none, so no two merges of a round together pass ``max_size``. Mutual picks
    merge into the lower id. Closest-neighbour picks form no cycle longer than two, so
    every round with a pick merges something."""
    m = len(keys)
    root = np.arange(m)
    if not pairs or not (count < min_size).any():
        return root
    edges = np.unique(np.concatenate(pairs), axis=0)
    idx = np.stack([np.searchsorted(keys, edges[:, 0]), np.searchsorted(keys, edges[:, 1])], 1)
    count = count.astype(np.float64)
    sums = sums.astype(np.float64)
    while True:
        a, b = root[idx[:, 0]], root[idx[:, 1]]
        # groups only grow: an edge inside a group, between two groups at the minimum, or
        # whose two sides together pass the maximum never joins anything again, and is
        # dropped for good (a chain of equal slivers merges one pair a round: rescanning
        # every edge of the raster each round took 26 s for 400 slivers beside 1M edges)
        small = np.minimum(count[a], count[b]) < min_size
        alive = (a != b) & small & (count[a] + count[b] <= max_size)
        if not alive.all():
            idx, a, b = idx[alive], a[alive], b[alive]
        src = np.concatenate([a, b])
        dst = np.concatenate([b, a])
        ok = (count[src] < min_size) & (count[src] + count[dst] <= max_size)
        if not ok.any():
            return root
        src, dst = src[ok], dst[ok]
        d = squared_distance(sums[src] / count[src, None], sums[dst] / count[dst, None])
        order = np.lexsort((dst, d, src))
        src, dst, d = src[order], dst[order], d[order]
        first = np.r_[True, src[1:] != src[:-1]]
        src, dst, d = src[first], dst[first], d[first]  # each small group's pick
        pick = np.full(m, -1)
        pick[src] = dst
        mutual = pick[dst] == src
        # into a group that stays (not merging away this round), or the lower of a pair
        go = (pick[dst] < 0) | (mutual & (src > dst))
        src, dst, d = src[go], dst[go], d[go]
        order = np.lexsort((src, d, dst))  # one incoming per receiving group: the closest
        src, dst = src[order], dst[order]
        first = np.r_[True, dst[1:] != dst[:-1]]
        src, dst = src[first], dst[first]
        if not len(src):  # cannot happen (see above); never loop for ever
            return root
        # the merged-away groups' totals go to their new root (the lower id of the pair)
        joined = union(m, np.stack([np.minimum(src, dst), np.maximum(src, dst)], 1))
        count = np.bincount(joined, count, m)
        sums = np.stack([np.bincount(joined, sums[:, k], m) for k in range(sums.shape[1])], 1)
        root = joined[root]
