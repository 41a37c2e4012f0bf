"""Training samples for object-based classification: one per segment, not per pixel.

A segment (SEGMENTED_RASTER) is labelled by the majority class of its labelled pixels on
valid image data, and kept only where that class holds at least MIN_LABEL_SHARE of them
(a segment mostly of other classes would teach its class wrongly; one split exactly in
half is kept, under the lower class value) and, where the labels are areas (polygons or a
label raster), where its labelled pixels cover at least MIN_LABELLED_SHARE of its own pixels
(a sliver of a polygon would label a segment that is mostly something else; a point or a
line labels a pixel or a strip, and no segment would pass). Its group for the cross-validation is the polygon (or, for a label
raster, the 64 px block) most of those pixels came from, so one polygon's segments stay
on one side; every polygon a segment's labelled pixels fall in is kept beside it
(Samples.touches), since a segment 60% of one polygon and 40% of another is most of that
other polygon's neighbour too, and the cross-validation keeps such segments out of the
folds that test the other polygon. Up to MAX_SAMPLES_PER_CLASS segments per class are drawn at random; their
attributes describe the whole segment, inside EXTENT or not (segment_attributes). The pixels
of its class it holds (Samples.labelled_pixels) are what the cross-validation counts it by,
as the map is judged per pixel (cv_weights).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..geo.extent import ExtentMask, extent_to_window
from ..geo.grid import tile_windows
from ..geo.raster import RasterSource
from ..geo.segments import open_segments, read_segments
from ..labels.open import labelled_windows, open_labels
from ..progress import NullProgress, Progress, SubProgress, check
from .samples import BLOCK, Samples, all_areas, all_points, pixel_groups, shared_nodata
from .segment_attributes import (
    DEFAULT_ATTRIBUTES,
    feature_names,
    gather_segment_stats,
    parse_attributes,
)

__all__ = ["MIN_LABELLED_SHARE", "MIN_LABEL_SHARE", "collect_object_samples"]

MIN_LABEL_SHARE = 0.5
# areas' labels only: a segment's labelled pixels must cover this share of its pixels, or a
# 10 px corner of a water polygon made a 400 px grass segment a water sample, its attributes
# all grass's; measured (bench_objects' data, random forests, 3 seeds, 2026-12-06), held-out
# OA / macro F1 at 0 -> 0.25: s2 MIN_SEGMENT_SIZE 20 0.476 / 0.379 -> 0.568 / 0.449, 5
# 0.562 / 0.449 -> 0.579 / 0.464; nc 20 0.578 / 0.393 -> 0.635 / 0.435, 5 0.584 / 0.392 ->
# 0.579 / 0.392. 0.5 was worse (nc 5: 0.554 / 0.351) and left nc's class 7 no segment at 20
MIN_LABELLED_SHARE = 0.25


class _PairCounts:
    """How many labelled pixels each (segment, key) pair has, merged chunk by chunk."""

    MERGE_ROWS = 4_000_000

    def __init__(self):
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.rows = 0
        self.merged = 0  # rows of the last merge

    def add(self, seg: np.ndarray, key: np.ndarray) -> None:
        self.parts.append(_reduce(seg, key, np.ones(len(seg), np.int64)))
        self.rows += len(self.parts[-1][0])
        # merged again once the pending rows pass the last merge's size too: each row is
        # sorted O(log) times overall, not once per window
        if len(self.parts) > 1 and self.rows - self.merged > max(self.MERGE_ROWS, self.merged):
            self.parts = [self.result()]
            self.rows = self.merged = len(self.parts[0][0])

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self.parts:
            z = np.zeros(0, np.int64)
            return z, z, z
        return _reduce(*(np.concatenate(p) for p in zip(*self.parts)))

    def majority(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(segments, each one's most frequent key (ties: the lower key), its pixels, its
        share of the segment's labelled pixels)."""
        seg, key, n = self.result()
        if len(seg) == 0:
            return seg, key, n, np.zeros(0)
        order = np.lexsort((key, -n, seg))
        first = np.r_[0, np.nonzero(np.diff(seg[order]))[0] + 1]
        totals = np.add.reduceat(n[order], first)
        best = order[first]
        return seg[best], key[best], n[best], n[best] / totals


def _reduce(a, b, w):
    order = np.lexsort((b, a))
    a, b, w = a[order], b[order], w[order]
    if len(a) == 0:
        return a, b, w
    starts = np.r_[0, np.nonzero((np.diff(a) != 0) | (np.diff(b) != 0))[0] + 1]
    return a[starts], b[starts], np.add.reduceat(w, starts)


