"""Training pixels for classical classifiers, straight from a raster and its labels.

No chips: the image is walked window by window, labelled pixels on valid image data are
kept with their band values, class and group (the polygon they came from; for label
rasters, a 64-pixel spatial block; with neighbourhood features, polygons whose samples'
windows reach a shared block four halos wide are one group, as their windows may
overlap). At most MAX_SAMPLES_PER_CLASS per class are kept, chosen uniformly at random while streaming (the smallest of random keys), so memory
follows that cap, not the number of labelled pixels. With neighbourhood features
(neighbourhood.py) each window is read with a halo and a pixel's features are computed
as Classify Pixels computes them: the halo reaches past EXTENT into the image, as its
padded tiles do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..geo.band_presence import all_nodata_words, bands_without_values
from ..geo.classes import ClassInfo
from ..geo.extent import Extent, ExtentMask, extent_to_window
from ..geo.gdal_open import open_dataset_or_none
from ..geo.grid import pad_window
from ..geo.raster import RasterSource
from ..labels.base import LabelConfig
from ..labels.open import labelled_windows, open_labels
from ..progress import NullProgress, Progress, SubProgress
from .neighbourhood import Neighbourhood

BLOCK = 64  # px: a label raster's pixels are grouped in blocks of this side, at least


def block_side(context: Neighbourhood | None) -> int:
    """The side of a label raster's cross-validation blocks: 64 px, or four windows' halos
    (a 63 px window reaches 31 px into the next block: 64 px blocks put pixels whose
    windows were nearly the same on both sides, and the score read memory as skill)."""
    return max(BLOCK, 4 * context.halo) if context is not None else BLOCK


@dataclass
class Samples:
    x: np.ndarray  # (n, bands) float64
    y: np.ndarray  # (n,) class values
    groups: np.ndarray  # (n,) polygon / block ids
    classes: list[ClassInfo]
    band_names: list[str]
    source_bands: list[int]
    source_band_count: int
    dtype: str
    cell_size: tuple[float, float]
    crs_wkt: str | None
    available: dict[int, int]  # labelled valid pixels per class before sampling
    grouped_by: str  # "polygon", "point" or "64 px block" (its side)
    # object-based samples (object_samples): x holds segment features, not bands
    feature_names: list[str] | None = None
    band_mean: np.ndarray | None = None  # the bands' statistics over the samples' pixels
    band_std: np.ndarray | None = None
    segments: dict | None = None  # what the package records in LandLearn.segments
    source_scaling: list[list[float]] | None = None  # GDAL's [scale, offset] per band
    # a label raster's samples with neighbourhood windows: (n, 2) pixel rows and columns,
    # and how near (Chebyshev, px) two samples' windows overlap; cross-validation leaves a
    # fold's training samples that near its test samples out (cv.grouped_folds)
    positions: np.ndarray | None = None
    reach: int = 0
    # the raster's NoData where its bands share one (what Classify Pixels looks for in a
    # raster that declares none: classical packages recorded none; sweep, stop 69)
    nodata: float | None = None
    # object-based samples: (m, 2) rows of (sample, group), every polygon (block) each
    # segment's labelled pixels fall in, not only the majority one its group is; a fold's
    # training segments that share one with its test segments are left out (cv.grouped_folds)
    touches: np.ndarray | None = None
    # object-based samples: (n,) the pixels of each segment that carry its class inside the
    # labels, and per class those of every segment kept before the cap: the cross-validation
    # counts a segment by them, since the map is judged per pixel (cv_weights)
    labelled_pixels: np.ndarray | None = None
    labelled_pixels_per_class: dict[int, int] | None = None


class _Reservoir:
    """The ``cap`` entries with the smallest random keys seen so far, per class."""

    def __init__(self, cap: int, seed: int):
        self.cap = cap
        self.rng = np.random.default_rng(seed)
        self.parts: dict[int, list] = {}

    def keys(self, n: int) -> np.ndarray:
        return self.rng.random(n)

    def add(self, value: int, x: np.ndarray, groups: np.ndarray,
            keys: np.ndarray | None = None) -> None:
        keys = self.rng.random(len(x)) if keys is None else keys
        parts = self.parts.setdefault(value, [])
        parts.append((keys, x, groups))
        if self.cap > 0 and sum(len(p[0]) for p in parts) > 4 * self.cap:
            self.parts[value] = [self._trim(parts)]

    def _trim(self, parts):
        keys = np.concatenate([p[0] for p in parts])
        x = np.concatenate([p[1] for p in parts])
        g = np.concatenate([p[2] for p in parts])
        if self.cap > 0 and len(keys) > self.cap:
            keep = np.argpartition(keys, self.cap)[:self.cap]
            keep.sort()
            return keys[keep], x[keep], g[keep]
        return keys, x, g

    def result(self, value: int):
        return self._trim(self.parts[value])


def collect_samples(raster: str, labels: LabelConfig, bands=None, extent: Extent | None = None,
                    max_per_class: int = 500, seed: int = 0,
                    progress: Progress | None = None,
                    neighbourhood: Neighbourhood | None = None) -> Samples:
    progress = progress or NullProgress()
    context = neighbourhood if neighbourhood is not None and neighbourhood.sizes else None
    with RasterSource(raster, bands) as image:
        area = extent_to_window(extent, image.grid, centres=True) if extent else image.grid.full_window
        with open_labels(labels, image.grid, progress) as lab:
            has_ids = hasattr(lab, "read_ids")
            # polygons (or points) a window apart share pixels in their features: they are
            # merged into one group through the blocks their samples fall in
            merge = context is not None and has_ids
            # a label raster's blocks are cut through: pixels either side of a block edge
            # share most of their windows, so folds are buffered instead (their places kept)
            buffered = context is not None and not has_ids
            # without windows, polygons (points) are the groups, and a fold's training
            # samples that touch one of its test samples across a polygon edge (a field
            # drawn as two polygons of one class) are left out: neighbours, not skill.
            # Joining touching polygons into one group instead took whole classes out of
            # training on wall-to-wall polygons (slovenia_s2: OA 0.755 -> 0.128)
            touching = has_ids and context is None
            reservoir = _Reservoir(max_per_class, seed)
            available: dict[int, int] = {}
            # an EXTENT in a turned CRS: its box's slivers past the extent are left out
            shape = ExtentMask(extent, image.grid) if ExtentMask.needed(extent, image.grid) \
                else None
            for inner, y in labelled_windows(lab, area, SubProgress(progress, 0, 1)):
                beyond = shape.outside(inner) if shape is not None else None
                if beyond is not None:
                    y = np.where(beyond, 0, y)
                keep, chunks = _window_samples(image, inner, y, context)
                if not keep.any():
                    continue
                g = pixel_groups(lab, inner, keep, block_side(context))
                if merge:
                    g = np.column_stack([g, reach_blocks(inner, keep, 4 * context.halo,
                                                         context.halo)])
                elif buffered or touching:  # the pixels' places ride along with their groups
                    rr, cc = np.nonzero(keep)
                    g = np.column_stack([g, rr + int(inner.row_off), cc + int(inner.col_off)])
                yk = y[keep]
                # each pixel's random key drawn per window and class, as if the window came
                # in one piece; its feature rows then come chunk by chunk (neighbourhood
                # features a strip of rows at a time), so memory follows a strip and the
                # reservoir, not a whole labelled window
                values, counts = np.unique(yk, return_counts=True)
                keys = {int(v): reservoir.keys(int(n)) for v, n in zip(values, counts)}
                for v, n in zip(values, counts):
                    available[int(v)] = available.get(int(v), 0) + int(n)
                used = dict.fromkeys(keys, 0)
                start = 0
                for x in chunks:
                    stop = start + len(x)
                    yc, gc = yk[start:stop], g[start:stop]
                    for v in np.unique(yc):
                        sel = yc == v
                        first, v = used[int(v)], int(v)
                        used[v] = first + int(sel.sum())
                        reservoir.add(v, x[sel], gc[sel], keys[v][first:used[v]])
                    start = stop
            if not available:
                empty = bands_without_values(image.path, image.bands)
                if empty:  # one band NaN everywhere makes every pixel NoData
                    raise InputError("input_raster", all_nodata_words(
                        image, "no labelled pixel falls on valid image data", empty=empty))
                raise InputError("labels", "no labelled pixel falls on valid image data inside the "
                                 "raster (and EXTENT, if set); check the labels' position and CRS")
            missing = [c for c in lab.classes if c.value not in available]
            if missing:
                where = (" inside EXTENT; widen EXTENT (or leave it empty), remove them, or "
                         "label them inside it" if extent else "; remove them or label them "
                         "where the raster has data")
                raise InputError("labels", "class(es) " + ", ".join(f"{c.value} '{c.name}'" for c in missing)
                                 + " have no labelled pixel on valid image data" + where)
            xs, ys, gs = [], [], []
            for v in sorted(available):
                _, x, g = reservoir.result(v)
                xs.append(x)
                ys.append(np.full(len(x), v, dtype=np.int64))
                gs.append(g)
            classes = [c for c in lab.classes if c.value in available]
            if len(classes) < 2:
                raise InputError("labels", f"only one class ({classes[0].name}) has samples; a "
                                 "classifier needs at least two")
            grouped = f"{block_side(context)} px block" if not has_ids else (
                "point" if all_points(labels) else "polygon")
            groups = np.concatenate(gs)
            positions = None
            if merge:
                groups, grouped = _window_clusters(groups, grouped, context, progress)
            elif buffered or touching:
                groups, positions = groups[:, 0], groups[:, 1:].copy()
            return Samples(np.concatenate(xs), np.concatenate(ys), groups, classes,
                           image.band_names, list(image.bands), image.source_count,
                           image.dtype.name, image.grid.res,
                           image.grid.crs.to_wkt() if image.grid.crs else None, available,
                           grouped, feature_names=(context.feature_names(image.band_names)
                                                   if context else None),
                           source_scaling=image.scaling, positions=positions,
                           reach=(2 * context.halo if buffered else 1 if touching else 0),
                           nodata=shared_nodata(image.nodata))


def shared_nodata(values) -> float | None:
    """The one finite NoData every band declares, or None."""
    found = set(values)
    if len(found) != 1:
        return None
    value = found.pop()
    return float(value) if value is not None and np.isfinite(value) else None


def _window_samples(image, inner, y: np.ndarray, context: Neighbourhood | None):
    """(keep, chunks): the labelled valid pixels of ``inner`` and an iterator of their
    feature rows in row-major order. With neighbourhood features the window is read with a
    halo that reaches past ``area`` (EXTENT) into the raster, as Classify Pixels' padded
    tiles do with or without an EXTENT (treated as outside the raster, the image past
    EXTENT gave the pixels near its edge other features than classifying gives them:
    half the samples of a 200 px EXTENT with 63 px windows), and the values go through
    float32 as those tiles' do, so a pixel's features here equal its features there."""
    if context is None:
        block = image.read(inner)
        keep = (y > 0) & block.valid
        # through float32 as Classify Pixels' tiles go (a float64 or large integer value
        # trained on as it is met the model rounded: 16,777,217 read as 16,777,216)
        return keep, iter([block.data[:, keep].T.astype(np.float32).astype(np.float64)])
    h = context.halo
    block = image.read(pad_window(inner, h))
    valid = block.valid
    keep = (y > 0) & valid[h:h + y.shape[0], h:h + y.shape[1]]
    padded_keep = np.zeros_like(valid)
    padded_keep[h:h + y.shape[0], h:h + y.shape[1]] = keep
    # the tile as classify.stream.normalise hands it to a classical model (mean 0, std 1)
    x = block.data.astype(np.float32)
    x[:, ~block.valid] = 0.0
    np.nan_to_num(x, copy=False)
    return keep, (f for _, _, f in context.strips(x, valid, padded_keep))


def pixel_groups(lab, win, keep: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """The group of each kept pixel of ``win``: its polygon (or point) id where the labels
    have ids, else its ``block`` px block, for cross-validation that keeps neighbours
    together."""
    if hasattr(lab, "read_ids"):
        return lab.read_ids(win)[keep].astype(np.int64)
    return block_ids(win, keep, block)


def block_ids(win, keep: np.ndarray, block: int) -> np.ndarray:
    """The ``block`` px block of each kept pixel of ``win``, numbered over the raster."""
    rr, cc = np.nonzero(keep)
    return ((rr + int(win.row_off)) // block) * 1_000_000 + (cc + int(win.col_off)) // block


def reach_blocks(win, keep: np.ndarray, block: int, halo: int) -> np.ndarray:
    """(n, 4): the ``block`` px blocks each kept pixel's window (``halo`` each side) reaches,
    numbered as ``block_ids`` (repeated where it reaches fewer than four). Two pixels whose
    windows overlap both reach the block of the point midway between them, so linking each
    sample to every block its window reaches joins them even across a block edge."""
    rr, cc = np.nonzero(keep)
    rr, cc = rr + int(win.row_off), cc + int(win.col_off)
    out = [((rr + dr) // block) * 1_000_000 + (cc + dc) // block
           for dr in (-halo, halo) for dc in (-halo, halo)]
    return np.stack(out, axis=1)


def _window_clusters(pairs: np.ndarray, unit: str, context: Neighbourhood,
                     progress: Progress) -> tuple[np.ndarray, str]:
    """Groups for (polygon id, reached block ids...) rows ``pairs``: the connected
    components of polygons linked by the blocks (four halos wide) their samples' windows
    reach. With 63 px windows and polygons a few pixels apart, grouping by polygon alone
    tested pixels whose windows were mostly the pixels the fold had trained on; the
    cross-validation read memory as skill. Samples whose windows overlap always share a
    block (``reach_blocks``), across block edges too (before 2026-12-05 only the block of
    the pixel itself counted, and polygons 2 px apart across an edge stayed apart);
    polygons up to a few halos apart are merged as well (the cautious side)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    ids, id_index = np.unique(pairs[:, 0], return_inverse=True)
    reach = pairs[:, 1:]
    blocks, block_index = np.unique(reach.ravel(), return_inverse=True)
    n = len(ids) + len(blocks)
    rows = np.repeat(id_index, reach.shape[1])
    links = coo_matrix((np.ones(len(rows)), (rows, len(ids) + block_index)), shape=(n, n))
    _, component = connected_components(links, directed=False)
    groups = component[id_index].astype(np.int64)
    side = 4 * context.halo
    progress.info(f"Cross-validation groups: {len(ids)} {unit}s whose samples' windows reach "
                  f"a shared {side} px block (the {2 * context.halo + 1} px windows may "
                  "overlap) are merged: "
                  f"{len(np.unique(groups))} {unit} clusters.")
    return groups, f"{unit} cluster"


