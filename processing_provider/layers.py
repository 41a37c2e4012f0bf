"""Turning QGIS layers into paths the engine (GDAL/OGR) can open directly.

The engine reads files; QGIS layers may carry a selection, a subset filter or come from
a provider GDAL cannot read. Those are written to a temporary GeoPackage first, so what
the engine sees is exactly what the user sees.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeedback,
    QgsField,
    QgsProcessingException,
    QgsProcessingUtils,
    QgsProviderRegistry,
    QgsRasterLayer,
    QgsVectorFileWriter,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QVariant

from ..core.errors import Cancelled
from ..core.geo.gdal_open import SOURCE_FID_FIELD
from . import layer_nodata
from .provider_raster import provider_copy

if TYPE_CHECKING:  # the engine loads when an algorithm runs, not when QGIS starts
    from ..core.geo.extent import Extent


def _crs_set_in_qgis(layer) -> bool:
    """Whether the user gave the layer a CRS in QGIS other than its file's (Set Layer CRS, or
    a file without one): the engine reads the file, so it would never see it."""
    crs = layer.crs()
    return crs.isValid() and crs != layer.dataProvider().crs()


def _encoding_set_in_qgis(layer, path: str, name: str | None) -> bool:
    """Whether QGIS decodes the layer's text with an encoding the user set (Layer Properties
    > Source > Data source encoding) where OGR would not recode it: a shapefile with no
    .cpg file. Read directly, its Latin-1 class names reached the engine as bytes that are
    not UTF-8 (a PyQGIS sweep, stop 68); the copy holds the text as QGIS shows it."""
    encoding = (layer.dataProvider().encoding() or "").replace("-", "").lower()
    if encoding in ("", "utf8"):
        return False
    from osgeo import ogr

    ds = ogr.Open(path)
    if ds is None:
        return False
    lyr = ds.GetLayerByName(name) if name else ds.GetLayer(0)
    return lyr is not None and not lyr.TestCapability(ogr.OLCStringsAsUTF8)


def _gdal_source(layer: QgsRasterLayer, key: str) -> tuple[str, list[str]]:
    """(what GDAL opens, the open options) of a GDAL layer. QGIS writes the open options a
    user gave in its data source manager (e.g. OVERVIEW_LEVEL) into the layer's source as
    '|option:KEY=VALUE', which GDAL itself cannot open."""
    source = layer.source()
    if "|" not in source:
        return source, []
    registry = QgsProviderRegistry.instance()
    parts = registry.decodeUri("gdal", source)
    if parts.get("credentialOptions"):
        raise QgsProcessingException(
            f"{key}: layer '{layer.name()}' carries credential options of its own; LandLearn "
            "reads the file through GDAL, which does not see them: set them as GDAL "
            "configuration options (Settings > Options > GDAL, or environment variables) "
            "and add the layer again without them")
    options = [str(o) for o in parts.get("openOptions") or []]
    parts["openOptions"] = []
    return registry.encodeUri("gdal", parts), options


def _band_types(source: str, options: list[str]) -> list[str]:
    """Each band's numpy type as GDAL opens the file."""
    import numpy as np
    from osgeo import gdal, gdal_array

    try:
        ds = gdal.OpenEx(source, gdal.OF_RASTER, open_options=options)
    except RuntimeError:
        ds = None
    if ds is None:
        return []
    return [np.dtype(gdal_array.GDALTypeCodeToNumericTypeCode(ds.GetRasterBand(b).DataType)).str
            for b in range(1, ds.RasterCount + 1)]


