"""Segment attributes (ArcGIS's SEGMENT_ATTRIBUTES), gathered exactly over rasters of any
size: what an object-based classifier sees instead of a pixel's bands.

- COLOR: the segment's colour without its brightness: the size of the mean of each of the
  first three bands divided by the sum of the three sizes (a share each, 0 to 1; 1/3 each
  where all three are 0). ArcGIS derives it from the segmented RGB image; on our segment
  ids the image gives it. Sizes, not signed means: on bands with negative values (SAR in
  dB, temperatures in degrees C, surface reflectance below 0) a signed sum near 0 made
  shares of thousands and of either sign; for the usual non-negative bands they are the
  same. The signs are in MEAN.
- MEAN, STD: per band, over the segment's pixels with data in that band (population STD):
  a band's own NoData (a DEM's -32768 voids under a scene's data) is left out of its mean,
  as the export's band statistics leave it out. A segment with no data in a band has that
  band's NoData value as its mean (STD 0), which is what a pixel classifier is given there.
- COUNT: the segment's pixels.
- COMPACTNESS: 64 A / (pi P^2), capped at 1, with A the pixels and P the perimeter in pixel
  edges. A pixel staircase makes a disc's perimeter 4/pi of the true one; the factor puts
  discs (and squares) at 1, while a one-pixel line of n pixels falls to about 16/(pi n).
- RECTANGULARITY: A over the area of the segment's bounding box (rows and columns), 1 for
  an upright rectangle; a tilted one scores lower.

Every sum is gathered per tile and merged, and the perimeter comes from a one-pixel ring
read around each tile, so a segment crossing tiles gets the same attributes as untiled.
Memory follows the number of segments, not the raster.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rasterio.windows import Window

from ..errors import InputError
from ..geo.grid import count_tiles, tile_windows
from ..geo.raster import band_nodata
from ..geo.segments import read_segments_halo
from ..geo.segments import table_budget as stats_budget
from ..model_package.schema import SEGMENT_ATTRIBUTES
from ..progress import NullProgress, Progress, track

__all__ = ["DEFAULT_ATTRIBUTES", "SegmentStats", "feature_names", "gather_segment_stats",
           "parse_attributes", "segment_limit", "too_many_segments"]

DEFAULT_ATTRIBUTES = ("COLOR", "MEAN")  # ArcGIS's default
_MERGE_ROWS = 2_000_000  # pending per-tile rows merged into the totals beyond this


def parse_attributes(value: str | Sequence[str], bands: int | None = None) -> tuple[str, ...]:
    """ArcGIS's "COLOR;MEAN" (or a list) -> the attributes in canonical order."""
    items = value.replace(",", ";").split(";") if isinstance(value, str) else list(value)
    names = {str(i).strip().upper() for i in items if str(i).strip()}
    if not names:
        raise InputError("segment_attributes", "name at least one of "
                         + ", ".join(SEGMENT_ATTRIBUTES) + " (ArcGIS's default: COLOR;MEAN)")
    unknown = sorted(names - set(SEGMENT_ATTRIBUTES))
    if unknown:
        raise InputError("segment_attributes", f"{', '.join(unknown)} is not a segment "
                         f"attribute; use {';'.join(SEGMENT_ATTRIBUTES)}, separated by ';'")
    if bands is not None and bands < 3 and "COLOR" in names:
        raise InputError("segment_attributes", f"COLOR needs three bands and {bands} are read "
                         "(BANDS picks them; all but alpha when empty); use MEAN (and STD), "
                         "or give BANDS three bands")
    return tuple(a for a in SEGMENT_ATTRIBUTES if a in names)


def feature_names(attributes: Sequence[str], band_names: Sequence[str]) -> list[str]:
    out: list[str] = []
    for a in attributes:
        if a == "COLOR":
            out += [f"color_share_{n}" for n in band_names[:3]]
        elif a in ("MEAN", "STD"):
            out += [f"{a.lower()}_{n}" for n in band_names]
        else:
            out.append(a.lower())
    return out


