"""Reading rasters of any band count and dtype, window by window, with nodata masks.

A pixel is NoData when every selected band holds that band's nodata value, when any
selected band is NaN or infinite, or where the file's own mask (alpha band / internal
mask) says so: the same rule as GDAL's dataset mask, plus NaN and +-inf because a model
cannot eat them (an inf became 3.4e38, then NaN through the network, then class 1).
Windows may hang over the raster edge; the overhang comes back filled and masked out.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.enums import ColorInterp, MaskFlags, Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from ..errors import InputError
from ..progress import check
from .gdal_open import may_exist, open_dataset_or_none
from .grid import Grid, clip_window


@dataclass
class Block:
    """Pixels of one window: ``data`` is (bands, rows, cols); ``valid`` is (rows, cols)."""

    data: np.ndarray
    valid: np.ndarray
    window: Window


def band_nodata(data: np.ndarray, nodata) -> np.ndarray | None:
    """True where a band (``data``'s first axis) holds its own NoData value (``nodata``, one
    per band; None and NaN skip a band), or None where none does. A pixel is NoData only
    when every band is (RasterSource); this is the one-band case the band statistics leave
    out and a network reads as the band's mean."""
    holes = None
    for b, value in enumerate(nodata or ()):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        hit = data[b] == value
        if hit.any():
            if holes is None:
                holes = np.zeros(data.shape, bool)
            holes[b] |= hit
    return holes


def open_dataset(path: str | os.PathLike, parameter: str = "input_raster"):
    path = os.fspath(path)
    if not path:
        raise InputError(parameter, "no raster was given")
    if not may_exist(path):
        raise InputError(parameter, f"the raster '{path}' does not exist")
    try:
        ds = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(parameter, f"GDAL cannot open '{path}' as a raster: {exc}") from exc
    if ds.count < 1 or ds.width < 1 or ds.height < 1:
        ds.close()
        raise InputError(parameter, f"'{path}' holds no pixels (a raster of {ds.count} bands, "
                         f"{ds.width} x {ds.height} px)")
    _refuse_gcps(ds, path, parameter)
    complex_bands = [i + 1 for i, d in enumerate(ds.dtypes) if np.dtype(d).kind == "c"]
    if complex_bands:
        ds.close()
        raise InputError(parameter, f"'{os.path.basename(path)}' holds complex numbers (bands "
                         f"{complex_bands[:8]}), which LandLearn cannot classify; derive real "
                         "bands first (e.g. amplitude or intensity with the Raster Calculator)")
    return ds


def _refuse_gcps(ds, path: str, parameter: str) -> None:
    """A raster placed by ground control points or RPCs alone (a scanned map, a satellite
    scene's raw product) has no grid: QGIS warps it on the fly, LandLearn read its pixels
    at (0, 0) with no CRS and wrote maps nobody could place. Refused, naming the warp."""
    if not ds.transform.is_identity:
        return
    gcps = ds.gcps[0] if ds.gcps else []
    rpcs = getattr(ds, "rpcs", None)
    if not gcps and not rpcs:
        return
    ds.close()
    how = (f"{len(gcps)} ground control points (GCPs)" if gcps else
           "rational polynomial coefficients (RPCs)")
    raise InputError(parameter, f"'{os.path.basename(path)}' is placed by {how}, not by a "
                     "grid: QGIS warps it for display, LandLearn reads pixels on a grid. Warp "
                     "it onto one first (Raster > Projections > Warp (Reproject), or gdalwarp "
                     f"{'-tps' if gcps else '-rpc'}) and give that file")


# rasterio 1.3.5 (Debian 12) maps its int64 to GDAL's UInt64 and back; 1.4 maps it right
_READS_INT64 = tuple(int(x) for x in rasterio.__version__.split(".")[:2]) >= (1, 4)


def true_int64_bands(ds) -> dict[int, float | None]:
    """{band: nodata} of the Int64 bands that this rasterio reports as uint64.

    rasterio 1.3 (Debian 12) has no int64 of its own for GDAL's Int64 type: it reads those
    bands as uint64, so -99999 becomes 18446744073709451617 and the band's NoData is lost.
    The bits are right, so such bands are read as uint64 and viewed as int64, with the
    NoData value asked from GDAL itself. rasterio 1.4 reads Int64 as int64 (a uint64 band
    is then UInt64): nothing to ask, and no GDAL Python bindings needed, which a Dask
    worker with only rasterio's wheel lacks.
    """
    if "uint64" not in ds.dtypes or _READS_INT64:
        return {}
    from osgeo import gdal

    int64 = getattr(gdal, "GDT_Int64", None)
    if int64 is None:
        return {}
    g = open_dataset_or_none(ds.name, gdal.OF_RASTER)
    if g is None:
        return {}
    out = {}
    for b in range(1, ds.count + 1):
        band = g.GetRasterBand(b)
        if band.DataType == int64 and ds.dtypes[b - 1] == "uint64":
            get = getattr(band, "GetNoDataValueAsInt64", None)
            out[b] = get() if get else band.GetNoDataValue()
    return out


