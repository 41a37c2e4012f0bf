"""Labels from polygons or points with a class field, rasterized onto the image grid.

Features are read once with OGR, reprojected to the image CRS and kept with their
bounding boxes; each window rasterizes only the features whose box meets it, so memory
follows the label layer and the window, never the raster. Text classes become 1..n in
alphabetical order with their names kept (or, given ``text_values``, the values of the
names they match: Assess Accuracy matches a reference to the map's class names); 0 and
NULL mean "no label". Where features overlap, the later one in the layer wins (GDAL's
burn order).
"""

from __future__ import annotations

import json

import numpy as np
from rasterio.features import rasterize
from rasterio.windows import Window

from ..errors import InputError
from ..geo.classes import check_class_value, make_classes
from ..geo.gdal_open import feature_name, open_dataset_or_none
from ..geo.grid import Grid, window_bounds
from ..progress import Progress
from .base import LabelConfig, zero_outside
from .geometry_fixes import DENSIFY_PIXELS, densify, disc, made_valid, solid
from .layer_crs import image_box, transformer
from .point_labels import PointDiscs, check_radius, point_cells, point_owners
from .text_classes import (
    MAX_TEXT_CLASSES,
    _code,
    _matched_codes,
    _missing,
    _text_class,
    utf8_text,
)


def _open_layer(config: LabelConfig):
    from osgeo import gdal

    ds = open_dataset_or_none(config.labels, gdal.OF_VECTOR)
    if ds is None:
        raise InputError("labels", f"OGR cannot open '{config.labels}' as a vector layer")
    if config.layer:
        layer = ds.GetLayerByName(config.layer)
        if layer is None:
            names = [ds.GetLayerByIndex(i).GetName() for i in range(ds.GetLayerCount())]
            raise InputError("labels", f"there is no layer '{config.layer}' in "
                             f"'{config.labels}'; its layers are {names}")
    else:
        layer = ds.GetLayerByIndex(0)
    return ds, layer


def _field_index(layer, name: str | None, parameter: str, required: bool) -> int | None:
    defn = layer.GetLayerDefn()
    fields = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
    if not name:
        if required:
            raise InputError(parameter, f"vector labels need a class field; choose one of {fields}")
        return None
    for i, f in enumerate(fields):
        if f == name:
            return i
    for i, f in enumerate(fields):
        if f.lower() == name.lower():
            return i
    raise InputError(parameter, f"the layer has no field '{name}'; its fields are {fields}")


def _all_texts(layer, fidx: int, labels: str) -> set[str]:
    """Every non-empty text of the class field over the features of the whole layer that
    have a geometry (other fields left unread), at most MAX_TEXT_CLASSES + 1 of them."""
    name = layer.GetLayerDefn().GetFieldDefn(fidx).GetName()
    others = [layer.GetLayerDefn().GetFieldDefn(i).GetName()
              for i in range(layer.GetLayerDefn().GetFieldCount()) if i != fidx]
    layer.SetSpatialFilter(None)
    layer.SetIgnoredFields(others + ["OGR_STYLE"])  # geometries read: empty ones do not count
    texts: set[str] = set()
    try:
        layer.ResetReading()
        for feat in layer:
            geom = feat.GetGeometryRef()
            if geom is None or geom.IsEmpty():
                continue
            if feat.IsFieldSetAndNotNull(name):
                text = _text_class(utf8_text(feat.GetFieldAsString(name), name, labels,
                                             "class_field"))
                if text:
                    texts.add(text)
                    if len(texts) > MAX_TEXT_CLASSES:
                        break
    finally:
        layer.SetIgnoredFields([])
    return texts


