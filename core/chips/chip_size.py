"""The automatic chip size: the largest that still leaves room for a spatial validation split.

Why: 256 px chips (ArcGIS's default) on a small labelled area give one or two tile-sized
blocks; Train Deep Learning Model holds whole blocks out for validation and drops training
chips that overlap them, so nothing is left to train on (measured on nc_landsat7's west
half, 245 x 443 px, nb_aerial, 326 x 482 px, and slovenia_s2, 100 x 101 px; BENCHMARKS
"Map quality"). TILE_SIZE_X/Y = 0 asks for this rule instead of a fixed size:

    the largest of 256, 128, 64, 32 px for which at least MIN_LABELLED_BLOCKS tile-sized
    blocks of the export area hold labels (32 px when none does).

"Hold labels" is the label source's own ``holds_labels`` test: feature bounding boxes for
polygons and points, a labelled pixel in the block for a label raster (its footprint alone
would call a sparse raster labelled everywhere); sources without one answer ``overlaps``.
Sizes are powers of two so the chips pass a 5-level encoder (a multiple of 32). Counting
stops at MIN_LABELLED_BLOCKS, so a continent-sized raster costs what a county does when the
largest size already qualifies.

The stride, when left at 0, is half the chip (every pixel is seen twice, and a block boundary
never falls in a chip's middle alone), or a quarter of it where the labelled chip-sized
blocks add up to less than DENSE_BELOW pixels. On so little labelled area one network is a
lottery, and more, overlapping views of the same labels steady it: on nc_landsat7, nb_aerial,
enmap_potsdam and slovenia_s2 (BENCHMARKS "Map quality", round 5) a quarter-chip stride
raised the mean OA of three seeds on all four (nc 0.633 -> 0.700, nb 0.819 -> 0.951) and
the worst seed's from 0.28-0.62 to 0.41-0.95, for 1.3-2x the training time, a minute or
three there. Larger areas keep half a chip: their training takes long enough already
(s2_osm_sparse, 18 blocks of 256 px: ~9 minutes a network on a 2-core CPU).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rasterio.windows import Window

from ..geo.grid import count_tiles, tile_windows
from ..progress import check

AUTO = 0  # TILE_SIZE_X/Y and STRIDE_X/Y: 0 = chosen by this module
CANDIDATES = (256, 128, 64, 32)
MIN_LABELLED_BLOCKS = 16
MAX_WINDOWS = 2_000_000  # chip windows an export may look at (a stride of 1 px made 10^7+)
DENSE_BELOW = 500_000  # pixels of labelled chip-sized blocks under which the stride is 1/4


@dataclass(frozen=True)
class ChipSize:
    tile: tuple[int, int]
    stride: tuple[int, int]
    why: str  # one line for the log when anything was chosen automatically, else ""


def labelled_blocks(labels, area: Window, size: tuple[int, int], enough: int,
                    progress=None, fits: Callable[[Window], bool] | None = None) -> int:
    """Tile-sized blocks of ``area`` that meet the labels (and pass ``fits``, e.g. lie
    wholly inside MASK_POLYGONS), counted up to ``enough``; with ``progress``, a cancel is
    heard between blocks (sparse labels on a large raster make millions of them, each a
    read of the labels)."""
    found = 0
    for k, win in enumerate(tile_windows(area, size)):
        if progress is not None and k % 256 == 0:
            check(progress)
        if labels.holds_labels(win) and (fits is None or fits(win)):
            found += 1
            if found >= enough:
                break
    return found


def auto_tile(labels, area: Window, progress=None,
              fits: Callable[[Window], bool] | None = None) -> tuple[int, int]:
    """(chip side, labelled blocks at that side) by the rule in the module docstring."""
    blocks = 0
    for size in CANDIDATES:
        blocks = labelled_blocks(labels, area, (size, size), MIN_LABELLED_BLOCKS, progress,
                                 fits)
        if blocks >= MIN_LABELLED_BLOCKS:
            return size, blocks
    return CANDIDATES[-1], blocks


def resolve_chip_size(tile: tuple[int, int], stride: tuple[int, int], labels,
                      area: Window, progress=None,
                      fits: Callable[[Window], bool] | None = None) -> ChipSize:
    """Fill in the automatic (0) values of ``tile`` and ``stride``.

    One automatic axis takes the other's given size (square chips); both automatic take
    the rule's size. One automatic stride takes the given one's share of its chip; both
    automatic are half their axis's chip, or a quarter on a small labelled area (module
    docstring). ``fits``: a block counts only where it passes (the
    export's MASK_POLYGONS: counted over the whole area, the rule chose chips no mask
    polygon could hold, and the export was refused for a mask the user drew with care).
    """
    tx, ty = tile
    why = []
    counted = None  # labelled blocks at the chosen size, when auto_tile counted them
    if tx == AUTO and ty == AUTO:
        side, blocks = auto_tile(labels, area, progress, fits)
        counted = blocks
        tx = ty = side
        enough = ("" if blocks >= MIN_LABELLED_BLOCKS else
                  f"; only {blocks} do at {side} px, the smallest size tried")
        why.append(f"{side} x {side} px chips, the largest of "
                   f"{'/'.join(map(str, CANDIDATES))} px that puts labels in at least "
                   f"{MIN_LABELLED_BLOCKS} chip-sized blocks of the export area"
                   f"{' inside MASK_POLYGONS' if fits is not None else ''}{enough}")
    elif tx == AUTO or ty == AUTO:
        given = "TILE_SIZE_X" if ty == AUTO else "TILE_SIZE_Y"
        tx = ty = max(tx, ty)
        why.append(f"square {tx} x {ty} px chips ({given}'s size on both sides)")
    sx, sy = stride
    if (sx == AUTO) != (sy == AUTO):
        # one stride given: the other takes the same share of its chip (STRIDE_X=64 on
        # 64 px chips, chips that touch, took a quarter-chip STRIDE_Y: 75% overlap, unasked;
        # deep-learning sweep, stop 69)
        given = "STRIDE_X" if sy == AUTO else "STRIDE_Y"
        if sx == AUTO:
            sx = max(1, round(sy * tx / ty))
        else:
            sy = max(1, round(sx * ty / tx))
        why.append(f"stride {sx} x {sy} px ({given}'s share of its chip on both axes)")
    elif sx == AUTO:
        enough = -(-DENSE_BELOW // (tx * ty))
        # auto_tile's count decides when it is over the need or was not cut short (under
        # MIN_LABELLED_BLOCKS it scanned the whole area); a second scan only otherwise
        if counted is not None and (counted >= enough or counted < MIN_LABELLED_BLOCKS):
            blocks = counted
        else:
            blocks = labelled_blocks(labels, area, (tx, ty), enough, progress, fits)
        part = 4 if blocks < enough else 2
        auto_x, auto_y = sx == AUTO, sy == AUTO
        sx = sx if sx != AUTO else max(1, tx // part)
        sy = sy if sy != AUTO else max(1, ty // part)
        why.append(f"stride {sx} x {sy} px (" + (
            f"a quarter of a chip: the labels lie in {blocks} chip-sized blocks, under "
            f"{DENSE_BELOW / 1e6:.1f} MPix" if part == 4 else "half a chip") + ")")
        # over a large area the automatic stride itself made more windows than an export
        # looks at (sparse labels, 32 px chips every 8 px over 12,000 px), and the refusal
        # asked for the automatic stride: it widens up to a whole chip instead
        wide = (sx, sy)
        while count_tiles(area, (tx, ty), (sx, sy)) > MAX_WINDOWS and (
                (auto_x and sx < tx) or (auto_y and sy < ty)):
            sx = min(tx, sx * 2) if auto_x else sx
            sy = min(ty, sy * 2) if auto_y else sy
        if (sx, sy) != wide:
            why.append(f"widened to {sx} x {sy} px: a finer one makes more than "
                       f"{MAX_WINDOWS:,} chip windows over {int(area.width)} x "
                       f"{int(area.height)} px")
    line = ("Automatic chip size (for TILE_SIZE_X/Y, STRIDE_X/Y left at 0): "
            + "; ".join(why) + "."
            if why else "")
    return ChipSize((tx, ty), (sx, sy), line)
