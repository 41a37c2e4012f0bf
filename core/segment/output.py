"""Segment outputs: ids (uint32), the mean-colour raster and optional polygons.

Written from the temporary local labels tile by tile through the final id table, each to
a temporary name renamed when complete, like every LandLearn output.
"""

from __future__ import annotations

import json
import os

import numpy as np
import rasterio

from ..errors import Cancelled, InputError
from ..files import ensure_writable_folder, temporary_sibling
from ..geo.commit import FinishedFile, commit_together
from ..geo.grid import Grid, count_tiles, tile_windows
from ..geo.outputs import GENERATOR, LAYOUT_TAG, WRITER_TAG, claim_output, gpkg_layout
from ..geo.writer import GeoTiffWriter, int64_written_as_uint64, nodata_fits
from ..progress import Progress, track


def _off_nodata(colour: np.ndarray, nodata: float, dtype: np.dtype) -> np.ndarray:
    """Segment colours one step away from NoData on a band that would equal it: GDAL and
    QGIS's renderers take a pixel NoData where any one band is, so a dark segment whose
    red mean rounds to a NoData of 0 was drawn as a hole."""
    if np.isnan(nodata):
        return colour
    hit = colour == np.asarray(nodata).astype(dtype)
    if not hit.any():
        return colour
    if np.issubdtype(dtype, np.integer):
        step = 1 if nodata < np.iinfo(dtype).max else -1
        colour[hit] = np.asarray(nodata + step).astype(dtype)
    else:
        colour[hit] = np.nextafter(np.asarray(nodata, dtype), np.asarray(np.inf, dtype))
    return colour


def write_outputs(config, grid: Grid, labels_path: str, final: np.ndarray, n: int, stats,
                  band_names: list[str], progress: Progress, dtype: np.dtype,
                  nodata: float | None, split=None, masked: bool = False) -> dict:
    """``final`` maps local labels to ids 1..n, unless ``split`` (split.Split) cuts large
    segments: then it gives the ids, counts and means. ``masked``: the input says where
    its data is by a mask or alpha band, or may hold NaN (then, without a NoData value, so
    does OUTPUT, by a mask)."""
    if (split.n if split is not None else n) >= 2 ** 32:  # the ids raster is uint32
        raise InputError("min_segment_size", f"{split.n if split is not None else n:,} "
                         "segments do not fit the uint32 segment "
                         "ids; raise MIN_SEGMENT_SIZE, or segment smaller areas (EXTENT)")
    if split is None:
        seg = final - 1
        count = np.bincount(seg, stats.count, n)
        means = np.stack([np.bincount(seg, stats.raw_sums[:, b], n)
                          for b in range(stats.raw_sums.shape[1])], 1) / \
            np.maximum(count, 1)[:, None]
        lut_ids = np.concatenate([[0], final]).astype(np.uint32)  # index 0: local -1 (NoData)

        def ids_of(local, _win):
            return lut_ids[local + 1]
    else:
        n, count, means, ids_of = split.n, split.count, split.means, split
    dtype = np.dtype(dtype)
    if dtype == np.int64 and int64_written_as_uint64():
        dtype = np.dtype(np.float64)  # exact to 2**53: mean colours of an Int64 raster
        progress.info("OUTPUT is written as float64: this rasterio writes int64 as UInt64.")
    if nodata is not None and not nodata_fits(nodata, dtype):
        nodata = None  # no pixel of the input can equal it (a uint16 raster's -1): none
    if nodata is None and masked and np.issubdtype(dtype, np.floating):
        # a float map says where it has no data in its values: filled with 0 under a mask,
        # a tool that reads values alone (numpy, a raster calculator) took 0 for a mean
        nodata = float("nan")
    colour = means.round() if np.issubdtype(dtype, np.integer) else means
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        colour = np.clip(colour, info.min, info.max)
    if nodata is not None:
        colour = _off_nodata(colour.astype(dtype), nodata, dtype)
    fill = nodata if nodata is not None else 0
    lut_colour = np.vstack([np.full((1, colour.shape[1]), fill), colour]).astype(dtype)
    writers = []
    polygons = None  # the GeoPackage, complete under a temporary name until the rasters are
    try:  # the writers opened inside: one refused after another opened aborts that one
        if config.output_segment_ids:
            writers.append(("ids", GeoTiffWriter(config.output_segment_ids, grid, 1, np.uint32,
                                                 nodata=0, band_names=["segment_id"],
                                                 parameter="output_segment_ids")))
        if config.output:
            # without a NoData value (an alpha band or internal mask says where the image
            # is), NoData is a mask in the file: filled with 0 alone it read as black segments
            writers.append(("colour", GeoTiffWriter(config.output, grid, colour.shape[1],
                                                    dtype, nodata=nodata,
                                                    band_names=band_names, parameter="output",
                                                    mask=nodata is None and masked)))
        tile = (1024, 1024)
        with rasterio.open(labels_path) as lab:
            for win in track(tile_windows(grid.full_window, tile), progress,
                             count_tiles(grid.full_window, tile)):
                w = win.intersection(grid.full_window)
                ids = ids_of(lab.read(1, window=w), w)
                for kind, writer in writers:
                    if kind == "ids":
                        writer.write(ids, w)
                    else:
                        writer.write(np.moveaxis(lut_colour[ids.astype(np.int64)], -1, 0), w,
                                     valid=ids != 0)
        finished = [w for _, w in writers]
        if config.output_polygons:
            # before any raster is published: polygons that fail leave the rasters as they
            # were; then published with them, all or nothing
            polygons = write_polygons(config.output_polygons, grid, labels_path, ids_of,
                                      count, means, band_names, publish=False,
                                      progress=progress)
            finished.append(FinishedFile(polygons, config.output_polygons, "output_polygons"))
        commit_together(finished)
    except BaseException:
        for _, writer in writers:
            if not writer._done:
                writer.abort()
        if polygons is not None and os.path.exists(polygons):
            os.remove(polygons)
        raise
    out = {"segments": n}
    if polygons is not None:
        out["polygons"] = config.output_polygons
    return out