class VectorLabels:
    def __init__(self, config: LabelConfig, grid: Grid, progress: Progress):
        from osgeo import ogr

        self.config = config
        self.grid = grid
        self.all_touched = config.all_touched
        # values reference texts took because no class of the map had their name
        self.free_values: set[int] = set()
        ds, layer = _open_layer(config)
        fidx = _field_index(layer, config.class_field, "class_field", required=True)
        nidx = _field_index(layer, config.class_name_field, "class_name_field", required=False)
        ftype = layer.GetLayerDefn().GetFieldDefn(fidx).GetType()
        numeric = ftype in (ogr.OFTInteger, ogr.OFTInteger64, ogr.OFTReal)
        if layer.GetLayerDefn().GetFieldDefn(fidx).GetSubType() == ogr.OFSTBoolean:
            # a yes/no field: False is 0, no label; only the True features become a class
            progress.warning(f"CLASS_FIELD '{config.class_field}' is a true/false field: "
                             "its false features read 0 (no label) and the true ones class "
                             "1, so the labels hold one class; give a field of class codes "
                             "or names to have both")
        if not numeric and ftype != ogr.OFTString:
            raise InputError("class_field", f"field '{config.class_field}' is of type "
                             f"{ogr.GetFieldTypeName(ftype)}; use a numeric or text field")
        if not numeric and nidx is not None:
            progress.warning(f"CLASS_NAME_FIELD '{config.class_name_field}' is not used: the "
                             f"texts of the class field '{config.class_field}' are the names")
        transform = transformer(layer, grid, progress)
        if config.buffer_radius:
            check_radius(config.buffer_radius, grid)
        self.discs = PointDiscs()
        # only the features near the image are read: a country's polygons against a
        # county's image would otherwise all be held in memory
        box = image_box(layer, grid, transform, config.buffer_radius or 0.0)
        # the whole layer's features, before the filter: what Assess Accuracy compares
        # the points it scores with (those off the map are otherwise dropped unsaid)
        count = layer.GetFeatureCount(0)  # -1 where only a scan would tell (CSV, WFS)
        self.feature_count = count if count >= 0 else None
        if box is not None:
            layer.SetSpatialFilterRect(*box)
        raw, geoms, boxes, names = [], [], [], {}
        clashes: dict[int, set[str]] = {}  # values CLASS_NAME_FIELD names more than one way
        skipped_null = repaired = buffered = 0
        layer.ResetReading()
        # DENSIFY_PIXELS pixels in the layer's units: edges straight in the layer's CRS are
        # curves in the image's, and a vertex-only reprojection cut them short (a 1 degree
        # edge at 45 N is some 100 m off at its middle on a UTM grid)
        step = (DENSIFY_PIXELS * min((box[2] - box[0]) / max(grid.width, 1),
                                     (box[3] - box[1]) / max(grid.height, 1))
                if transform is not None and box is not None else 0.0)
        near = 0  # features the filter let through, with or without a class
        for feat in layer:
            near += 1
            geom = feat.GetGeometryRef()
            if geom is None or geom.IsEmpty():
                continue
            if not feat.IsFieldSetAndNotNull(fidx):
                skipped_null += 1
                continue
            if numeric:
                value = check_class_value(feat.GetFieldAsDouble(fidx), "class_field",
                                          feature_name(feat))
                if value == 0:
                    continue
                if nidx is not None and feat.IsFieldSetAndNotNull(nidx):
                    name = utf8_text(feat.GetFieldAsString(nidx), config.class_name_field,
                                     config.labels, "class_name_field")
                    if names.setdefault(value, name) != name:
                        clashes.setdefault(value, {names[value]}).add(name)
            else:
                text = utf8_text(feat.GetFieldAsString(fidx), config.class_field,
                                 config.labels, "class_field")
                value = _text_class(text)
                if value is None:
                    if not text.strip() or _missing(text):
                        skipped_null += 1
                    continue
            geom = geom.Clone()
            if geom.HasCurveGeometry():  # arcs (QGIS's curve tools, FileGDB, PostGIS):
                geom = geom.GetLinearGeometry()  # GeoJSON has none; approximated by lines
            if step:
                densify(geom, step)
            if transform is not None and geom.Transform(transform) != 0:
                raise InputError("labels", f"{feature_name(feat)} cannot be reprojected to "
                                 "the raster's CRS")
            if not geom.IsValid():
                # parts that overlap (QGIS's Add Part) were filled even-odd by GDAL: their
                # overlap had no label; repaired, the union is labelled (not the XOR
                # of plain MakeValid: geometry_fixes.made_valid)
                fixed = solid(made_valid(geom), geom.GetDimension())
                if fixed is not None:
                    geom = fixed
                    repaired += 1
            if config.buffer_radius and geom.GetDimension() == 0:
                self.discs.add(len(raw), geom)
                geom = disc(geom, config.buffer_radius)
                buffered += 1
            shape = geom.ExportToJson()
            if not shape:
                raise InputError("labels", f"{feature_name(feat)} has a geometry LandLearn "
                                 f"cannot rasterize ({geom.GetGeometryName()}); convert the "
                                 "layer to polygons or points")
            raw.append(value)
            geoms.append(json.loads(shape))
            xmin, xmax, ymin, ymax = geom.GetEnvelope()
            boxes.append((xmin, ymin, xmax, ymax))
        if not near and box is not None:
            layer.SetSpatialFilter(None)
            if layer.GetFeatureCount() > 0:
                xmin, xmax, ymin, ymax = layer.GetExtent()
                raise InputError("labels", "no label feature overlaps the raster (raster "
                                 f"bounds {tuple(round(v, 3) for v in grid.bounds)}, the "
                                 "layer's extent in its own CRS "
                                 f"{tuple(round(v, 3) for v in (xmin, ymin, xmax, ymax))}); "
                                 "check both layers' CRS")
        # text classes numbered over the whole layer, not only the features near this
        # image: two exports of one layer over two images must give a text one value
        every_text = (_all_texts(layer, fidx, config.labels) | set(raw)
                      if not numeric and raw and box is not None else set(raw))
        if not numeric and raw:  # the selection's layer's texts too (see LabelConfig)
            every_text |= {t for t in map(_text_class, config.layer_texts or ()) if t}
        ds = None  # noqa: F841  (closes the OGR dataset)
        if skipped_null:
            progress.warning(f"{skipped_null} feature(s) with an empty class field (or a text "
                             "such as NA or NULL) were skipped.")
        if repaired:
            progress.info(f"{repaired} feature(s) with an invalid geometry (parts that "
                          "overlap, a ring that crosses itself) were repaired before "
                          "rasterizing (OGR MakeValid).")
        if buffered:
            progress.info(f"{buffered} point(s) burnt as discs of radius "
                          f"{config.buffer_radius:g} raster units (BUFFER_RADIUS).")
        elif config.buffer_radius:
            progress.warning("BUFFER_RADIUS has no effect: the label layer holds no points "
                             "near the raster (polygons and lines are burnt as they are).")
        if not raw:
            raise InputError("labels", f"no feature has a class in field '{config.class_field}' "
                             "(all are NULL, empty or 0)")
        if numeric:
            values = np.asarray(raw, dtype=np.uint8)
        else:
            texts = sorted(every_text, key=lambda t: (t.casefold(), t))
            if len(texts) > MAX_TEXT_CLASSES:
                near = set(raw)
                if len(near) > MAX_TEXT_CLASSES:
                    raise InputError("class_field", f"field '{config.class_field}' has "
                                     f"{len(near)} different texts on this image; at most "
                                     f"{MAX_TEXT_CLASSES} classes fit: use a numeric code "
                                     "field, or a subset of the layer (a filter in QGIS)")
                # a national layer (300 crop names) over one image holding a few of them:
                # numbered as they are here, said, since another image may number them
                # differently (refused before, whatever the image held; review 92)
                if not all(_code(t) is not None and 1 <= _code(t) <= 255 for t in near):
                    progress.warning(f"Field '{config.class_field}' has more than "
                                     f"{MAX_TEXT_CLASSES} different texts over the whole "
                                     f"layer: the {len(near)} on this image are numbered "
                                     f"1..{len(near)}, which another image of this layer may "
                                     "number otherwise. For values that hold everywhere, use "
                                     "a numeric code field.")
                every_text = near
                texts = sorted(near, key=lambda t: (t.casefold(), t))
            if config.text_values:
                code = _matched_codes(texts, config.text_values)
                alone = [t for t in sorted(set(raw))
                         if code[t] not in config.text_values.values()]
                self.free_values = {code[t] for t in alone}
                if alone:
                    progress.warning(f"Reference class(es) {alone[:10]} match no class of the "
                                     "map; their pixels count as errors.")
            elif all(_code(t) is not None and 1 <= _code(t) <= 255 for t in texts):
                # class codes kept as text (a CSV, some shapefiles, a pandas export): "10"
                # and "10.0" are class 10, not the second in alphabetical order ("1", "10",
                # "2" made 10 class 2)
                code = {t: _code(t) for t in texts}
            else:
                code = {t: i + 1 for i, t in enumerate(texts)}
                if all(_code(t) is not None for t in texts):
                    # codes past 255 (CORINE's 111..523) do not fit a class value: said,
                    # not done silently; the names keep the codes
                    progress.warning(f"Field '{config.class_field}' holds codes outside "
                                     f"1..255 (e.g. '{max(texts, key=_code)}'): they are "
                                     f"numbered 1..{len(texts)} in text order, and each "
                                     "class's name keeps its code. Recode the field to "
                                     "1..255 to keep the codes as values.")
                away = sorted(every_text - set(raw), key=str.casefold)
                if away:
                    # the layer's texts include those a filter or selection leaves out
                    # (numbered over the whole layer): their features may lie on the image
                    aside = " or among the features used (a filter or selection)" if \
                        config.layer_texts else ""
                    progress.info(f"Class(es) {away[:10]} of the layer have no feature near "
                                  f"the image{aside}: not among these labels' classes (their "
                                  "values stay reserved, so other images' exports agree).")
            values = np.asarray([code[t] for t in raw], dtype=np.uint8)
            names = {i: t for t, i in code.items()}
        if clashes:
            said = "; ".join(f"{v}: {sorted(n)[:3]}" for v, n in sorted(clashes.items())[:5])
            progress.warning(f"CLASS_NAME_FIELD '{config.class_name_field}' gives "
                             f"{len(clashes)} class value(s) more than one name ({said}): "
                             "each takes the name of its first feature")
        names.update(config.class_names)
        self.values = values
        # classes compared as values: '12', '012' and '12.0' are one class
        crowded = self.discs.crowded(values.tolist(), config.buffer_radius) if buffered else 0
        if crowded:
            progress.warning(f"BUFFER_RADIUS: the discs of {crowded} of {buffered} points "
                             "meet a disc of another class; where they overlap, the later "
                             "feature's class wins (each point's own pixel keeps its "
                             "class). A smaller radius keeps the classes apart.")
        self.geoms = geoms
        self.boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        self.classes = make_classes(set(values.tolist()), names)
        if not self.overlaps(grid.full_window):
            gb = grid.bounds
            lb = (self.boxes[:, 0].min(), self.boxes[:, 1].min(),
                  self.boxes[:, 2].max(), self.boxes[:, 3].max())
            raise InputError("labels", "no label feature overlaps the raster (raster bounds "
                             f"{tuple(round(v, 3) for v in gb)}, labels' bounds in the raster's "
                             f"CRS {tuple(round(v, 3) for v in lb)}); check both layers' CRS")

    def _hits(self, window: Window) -> np.ndarray:
        xmin, ymin, xmax, ymax = window_bounds(self.grid, window)
        b = self.boxes
        return np.nonzero((b[:, 0] <= xmax) & (b[:, 2] >= xmin)
                          & (b[:, 1] <= ymax) & (b[:, 3] >= ymin))[0]

    def overlaps(self, window: Window) -> bool:
        return self._hits(window).size > 0

    def holds_labels(self, window: Window) -> bool:
        """Features whose bounding box meets ``window`` (the automatic chip size counts these):
        a close, cheap proxy for polygons, which fill most of their box."""
        return self.overlaps(window)

    def read(self, window: Window) -> np.ndarray:
        h, w = int(window.height), int(window.width)
        hits = self._hits(window)
        if hits.size == 0:
            return np.zeros((h, w), dtype=np.uint8)
        at = self.grid.window_transform(window)
        out = rasterize(((self.geoms[i], int(self.values[i])) for i in hits),
                        out_shape=(h, w), transform=at, fill=0, dtype="uint8",
                        all_touched=self.all_touched)
        if self.discs:  # a later disc painted over an earlier point's own pixel
            out = self.discs.on_top(out, hits, at, lambda i: int(self.values[i]))
        return zero_outside(out, window, self.grid)

    def read_ids(self, window: Window) -> np.ndarray:
        """int32 feature numbers (1..n, 0 = none) burnt like ``read``: which polygon a pixel
        came from, so validation can keep a polygon's pixels on one side of a split."""
        h, w = int(window.height), int(window.width)
        hits = self._hits(window)
        if hits.size == 0:
            return np.zeros((h, w), dtype=np.int32)
        at = self.grid.window_transform(window)
        out = rasterize(((self.geoms[i], int(i) + 1) for i in hits), out_shape=(h, w),
                        transform=at, fill=0, dtype="int32", all_touched=self.all_touched)
        if self.discs:
            out = self.discs.on_top(out, hits, at, lambda i: int(i) + 1)
        return zero_outside(out, window, self.grid)

    def point_cells(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Each point's (rows, cols, values) when the layer holds points only (point_labels)."""
        return point_cells(self.geoms, self.values, self.grid)

    def point_owners(self) -> np.ndarray:
        """The feature (0..n-1 of those read) each of ``point_cells``' points belongs to."""
        return point_owners(self.geoms)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        # closed when the run ends, not whenever the last reference goes: a label raster
        # left to an error's traceback was freed only by a later garbage collection, and
        # that crashed the interpreter at exit (test_disk_and_signals, run alone)
        self.close()