class SegmentStats:
    """Per-segment sums, merged tile by tile; ``ids`` sorted; at most ``budget`` bytes
    (stats_budget) of them, else an error naming SEGMENTED_RASTER. ``nodata``: each band's
    own NoData value, left out of that band's sums."""

    def __init__(self, bands: int, budget: int | None = None,
                 nodata: Sequence[float | None] | None = None):
        self.bands = bands
        self.nodata = list(nodata) if nodata is not None else [None] * bands
        self.max_segments = segment_limit(bands, budget)
        self.ref: np.ndarray | None = None  # per-band shift: keeps the squares precise
        self.ids = np.zeros(0, np.int64)
        self.cols = _empty(bands)
        self._pending: list[tuple[np.ndarray, dict]] = []
        self._rows = 0

    def add(self, ids: np.ndarray, has: np.ndarray, data: np.ndarray, valid: np.ndarray,
            edges: np.ndarray, row0: int, col0: int) -> None:
        """One tile: ``ids``/``has`` (h, w), ``data`` (bands, h, w), ``valid`` image data,
        ``edges`` the 4-neighbours of each pixel outside its segment; (row0, col0) the
        tile's place in the raster."""
        if not has.any():
            return
        # per band: pixels with image data and not that band's own NoData (or NaN)
        ok = valid[None] & np.isfinite(data)
        holes = band_nodata(data, self.nodata)
        if holes is not None:
            ok &= ~holes
        if self.ref is None:
            inside = ok & has[None]
            self.ref = np.array([data[b][inside[b]].mean() if inside[b].any() else 0.0
                                 for b in range(self.bands)], np.float64)
        seg, inv = np.unique(ids[has], return_inverse=True)
        n = len(seg)
        rr, cc = np.nonzero(has)
        v = ok[:, has]
        x = np.where(v, data[:, has].astype(np.float64) - self.ref[:, None], 0.0)
        cols = {"count": np.bincount(inv, minlength=n),
                "nvalid": np.stack([np.bincount(inv, v[b], n) for b in range(self.bands)], 1),
                "edges": np.bincount(inv, edges[has], n),
                "sum": np.stack([np.bincount(inv, x[b], n) for b in range(self.bands)], 1),
                "sumsq": np.stack([np.bincount(inv, x[b] ** 2, n) for b in range(self.bands)], 1)}
        order = np.lexsort((cc, inv))
        first = np.searchsorted(inv[order], np.arange(n))
        last = np.r_[first[1:], len(order)] - 1
        row_order = np.lexsort((rr, inv))
        cols["rmin"] = rr[row_order[first]] + row0
        cols["rmax"] = rr[row_order[last]] + row0
        cols["cmin"] = cc[order[first]] + col0
        cols["cmax"] = cc[order[last]] + col0
        self._pending.append((seg, cols))
        self._rows += n
        if self._rows > max(_MERGE_ROWS, len(self.ids)) or \
                len(self.ids) + self._rows > self.max_segments:
            self._merge()
        if len(self.ids) > self.max_segments:
            raise too_many_segments(self.max_segments)

    def _merge(self) -> None:
        if not self._pending:
            return
        parts = [(self.ids, self.cols)] + self._pending
        ids, inv = np.unique(np.concatenate([p[0] for p in parts]), return_inverse=True)
        n = len(ids)
        cols = {}
        for key in self.cols:
            col = np.concatenate([p[1][key] for p in parts])
            if key in ("rmin", "cmin", "rmax", "cmax"):
                order = np.argsort(inv, kind="stable")
                starts = np.searchsorted(inv[order], np.arange(n))
                fn = np.minimum if key.endswith("min") else np.maximum
                cols[key] = fn.reduceat(col[order], starts)
            elif col.ndim == 2:
                cols[key] = np.stack([np.bincount(inv, col[:, b], n)
                                      for b in range(col.shape[1])], 1)
            else:
                cols[key] = np.bincount(inv, col, n)
        self.ids, self.cols = ids, cols
        self._pending, self._rows = [], 0

    def __len__(self) -> int:
        self._merge()
        return len(self.ids)

    def features(self, attributes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(ids of the segments with image data, their features (n, f) float64)."""
        self._merge()
        c = self.cols
        keep = c["nvalid"].max(1) > 0 if len(self.ids) else np.zeros(0, bool)
        counted = c["nvalid"][keep]
        nv = np.maximum(counted, 1)
        ref = self.ref if self.ref is not None else np.zeros(self.bands)
        shifted = c["sum"][keep] / nv
        var = np.where(counted > 0, np.maximum(c["sumsq"][keep] / nv - shifted ** 2, 0.0), 0.0)
        # no data in a band: that band's NoData value, as a pixel classifier is given it.
        # A band whose NoData is NaN or undeclared has data wherever the pixel is valid (a
        # NaN in any band makes the pixel NoData): its fill is never taken
        fill = np.array([float(v) if v is not None and np.isfinite(v) else m
                         for v, m in zip(self.nodata, self.band_means()[0])])
        mean = np.where(counted > 0, shifted + ref, fill)
        area = c["count"][keep].astype(np.float64)
        parts = []
        for a in attributes:
            if a == "COLOR":
                rgb = np.abs(mean[:, :3])
                total = rgb.sum(1, keepdims=True)
                parts.append(np.where(total != 0, rgb / np.where(total != 0, total, 1), 1 / 3))
            elif a == "MEAN":
                parts.append(mean)
            elif a == "STD":
                parts.append(np.sqrt(var))
            elif a == "COUNT":
                parts.append(area[:, None])
            elif a == "COMPACTNESS":
                per = np.maximum(c["edges"][keep], 1)
                parts.append(np.minimum(64 * area / (np.pi * per ** 2), 1.0)[:, None])
            elif a == "RECTANGULARITY":
                box = (c["rmax"][keep] - c["rmin"][keep] + 1) * (c["cmax"][keep] - c["cmin"][keep] + 1)
                parts.append((area / box)[:, None])
        return self.ids[keep], np.concatenate(parts, 1) if parts else np.zeros((int(keep.sum()), 0))

    def band_means(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-band mean and std over every pixel gathered (the training pixels' statistics
        the value check compares a raster with)."""
        self._merge()
        n = np.maximum(self.cols["nvalid"].sum(0), 1.0)
        ref = self.ref if self.ref is not None else np.zeros(self.bands)
        m = self.cols["sum"].sum(0) / n
        return m + ref, np.sqrt(np.maximum(self.cols["sumsq"].sum(0) / n - m ** 2, 0.0))


def segment_limit(bands: int, budget: int | None = None) -> int:
    """The segments whose sums fit ``budget`` bytes (stats_budget): ids and 7 sums a
    segment, three per band; a merge holds them about three times."""
    return (budget or stats_budget()) // (3 * 8 * (3 * bands + 8))


def too_many_segments(limit: int) -> InputError:
    return InputError("segmented_raster", f"it holds more than {limit:,} segments in the "
                      "area, more than this machine's memory can describe (a quarter of it, "
                      "or 2 GB where that cannot be read, for the per-segment sums); segment "
                      "with a larger MIN_SEGMENT_SIZE, or give a smaller EXTENT")


def _empty(bands: int) -> dict:
    z = np.zeros(0, np.int64)
    return {"count": z, "nvalid": np.zeros((0, bands)), "edges": np.zeros(0),
            "sum": np.zeros((0, bands)), "sumsq": np.zeros((0, bands)),
            "rmin": z, "rmax": z, "cmin": z, "cmax": z}


def outside_edges(ids: np.ndarray, has: np.ndarray) -> np.ndarray:
    """For (h + 2, w + 2) ids with a one-pixel ring: per inner pixel, how many of its four
    neighbours lie outside its segment (another id, or no segment)."""
    inner, ok = ids[1:-1, 1:-1], has[1:-1, 1:-1]
    edges = np.zeros(inner.shape, np.int64)
    for nb_ids, nb_has in ((ids[:-2, 1:-1], has[:-2, 1:-1]), (ids[2:, 1:-1], has[2:, 1:-1]),
                           (ids[1:-1, :-2], has[1:-1, :-2]), (ids[1:-1, 2:], has[1:-1, 2:])):
        edges += ~nb_has | (nb_ids != inner)
    return np.where(ok, edges, 0)


def gather_segment_stats(image, seg_ds, area: Window, keep: np.ndarray | None = None,
                         progress: Progress | None = None, tile: int = 512) -> SegmentStats:
    """Attributes' sums of every segment in ``area`` of ``image`` (a RasterSource on the
    segments' grid), or only of the sorted ids ``keep``. A segment is described by its
    pixels inside ``area``."""
    progress = progress or NullProgress()
    stats = SegmentStats(len(image.bands), nodata=image.nodata)
    n = count_tiles(area, (tile, tile))
    for win in track(tile_windows(area, (tile, tile)), progress, n):
        win = win.intersection(area)
        ids, has = read_segments_halo(seg_ds, win, area)
        edges = outside_edges(ids, has)
        ids, has = ids[1:-1, 1:-1], has[1:-1, 1:-1]
        if keep is not None:
            if len(keep) == 0:
                break
            at = np.clip(np.searchsorted(keep, ids), 0, len(keep) - 1)
            has = has & (keep[at] == ids)
        if not has.any():
            continue
        block = image.read(win)
        stats.add(ids, has, block.data, block.valid, edges, int(win.row_off), int(win.col_off))
    return stats
