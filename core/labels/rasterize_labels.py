"""Labels -> a classified GeoTIFF on the image grid: what training will actually see.

Streams the image grid tile by tile, so memory follows the tile size. Labels that fall on
image NoData are dropped (set to 0): a model can never learn from them, and counting them
would make the class statistics lie.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from rasterio.windows import Window

from ..geo.classes import ClassInfo
from ..geo.extent import Extent, extent_to_window
from ..geo.grid import count_tiles, tile_windows
from ..geo.outputs import check_distinct
from ..geo.raster import RasterSource
from ..geo.sizes import DEFAULT_MAX_GPX, PlannedOutput, check_output_size
from ..geo.writer import GeoTiffWriter
from ..progress import NullProgress, Progress, SubProgress, track
from ..runtime.deps import require_gdal
from ..termination import terminable
from .base import LabelConfig
from .open import open_labels


@dataclass(frozen=True)
class LabelRasterConfig:
    input_raster: str
    labels: LabelConfig
    output: str
    extent: Extent | None = None
    tile_size: int = 512
    max_output_gpx: float = DEFAULT_MAX_GPX


@dataclass
class LabelRasterResult:
    output: str
    classes: list[ClassInfo]
    pixel_counts: dict[int, int] = field(default_factory=dict)
    dropped_on_nodata: int = 0
    width: int = 0
    height: int = 0

    @property
    def classes_with_pixels(self) -> int:
        """The classes the raster holds: with EXTENT, or a layer whose texts are numbered
        over all its features, some named classes have no pixel here (CLASS_COUNT said 7
        where the raster held 4; PyQGIS sweep, stop 69)."""
        return sum(1 for c in self.classes if self.pixel_counts.get(c.value, 0) > 0)

    def summary(self) -> str:
        total = sum(self.pixel_counts.values())
        held = self.classes_with_pixels
        of = f" of the {len(self.classes)} named" if held != len(self.classes) else ""
        lines = [f"{total} labelled pixels in {held}{of} classes "
                 f"({self.width} x {self.height} grid):"]
        for c in self.classes:
            n = self.pixel_counts.get(c.value, 0)
            share = 100.0 * n / total if total else 0.0
            lines.append(f"  {c.value:>3} {c.name}: {n} px ({share:.1f}%)")
        if self.dropped_on_nodata:
            lines.append(f"{self.dropped_on_nodata} labelled pixels fell on image NoData "
                         "and were dropped")
        return "\n".join(lines)


@terminable
def write_label_raster(config: LabelRasterConfig, progress: Progress | None = None
                       ) -> LabelRasterResult:
    require_gdal()  # before any work (labels, sidecars and VRTs go through osgeo)
    progress = progress or NullProgress()
    check_distinct({"input_raster": config.input_raster, "labels": config.labels.labels},
                   {"output": config.output}, styled=["output"])
    with RasterSource(config.input_raster) as image:
        area = (extent_to_window(config.extent, image.grid) if config.extent
                else image.grid.full_window)
        check_output_size(int(area.width), int(area.height),
                          [PlannedOutput("output", config.output, 1, np.dtype(np.uint8))],
                          config.max_output_gpx, progress, "label raster")
        with open_labels(config.labels, image.grid, progress) as labels:
            out_grid = image.grid.subgrid(area)
            counts = np.zeros(256, dtype=np.int64)
            dropped = 0
            tile = (config.tile_size, config.tile_size)
            n = count_tiles(area, tile)
            with GeoTiffWriter(config.output, out_grid, 1, np.uint8, nodata=0,
                               classes=labels.classes) as out:
                for win in track(tile_windows(area, tile), SubProgress(progress, 0, 1), n):
                    inner = win.intersection(area)
                    lab = labels.read(inner)
                    valid = image.read(inner).valid
                    dropped += int(np.count_nonzero(lab[~valid]))
                    lab[~valid] = 0
                    counts += np.bincount(lab.ravel(), minlength=256)
                    out.write(lab, Window(inner.col_off - area.col_off, inner.row_off - area.row_off,
                                          inner.width, inner.height))
    counts[0] = 0
    return LabelRasterResult(
        output=config.output, classes=labels.classes,
        pixel_counts={c.value: int(counts[c.value]) for c in labels.classes},
        dropped_on_nodata=dropped, width=out_grid.width, height=out_grid.height)