def collect_object_samples(config, progress: Progress | None = None) -> Samples:
    """The samples of ClassicalConfig ``config`` with a SEGMENTED_RASTER: segment features."""
    progress = progress or NullProgress()
    with RasterSource(config.input_raster, config.bands) as image:
        attributes = config.segment_attributes
        if tuple(attributes) == DEFAULT_ATTRIBUTES and len(image.bands) < 3:
            # ArcGIS's default assumes an RGB image; on one or two bands (NDVI, SAR) the
            # default would stop the run, so MEAN alone describes the segments, said aloud
            attributes = ("MEAN",)
            progress.info(f"SEGMENT_ATTRIBUTES: COLOR needs three bands and "
                          f"{len(image.bands)} are read (BANDS): segments are described by "
                          "MEAN (give SEGMENT_ATTRIBUTES to choose others, such as MEAN;STD)")
        attributes = parse_attributes(attributes, len(image.bands))
        seg_ds = open_segments(config.segmented_raster, image.grid, progress=progress)
        try:
            return _collect(config, image, seg_ds, attributes, progress)
        finally:
            seg_ds.close()


def _collect(config, image, seg_ds, attributes, progress) -> Samples:
    grid = image.grid
    area = extent_to_window(config.extent, grid, centres=True) if config.extent else grid.full_window
    with open_labels(config.labels, grid, progress) as lab:
        has_ids = hasattr(lab, "read_ids")
        by_class, by_group = _PairCounts(), _PairCounts()
        # an EXTENT in a turned CRS: its box's slivers past the extent are left out, as
        # the pixel samples leave them (they trained the object model; review 96)
        shape = ExtentMask(config.extent, grid) if ExtentMask.needed(config.extent, grid) \
            else None
        for inner, y in labelled_windows(lab, area, SubProgress(progress, 0, 0.5)):
            beyond = shape.outside(inner) if shape is not None else None
            if beyond is not None:
                y = np.where(beyond, 0, y)
            ids, has = read_segments(seg_ds, inner)
            keep = (y > 0) & has
            if not keep.any():
                continue
            keep &= image.read(inner).valid
            if not keep.any():
                continue
            by_class.add(ids[keep], y[keep].astype(np.int64))
            by_group.add(ids[keep], pixel_groups(lab, inner, keep))
        segs, cls, pixels, share = by_class.majority()
        if len(segs) == 0:
            raise InputError("segmented_raster", "no labelled pixel on valid image data falls in a "
                             "segment; check that the segments cover the labels")
        _, groups, _, _ = by_group.majority()
        ok = share >= MIN_LABEL_SHARE
        progress.info(f"{len(segs)} segments hold labelled pixels; {int((~ok).sum())} of them are "
                      f"left out: no class holds {MIN_LABEL_SHARE:.0%} of their labelled pixels")
        # a point or a line labels a pixel or a strip of a segment: the share is for areas
        areas = not has_ids or all_areas(config.labels)
        if areas:
            covered = np.rint(pixels / share) / _segment_sizes(seg_ds, grid.full_window, segs,
                                                                progress)
            thin = ok & (covered < MIN_LABELLED_SHARE)
            _spare_classes(thin, ok, cls, lab.classes, progress)
            names = {c.value: c.name for c in lab.classes}
            per_class = ", ".join(f"{names.get(int(v), v)} {int((thin & (cls == v)).sum())} of "
                                  f"{int((ok & (cls == v)).sum())}"
                                  for v in np.unique(cls[thin]))
            progress.info(f"{int(thin.sum())} more are left out: their labelled pixels cover "
                          f"under {MIN_LABELLED_SHARE:.0%} of them, so their attributes "
                          "describe mostly unlabelled ground"
                          + (f" (per class: {per_class})" if per_class else ""))
            ok &= ~thin
        segs, cls, groups, pixels = segs[ok], cls[ok], groups[ok], pixels[ok]
        available = {int(v): int((cls == v).sum()) for v in np.unique(cls)}
        # what the cross-validation counts each segment by (cv_weights): its pixels of its class
        pixels_per_class = {v: int(pixels[cls == v].sum()) for v in available}
        missing = [c for c in lab.classes if c.value not in available]
        if missing:
            raise InputError("segmented_raster", "class(es) " + ", ".join(
                f"{c.value} '{c.name}'" for c in missing) + " label no segment" + (
                " inside EXTENT (or their pixels there" if config.extent else " (their pixels")
                + f" are under {MIN_LABEL_SHARE:.0%} of the labelled pixels of every segment "
                "they touch); "
                + ("widen EXTENT, " if config.extent else "") + "segment more finely (a "
                "higher SPECTRAL_DETAIL or a smaller MIN_SEGMENT_SIZE), or label more")
        classes = [c for c in lab.classes if c.value in available]
        if len(classes) < 2:
            raise InputError("labels", f"only one class ({classes[0].name}) labels segments; a "
                             "classifier needs at least two")
        rng = np.random.default_rng(config.seed)
        pick = []
        for v in sorted(available):
            where = np.nonzero(cls == v)[0]
            cap = config.max_samples_per_class
            pick.append(np.sort(rng.choice(where, cap, replace=False))
                        if 0 < cap < len(where) else where)
        pick = np.sort(np.concatenate(pick))
        segs, cls, groups, pixels = segs[pick], cls[pick], groups[pick], pixels[pick]
        touches = _touches(segs, by_group.result())
        stats = gather_segment_stats(image, seg_ds, grid.full_window, segs,
                                     SubProgress(progress, 0.5, 1.0))
        ids, x = stats.features(attributes)
        if not np.array_equal(ids, segs):  # each has a labelled pixel on valid data
            raise RuntimeError("labelled segments without image data")
        mean, std = stats.band_means()
        grouped = f"{BLOCK} px block" if not has_ids else (
            "point" if all_points(config.labels) else "polygon")
        return Samples(x, cls, groups, classes, image.band_names, list(image.bands),
                       image.source_count, image.dtype.name, grid.res,
                       grid.crs.to_wkt() if grid.crs else None, available, grouped,
                       feature_names=feature_names(attributes, image.band_names),
                       band_mean=mean, band_std=std, source_scaling=image.scaling,
                       nodata=shared_nodata(image.nodata),
                       touches=touches, labelled_pixels=pixels,
                       labelled_pixels_per_class=pixels_per_class,
                       segments={"attributes": list(attributes),
                                 "features": feature_names(attributes, image.band_names),
                                 "min_label_share": MIN_LABEL_SHARE,
                                 "min_labelled_share": MIN_LABELLED_SHARE if areas else 0,
                                 "labelled_segments": int(sum(available.values()))})