def raster_path(layer: QgsRasterLayer | None, key: str, feedback=None) -> str:
    """What the engine opens for a raster layer: the file itself, or a small VRT over it
    carrying what QGIS holds and the file does not (a CRS set in QGIS, open options,
    NoData set in Layer Properties > Transparency), or a temporary GeoTIFF of a layer GDAL
    cannot open (provider_raster)."""
    if layer is None:
        raise QgsProcessingException(f"{key}: no raster layer was given or it could not be loaded")
    if layer.providerType() != "gdal":  # on-the-fly Raster Calculator, PostGIS, WCS
        return _with_qgis_nodata(provider_copy(layer, key, feedback), layer, key, feedback)
    source, options = _gdal_source(layer, key)
    crs_set = _crs_set_in_qgis(layer)
    nodata = (layer_nodata.nodata_set_in_qgis(layer, key, _band_types(source, options))
              if layer_nodata.touched(layer) else {})
    if not crs_set and not options and not nodata:
        return source
    # a small VRT over the file, with the layer's CRS and the open options (GDAL keeps them
    # in the VRT): the pixels stay where they are. It takes the file's name (each in its own
    # temporary folder: outputs named after their input keep their names) and its
    # '<name>_classes.txt' goes beside it
    import shutil

    from osgeo import gdal

    stem = os.path.splitext(os.path.basename(source))[0] or key.lower()
    out = QgsProcessingUtils.generateTempFilename(f"{stem}.vrt")
    wkt = layer.crs().toWkt(QgsCoordinateReferenceSystem.WktVariant.WKT_PREFERRED)
    try:  # None, or an exception where GDAL's Python exceptions are on
        opened = gdal.OpenEx(source, gdal.OF_RASTER, open_options=options)
        done = opened is not None and gdal.Translate(
            out, opened, format="VRT", outputSRS=wkt if crs_set else None) is not None
        opened = None
        if done and nodata:
            layer_nodata.apply(out, nodata)
    except RuntimeError:
        done = False
    if not done:
        what = " and ".join(
            ([f"the CRS set in QGIS ({layer.crs().authid() or 'custom'})"] if crs_set else []) +
            ([f"its open options ({', '.join(options)})"] if options else []) +
            ([f"the NoData set in QGIS ({layer_nodata.describe(nodata)})"] if nodata else []))
        raise QgsProcessingException(f"{key}: could not open '{layer.name()}' with {what}: "
                                     f"{gdal.GetLastErrorMsg()}")
    from ..core.labels.base import sidecar_class_file

    names = sidecar_class_file(source)
    if names:  # the class names a label raster's file carries beside it
        vrt_stem = os.path.splitext(os.path.basename(out))[0]
        try:
            shutil.copy(names, os.path.join(os.path.dirname(out), f"{vrt_stem}_classes.txt"))
        except OSError as exc:
            raise QgsProcessingException(f"{key}: could not carry '{names}' beside the copy "
                                         f"of '{layer.name()}' as QGIS opens it: {exc}") from exc
    if nodata and feedback is not None:
        feedback.pushInfo(f"{key}: reading '{layer.name()}' with the NoData set in QGIS "
                          f"({layer_nodata.describe(nodata)}; 'none': no NoData)")
    return out


def _with_qgis_nodata(copy: str, layer: QgsRasterLayer, key: str, feedback) -> str:
    """The NoData set in QGIS (Layer Properties > Transparency) written into a provider's
    copy: QGIS's raster writer carries the provider's own NoData only, so a PostGIS
    raster's undeclared -9999 fill, added there by the user, reached the engine as data."""
    if not layer_nodata.touched(layer):
        return copy
    provider = layer.dataProvider()
    # where the provider's own NoData is in use, QGIS's blocks give the values added in QGIS
    # as that NoData already: the copy holds what QGIS shows
    kept = frozenset(b for b in range(1, layer.bandCount() + 1)
                     if provider.sourceHasNoDataValue(b) and provider.useSourceNoDataValue(b))
    nodata = layer_nodata.nodata_set_in_qgis(layer, key, _band_types(copy, []), kept)
    tagged = _nodata_tags(copy)
    clash = [b for b, v in nodata.items() if v is not None and tagged.get(b) is not None
             and not provider.sourceHasNoDataValue(b)]
    if clash:
        # the Raster Calculator's own NoData (QGIS before 3.40), declared on the copy: a
        # GeoTIFF band holds one NoData value, and the one added in QGIS would unmark it
        raise QgsProcessingException(
            f"{key}: layer '{layer.name()}' holds the Raster Calculator's NoData "
            f"({tagged[clash[0]]:g}) and a NoData value added in QGIS "
            f"({layer_nodata.describe({b: nodata[b] for b in clash})}); GDAL reads one "
            "NoData value per band: save the layer as a file first (Raster > Conversion > "
            "Translate), or remove the value added in Layer Properties > Transparency")
    if nodata:
        layer_nodata.apply(copy, nodata)
        if feedback is not None:
            feedback.pushInfo(f"{key}: the copy of '{layer.name()}' takes the NoData set in "
                              f"QGIS ({layer_nodata.describe(nodata)}; 'none': no NoData)")
    return copy


