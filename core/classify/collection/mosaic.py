"""VRT mosaics: the collection as one raster (mosaicked mode), and the per-item maps as one
layer (each_item mode).

Where items overlap, the item listed later lies on top (GDAL's VRT order; a pixel that is
NoData in the later item shows the earlier one). The grid is the first item's: its CRS,
its cell size (or CELL_SIZE), and its pixel alignment, over the union of all items.
"""

from __future__ import annotations

import os
from contextlib import suppress

from ...errors import InputError
from .items import Item


def build_vrt(path: str, sources: list[str], first: Item | None = None,
              cell_size: float | None = None, parameter: str = "rasters") -> str:
    """Write a VRT mosaic of ``sources`` at ``path`` on ``first``'s grid (or, without
    ``first``, on the sources' own common grid)."""
    from osgeo import gdal

    # each_item's maps: the finest of their cell sizes, so no map is shown coarser than it
    # is (GDAL's default averages them: no map's own grid)
    options = ({"resampleAlg": "nearest", "resolution": "highest"} if first is None
               else {"resampleAlg": "bilinear"})
    if first is not None:
        xres, yres = (cell_size, cell_size) if cell_size else first.res
        left, _bottom, _right, top = first.bounds
        options.update(resolution="user", xRes=xres, yRes=yres)
        if first.nodata is not None:
            # each item keeps its own NoData (the first's applied to all made another
            # item's -9999 fill data, lying over earlier items); where no item lies, the
            # first's value
            options.update(VRTNodata=first.nodata)
        else:
            # no value marks where no item lies (an RGB tile has none): those pixels read
            # as 0 and were classified; an alpha band marks them
            options.update(addAlpha=True)
        # the first item's pixel alignment: the union's bounds snapped outward to its grid
        lefts, bottoms, rights, tops = zip(*[_bounds(s) for s in sources])
        x0 = left + ((min(lefts) - left) // xres) * xres
        y1 = top - ((top - max(tops)) // yres) * yres
        x1 = x0 + -(-(max(rights) - x0) // xres) * xres
        y0 = y1 - -(-(y1 - min(bottoms)) // yres) * yres
        options["outputBounds"] = (x0, y0, x1, y1)
    # one CRS described two ways (EPSG:32119 and the same projection as an 'unnamed' WKT):
    # describe_items found them equal, and BuildVRT, comparing the texts, left the second
    # out, failing an each_item run after every item was classified (a qgis_process sweep,
    # stop 68); the VRT takes the first's description
    options["allowProjectionDifference"] = True
    # GDAL writes sources in the VRT's folder as relative paths itself
    gdal.ErrorReset()
    try:
        ds = gdal.BuildVRT(path, sources, options=gdal.BuildVRTOptions(**options))
    except RuntimeError as exc:  # where something turned GDAL's exceptions on
        raise InputError(parameter, f"the items cannot be mosaicked: {exc}") from exc
    # read at once: with GDAL's exceptions on (QGIS's Processing turns them on in 3.40),
    # the next call (GetFileList) clears it, and a left-out item's reason read "()"
    said = gdal.GetLastErrorMsg().strip()
    if ds is None:
        raise InputError(parameter, f"the items cannot be mosaicked: {said}")
    left_out = _left_out(sources, ds.GetFileList() or [])
    ds = None
    if first is not None and first.nodata is None and not left_out:
        _alpha_from_masks(path, sources)
    if left_out:
        # BuildVRT skips, with a warning only, a source whose data type, colour
        # interpretation or palette differs from the first one's: its area was NoData
        # in a map that said nothing
        with suppress(OSError):
            os.remove(path)
        why = said or _unlike(sources[0], left_out[0])
        raise InputError(parameter, f"GDAL cannot mosaic {len(left_out)} item(s) with the "
                         f"first, e.g. '{left_out[0]}' ({why}); "
                         "give the items one data type and band layout (e.g. gdal:translate "
                         "with an output data type)" + (", or classify them with "
                                                        "PROCESSING_MODE=each_item"
                                                        if first is not None else ""))
    return path


def _alpha_from_masks(path: str, sources: list[str]) -> None:
    """GDAL's added alpha band is 255 over each item's whole footprint, its own NoData and
    mask ignored: a later item's NoData strip where no other item lies read as 0-valued
    data and was classified (each_item left it NoData), and a masked COG edge over an
    earlier item was valid too. Each such item's alpha comes from its mask instead, as
    a source whose 0 is NoData, so it neither marks data nor hides an earlier item's. (The
    data bands already follow each source's mask and NoData.)"""
    import copy
    import xml.etree.ElementTree as ET

    import rasterio
    from rasterio.enums import MaskFlags

    with_mask = set()
    for source in sources:
        with rasterio.open(source) as ds:
            if MaskFlags.all_valid not in ds.mask_flag_enums[0]:
                with_mask.add(_path_key(source))
    if not with_mask:
        return
    tree = ET.parse(path)
    bands = tree.getroot().findall("VRTRasterBand")
    alpha = bands[-1]
    for position, src in reversed(list(enumerate(alpha))):
        name = src.find("SourceFilename")
        if name is None:
            continue
        where = (os.path.join(os.path.dirname(path), name.text)
                 if name.get("relativeToVRT") == "1" else name.text)
        if _path_key(where) not in with_mask:
            continue
        # one source per data band: a pixel is NoData only where every band is (a dark
        # water pixel whose red alone is 0 holds data), as RasterSource reads it
        alpha.remove(src)
        for b in range(len(bands) - 1, 0, -1):
            piece = copy.deepcopy(src)
            piece.tag = "ComplexSource"
            piece.find("SourceBand").text = f"mask,{b}"
            for tag in ("ScaleOffset", "ScaleRatio"):
                for element in piece.findall(tag):
                    piece.remove(element)
            ET.SubElement(piece, "NODATA").text = "0"
            alpha.insert(position, piece)
    tree.write(path, encoding="utf-8")


def _path_key(f: str) -> str:
    """A source as GDAL lists it: a virtual path by its text, a file by its real path."""
    return f if f.startswith("/vsi") else os.path.realpath(f)


def _unlike(first: str, other: str) -> str:
    """How ``other`` differs from ``first`` in what BuildVRT needs alike (data type, band
    count, colour interpretation, palette): the reason where GDAL's warning was lost."""
    import rasterio

    with rasterio.open(first) as a, rasterio.open(other) as b:
        if a.count != b.count:
            return f"{b.count} bands, the first item {a.count}"
        if a.dtypes != b.dtypes:
            return f"data type {b.dtypes[0]}, the first item {a.dtypes[0]}"
        if a.colorinterp != b.colorinterp:
            return "other colour interpretations of its bands than the first item's"
        return "another palette than the first item's"


def _left_out(sources: list[str], listed: list[str]) -> list[str]:
    """The sources a built VRT does not read."""
    have = {_path_key(f) for f in listed}
    return [s for s in dict.fromkeys(sources) if _path_key(s) not in have]


def _bounds(path: str) -> tuple[float, float, float, float]:
    import rasterio

    with rasterio.open(path) as ds:
        return tuple(ds.bounds)
