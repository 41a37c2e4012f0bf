"""Classify Pixels with an object-based model: every pixel of a segment gets its segment's
class, over rasters of any size.

Two passes over SEGMENTED_RASTER and the image. The first gathers each segment's
attribute sums tile by tile (classical.segment_attributes), so a segment crossing tiles
is described exactly as if the raster were one tile; the classifier then runs once per
segment. The second pass paints each tile's pixels with their segment's probabilities
through the same writers as pixel models (confidence, probabilities, threshold).
With an EXTENT the segments it touches are still described whole, as training describes
them (their ids found first, then their sums gathered over the raster). Pixels without
a segment, or without image data, stay NoData. Memory follows the number of segments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..classical.segment_attributes import gather_segment_stats, segment_limit, too_many_segments
from ..errors import Cancelled, InputError
from ..geo.grid import count_tiles, tile_windows
from ..geo.segments import open_segments, read_segments
from ..progress import Progress, SubProgress, track

if TYPE_CHECKING:
    from rasterio.windows import Window

__all__ = ["check_object_model", "object_notes", "stream_objects"]

_ROWS = 200_000  # segments per classifier call: bounds its working memory
_MERGE_AT = 1 << 20  # ids of tiles held before they are merged into those found


def check_object_model(config, predictor) -> bool:
    """Whether the model classifies segments; refuses a model and SEGMENTED_RASTER that
    do not go together."""
    objects = getattr(predictor, "segment_attributes", None) is not None
    if objects and not config.segmented_raster:
        raise InputError("segmented_raster", "this model classifies segments (it was trained "
                         f"on {';'.join(predictor.segment_attributes)} of segments): give the "
                         "segments of INPUT_RASTER (Segment, with the settings used for "
                         "training) as SEGMENTED_RASTER")
    if config.segmented_raster and not objects:
        raise InputError("segmented_raster", "this model classifies pixels, not segments; "
                         "leave SEGMENTED_RASTER empty, and give its map one class per segment "
                         "with Refine Classification (SEGMENTED_RASTER there), or train an "
                         "object-based model with Train Classifier's SEGMENTED_RASTER")
    return objects


def object_notes(config, progress: Progress) -> None:
    """Settings that shape pixel tiles and have no effect on segments: said, not hidden."""
    unused = [name for name, on in (("PADDING", bool(config.padding)),
                                    ("BLEND=weighted", config.blend == "weighted"),
                                    ("TEST_TIME_AUGMENTATION", config.test_time_augmentation))
              if on]
    if unused:
        progress.warning(f"{', '.join(unused)} shape(s) pixel tiles and do(es) nothing for a "
                         "model that classifies whole segments")


def stream_objects(config, source, area, predictor, outputs, progress: Progress,
                   tile: int) -> int:
    """Classify every segment in ``area``, then write the map; the count of tiles without
    a classified pixel."""
    if config.cell_size and config.extent:
        # the raster is resampled over EXTENT and a margin past it: no segmented raster a
        # user can make has that grid (the advice below could not be followed)
        raise InputError("cell_size", "with an object-based model, CELL_SIZE and EXTENT do not "
                         "go together: leave EXTENT empty (or CELL_SIZE, with segments of "
                         "INPUT_RASTER as it is), or resample and clip the raster first "
                         "(gdalwarp) and segment that")
    try:
        seg_ds = open_segments(config.segmented_raster, source.grid, progress=progress)
    except InputError as exc:
        if not config.cell_size or "grid" not in exc.detail:
            raise
        raise InputError("segmented_raster", f"{exc.detail}. CELL_SIZE resamples INPUT_RASTER "
                         "first: leave CELL_SIZE empty, or segment the raster resampled to "
                         "that cell size") from None
    try:
        full = source.grid.full_window
        if (int(area.col_off), int(area.row_off), int(area.width), int(area.height)) == \
                (0, 0, int(full.width), int(full.height)):
            stats = gather_segment_stats(source, seg_ds, area, None,
                                         SubProgress(progress, 0.0, 0.45), tile)
        else:
            # an EXTENT: its segments described whole, as training described them (cut at
            # the extent, a segment's count, shape and means changed, and two adjacent
            # extents could give one segment two classes)
            keep = _segments_in(seg_ds, area, tile, SubProgress(progress, 0.0, 0.1),
                                segment_limit(len(source.bands)))
            stats = gather_segment_stats(source, seg_ds, full, keep,
                                         SubProgress(progress, 0.1, 0.45), tile)
        ids, x = stats.features(predictor.segment_attributes)
        progress.info(f"{len(ids)} segments with image data, each described by "
                      f"{x.shape[1]} features ({';'.join(predictor.segment_attributes)})")
        probs = np.zeros((len(ids), len(predictor.values)), np.float32)
        for i in range(0, len(ids), _ROWS):
            if progress.is_canceled():
                raise Cancelled()
            probs[i:i + _ROWS] = predictor.calibrated_proba(x[i:i + _ROWS])
            progress.set_fraction(0.45 + 0.1 * min(i + _ROWS, len(ids)) / max(len(ids), 1))
        return _paint(seg_ds, source, area, ids, probs, outputs,
                      SubProgress(progress, 0.55, 0.99), tile)
    finally:
        seg_ds.close()


def _segments_in(seg_ds, area: Window, tile: int, progress: Progress,
                 limit: int) -> np.ndarray:
    """The sorted ids of the segments with a pixel in ``area``. Each tile's ids wait in a
    list merged when it outgrows what was found (a merge per tile re-sorted every id found
    so far: hours before the first pixel on a gigapixel EXTENT of millions of segments).
    More than ``limit`` (what the sums gathered next can hold) stops the run naming
    SEGMENTED_RASTER before the ids outgrow memory (a raster of one id per pixel)."""
    found = np.zeros(0, np.int64)
    pending: list[np.ndarray] = []
    held = 0
    for win in track(tile_windows(area, (tile, tile)), progress,
                     count_tiles(area, (tile, tile))):
        seg, has = read_segments(seg_ds, win.intersection(area))
        pending.append(np.unique(seg[has]))
        held += len(pending[-1])
        if held > max(len(found), _MERGE_AT):
            found, pending, held = np.unique(np.concatenate([found, *pending])), [], 0
            if len(found) > limit:
                raise too_many_segments(limit)
    found = np.unique(np.concatenate([found, *pending]))
    if len(found) > limit:
        raise too_many_segments(limit)
    return found


def _paint(seg_ds, source, area, ids, probs, outputs, progress, tile: int) -> int:
    skipped = orphans = 0
    n = count_tiles(area, (tile, tile))
    for win in track(tile_windows(area, (tile, tile)), progress, n):
        win = win.intersection(area)
        seg, has = read_segments(seg_ds, win)
        valid = source.read(win).valid
        orphans += int((valid & ~has).sum())
        if len(ids):
            at = np.clip(np.searchsorted(ids, seg), 0, len(ids) - 1)
            valid &= has & (ids[at] == seg)
            tile_probs = np.moveaxis(probs[at], -1, 0)
        else:  # no segment with image data in the area: an unclassified tile, no index
            valid = np.zeros(seg.shape, bool)
            tile_probs = np.zeros((probs.shape[1],) + seg.shape, np.float32)
        skipped += not valid.any()
        outputs.add(win, tile_probs, valid)
    outputs.finish()
    if orphans:
        progress.warning(f"{orphans} pixels with image data lie in no segment (NoData in "
                         "SEGMENTED_RASTER) and stay unclassified")
    return skipped
