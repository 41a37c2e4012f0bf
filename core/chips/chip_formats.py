"""IMAGE_CHIP_FORMAT of Export Training Data (ArcGIS's image_chip_format): the file format
of the image chips, and of their label chips.

Why more than GeoTIFF: 8-bit RGB chips (aerial photos, drone mosaics) take a third to a
tenth of the disk as PNG or JPEG, and other deep-learning tools read those directly. What
each format can hold decides where it is offered:

- TIFF: any data type and band count; uncompressed, so training pays no decoding per
  epoch. The default, as in ArcGIS.
- PNG: lossless; 8- or 16-bit unsigned integers in 1 or 3 bands (a second or fourth PNG
  band is transparency to every reader, so an RGBN chip would lose its near infrared to
  other tools). NoData is kept as PNG transparency; a mask GDAL writes beside the chip
  (``.msk``) where NoData alone cannot tell a missing pixel.
- JPEG: lossy (quality ``JPEG_QUALITY``), 8-bit in 1 or 3 bands. Compression moves pixel
  values, so the chips carry no NoData value: the missing pixels are told by the mask
  GDAL keeps inside the JPEG, losslessly. Label chips are PNG: classes are never
  compressed lossily.

MRF (ArcGIS's fourth choice) is not offered: GDAL's MRF driver keeps no mask, so padding
past the raster's edge could not be told from data. Chip folders of any of these formats
(and MRF, from ArcGIS) are read by training alike (chip_listing.CHIP_SUFFIXES).
Georeferencing goes where GDAL keeps it for each: inside the GeoTIFF, in a ``.aux.xml``
beside a PNG or JPEG (its transform and CRS; rotated copies keep their rotation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

__all__ = ["FORMATS", "JPEG_QUALITY", "ChipFormat", "chip_format"]

PARAM = "image_chip_format"
JPEG_QUALITY = 95  # GDAL's default of 75 blurs edges a network is trained to find


@dataclass(frozen=True)
class ChipFormat:
    """How one IMAGE_CHIP_FORMAT writes its chips."""

    name: str  # the parameter's value: TIFF, PNG, JPEG
    image_suffix: str
    label_suffix: str
    driver: str
    label_driver: str
    lossless: bool
    dtypes: tuple[str, ...] | None  # None: any
    band_counts: tuple[int, ...] | None
    options: tuple[tuple[str, str], ...] = ()

    @property
    def nodata_kept(self) -> bool:
        """Whether a chip records the source's NoData value (a lossy one cannot: a pixel
        compressed onto that value would turn missing, a missing one into data)."""
        return self.lossless

    def check(self, dtype: np.dtype, bands: int) -> None:
        """Refuse, naming the parameter and the fix, a raster this format cannot hold."""
        if (self.dtypes is None or np.dtype(dtype).name in self.dtypes) and (
                self.band_counts is None or bands in self.band_counts):
            return
        kinds = " or ".join({"uint8": "8-bit", "uint16": "16-bit"}[d] for d in self.dtypes)
        counts = " or ".join(str(n) for n in self.band_counts)
        why = (" (a second or fourth band is transparency to other readers)"
               if self.name == "PNG" else "")
        raise InputError(PARAM, f"{self.name} chips hold {kinds} unsigned integers in {counts} "
                         f"band(s){why}; this raster gives {bands} band(s) of "
                         f"{np.dtype(dtype).name}: use TIFF, which holds any")


FORMATS = {
    "TIFF": ChipFormat("TIFF", ".tif", ".tif", "GTiff", "GTiff", True, None, None),
    "PNG": ChipFormat("PNG", ".png", ".png", "PNG", "PNG", True, ("uint8", "uint16"), (1, 3)),
    "JPEG": ChipFormat("JPEG", ".jpg", ".png", "JPEG", "PNG", False, ("uint8",), (1, 3),
                       (("QUALITY", str(JPEG_QUALITY)),)),
}


def chip_format(name: str) -> ChipFormat:
    """The format called ``name`` (any case; TIF and JPG too), or a clear refusal."""
    key = str(name).strip().upper()
    key = {"TIF": "TIFF", "GEOTIFF": "TIFF", "JPG": "JPEG"}.get(key, key)
    if key not in FORMATS:
        raise InputError(PARAM, f"'{str(name)[:40]}' is not a chip format; use "
                         + ", ".join(FORMATS) + " (ArcGIS's MRF is not offered: it keeps no "
                         "mask of missing pixels)")
    return FORMATS[key]