def fill_value_for(dtype: np.dtype, nodata: float | None) -> float:
    """What to put where there is no data: the band's nodata, else 0 (or NaN for floats)."""
    if nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata)):
        return nodata
    return np.nan if np.issubdtype(dtype, np.floating) else 0


def read_inside(ds, indexes, window: Window, out: np.ndarray):
    """Read the part of ``window`` that lies inside ``ds`` into ``out`` (already filled).

    Returns the (rows, cols) slices of ``out`` that were read, or None when the window
    misses the raster. Cheaper than a boundless read, which goes through a VRT.
    """
    inner = clip_window(window, ds.width, ds.height)
    if inner is None:
        return None
    r0 = int(inner.row_off - window.row_off)
    c0 = int(inner.col_off - window.col_off)
    sl = (slice(r0, r0 + int(inner.height)), slice(c0, c0 + int(inner.width)))
    out[(Ellipsis,) + sl] = ds.read(indexes, window=inner, out_dtype=out.dtype)
    return sl


class RasterSource:
    """An open raster with a band selection; reads windows as ``Block``s.

    ``bands`` are 1-based indexes in the order the model or export wants them. The default
    is every band except alpha bands (their meaning is the mask, not a feature).
    ``resample_to`` puts the source on another grid (a user's CELL_SIZE) through a GDAL
    warped VRT, bilinear by default: GDAL's warper leaves NoData out of the kernel, so
    resampled edges do not bleed nodata values into real ones, and its alpha band marks
    what the source's nodata, mask or edge left without data.
    """

    def __init__(self, path: str | os.PathLike, bands: Sequence[int] | None = None,
                 parameter: str = "input_raster", resample_to: Grid | None = None,
                 resampling: Resampling = Resampling.bilinear):
        self.path = os.fspath(path)
        self.parameter = parameter
        self._src = open_dataset(self.path, parameter)
        try:
            self.bands = self._select_bands(bands)
            # resampled, the warper's alpha band is the mask: without one the warped VRT
            # forgets an internal mask and calls the strip beyond the source valid (zeros);
            # a source with its own alpha band has the warper carry that one
            alpha = ColorInterp.alpha in self._src.colorinterp
            taken = [b for b in self.bands if self._src.colorinterp[b - 1] == ColorInterp.alpha]
            if resample_to is not None and taken:
                # the warper takes a band tagged alpha for the mask: resampled, it would
                # hold the warper's own alpha, not the band's values
                raise InputError("bands", f"band {taken[0]} of '{os.path.basename(self.path)}'"
                                 " is tagged alpha, which resampling (CELL_SIZE) uses as the "
                                 "mask, not as data; leave it out of BANDS, or tag it as data "
                                 f"first (gdal_edit.py -colorinterp_{taken[0]} undefined)")
            if resample_to is not None:
                self._one_nodata_to_warp()
            self.ds = self._src if resample_to is None else WarpedVRT(
                self._src, crs=resample_to.crs or self._src.crs,
                transform=resample_to.transform, width=resample_to.width,
                height=resample_to.height, resampling=resampling, add_alpha=not alpha)
        except Exception:
            self._src.close()
            raise
        self.grid = Grid(self.ds.crs, self.ds.transform, self.ds.width, self.ds.height)
        self._int64 = true_int64_bands(self._src)
        self._mixed = len({self.ds.dtypes[b - 1] for b in self.bands}) > 1
        dtypes = [np.dtype("int64" if b in self._int64 else self.ds.dtypes[b - 1])
                  for b in self.bands]
        self.dtype = np.result_type(*dtypes)
        # the file's own NoData values (a warped VRT with an alpha band reports none: the
        # alpha is its mask), what exported chips record and what fills invalid pixels
        self.nodata: list[float | None] = [self._int64[b] if b in self._int64 else
                                           self._src.nodatavals[b - 1] for b in self.bands]
        self._resampled = resample_to is not None
        self._masks_of(self.ds)

    def _one_nodata_to_warp(self) -> None:
        """GDAL's warped VRT (CELL_SIZE) takes band 1's NoData for every band: a band with
        a NoData of its own (a DEM's -9999 beside reflectance with 0, in a VRT or an HDF)
        lost it, and the resampling blended its holes into values near -4000 that no check
        recognised. Refused where a band's differs."""
        values = self._src.nodatavals
        first = values[0]
        for b in self.bands:
            v = values[b - 1]
            same = v == first or (v is not None and first is not None
                                  and np.isnan(v) and np.isnan(first))
            if not same:
                raise InputError("cell_size", f"band {b} of '{os.path.basename(self.path)}' "
                                 f"has its own NoData value ({v}) where band 1 has {first}: "
                                 "resampling to CELL_SIZE keeps one NoData value per raster. "
                                 "Leave CELL_SIZE empty, or give the bands one NoData value "
                                 "first (e.g. gdal_translate -a_nodata, or gdalbuildvrt "
                                 "-srcnodata)")

    def _masks_of(self, ds) -> None:
        """How ``ds`` (the file, or its resampled view) says where data is beyond NoData
        values: a per-dataset mask, or an alpha band GDAL does not take for one (it does
        only in 2- and 4-band rasters: a 6-band mosaic's, five bands and where the items
        lie, and a resampled 5-band raster's warper alpha were ignored)."""
        flags = ds.mask_flag_enums[self.bands[0] - 1]
        chosen_alpha = any(ci == ColorInterp.alpha and i + 1 in self.bands
                           for i, ci in enumerate(ds.colorinterp))
        # a mask GDAL builds from an alpha band that BANDS takes as data (an RGB+NIR file
        # tagged RGBA) is no mask: its zeros are a band's values, not missing pixels
        self._per_dataset_mask = (MaskFlags.per_dataset in flags and MaskFlags.nodata not in flags
                                  and not (MaskFlags.alpha in flags and chosen_alpha))
        alpha = [i + 1 for i, ci in enumerate(ds.colorinterp)
                 if ci == ColorInterp.alpha and i + 1 not in self.bands]
        self._alpha = alpha[-1] if alpha and not self._per_dataset_mask else None

    def _select_bands(self, bands: Sequence[int] | None) -> list[int]:
        count = self._src.count
        if not bands:
            chosen = [i + 1 for i, ci in enumerate(self._src.colorinterp)
                      if ci != ColorInterp.alpha]
            return chosen or list(range(1, count + 1))
        chosen = [int(b) for b in bands]
        bad = [b for b in chosen if b < 1 or b > count]
        if bad:
            raise InputError("bands", f"band(s) {bad} do not exist; '{os.path.basename(self.path)}' "
                             f"has bands 1..{count}")
        return chosen

    @property
    def source_count(self) -> int:
        """Bands in the file, selected or not."""
        return self._src.count

    @property
    def has_mask(self) -> bool:
        """Whether a mask or alpha band, not only NoData values, says where data is."""
        return self._per_dataset_mask or self._alpha is not None

    @property
    def ends_in_alpha(self) -> bool:
        """Whether the file's last band is an alpha band (its mask, no data)."""
        return self._src.colorinterp[-1] == ColorInterp.alpha

    @property
    def count(self) -> int:
        return len(self.bands)

    @property
    def scaling(self) -> list[list[float]] | None:
        """[[scale, offset], ...] GDAL declares for the chosen bands (physical = stored *
        scale + offset), or None where every band declares none (1, 0). LandLearn reads
        the stored values, in training as in classification: a package records its
        training raster's, and Classify Pixels warns where this raster's differ."""
        pairs = [[float(self._src.scales[b - 1]), float(self._src.offsets[b - 1])]
                 for b in self.bands]
        if not all(np.isfinite(p).all() and p[0] != 0 for p in pairs):
            return None  # a scale of 0 or NaN converts nothing: not recorded
        return pairs if any(p != [1.0, 0.0] for p in pairs) else None

    @property
    def band_names(self) -> list[str]:
        return [self._src.descriptions[b - 1] or f"Band_{b}" for b in self.bands]

    @property
    def fill_values(self) -> list[float]:
        return [fill_value_for(self.dtype, nd) for nd in self.nodata]

    def read(self, window: Window) -> Block:
        """Read ``window`` (may overhang the raster) as (bands, rows, cols) + validity."""
        h, w = int(window.height), int(window.width)
        if (window.col_off >= 0 and window.row_off >= 0 and window.col_off + w <= self.grid.width
                and window.row_off + h <= self.grid.height):
            data = self._read(window)
            return self._filled(Block(data, self._valid(data, window), window))
        data = np.empty((self.count, h, w), dtype=self.dtype)
        for i, fill in enumerate(self.fill_values):
            data[i] = fill
        valid = np.zeros((h, w), dtype=bool)
        inner = clip_window(window, self.grid.width, self.grid.height)
        if inner is not None:
            r0, c0 = int(inner.row_off - window.row_off), int(inner.col_off - window.col_off)
            sl = (slice(r0, r0 + int(inner.height)), slice(c0, c0 + int(inner.width)))
            data[(slice(None),) + sl] = self._read(inner)
            valid[sl] = self._valid(data[(slice(None),) + sl], inner)
        return self._filled(Block(data, valid, window))

    def _filled(self, block: Block) -> Block:
        """Resampled, the warper leaves 0 where its alpha says no data: the file's NoData
        there instead, as an unresampled read has it (chips record that value)."""
        if self._resampled and not block.valid.all():
            for band, fill in zip(block.data, self.fill_values):
                band[~block.valid] = fill
        return block

    def _read(self, window: Window) -> np.ndarray:
        """(bands, rows, cols) in ``self.dtype`` for a window inside the raster."""
        if not self._int64 and not self._mixed:
            return self.ds.read(self.bands, window=window, out_dtype=self.dtype)
        # band by band: Int64 bands as this rasterio reports them, and bands of several
        # types (a VRT of a uint16 scene and a float32 DEM), which rasterio 1.3 refuses to
        # read together ("more than one 'dtype' found")
        out = np.empty((self.count, int(window.height), int(window.width)), dtype=self.dtype)
        for i, b in enumerate(self.bands):
            raw = self.ds.read(b, window=window)
            out[i] = raw.view(np.int64) if b in self._int64 else raw
        return out

    def sample(self, progress=None, windows: int = 64, size: int = 64,
               area: Window | None = None) -> np.ndarray:
        """(bands, n) valid pixel values of the source raster (not the resampled view) in
        ``area`` (a window of the file; all of it by default): all of them when it holds at
        most ``windows`` x ``size``^2 pixels, else those of ``windows`` windows spread over
        it. Bounded time on rasters of any size, with a cancel check between reads."""
        src = self._src
        view = RasterSource.__new__(RasterSource)
        view.__dict__.update(self.__dict__)
        view.ds = src
        view.grid = Grid(src.crs, src.transform, src.width, src.height)
        view._masks_of(src)
        x0, y0 = (int(area.col_off), int(area.row_off)) if area is not None else (0, 0)
        width, height = ((int(area.width), int(area.height)) if area is not None
                         else (src.width, src.height))
        if width * height <= windows * size * size:  # small: all of it, in strips
            boxes = [Window(x0, y0 + r, width, min(size, height - r))
                     for r in range(0, height, size)]
        else:
            rows = max(1, min(int(windows ** 0.5), -(-height // size)))
            cols = max(1, min(windows // rows, -(-width // size)))
            w, h = min(size, width), min(size, height)
            boxes = [Window(x0 + int((width - w) * (i + 0.5) / cols),
                            y0 + int((height - h) * (j + 0.5) / rows), w, h)
                     for j in range(rows) for i in range(cols)]
        parts = []
        for box in boxes:
            if progress is not None:
                check(progress)
            block = view.read(box)
            parts.append(block.data[:, block.valid].astype(np.float64))
        return np.concatenate(parts, axis=1) if parts else np.zeros((self.count, 0))

    def _valid(self, part: np.ndarray, window: Window) -> np.ndarray:
        floating = np.issubdtype(part.dtype, np.floating)
        if not floating and not self._per_dataset_mask and self._alpha is None and all(
                nd is None or np.isnan(nd) for nd in self.nodata):
            return np.ones(part.shape[1:], dtype=bool)
        all_nodata = np.ones(part.shape[1:], dtype=bool)
        any_nan = np.zeros(part.shape[1:], dtype=bool)
        has_nodata = False
        for band, nd in zip(part, self.nodata):
            if floating:  # NaN, and +-inf (a ratio over 0): no value a model can take
                any_nan |= ~np.isfinite(band)
            if nd is None or (isinstance(nd, float) and np.isnan(nd)):
                all_nodata &= False
            else:
                has_nodata = True
                all_nodata &= band == nd
        valid = ~any_nan
        if has_nodata:
            valid &= ~all_nodata
        if self._per_dataset_mask:
            # A data band's mask is the dataset mask (alpha / internal); the alpha band's own is not.
            valid &= self.ds.read_masks(self.bands[0], window=window) > 0
        if self._alpha is not None:
            valid &= self.ds.read(self._alpha, window=window) > 0
        return valid

    def close(self) -> None:
        if self.ds is not self._src:
            self.ds.close()
        self._src.close()

    def __enter__(self) -> RasterSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