def _nodata_tags(path: str) -> dict[int, float | None]:
    """Each band's NoData tag in a file LandLearn wrote."""
    from osgeo import gdal

    ds = gdal.Open(path)
    try:
        return {b: ds.GetRasterBand(b).GetNoDataValue() for b in range(1, ds.RasterCount + 1)}
    finally:
        ds = None


def optional_raster(alg, parameters, key: str, context, feedback=None) -> str | None:
    """An optional raster parameter's path, or None when it is not set."""
    if parameters.get(key) in (None, ""):
        return None
    return raster_path(alg.parameterAsRasterLayer(parameters, key, context), key, feedback)


def vector_path(layer: QgsVectorLayer, key: str, selected_only: bool, context,
                feedback) -> tuple[str, str | None]:
    """(path, layer name) of an OGR-readable copy of ``layer`` as the user sees it: the
    file itself when it is one plain layer of a file, read whole in its own CRS; a copy
    otherwise (a selection, a subset filter, a layer picked by number or geometry type, a
    file inside an archive, open options, a CRS or text encoding set in QGIS, another
    provider)."""
    if selected_only and layer.selectedFeatureCount() == 0:
        # before anything: a file path would otherwise be read whole
        raise QgsProcessingException(f"{key}: 'selected features only' is set but no feature "
                                     f"of '{layer.name()}' is selected; select some, or "
                                     "untick it")
    parts = QgsProviderRegistry.instance().decodeUri(layer.providerType(), layer.source())
    extra = {k for k, v in parts.items() if v not in (None, "", [], {}, -1)
             and k not in ("path", "layerName")}
    direct = (layer.providerType() == "ogr" and not layer.subsetString() and not selected_only
              and not extra and not _crs_set_in_qgis(layer) and not _more_than_the_file(layer))
    if direct and parts.get("path") and not _encoding_set_in_qgis(
            layer, parts["path"], parts.get("layerName") or None):
        return parts["path"], parts.get("layerName") or None
    out = QgsProcessingUtils.generateTempFilename(f"{key.lower()}.gpkg")
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.onlySelectedFeatures = bool(selected_only)
    columns = _free_column_names(layer)
    if columns:
        options.layerOptions = columns
    if isinstance(feedback, QgsFeedback):
        # a database or WFS layer copies for minutes: progress shown, Cancel heard
        options.feedback = feedback
    source = _with_source_ids(layer, selected_only)
    res = QgsVectorFileWriter.writeAsVectorFormatV3(source, out, context.transformContext(),
                                                    options)
    del source
    if res[0] == QgsVectorFileWriter.WriterError.Canceled or \
            (isinstance(feedback, QgsFeedback) and feedback.isCanceled()):
        for left in (out, out + "-journal", out + "-wal", out + "-shm"):
            if os.path.exists(left):
                os.remove(left)
        raise Cancelled()
    if res[0] != QgsVectorFileWriter.WriterError.NoError:
        raise QgsProcessingException(f"{key}: could not copy '{layer.name()}' for reading: {res[1]}")
    feedback.pushInfo(f"{key}: using a copy of '{layer.name()}' "
                      f"({'selected' if selected_only else 'the features QGIS shows'}, in "
                      f"{layer.crs().authid() or 'its CRS'}) at {out}")
    return out, os.path.splitext(os.path.basename(out))[0]


