"""Tile geometry for Classify Pixels: tile and padding, batch size, and the memory they take.

Shared by the single-process stream and the distributed blocks, so that both cut a raster
into the same tiles (the condition for their maps being the same).
"""

from __future__ import annotations

from rasterio.windows import Window

from ..errors import InputError

# One tile's bands and class scores in float32: what a default tile may take. A package
# with 1024 bands and ImageWidth 8192 would otherwise ask for 275 GB per tile.
TILE_MEMORY = 1 << 30
MAX_MEMORY = 4 * TILE_MEMORY  # what explicit TILE_SIZE, BATCH_SIZE or a blend strip may take
# How far the automatic tile grows over a large raster, and what such a tile's bands and
# class scores may take (the network's activations are several times that).
LARGEST_TILE = 1024
AUTO_TILE_CAP = 2048  # the model's chip size is taken up to this
GROWN_TILE_MEMORY = 1 << 27


def tile_bytes(tile: int, info) -> int:
    return tile * tile * (info.in_channels + len(info.class_values)) * 4


def check_tile_memory(tile: int, info) -> None:
    """Refuse a TILE_SIZE whose bands and probabilities alone take over MAX_MEMORY."""
    if tile_bytes(tile, info) > MAX_MEMORY:
        raise InputError("tile_size", f"a {tile} px tile of {info.in_channels} bands and "
                         f"{len(info.class_values)} classes takes "
                         f"{tile_bytes(tile, info) / 1e9:.1f} GB; use a smaller TILE_SIZE")


def geometry(config, info, area: Window | None = None) -> tuple[int, int]:
    """(tile, padding) in pixels. Without TILE_SIZE: the model's chip size, at least 256 px,
    and for a deep model with centre blending over ``area`` the tile of up to LARGEST_TILE
    px that computes the fewest pixels (``tile_for_area``)."""
    # Larger tiles than the training chips waste less on padding; a CNN takes any size.
    # Pixel classifiers need no context at all.
    if config.tile_size is None:
        tile = min(max(info.tile - info.tile % 32, 256), AUTO_TILE_CAP)
        while tile > 256 and tile_bytes(tile, info) > TILE_MEMORY:
            tile = max(256, tile // 2 - (tile // 2) % 32)
    else:
        tile = config.tile_size
        if area is not None:
            tile = min(tile, covering_tile(config, info, area))
        check_tile_memory(tile, info)
    pad = _padding(config, info, tile)
    if tile - 2 * pad < 16:
        raise InputError("padding", f"a padding of {pad} px on each side leaves {tile - 2 * pad}"
                         f" px of a {tile} px tile; use at most {(tile - 16) // 2}, or a larger "
                         "TILE_SIZE")
    if config.blend not in ("centre", "weighted"):
        raise InputError("blend", f"'{config.blend}' is not centre or weighted")
    if (config.tile_size is None and area is not None and info.kind != "classical"
            and config.blend == "centre"):
        tile = tile_for_area(config, info, tile, area)
        pad = _padding(config, info, tile)
    return tile, pad


def padding_cut(config, info, tile: int, pad: int) -> str | None:
    """What to say where a deep model's own padding (its package's ModelPadding) did not
    fit the tile and was cut to what does: a hand-edited ModelPadding of 1000 px ran with
    120 px on 256 px tiles, unsaid. None where nothing was cut or PADDING was given."""
    if config.padding is not None or info.kind == "classical" or pad >= info.padding:
        return None
    least = -(-(2 * info.padding + 16) // 32) * 32
    return (f"the model asks for {info.padding} px of context around each tile (its "
            f"ModelPadding); tiles of {tile} px leave room for {pad} px, so pixels near tile "
            f"edges see less than it asks. Set TILE_SIZE to at least {least} px for all of it, "
            "or PADDING to choose")


def covering_tile(config, info, area: Window) -> int:
    """The smallest tile (a multiple of 32) that holds ``area`` with its padding: an explicit
    TILE_SIZE larger than that computes only fill past the raster's edge, and TILE_SIZE=8192
    (the largest offered) on a 384 px raster took a 23 GB network pass on the CPU until the
    process was killed (a qgis_process sweep, stop 67). One tile holds the whole area either
    way; a deep network sees less fill past the edge (pixels near it may differ slightly)."""
    side = max(int(area.height), int(area.width))
    tile = -(-side // 32) * 32
    while tile - 2 * _padding(config, info, tile) < max(side, 16):  # geometry's least centre
        tile += 32
    return tile


def _padding(config, info, tile: int) -> int:
    if info.kind == "classical" and info.padding:
        # neighbourhood features: a pixel's features are exact only where the tile holds its
        # whole window, so the padding is a minimum, and tiles must not be blended
        if config.padding is not None and config.padding < info.padding:
            raise InputError("padding", f"{config.padding} px is less than the {info.padding} "
                             "px this model's neighbourhood features look around each pixel; "
                             f"use at least {info.padding}, or leave PADDING empty")
        if config.blend == "weighted":
            raise InputError("blend", "weighted blending averages overlapping tiles, whose "
                             "edges a pixel classifier's neighbourhood features cannot see "
                             "past; use BLEND=centre (a pixel's class does not depend on its "
                             "tile)")
        return info.padding if config.padding is None else config.padding
    default_pad = info.padding if info.kind == "classical" else max(info.padding, 32)
    return min(default_pad, (tile - 16) // 2) if config.padding is None else config.padding


def tile_for_area(config, info, smallest: int, area: Window) -> int:
    """The tile (``smallest`` .. LARGEST_TILE px, multiples of 32) whose tiles over ``area``
    add up to the fewest pixels, ties to the smaller. Every tile computes its padding too:
    at 256 px with 32 px of context 1.78 pixels are computed per pixel mapped, at 768 px
    1.19. On a 7.8 MPix raster (800 px chosen) whole runs were 1.39x faster with torch and
    1.38x with ONNX Runtime, same map (BENCHMARKS.md, "the tile fitted to the raster"); a
    small raster keeps the tile that covers it with the least waste."""
    height, width = int(area.height), int(area.width)
    best, best_cost = smallest, None
    for tile in range(smallest, max(smallest, LARGEST_TILE) + 1, 32):
        if tile > smallest and tile_bytes(tile, info) > GROWN_TILE_MEMORY:
            break
        core = tile - 2 * _padding(config, info, tile)
        if core < 16:
            continue
        cost = -(-height // core) * -(-width // core) * tile * tile
        if best_cost is None or cost < best_cost:
            best, best_cost = tile, cost
    return best


def check_strip(config, info, tile: int, pad: int, area: Window,
                block_width: int | None = None) -> None:
    """Weighted blending keeps one strip of tile height across the map (on Dask, across a
    block's work window, ``block_width``): bounded here."""
    if config.blend != "weighted":
        return
    width = int(area.width) if block_width is None else block_width
    strip = (len(info.class_values) + 2) * tile * (width + 2 * pad + tile) * 4
    if strip > MAX_MEMORY:
        what = (f"a {width:,} px wide map" if block_width is None
                else f"blocks {width:,} px wide (with their halo)")
        raise InputError("blend", f"weighted blending of {what} keeps a strip of "
                         f"{strip / 1e9:.1f} GB in memory; use BLEND=centre, a smaller "
                         + ("TILE_SIZE or EXTENT" if block_width is None
                            else "BLOCK_SIZE or TILE_SIZE"))


def batch_size(config, device, tile: int, info) -> int:
    per_tile = tile_bytes(tile, info)
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
