"""Export Training Data: an image and its labels cut into georeferenced chip pairs.

Streams window by window (memory follows the tile size, never the raster), writes into a
hidden staging folder and publishes it whole at the end, so a cancel or an error leaves no
half training set. Nothing outside the processing extent enters the export, labels or
pixels: an extent is how users keep a test area out of training, and chips hanging over
its edge must not smuggle it back in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from rasterio.windows import Window

from ..errors import InputError
from ..files import disk_full_error, free_bytes, is_disk_full
from ..geo.band_presence import all_nodata_words
from ..geo.classes import ClassInfo
from ..geo.extent import ExtentMask, extent_to_window
from ..geo.grid import count_tiles, resampled_grid, tile_windows, window_bounds
from ..geo.outputs import check_distinct
from ..geo.raster import RasterSource
from ..geo.sizes import check_cell_size, check_output_size
from ..labels.mask_polygons import MaskPolygons
from ..labels.open import open_labels
from ..progress import NullProgress, Progress, SubProgress, track
from ..runtime.deps import require_gdal
from ..staged_folder import StagedFolder
from ..termination import terminable
from .area_reads import image_in_area, labels_in_area, part_in, pixels_inside, window_inside
from .band_stats import BandStats
from .chip_formats import chip_format
from .chip_size import AUTO, MAX_WINDOWS, resolve_chip_size
from .chip_writer import ChipWriter
from .classified_tiles import ChipRecord, ExportDescription, legacy_export_files
from .classified_tiles import write_metadata as write_folder_metadata
from .export_config import ExportConfig
from .export_report import summarize
from .rotation import RotatedCopies, angles, turned_chips

__all__ = ["ExportConfig", "ExportResult", "export_training_data"]


@dataclass
class ExportResult:
    output_folder: str
    description: ExportDescription
    windows: int
    skipped_unlabelled: int = 0
    skipped_below_fraction: int = 0
    skipped_nodata: int = 0
    skipped_outside_mask: int = 0
    rotated_copies: int = 0  # of the chips, ROTATION_ANGLE's turned copies
    labels_on_nodata: int = 0
    best_fraction: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def chips(self) -> int:
        return len(self.description.chips)

    @property
    def classes(self) -> list[ClassInfo]:
        return self.description.classes

    @property
    def class_pixels(self) -> dict[int, int]:
        return self.description.class_pixels()

    def summary(self) -> str:
        return summarize(self)


def _open_image(config: ExportConfig, progress: Progress) -> tuple[RasterSource, Window]:
    image = RasterSource(config.input_raster, config.bands)
    area = extent_to_window(config.extent, image.grid, centres=True) if config.extent else image.grid.full_window
    cell = config.cell_size
    if cell is None or np.allclose(image.grid.res, (cell, cell), rtol=1e-9, atol=0):
        return image, area
    try:
        res = image.grid.res
        check_cell_size(cell, image.grid, area.width * res[0], area.height * res[1])
        target = resampled_grid(image.grid, area, cell)
    finally:
        image.close()
    progress.info(f"Resampling the image from {image.grid.res[0]:g} x {image.grid.res[1]:g} to "
                  f"{cell:g} map units per pixel (bilinear; labels nearest): "
                  f"{target.width} x {target.height} pixels.")
    image = RasterSource(config.input_raster, config.bands, resample_to=target)
    if config.extent is None:
        return image, image.grid.full_window
    # the resampled grid reaches up to a cell past EXTENT, where the image goes on: only
    # cells whose centres lie inside it are exported (the last row and column brought in
    # image and labels from the other side of EXTENT, e.g. a test area)
    width_m, height_m = area.width * abs(res[0]), area.height * abs(res[1])
    inside = Window(0, 0, max(1, math.ceil(width_m / cell - 0.5 - 1e-9)),
                    max(1, math.ceil(height_m / cell - 0.5 - 1e-9)))
    return image, inside


def _image_nodata(image: RasterSource, progress: Progress, kept: bool = True) -> float | None:
    values = {v for v in image.nodata if v is not None}
    if len(values) > 1 and kept:  # JPEG chips record none: their mask tells
        progress.warning(f"The selected bands have different NoData values {sorted(values)}; "
                         f"chip files record {image.nodata[0]} (GeoTIFF holds one per file), "
                         "the folder's description each band's own (LandLearn's training "
                         "reads it; other tools may not).")
    return image.nodata[0]


@terminable
def export_training_data(config: ExportConfig, progress: Progress | None = None) -> ExportResult:
    require_gdal()  # before any work (labels, sidecars and VRTs go through osgeo)
    progress = progress or NullProgress()
    config.validate()
    check_distinct({"input_raster": config.input_raster, "labels": config.labels.labels,
                    **({"mask_polygons": config.mask_polygons} if config.mask_polygons else {})},
                   {"output_folder": config.output_folder}, folders=["output_folder"])
    image, area = _open_image(config, progress)
    with image:
        chip_format(config.image_chip_format).check(image.dtype, image.count)
        check_output_size(int(area.width), int(area.height), [], config.max_output_gpx,
                          progress, "export area")
        try:
            return _export(config, image, area, progress)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            needed = _result_bytes_estimate(config, image, area)
            raise disk_full_error(config.output_folder, "output_folder", needed, exc) from None


def _result_bytes_estimate(config: ExportConfig, image: RasterSource, area: Window) -> int:
    """The chips' size if every window became a chip (uncompressed, as they are written).

    Automatic sizes count as 256 px chips at a 128 px stride: the total follows the
    overlap (tile / stride), hardly the chip size.
    """
    tx, ty = config.tile_size_x or 256, config.tile_size_y or 256
    sx, sy = config.stride_x or tx // 2, config.stride_y or ty // 2
    windows = count_tiles(area, (tx, ty), (sx, sy))
    per_chip = tx * ty * (image.count * image.dtype.itemsize + 1)
    return windows * per_chip * (1 + len(angles(config.rotation_angle)))


def _check_window_count(config, image, area, tile, stride, progress,
                        automatic: bool = False) -> None:
    """Before any chip: a stride that makes millions of windows is refused, and chips that
    could outgrow the free disk if every window held labels are warned about."""
    windows = count_tiles(area, tile, stride)
    per_chip = tile[0] * tile[1] * (image.count * image.dtype.itemsize + 1)
    if windows > MAX_WINDOWS:
        key = "stride_x" if area.width / stride[0] >= area.height / stride[1] else "stride_y"
        raise InputError(key, f"a stride of {stride[0]} x {stride[1]} px over {int(area.width)} "
                         f"x {int(area.height)} px makes {windows:,} chip windows (up to "
                         f"{windows * per_chip / 1e12:,.1f} TB of chips if all were labelled), "
                         f"more than {MAX_WINDOWS:,}; " + (
                             f"use a larger stride (half the tile, {tile[0] // 2} px, is "
                             "usual) or 0 for the automatic one" if not automatic else
                             "use larger chips (TILE_SIZE_X/Y), or export a smaller EXTENT"))
    free = free_bytes(config.output_folder)
    if free is not None and windows * per_chip > free:
        progress.warning(f"If every one of the {windows:,} chip windows held labels, the chips "
                         f"would take up to {windows * per_chip / 1e6:,.0f} MB uncompressed, and "
                         f"{free / 1e6:,.0f} MB are free; only labelled windows become chips.")


def _export(config: ExportConfig, image: RasterSource, area: Window, progress) -> ExportResult:
    mask = MaskPolygons(config.mask_polygons, config.mask_layer, image.grid, progress) \
        if config.mask_polygons else None
    with open_labels(config.labels, image.grid, progress) as labels:
        return _export_with(config, image, labels, area, progress, mask)


def _export_with(config: ExportConfig, image: RasterSource, labels, area: Window,
                 progress, mask: MaskPolygons | None = None) -> ExportResult:
    grid = image.grid
    if config.labels.buffer_radius and not hasattr(labels, "point_cells"):
        progress.warning("BUFFER_RADIUS has no effect on a label raster (it widens points "
                         "of a vector layer)")
    if hasattr(labels, "overlaps") and not labels.overlaps(area):
        raise InputError("labels", "no label lies inside the processing extent; widen "
                         "EXTENT or check that the labels cover this part of the raster")
    if mask is not None and config.extent is not None and not mask.meets(area):
        raise InputError("mask_polygons", "no mask polygon lies inside EXTENT; widen EXTENT "
                         "or draw the mask polygons inside it")
    size = resolve_chip_size((config.tile_size_x, config.tile_size_y),
                             (config.stride_x, config.stride_y), labels, area, progress,
                             (lambda win: mask.covers(win, area)) if mask else None)
    if size.why:
        progress.info(size.why)
    automatic = config.stride_x == AUTO and config.stride_y == AUTO
    config = replace(config, tile_size_x=size.tile[0], tile_size_y=size.tile[1],
                     stride_x=size.stride[0], stride_y=size.stride[1])
    tile, stride = size.tile, size.stride
    _check_window_count(config, image, area, tile, stride, progress, automatic)
    if stride[0] > tile[0] or stride[1] > tile[1]:
        progress.warning(f"The stride {stride} is larger than the tile {tile}: strips of "
                         "the raster between chips are left out of the export.")
    if config.output_nofeature_tiles and config.min_labeled_fraction > 0:
        progress.warning(f"MIN_LABELED_FRACTION ({config.min_labeled_fraction:g}) has no "
                         "effect with OUTPUT_NOFEATURE_TILES: chips without labels are kept, "
                         "and so are chips with fewer labels than that share.")
    fmt = chip_format(config.image_chip_format)
    nodata = _image_nodata(image, progress, fmt.nodata_kept)
    desc = ExportDescription(
        source=config.input_raster, source_bands=list(image.bands),
        source_band_count=image.source_count, source_scaling=image.scaling,
        band_names=image.band_names, dtype=image.dtype.name,
        # the chips' own: a JPEG's are none (its mask alone tells missing pixels; training
        # applying the source's 0 took pixels compression moved onto 0 for holes)
        nodata=list(image.nodata) if fmt.nodata_kept else [None] * image.count,
        source_nodata=None if fmt.nodata_kept else list(image.nodata),
        crs_wkt=grid.crs.to_wkt() if grid.crs else None, cell_size=grid.res,
        grid_transform=tuple(grid.window_transform(area))[:6], tile_size=tile,
        stride=stride, block_size=tile, classes=labels.classes, bands=[],
        rotation_angle=config.rotation_angle,
        buffer_radius=config.labels.buffer_radius if getattr(labels, "discs", None) else 0.0,
        image_format=fmt.name)
    result = ExportResult(config.output_folder, desc, count_tiles(area, tile, stride))
    stats = BandStats(image.band_names)
    with StagedFolder(config.output_folder, "output_folder", replace=config.overwrite,
                      what="training data folder", algorithm="exporttrainingdata",
                      legacy=legacy_export_files) as staged:
        writer = ChipWriter(staged.staging, grid.crs, nodata, labels.classes, fmt=fmt)
        try:
            _walk(config, image, labels, area, writer, stats, result, progress, mask)
        except BaseException:
            writer.close(wait_errors=False)
            raise
        writer.close()
        _check_something_written(config, result, image)
        desc.bands = stats.summaries()
        result.warnings = _imbalance_warnings(result)
        write_folder_metadata(staged.staging, desc, result.summary())
    result.output_folder = staged.path
    progress.set_fraction(1.0)
    return result


def _walk(config, image, labels, area, writer, stats, result, progress, mask=None) -> None:
    tile = (config.tile_size_x, config.tile_size_y)
    stride = (config.stride_x, config.stride_y)
    blocks_per_row = math.ceil(area.width / tile[0])
    chip_area = tile[0] * tile[1]
    desc = result.description
    best = 0.0
    windows = tile_windows(area, tile, stride)
    keep_all = config.output_nofeature_tiles
    # an EXTENT in another CRS: its reprojected box reaches past its edges; pixels there
    # are left out like those beyond the area (label 0, image padding)
    shape = ExtentMask(config.extent, image.grid) if ExtentMask.needed(config.extent,
                                                                        image.grid) else None
    copies = RotatedCopies(config.rotation_angle, tile)
    for win in track(windows, SubProgress(progress, 0.0, 0.97), result.windows):
        lab = labels_in_area(labels, win, area)
        beyond = None
        if shape is not None and (keep_all or lab.any()):
            beyond = shape.outside(win)
            if beyond is not None:
                lab[beyond] = 0
        if not keep_all and not lab.any():
            # no label: no chip, and the image is not read (with sparse labels and the
            # usual half-chip stride, every pixel was read about four times for nothing)
            result.skipped_unlabelled += 1
            continue
        if mask is not None and not mask.covers(win, area, beyond):
            result.skipped_outside_mask += 1  # chips it left out, not empty windows
            continue
        data, valid = image_in_area(image, win, area)
        if beyond is not None:
            valid = valid & ~beyond
            for band, fill in zip(data, image.fill_values):
                band[beyond] = fill
        if not valid.any():
            result.skipped_nodata += 1
            continue
        on_nodata = lab[~valid]
        if on_nodata.any():
            result.labels_on_nodata += int(np.count_nonzero(on_nodata))
            lab[~valid] = 0
        hist = np.bincount(lab.ravel(), minlength=256)
        labelled = chip_area - int(hist[0])
        # of the chip's pixels inside the area: padding beyond the raster's (or EXTENT's)
        # edge cannot be labelled, and counting it dropped every edge chip
        inside = pixels_inside(win, area, chip_area)
        if beyond is not None:  # within the area only: padding past it is counted already
            part = None if window_inside(win, area) else part_in(win, area)
            cut = beyond if part is None else beyond[part[1]]
            inside = max(1, inside - int(np.count_nonzero(cut)))
        fraction = labelled / inside
        best = max(best, fraction)
        if not config.output_nofeature_tiles:
            if labelled == 0:
                result.skipped_unlabelled += 1
                continue
            if fraction < config.min_labeled_fraction:
                result.skipped_below_fraction += 1
                continue
        stats.add(data, valid, image.nodata)
        col, row = int(win.col_off - area.col_off), int(win.row_off - area.row_off)
        brow, bcol = row // tile[1], col // tile[0]
        record = ChipRecord(
            index=len(desc.chips), col_off=col, row_off=row,
            bounds=window_bounds(image.grid, win), block=brow * blocks_per_row + bcol,
            block_row=brow, block_col=bcol, valid_pixels=int(np.count_nonzero(valid)),
            class_pixels={v: int(hist[v]) for v in np.nonzero(hist[1:])[0] + 1},
            suffixes=(writer.fmt.image_suffix, writer.fmt.label_suffix))
        desc.chips.append(record)
        writer.submit(record.image_name, data, lab, image.grid.window_transform(win), valid,
                      record.label_name)
        if copies:
            _write_copies(copies, config, image, labels, area, shape, mask, win, record,
                          writer, result)
    result.best_fraction = best


def _write_copies(copies, config, image, labels, area, shape, mask, win, record, writer,
                  result) -> None:
    """ROTATION_ANGLE: the chip's turned copies, in its block, each kept by the chip's own
    rules (a labelled pixel, MIN_LABELED_FRACTION, inside MASK_POLYGONS). The band
    statistics are the chips' own: a copy holds the same pixels, mostly."""
    desc = result.description
    chip = image.grid.window_transform(win)
    for k, data, valid, lab, within in turned_chips(copies, image, labels, win, area,
                                                    shape, mask):
        if not valid.any():
            continue
        lab[~valid] = 0
        hist = np.bincount(lab.ravel(), minlength=256)
        labelled = lab.size - int(hist[0])
        if not config.output_nofeature_tiles and (
                labelled == 0 or labelled / max(1, int(np.count_nonzero(within)))
                < config.min_labeled_fraction):
            continue
        turned = copies.transform(k, chip)
        copy = replace(record, index=len(desc.chips), bounds=None,
                       valid_pixels=int(np.count_nonzero(valid)), rotation=copies.turns[k],
                       class_pixels={v: int(hist[v]) for v in np.nonzero(hist[1:])[0] + 1},
                       footprint=copies.footprint(turned))
        desc.chips.append(copy)
        result.rotated_copies += 1
        writer.submit(copy.image_name, data, lab, turned, valid, copy.label_name)


