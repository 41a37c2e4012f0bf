"""Atomic, tiled, compressed GeoTIFF output with a colour table and class names.

Everything is written under temporary names in the destination folder and renamed into
place only when the whole raster is done and verified, so a failure, a cancel or a full
disk leaves no result at all (and an older result at the same path stays intact until the
new one is complete). Verification matters because GDAL reports a failed block write (a
full disk) only on stderr: the closed file is re-opened, every block's offset and length
must lie inside the file, and the last block must read back as it was written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np
import rasterio
from rasterio.windows import Window

from ..errors import InputError
from ..files import (
    GDAL_SIDECARS,
    disk_full_error,
    ensure_writable_folder,
    not_replaced_error,
    temporary_sibling,
)
from ..uninterrupted import uninterrupted
from .classes import ClassInfo, colormap
from .grid import Grid
from .outputs import FILE_TAG, GENERATOR, WRITER_TAG, claim_output, written_by_landlearn
from .qml import paletted_style

BLOCK = 256


# rasters whose style a .qml of their stem may be (a map.gpkg or map.prj beside is not one)
_RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".img", ".jp2", ".png", ".jpg", ".jpeg", ".mrf",
                    ".asc", ".nc", ".hdf")


class GeoTiffWriter:
    """Write windows into a new GeoTIFF on ``grid``; ``commit()`` publishes it.

    Use as a context manager: leaving the block normally commits, an exception aborts
    and removes every temporary file.
    """

    def __init__(self, path: str | os.PathLike, grid: Grid, count: int, dtype,
                 nodata: float | None = None, classes: Sequence[ClassInfo] | None = None,
                 band_names: Sequence[str] | None = None, tags: dict | None = None,
                 parameter: str = "output", compress: str = "deflate", sidecars: bool = True,
                 mask: bool = False):
        """``sidecars`` False: no category names (.aux.xml) and no .qml beside a class map,
        for intermediate files (Dask parts), which then need no GDAL Python bindings.
        ``mask``: NoData is kept in a mask inside the file (GDAL and QGIS read it as NoData),
        given with every ``write``; for outputs with no value free to mark NoData (the mean
        colours of an RGBA orthophoto, where every byte value is a colour)."""
        self.path = os.fspath(path)
        check_geotiff_path(self.path, parameter)
        ensure_writable_folder(self.path, parameter)
        self.parameter = parameter
        self.classes = list(classes or [])
        self.sidecars = sidecars and bool(self.classes)
        claim_output(self.path, parameter, [os.path.splitext(self.path)[0] + ".qml"]
                     if self.sidecars else [])
        dtype = np.dtype(dtype)
        if dtype == np.int64 and int64_written_as_uint64():
            raise InputError(parameter, "this rasterio (before 1.4) writes int64 rasters as "
                             "GDAL UInt64 (negative values read back as about 1.8e19); write "
                             "them as float64, or upgrade rasterio to 1.4 or later")
        if nodata is not None and not nodata_fits(nodata, dtype):
            # rasterio refuses it only when the file is created, with a message that names
            # no parameter (Segment passed on a uint16 input's NoData of -1)
            raise InputError(parameter, f"NoData {nodata} cannot be stored in a {dtype.name} "
                             f"raster; set the input's NoData to a value its type holds "
                             "(gdal_edit -a_nodata) or remove it (gdal_edit -unsetnodata)")
        self._tmp = temporary_sibling(self.path, ".tif")
        small = grid.width < BLOCK or grid.height < BLOCK
        profile = dict(
            driver="GTiff", width=grid.width, height=grid.height, count=count, dtype=dtype.name,
            crs=grid.crs, transform=grid.transform, nodata=nodata, compress=compress,
            tiled=not small, BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS",
        )
        if not small:
            profile.update(blockxsize=BLOCK, blockysize=BLOCK)
        if compress == "zstd":  # intermediate files (Dask parts): several times faster
            profile["zstd_level"] = 1
        if np.issubdtype(dtype, np.integer):
            profile["predictor"] = 2
        elif np.issubdtype(dtype, np.floating):
            profile["predictor"] = 3
        self.dtype = dtype
        self.count = count
        self.mask = mask
        self.grid = grid
        # the last (bottom-right) block, kept as written to compare with the file at the end;
        # a striped file (under a block on a side): its bottom-right corner of a block's size
        # at most (a 200 x 100,000 px corridor was kept whole)
        if small:
            r0, c0 = max(grid.height - BLOCK, 0), max(grid.width - BLOCK, 0)
        else:
            r0, c0 = (grid.height - 1) // BLOCK * BLOCK, (grid.width - 1) // BLOCK * BLOCK
        self._last = Window(c0, r0, grid.width - c0, grid.height - r0)
        self._last_data = np.zeros((count, int(self._last.height), int(self._last.width)), dtype)
        self._last_seen = np.zeros(self._last_data.shape[1:], dtype=bool)
        self._last_valid = np.ones(self._last_data.shape[1:], dtype=bool)  # with ``mask``
        self._staged: list[tuple[str, str]] = []
        try:
            self._ds = rasterio.open(self._tmp, "w", **profile)
        except (rasterio.errors.RasterioIOError, ValueError) as exc:
            self._remove_temporaries()
            raise InputError(parameter, f"'{self.path}' cannot be created: {exc}") from None
        try:
            self._ds.update_tags(**{WRITER_TAG: GENERATOR, FILE_TAG: os.path.basename(self.path)})
            if band_names:
                for i, name in enumerate(band_names, start=1):
                    self._ds.set_band_description(i, name)
            if self.classes:
                self._ds.update_tags(LANDLEARN_CLASSES=json.dumps([c.to_esri()
                                                                   for c in self.classes]))
                # before any pixel: GTiff cannot switch to a palette once blocks are on disk
                self._ds.write_colormap(1, colormap(self.classes))
            if tags:
                self._ds.update_tags(**{k: str(v) for k, v in tags.items()})
        except BaseException:
            self.abort()
            raise
        self._done = False

    def update_tags(self, **tags) -> None:
        """Add metadata known only once the pixels are written (a Dask block's skipped
        tiles); it is published with the file, atomically, like the rest."""
        self._ds.update_tags(**{k: str(v) for k, v in tags.items()})

    def write(self, data: np.ndarray, window: Window, valid: np.ndarray | None = None) -> None:
        """Write (bands, rows, cols) or (rows, cols) data at ``window`` (inside the grid);
        with ``mask``, ``valid`` (rows, cols) says which pixels hold data."""
        if data.ndim == 2:
            data = data[None]
        data = data.astype(self.dtype, copy=False)
        self._ds.write(data, window=window)
        if self.mask:
            if valid is None:
                raise ValueError("a writer with a mask needs the valid pixels of every window")
            # inside the file: GDAL 3.6 would otherwise put the mask in a .msk beside the
            # temporary file, which the rename would leave behind
            with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
                self._ds.write_mask(np.where(valid, 255, 0).astype(np.uint8), window=window)
        last = self._last
        r0 = max(int(window.row_off), int(last.row_off))
        c0 = max(int(window.col_off), int(last.col_off))
        r1 = min(int(window.row_off + window.height), int(last.row_off + last.height))
        c1 = min(int(window.col_off + window.width), int(last.col_off + last.width))
        if r1 > r0 and c1 > c0:
            dst = (slice(r0 - int(last.row_off), r1 - int(last.row_off)),
                   slice(c0 - int(last.col_off), c1 - int(last.col_off)))
            src = (slice(r0 - int(window.row_off), r1 - int(window.row_off)),
                   slice(c0 - int(window.col_off), c1 - int(window.col_off)))
            self._last_data[(slice(None),) + dst] = data[(slice(None),) + src]
            self._last_seen[dst] = True
            if self.mask:
                self._last_valid[dst] = valid[src]

    def commit(self) -> str:
        """prepare() then publish(): the whole raster, verified, renamed into place."""
        self.prepare()
        return self.publish()

    def prepare(self) -> None:
        """Close and verify the temporary file and write its sidecars; nothing is renamed
        yet, so several outputs can all be verified before any of them replaces a file."""
        try:
            self._ds.close()
            self._verify()
            # again: a run opens its writers at the start and publishes hours later, when a
            # file LandLearn did not write may have appeared at the output's name
            claim_output(self.path, self.parameter, [os.path.splitext(self.path)[0] + ".qml"]
                         if self.sidecars else [])
            self._staged = [(self._tmp, self.path)]
            if self.sidecars:
                self._staged += self._write_class_sidecars()
        except OSError as exc:
            # judged before abort() frees the temporary file's space: the disk was full then
            error = disk_full_error(self.path, self.parameter, self.expected_bytes, exc)
            self.abort()
            raise error from None
        except BaseException:
            self.abort()
            raise

    def publish(self) -> str:
        """The raster renamed into place first: where it cannot replace the old one (on
        Windows, a map still open as a QGIS layer), nothing of this output has changed and
        its temporaries go. Then what belonged to the old raster goes (its statistics and
        external overviews, which would show the old map zoomed out) and the new sidecars
        take their places."""
        with uninterrupted():  # the raster and its sidecars, not split by a SIGTERM
            stale_style = self._old_style()  # judged before the old raster is replaced
            try:
                os.replace(self._tmp, self.path)
            except OSError as exc:
                self.abort()
                raise not_replaced_error(self.path, self.parameter, exc,
                                         "nothing of it was changed") from None
            staged = [(src, dst) for src, dst in self._staged if src != self._tmp]
            try:
                # statistics and overviews of an earlier raster at this name (replaced, or
                # deleted by hand) would describe the new one: GDAL reads them beside it
                old = [self.path + s for s in GDAL_SIDECARS] + ([stale_style] if stale_style
                                                                else [])
                for stale in old:
                    if os.path.exists(stale) and stale not in [d for _, d in staged]:
                        os.remove(stale)
                for src, dst in staged:
                    os.replace(src, dst)
            except OSError as exc:
                self.abort()  # the sidecars' temporaries
                raise InputError(self.parameter, f"'{self.path}' was written, but its class names "
                                 f"or style could not be put beside it ({exc}); close programs "
                                 "that hold them open and run again") from None
            self._done = True
        return self.path

    def _old_style(self) -> str | None:
        """The .qml of an old class map at this name that an unstyled raster replaces: its
        palette would paint the new values as classes. Only where a raster stands at the
        name (a styled map.tif and an unstyled map.tiff of one run share the stem) and the
        style is LandLearn's (one restyled in QGIS stays), and no other file shares the
        stem: the .qml of a class map.tif is also the style of map.tiff beside it, and an
        unstyled map.tiff replaced took the class map's palette away (review, stop 69)."""
        qml = os.path.splitext(self.path)[0] + ".qml"
        if self.sidecars or not os.path.lexists(self.path) or not os.path.exists(qml) \
                or self._stem_shared():
            return None
        return qml if written_by_landlearn(qml) else None

    def _stem_shared(self) -> bool:
        folder, name = os.path.split(os.path.abspath(self.path))
        stem = os.path.splitext(name)[0].casefold()
        try:
            names = os.listdir(folder)
        except OSError:
            return True  # not known: the style stays
        return any(os.path.splitext(n)[0].casefold() == stem and n.casefold() != name.casefold()
                   and os.path.splitext(n)[1].lower() in _RASTER_SUFFIXES for n in names)

    def sidecar_paths(self) -> list[str]:
        """The files beside this output that belong to the raster now at its name (GDAL's
        statistics, overviews and mask; its style where this output has one or replaces a
        LandLearn one)."""
        side = [self.path + s for s in GDAL_SIDECARS]
        qml = os.path.splitext(self.path)[0] + ".qml"
        if self.sidecars or self._old_style():
            side.append(qml)
        return [f for f in side if os.path.lexists(f)]

    @property
    def expected_bytes(self) -> int:
        """The raster's uncompressed size: what a full disk must at most make room for."""
        return self.grid.width * self.grid.height * self.count * self.dtype.itemsize

    def _verify(self) -> None:
        """The closed temporary file is whole: its blocks lie inside it, its last block
        reads back as written. Raises OSError (the disk, most likely) when it is not.

        Through rasterio, not GDAL's Python bindings: a Dask worker that writes parts then
        needs only rasterio, whose wheels carry GDAL (BENCHMARKS.md's lent-GPU runs had no
        other GDAL)."""
        size = os.path.getsize(self._tmp)
        try:
            with rasterio.open(self._tmp) as ds:
                by, bx = ds.block_shapes[0]
                nx, ny = -(-ds.width // bx), -(-ds.height // by)
                pixel = ds.count == 1 or ds.tags(ns="IMAGE_STRUCTURE").get(
                    "INTERLEAVE") == "PIXEL"
                for b in [1] if pixel else range(1, ds.count + 1):
                    for y in range(ny):
                        for x in range(nx):
                            off = int(ds.get_tag_item(f"BLOCK_OFFSET_{x}_{y}", "TIFF", bidx=b)
                                      or 0)
                            n = int(ds.get_tag_item(f"BLOCK_SIZE_{x}_{y}", "TIFF", bidx=b) or 0)
                            if off <= 0 or off + n > size:
                                raise OSError(f"block {x},{y} of band {b} is missing from the "
                                              "file")
                got = ds.read(window=self._last)
                got_valid = ds.dataset_mask(window=self._last) > 0 if self.mask else None
        except (rasterio.errors.RasterioError, rasterio.errors.RasterioIOError) as exc:
            # opening or a block's read failed (RasterioIOError is no RasterioError in 1.3)
            raise OSError(f"the written file cannot be read back ({exc})") from exc
        got = np.asarray(got).reshape(self._last_data.shape)
        seen = self._last_seen
        floating = np.issubdtype(self.dtype, np.floating)
        if not np.array_equal(got[:, seen].astype(self.dtype), self._last_data[:, seen],
                              equal_nan=floating):
            raise OSError("the last block does not read back as it was written")
        if self.mask and not np.array_equal(got_valid.reshape(seen.shape)[seen],
                                            self._last_valid[seen]):
            raise OSError("the last block's mask does not read back as it was written")

    def _write_class_sidecars(self) -> list[tuple[str, str]]:
        """GDAL category names (in the .aux.xml PAM) and a QGIS .qml; staged, not renamed."""
        from osgeo import gdal

        names = [""] * (max(c.value for c in self.classes) + 1)
        for c in self.classes:
            names[c.value] = c.name
        ds = gdal.Open(self._tmp, gdal.GA_Update)
        ds.GetRasterBand(1).SetCategoryNames(names)
        ds = None
        staged = []
        if os.path.exists(self._tmp + ".aux.xml"):
            staged.append((self._tmp + ".aux.xml", self.path + ".aux.xml"))
        qml_tmp = self._tmp[:-4] + ".qml"
        with open(qml_tmp, "w", encoding="utf-8") as fh:
            fh.write(paletted_style(self.classes))
        staged.append((qml_tmp, os.path.splitext(self.path)[0] + ".qml"))
        return staged

    def abort(self) -> None:
        try:
            if not self._ds.closed:
                self._ds.close()
        except Exception:  # noqa: BLE001 - the file is thrown away anyway
            pass
        self._remove_temporaries()
        self._done = True

    def _remove_temporaries(self) -> None:
        for p in (self._tmp, self._tmp + ".aux.xml", self._tmp[:-4] + ".qml",
                  *(src for src, _ in getattr(self, "_staged", []))):
            if os.path.exists(p):
                os.remove(p)

    def __enter__(self) -> GeoTiffWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._done:
            return
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def int64_written_as_uint64() -> bool:
    """rasterio 1.3 (Debian 12) maps numpy's int64 to GDAL's UInt64 (type 12) when it
    writes; 1.4 maps it to Int64 (13)."""
    from rasterio.dtypes import dtype_rev

    return dtype_rev.get("int64") == 12


def nodata_fits(nodata: float, dtype) -> bool:
    """Whether ``dtype`` holds ``nodata`` exactly (NaN: floats only; out of range, or a
    fraction on an integer type: no)."""
    dtype = np.dtype(dtype)
    if np.isnan(nodata):
        return np.issubdtype(dtype, np.floating)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return float(nodata).is_integer() and info.min <= nodata <= info.max
    # in Python floats: numpy 2 casts a Python float to the scalar's float32 (1e300: inf)
    return bool(np.isinf(nodata)) or abs(float(nodata)) <= float(np.finfo(dtype).max)


def check_geotiff_path(path: str | None, parameter: str) -> None:
    """Raster outputs are GeoTIFFs: said before any work (Segment and Refine found out after
    all their passes), naming the parameter."""
    if path and not os.fspath(path).lower().endswith((".tif", ".tiff")):
        raise InputError(parameter, f"'{path}' is not a GeoTIFF path; use a .tif name")