def write_polygons(path: str, grid: Grid, labels_path: str, ids_of, count, means,
                   band_names, publish: bool = True, progress: Progress | None = None) -> str:
    """Polygonize the final ids (4-connected, as the segments are) into a GeoPackage; its
    path, or (``publish`` False) the complete temporary file the caller renames.

    The ids go to a GeoTIFF beside the temporary labels (whose folder the caller removes),
    not to memory: held in /vsimem they grew with the raster, gigabytes on a large one."""
    from osgeo import gdal, ogr, osr

    ensure_writable_folder(path, "output_polygons")
    claim_output(path, "output_polygons")
    mem = os.path.join(os.path.dirname(os.path.abspath(labels_path)), "polygon_ids.tif")
    drv = gdal.GetDriverByName("GTiff")
    ds = drv.Create(mem, grid.width, grid.height, 1, gdal.GDT_UInt32, ["TILED=YES",
                                                                         "COMPRESS=DEFLATE",
                                                                         "BIGTIFF=IF_SAFER"])
    ds.SetGeoTransform(grid.transform.to_gdal())
    if grid.crs:
        ds.SetProjection(grid.crs.to_wkt())
    band = ds.GetRasterBand(1)
    band.SetNoDataValue(0)
    canceled = progress.is_canceled if progress is not None else (lambda: False)
    tmp, out = "", None
    try:
        with rasterio.open(labels_path) as lab:
            for win in tile_windows(grid.full_window, (1024, 1024)):
                if canceled():
                    raise Cancelled()
                w = win.intersection(grid.full_window)
                band.WriteArray(ids_of(lab.read(1, window=w), w), int(w.col_off),
                                int(w.row_off))
        tmp = temporary_sibling(path, ".gpkg")
        out = ogr.GetDriverByName("GPKG").CreateDataSource(tmp)
        out.SetMetadataItem(WRITER_TAG, GENERATOR)
        srs = osr.SpatialReference()
        if grid.crs:
            srs.ImportFromWkt(grid.crs.to_wkt())
        layer = out.CreateLayer("segments", srs if grid.crs else None, ogr.wkbPolygon)
        layer.CreateField(ogr.FieldDefn("id", ogr.OFTInteger64))
        layer.CreateField(ogr.FieldDefn("pixels", ogr.OFTInteger64))
        names = field_names(band_names)
        for name in names:
            layer.CreateField(ogr.FieldDefn(name, ogr.OFTReal))
        # GDAL stops when the callback returns 0: a cancel is heard during polygonizing
        try:  # a code, or an exception where GDAL's Python exceptions are on
            failed = gdal.Polygonize(band, band, layer, 0, [],
                                     callback=lambda *_: 0 if canceled() else 1) != 0
        except RuntimeError:
            failed = True
        if failed:
            if canceled():
                raise Cancelled()
            raise OSError(f"polygonizing the segments failed: {gdal.GetLastErrorMsg()}")
        layer.StartTransaction()
        for i, feat in enumerate(layer):
            if i % 10000 == 0 and canceled():
                raise Cancelled()
            sid = int(feat.GetField("id")) - 1
            feat.SetField("pixels", int(count[sid]))
            for b, name in enumerate(names):
                feat.SetField(name, float(means[sid, b]))
            layer.SetFeature(feat)
        layer.CommitTransaction()
        out.SetMetadataItem(LAYOUT_TAG, json.dumps(gpkg_layout(out)))
        out = None  # noqa: F841 - closes the GeoPackage
        if not publish:
            kept, tmp = tmp, ""
            return kept
        os.replace(tmp, path)
    finally:
        ds = band = out = None  # noqa: F841 - closed before their files go (a cancel mid-write)
        if os.path.exists(mem):
            os.remove(mem)
        for left in ((tmp, tmp + "-journal", tmp + "-wal", tmp + "-shm") if tmp else ()):
            if os.path.exists(left):
                os.remove(left)
    return path


def field_names(band_names: list[str]) -> list[str]:
    """``mean_<band name>`` fields, 60 characters at most and distinct ignoring case (as
    GeoPackage compares them): two bands of one name failed to make the second field, and
    its means were written into the first's."""
    names, seen = [], set()
    for b, n in enumerate(band_names):
        name, extra = f"mean_{n}"[:60], 0
        while name.casefold() in seen:  # "_3" could itself be another band's name
            tail = f"_{b + 1}" + (f"_{extra}" if extra else "")
            name, extra = f"mean_{n}"[:60 - len(tail)] + tail, extra + 1
        seen.add(name.casefold())
        names.append(name)
    return names