def _check_something_written(config: ExportConfig, result: ExportResult,
                             image: RasterSource | None = None) -> None:
    if result.chips and any(result.class_pixels.values()):
        return
    if result.chips == 0 and result.skipped_outside_mask and \
            result.skipped_outside_mask + result.skipped_unlabelled == result.windows:
        raise InputError("mask_polygons", f"no {config.tile_size_x} x {config.tile_size_y} px "
                         "chip lies wholly inside the mask polygons; draw them larger than a "
                         "chip, or set smaller TILE_SIZE_X/Y")
    if result.chips == 0 and result.skipped_below_fraction:
        raise InputError("min_labeled_fraction", f"no chip holds {config.min_labeled_fraction:.0%}"
                         f" labelled pixels (the best holds {result.best_fraction:.1%}); lower it")
    # windows without labels are skipped before their image is read: every labelled
    # window all NoData says the image is (as far as the labels reach)
    if result.chips == 0 and result.skipped_nodata and \
            result.skipped_nodata == result.windows - result.skipped_unlabelled:
        said = "every pixel in the processing extent is NoData" + (
            "" if result.skipped_unlabelled == 0 else " where the labels are")
        raise InputError("input_raster", said if image is None else all_nodata_words(image, said))
    on_nodata = (f" ({result.labels_on_nodata} labelled pixels fall on image NoData)"
                 if result.labels_on_nodata else "")
    raise InputError("labels", "no labelled pixel falls inside the processing extent" + on_nodata
                     + "; check that the labels cover the raster (and EXTENT, if set)")


def _imbalance_warnings(result: ExportResult) -> list[str]:
    """Classes a model will struggle to learn: absent, or a sliver of the labelled pixels."""
    counts = result.class_pixels
    total = sum(counts.values()) or 1
    per_chip = {c.value: sum(1 for ch in result.description.chips if c.value in ch.class_pixels)
                for c in result.classes}
    out = []
    for c in result.classes:
        n = counts.get(c.value, 0)
        if n == 0:
            out.append(f"class {c.value} '{c.name}' has no labelled pixel in any chip "
                       "(outside the extent, on NoData, or in skipped chips)")
        elif n / total < 0.01 or per_chip[c.value] < 3:
            out.append(f"class {c.value} '{c.name}' is rare: {n} px ({100 * n / total:.2f}% of "
                       f"labelled pixels) in {per_chip[c.value]} chip(s); consider more labels "
                       "or class weighting")
    return out
