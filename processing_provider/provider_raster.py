"""Rasters of QGIS providers GDAL cannot open, copied to a temporary GeoTIFF.

The engine reads files through GDAL. A Raster Calculator result created on the fly (the
'virtualraster' provider), a PostGIS raster or a WCS coverage is a layer QGIS reads
itself: it was refused with "export it to a GeoTIFF first", a step users then did by hand
with the same QGIS writer this module calls. The copy is the provider's own pixels on its
own grid (no resampling, no rendering), its NoData kept, written where Processing keeps
its temporary files. Its size is checked first: a coverage of a whole country is refused
with the numbers, not downloaded until the disk is full. Layers without a size of their
own (WMS, XYZ tiles: pictures rendered at any scale) are refused with what to do instead.
"""

from __future__ import annotations

import os

from qgis.core import (
    Qgis,
    QgsCoordinateTransformContext,
    QgsProcessingException,
    QgsProcessingUtils,
    QgsRasterBlockFeedback,
    QgsRasterFileWriter,
    QgsRasterInterface,
    QgsRasterLayer,
    QgsRasterPipe,
)

from ..core.errors import Cancelled
from .feedback import FeedbackProgress

__all__ = ["provider_copy"]

def _has_size(provider) -> bool:
    """Whether the provider has a grid of its own (WMS and tiles do not). The flag moved to
    Qgis.RasterInterfaceCapability in QGIS 3.38; before, QgsRasterInterface.Capability."""
    scoped = getattr(Qgis, "RasterInterfaceCapability", None)
    size = scoped.Size if scoped is not None else QgsRasterInterface.Capability.Size
    return bool(provider.capabilities() & size)


def provider_copy(layer: QgsRasterLayer, key: str, feedback=None) -> str:
    """A temporary GeoTIFF of ``layer``'s pixels, for a layer of a non-GDAL provider."""
    from ..core.files import free_bytes
    from ..core.geo.limits import DEFAULT_MAX_GPX

    provider = layer.dataProvider()
    kind = layer.providerType()
    if provider is None or not provider.isValid():
        raise QgsProcessingException(f"{key}: layer '{layer.name()}' ({kind} provider) "
                                     "cannot be read")
    if not _has_size(provider):
        raise QgsProcessingException(
            f"{key}: layer '{layer.name()}' comes from the '{kind}' provider, a picture "
            "rendered at any scale with no pixels of its own; save it at the cell size you "
            "want first (Raster > Conversion > Translate, or Processing's 'Convert map to "
            "raster') and give LandLearn that file")
    width, height, bands = provider.xSize(), provider.ySize(), provider.bandCount()
    size = sum(provider.dataTypeSize(b) for b in range(1, bands + 1)) * width * height
    out = QgsProcessingUtils.generateTempFilename(f"{_stem(layer, key)}.tif")
    free = free_bytes(out)
    if width * height > DEFAULT_MAX_GPX * 1e9 or (free is not None and size > 0.9 * free):
        raise QgsProcessingException(
            f"{key}: layer '{layer.name()}' ({kind} provider) is {width} x {height} px, "
            f"{bands} band(s), {size / 1e9:.1f} GB uncompressed; LandLearn reads rasters "
            "through GDAL and would copy it to a temporary GeoTIFF, which "
            + ("is beyond the size LandLearn writes" if width * height > DEFAULT_MAX_GPX * 1e9
               else f"needs more than the {free / 1e9:.1f} GB free in Processing's temporary "
                    "folder")
            + ": clip it to the area you need (Clip Raster by Extent) and save it as a file")
    if feedback is not None:
        feedback.pushInfo(f"{key}: copying '{layer.name()}' ({kind} provider, {width} x "
                          f"{height} px, {bands} band(s)) to a temporary GeoTIFF for GDAL")
    pipe = QgsRasterPipe()
    if not pipe.set(provider.clone()):
        raise QgsProcessingException(f"{key}: layer '{layer.name()}' ({kind} provider) "
                                     "cannot be copied")
    writer = QgsRasterFileWriter(out)
    writer.setOutputFormat("GTiff")
    # QGIS 3.44 renamed it (the old name deprecated, gone in QGIS 4)
    options = getattr(writer, "setCreationOptions", None) or writer.setCreateOptions
    options(["COMPRESS=DEFLATE", "TILED=YES", "BIGTIFF=IF_SAFER"])
    # the writer takes a raster feedback, not Processing's: progress and Cancel are passed
    # on per block, and QGIS's events let through (Cancel is a click on this thread)
    progress = FeedbackProgress(feedback)
    blocks = QgsRasterBlockFeedback()

    def step(percent: float) -> None:
        progress.set_fraction(percent / 100)
        if progress.is_canceled():
            blocks.cancel()

    blocks.progressChanged.connect(step)
    error = writer.writeRaster(pipe, width, height, provider.extent(), layer.crs(),
                               QgsCoordinateTransformContext(), blocks)
    if blocks.isCanceled() or progress.is_canceled():
        _remove(out)
        raise Cancelled()
    code = int(getattr(error, "value", error))  # an enum of Qgis's own from QGIS 3.38 on
    if code != 0 or not os.path.exists(out):
        _remove(out)
        raise QgsProcessingException(f"{key}: layer '{layer.name()}' ({kind} provider) could "
                                     f"not be copied to a GeoTIFF (QGIS's writer error "
                                     f"{code}); save it as a file first")
    if kind == "virtualraster" and Qgis.QGIS_VERSION_INT < 34000 and not any(
            provider.sourceHasNoDataValue(b) for b in range(1, bands + 1)):
        _calculator_nodata(out)
    return out


def _calculator_nodata(path: str) -> None:
    """The Raster Calculator's NoData declared on the copy. Where an input pixel is NoData,
    QGIS 3.22's on-the-fly provider computes the calculator's NoData value (-3.4028235e38,
    float32's lowest) without declaring it (QGIS 3.40's gives NaN, which the engine takes
    for NoData anyway, so not there): read as a value, it stopped Assess Accuracy ('the
    value -3.40282e+38') and would have reached a model as an extreme value."""
    import numpy as np
    from osgeo import gdal

    ds = gdal.Open(path, gdal.GA_Update)
    try:
        for b in range(1, ds.RasterCount + 1):
            ds.GetRasterBand(b).SetNoDataValue(float(np.finfo(np.float32).min))
    finally:
        ds = None


def _stem(layer: QgsRasterLayer, key: str) -> str:
    """The layer's name as a file name (outputs named after their input keep its name)."""
    keep = "".join(c if c.isalnum() or c in "-_." else "_" for c in layer.name()).strip("._")
    return keep[:60] or key.lower()


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