def _with_source_ids(layer: QgsVectorLayer, selected_only: bool) -> QgsVectorLayer:
    """What to copy: a clone of ``layer`` (its filter, joins and selection) with each
    feature's id as QGIS shows it in a field of its own (SOURCE_FID_FIELD, an expression
    field of ``$id``), which the copy keeps; its own feature ids are 1..n, and messages
    named a shapefile's feature 3 'feature 4', or 'feature 2' under a filter (a sweep,
    stop 71). The layer itself where a clone would not show what QGIS shows (unsaved
    edits live in the layer's edit buffer) or the name is taken."""
    if (layer.isEditable() and layer.isModified()) or \
            layer.fields().lookupField(SOURCE_FID_FIELD) >= 0:
        return layer
    clone = layer.clone()
    if clone is None or not clone.isValid():
        return layer
    # a memory layer's clone comes without its filter (QGIS 3.22): set again, and the
    # features counted as the layer counts them, or the layer itself is copied
    if clone.subsetString() != layer.subsetString() and \
            not clone.setSubsetString(layer.subsetString()):
        return layer
    if layer.featureCount() >= 0 and clone.featureCount() != layer.featureCount():
        return layer
    if selected_only:
        clone.selectByIds(layer.selectedFeatureIds())
    clone.addExpressionField("$id", QgsField(SOURCE_FID_FIELD, QVariant.Type.LongLong))
    return clone


def _free_column_names(layer: QgsVectorLayer) -> list[str]:
    """GeoPackage layer options naming the copy's feature id and geometry columns apart
    from the layer's fields where a field would clash with them: a 'fid' field that is not
    the layer's own feature id (what Merge Vector Layers writes, with repeated values; a
    text 'fid' of a memory layer) or a 'geom' field failed the copy of a filtered or
    selected layer ('Only 29 of 33 features written'; PyQGIS sweep, stop 69). A
    GeoPackage's own fid is kept as the copy's feature id, so messages name the features
    as QGIS shows them."""
    fields = layer.fields()
    keys = set(layer.dataProvider().pkAttributeIndexes())
    taken = {name.casefold() for name in fields.names()}
    options = []

    def free(stem: str) -> str:
        name, k = stem, 1
        while name.casefold() in taken:
            name, k = f"{stem}_{k}", k + 1
        return name

    fid = next((i for i, f in enumerate(fields) if f.name().casefold() == "fid"), None)
    if fid is not None and fid not in keys:
        options.append(f"FID={free('landlearn_fid')}")
    if "geom" in taken:
        options.append(f"GEOMETRY_NAME={free('landlearn_geom')}")
    return options


def _more_than_the_file(layer: QgsVectorLayer) -> bool:
    """Whether QGIS shows more than the file holds: unsaved edits (training polygons just
    digitised), or joined, virtual or other fields that are not the file's own; read from
    the file, the new polygons were left out and a virtual CLASS_FIELD was not found."""
    if layer.isEditable() and layer.isModified():
        return True
    # fields the provider (the file) does not have: joined, virtual, added while editing
    # (compared by name: the origin enum moved between QGIS 3.22 and 3.38)
    return set(layer.fields().names()) != set(layer.dataProvider().fields().names())


def crs_text(crs: QgsCoordinateReferenceSystem) -> str | None:
    """The CRS as the engine reads it: its authority code, or its WKT where it has none or
    only QGIS knows the code (a user-defined CRS is 'USER:100000', which PROJ cannot read;
    the LandLearn menu fills EXTENT in the canvas CRS)."""
    if not crs.isValid():
        return None
    authid = crs.authid()
    if authid and not authid.upper().startswith("USER:"):
        return authid
    return crs.toWkt(QgsCoordinateReferenceSystem.WktVariant.WKT_PREFERRED)


def extent_of(alg, parameters, key: str, context) -> Extent | None:
    """The EXTENT parameter as an engine Extent in its own CRS, or None when not set."""
    if parameters.get(key) in (None, ""):
        return None
    rect = alg.parameterAsExtent(parameters, key, context)
    if rect.isNull() or rect.isEmpty():
        raise QgsProcessingException(f"{key}: the extent is empty; draw or type a non-empty one")
    from ..core.geo.extent import Extent

    crs = alg.parameterAsExtentCrs(parameters, key, context)
    return Extent(rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum(),
                  crs_text(crs))