def all_points(labels: LabelConfig) -> bool:
    return _all_geometries(labels, "points")


def all_areas(labels: LabelConfig) -> bool:
    """Whether a vector layer's labels are all polygons (no points or lines among them)."""
    return _all_geometries(labels, "areas")


def _all_geometries(labels: LabelConfig, kind: str) -> bool:
    from osgeo import gdal, ogr

    ds = open_dataset_or_none(labels.labels, gdal.OF_VECTOR)
    layer = ds.GetLayerByName(labels.layer) if labels.layer else ds.GetLayerByIndex(0)
    kinds = {"points": (ogr.wkbPoint, ogr.wkbMultiPoint),
             "areas": (ogr.wkbPolygon, ogr.wkbMultiPolygon, ogr.wkbCurvePolygon,
                       ogr.wkbMultiSurface)}[kind]
    declared = ogr.GT_Flatten(layer.GetGeomType())
    if declared != ogr.wkbUnknown:
        return declared in kinds
    # a generic GEOMETRY layer (a GeoPackage of points saved without a type): its features
    # say, the first 10,000 of them (the report said 'grouped by polygon')
    layer.ResetReading()
    seen = False
    for k, feat in enumerate(layer):
        geom = feat.GetGeometryRef()
        if geom is not None and not geom.IsEmpty():
            if ogr.GT_Flatten(geom.GetGeometryType()) not in kinds:
                return False
            seen = True
        if k >= 10_000:
            break
    return seen
