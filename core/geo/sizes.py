"""Sizes checked before any pixel is read: the grid, the disk, the cell size.

A CELL_SIZE of 0.01 on a 30 m raster asks for 1.8e12 pixels; a 200,000 x 200,000 raster
runs for most of an hour before anything is written. Users learn the size of what they
asked for up front, in the log, and a request beyond MAX_OUTPUT_GPX gigapixels or beyond
the free disk stops with the numbers and the parameter to change.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..files import free_bytes
from .grid import Grid, crs_units
from .limits import DEFAULT_MAX_GPX

__all__ = ["DEFAULT_MAX_GPX", "PlannedOutput", "check_cell_size", "check_output_size"]


@dataclass(frozen=True)
class PlannedOutput:
    parameter: str
    path: str
    bands: int
    dtype: np.dtype
    # a temporary file written raw beside the output (no deflate to count on), named so
    temporary: str = ""
    # a temporary file compressed as the output is (a Dask run's parts): ratios as outputs'
    packed: bool = False

    @property
    def bytes_per_pixel(self) -> int:
        return self.bands * np.dtype(self.dtype).itemsize

    def best_case_ratio(self) -> int:
        """How much deflate can shrink it at best: class maps a lot, floats little."""
        if self.temporary and not self.packed:
            return 1
        return 20 if np.dtype(self.dtype).itemsize == 1 else 3

    def name(self) -> str:
        return (f"{self.temporary} beside {self.parameter.upper()}" if self.temporary
                else self.parameter.upper())


def _mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 1e6 else f"{n / 1e3:,.0f} kB"


def _gpx(pixels: int) -> str:
    """Gigapixels as people read them: 30.9, or 0.015 under 10 (a limit of 0.01 exceeded
    was '0.0 gigapixels')."""
    g = pixels / 1e9
    return f"{g:,.1f}" if g >= 10 else f"{g:.3g}"


def check_output_size(width: int, height: int, outputs: Sequence[PlannedOutput],
                      max_gpx: float, progress, what: str = "output") -> None:
    """Log the size of what will be written; stop beyond ``max_gpx`` or the free disk."""
    if not (max_gpx > 0 and math.isfinite(max_gpx)):
        raise InputError("max_output_gpx", f"{max_gpx} is not a positive number of gigapixels")
    pixels = int(width) * int(height)
    parts = [f"{o.name()} up to {_mb(pixels * o.bytes_per_pixel)}" for o in outputs]
    progress.info(f"The {what} is {width:,} x {height:,} px ({pixels / 1e6:,.1f} MPix)"
                  + (f"; uncompressed: {', '.join(parts)}" if parts else ""))
    if pixels > max_gpx * 1e9:
        raise InputError("max_output_gpx", f"the {what} would be {width:,} x {height:,} = "
                         f"{_gpx(pixels)} gigapixels, more than the limit of {max_gpx:g}. "
                         "Check CELL_SIZE and EXTENT; if you really mean it, raise "
                         "MAX_OUTPUT_GPX")
    by_folder: dict[str, list[PlannedOutput]] = {}
    for o in outputs:
        by_folder.setdefault(os.path.dirname(os.path.abspath(o.path)), []).append(o)
    for folder, group in by_folder.items():
        free = free_bytes(folder)
        if free is None:
            continue
        need = sum(pixels * o.bytes_per_pixel for o in group)
        least = sum(pixels * o.bytes_per_pixel / o.best_case_ratio() for o in group)
        if least > free:
            raise InputError(group[0].parameter, f"disk full ahead: the outputs need {_mb(least)} "
                             f"at least (up to {_mb(need)} uncompressed) at '{folder}', which "
                             f"has {_mb(free)} free. Free some space, choose another folder, "
                             "or reduce EXTENT")
        if need > free:
            progress.warning(f"The outputs take up to {_mb(need)} uncompressed at '{folder}' "
                             f"and {_mb(free)} are free: they fit only if they compress well.")


def check_cell_size(cell: float | None, grid: Grid, area_width: float, area_height: float,
                    parameter: str = "cell_size") -> None:
    """A CELL_SIZE that is positive, finite and plausible in the raster CRS's units.

    ``area_width``/``area_height`` are the processed area's size in those units.
    """
    if cell is None:
        return
    units = crs_units(grid.crs) or "map units"
    if not (isinstance(cell, (int, float)) and math.isfinite(cell) and cell > 0):
        raise InputError(parameter, f"{cell} is not a positive cell size; leave it empty to keep "
                         f"the raster's own ({grid.res[0]:g} {units})")
    if units == "degree" and cell > 1:
        raise InputError(parameter, f"{cell:g} is in the raster CRS's units, degrees: about "
                         f"{cell * 111:,.0f} km per pixel. A {cell:g} m cell is about "
                         f"{cell / 111_000:.2g} degrees; give the size in degrees, or reproject "
                         "the raster to a metric CRS first")
    if cell > max(area_width, area_height):
        raise InputError(parameter, f"{cell:g} {units} is larger than the whole area "
                         f"({area_width:,.4g} x {area_height:,.4g} {units}), which would "
                         f"become a single pixel; the raster's own cell is {grid.res[0]:g} {units}")
