"""The NoData a raster layer has in QGIS, where it differs from its file's.

Layer Properties > Transparency lets a user untick the file's "No data value" or add
values of their own; QGIS's own algorithms then leave those pixels out. LandLearn reads
the file through GDAL, which never sees them: a scene whose black collar was marked 0 in
QGIS was classified collar and all. GDAL keeps one NoData value per band, so what QGIS
holds is carried into the VRT the engine reads where it fits one value, and refused with
the fix where it does not (a range, or two values on one band).
"""

from __future__ import annotations

import math

from qgis.core import QgsProcessingException, QgsRasterLayer

#: band -> the NoData value GDAL should see (None: none) where QGIS's differs from the file's
NoDataOverrides = dict[int, "float | None"]


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


def _fits(value: float, kind: str) -> bool:
    """Whether a band of numpy type ``kind`` can hold ``value``: a value it cannot hold
    marks no pixel in QGIS either (-9999 on a byte band), so it is no NoData to carry."""
    import numpy as np

    dtype = np.dtype(kind)
    if dtype.kind == "f" or dtype.kind == "c":
        return True
    if not math.isfinite(value) or value != int(value):
        return False
    info = np.iinfo(dtype)
    return info.min <= value <= info.max


def _user_values(layer: QgsRasterLayer, band: int, key: str) -> list[float]:
    values = []
    for rng in layer.dataProvider().userNoDataValues(band):
        low, high = rng.min(), rng.max()
        if not _same(low, high):
            raise QgsProcessingException(
                f"{key}: layer '{layer.name()}' has the NoData range {low:g}-{high:g} set "
                f"in Layer Properties > Transparency (band {band}); LandLearn reads NoData as "
                "GDAL does, one value per band: give single values there, or mark the range "
                "NoData in a copy (Raster Calculator, then Raster > Conversion > Translate "
                "with 'Assign a specified NoData value')")
        values.append(float(low))
    return values


def touched(layer: QgsRasterLayer) -> bool:
    """Whether the user changed any band's NoData in QGIS (cheap: no file is read)."""
    provider = layer.dataProvider()
    return any(provider.userNoDataValues(band) or (provider.sourceHasNoDataValue(band)
                                                   and not provider.useSourceNoDataValue(band))
               for band in range(1, layer.bandCount() + 1))


def nodata_set_in_qgis(layer: QgsRasterLayer, key: str, band_types: list[str],
                       skip: frozenset[int] = frozenset()) -> NoDataOverrides:
    """Per band whose NoData in QGIS is not its file's: the one value GDAL should see, or
    None where the user unticked the file's and added none. ``band_types``: each band's
    numpy type, as the file has it; ``skip``: bands left as they are."""
    provider = layer.dataProvider()
    overrides: NoDataOverrides = {}
    for band, kind in enumerate(band_types, start=1):
        if band in skip:
            continue
        has = provider.sourceHasNoDataValue(band)
        file_value = float(provider.sourceNoDataValue(band)) if has else None
        used = has and provider.useSourceNoDataValue(band)
        values = [file_value] if used else []
        for value in _user_values(layer, band, key):
            if not any(_same(value, v) for v in values):
                values.append(value)
        fitting = [v for v in values if _fits(v, kind)]
        if len(fitting) > 1:
            shown = ", ".join(f"{v:g}" for v in fitting)
            raise QgsProcessingException(
                f"{key}: band {band} of layer '{layer.name()}' has {len(fitting)} NoData "
                f"values in QGIS ({shown}: the file's and those added in Layer Properties > "
                "Transparency); LandLearn reads NoData as GDAL does, one value per band: "
                "keep one there (untick 'No data value' to drop the file's), or write a copy "
                "with Raster > Conversion > Translate")
        # a value the band cannot hold marks nothing; the file's is kept as it is then
        wanted = fitting[0] if fitting else (file_value if used else None)
        if not _same(wanted, file_value):
            overrides[band] = wanted
    return overrides


def describe(overrides: NoDataOverrides) -> str:
    """The overrides as a log line's words: 'band 1: 0, band 2: none'."""
    return ", ".join(f"band {b}: {'none' if v is None else f'{v:g}'}"
                     for b, v in sorted(overrides.items()))


def apply(vrt_path: str, overrides: NoDataOverrides) -> None:
    """Writes the overrides into the VRT's bands (GDAL rewrites the file on close)."""
    from osgeo import gdal

    wide_integers = {getattr(gdal, t) for t in ("GDT_Int64", "GDT_UInt64") if hasattr(gdal, t)}
    ds = gdal.Open(vrt_path, gdal.GA_Update)
    if ds is None:
        raise RuntimeError(gdal.GetLastErrorMsg() or f"cannot update {vrt_path}")
    for band, value in overrides.items():
        target = ds.GetRasterBand(band)
        if value is None:
            target.DeleteNoDataValue()
        elif target.DataType in wide_integers:
            # GDAL's bindings send these bands' NoData to SetNoDataValueAsInt64/UInt64,
            # which take an int: a float raised a SystemError from inside GDAL
            target.SetNoDataValue(int(value))
        else:
            target.SetNoDataValue(value)
    ds.FlushCache()
    ds = None