def _touches(segs: np.ndarray, pairs: tuple) -> np.ndarray:
    """(m, 2) rows (index into the sorted ``segs``, group) of every (segment, group) pair of
    ``pairs`` (_PairCounts.result) whose segment was kept: the polygons (blocks) each sample
    segment's labelled pixels fall in, its majority group among them."""
    seg, group, _ = pairs
    at = np.minimum(np.searchsorted(segs, seg), max(len(segs) - 1, 0))
    kept = (segs[at] == seg) if len(segs) else np.zeros(len(seg), dtype=bool)
    return np.column_stack([at[kept], group[kept]]).astype(np.int64)


def _spare_classes(thin: np.ndarray, ok: np.ndarray, cls: np.ndarray, classes,
                   progress: Progress) -> None:
    """A class whose every segment is thin keeps its segments (``thin`` cleared for them),
    said: a class the user labelled would otherwise vanish from the model (nc's class 7 at
    a 0.5 share), where a sample of partly other ground still teaches something of it."""
    names = {c.value: c.name for c in classes}
    spared = [int(v) for v in np.unique(cls[thin]) if not (ok & ~thin & (cls == v)).any()]
    if not spared:
        return
    thin &= ~np.isin(cls, spared)
    progress.warning("Class(es) " + ", ".join(f"{v} '{names.get(v, v)}'" for v in spared)
                     + f" label segments only where their labels cover under "
                     f"{MIN_LABELLED_SHARE:.0%} of the segment: those segments are kept as "
                     "samples all the same, though their attributes describe partly other "
                     "ground; segment more finely (a higher SPECTRAL_DETAIL or a smaller "
                     "MIN_SEGMENT_SIZE), or label more of them")


def _segment_sizes(seg_ds, area, segs: np.ndarray, progress: Progress,
                   tile: int = 512) -> np.ndarray:
    """The pixels of each of the sorted ids ``segs`` in ``area``: the whole segment, as its
    attributes describe it (segment_attributes), memory by the ids, not the raster; one
    read of the segment ids, cancellable per window."""
    sizes = np.zeros(len(segs), np.int64)
    for win in tile_windows(area, (tile, tile)):
        check(progress)
        ids, has = read_segments(seg_ds, win.intersection(area))
        ids = ids[has]
        at = np.clip(np.searchsorted(segs, ids), 0, len(segs) - 1)
        hit = segs[at] == ids
        sizes += np.bincount(at[hit], minlength=len(segs))
    return sizes
