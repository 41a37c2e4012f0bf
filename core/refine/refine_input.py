"""Refine Classification's input as classes per window: a class map (any integer or float
band of whole numbers, with its category names and colour table), or Classify Pixels'
probabilities (the class of the highest one, and the probabilities themselves, for
averaging within segments and for merging by similarity). Which one a file is comes from
its LANDLEARN_CLASSES tag and bands, so a map converted to float by another tool stays a
class map."""

from __future__ import annotations

import json

import numpy as np
from rasterio.windows import Window

from ..errors import InputError
from ..geo.classes import ClassInfo, class_values, make_classes
from ..geo.grid import Grid
from ..geo.raster import open_dataset
from ..labels.base import sidecar_class_names
from ..labels.raster_labels import category_names

__all__ = ["RefineInput", "tag_classes"]


class RefineInput:
    """The input raster as classes per window: a class map as is, probabilities as the
    class of the highest one (and the probabilities themselves)."""

    def __init__(self, path: str):
        self.ds = open_dataset(path, "input_raster")
        try:
            self._describe(path)
        except BaseException:
            self.ds.close()  # a refused input is not left open (locked, on Windows)
            raise

    def _describe(self, path: str) -> None:
        ds = self.ds
        self.grid = Grid(ds.crs, ds.transform, ds.width, ds.height)
        tagged = ds.tags().get("LANDLEARN_CLASSES")
        is_float = np.dtype(ds.dtypes[0]).kind == "f"
        # one float band is a class map unless Classify Pixels' probabilities of a
        # one-class model: Raster Calculator writes Float32 maps by default, and
        # gdal_translate -ot Float32 keeps a class map's tag naming all its classes
        # (read as probabilities, it was refused as "altered"; review 91)
        self.classes = tag_classes(tagged, path) if tagged else None
        self.is_prob = ds.count > 1 or (is_float and len(self.classes or ()) == 1)
        if self.is_prob:
            if not tagged or np.dtype(ds.dtypes[0]).kind != "f":
                raise InputError("input_raster", f"'{path}' has {ds.count} bands of "
                                 f"{ds.dtypes[0]}: neither a class map (one band of integers) "
                                 "nor class probabilities from Classify Pixels (which name "
                                 "their classes); give one of those")
        if self.classes is not None and not self.is_prob:
            # a class map's classes in value order: votes tie to the lower value
            self.classes = sorted(self.classes, key=lambda c: c.value)
        if self.is_prob and len(self.classes) != ds.count:
            raise InputError("input_raster", f"'{path}' has {ds.count} probability bands for "
                             f"{len(self.classes)} classes; the file was altered")
        self.values = (np.array([c.value for c in self.classes], np.uint8)
                       if self.is_prob else None)
        # pixels Classify Pixels left unclassified (CONFIDENCE_THRESHOLD) stay so
        try:
            self.threshold = float(ds.tags().get("LANDLEARN_CONFIDENCE_THRESHOLD", 0.0))
        except ValueError:
            raise InputError("input_raster", f"'{path}' has a confidence threshold tag that "
                             "is not a number; the file was altered") from None
        self.seen = np.zeros(256, bool)  # class values met so far (a class map's classes)
        # a class 0 the map's own NoData (255, -9999) does not mark: the refined map keeps 0
        # for NoData, so those pixels became NoData without a word (a sweep, stop 71)
        nodata = ds.nodata
        self._zero_is_data = not self.is_prob and nodata is not None and \
            np.isfinite(nodata) and nodata != 0
        self.zero_class = False
        # a "<map>_classes.txt" beside it too, as Assess Accuracy and Rasterize Labels read
        # it: the names were dropped for "Class N" (a PyQGIS sweep, stop 68)
        self.names = {} if self.is_prob else sidecar_class_names(path, category_names(path),
                                                                    "input_raster")
        try:
            self.colors = {} if self.is_prob else {
                v: tuple(c[:3]) for v, c in ds.colormap(1).items() if c[3] > 0}
        except ValueError:  # no colour table
            self.colors = {}
        self._allowed = None
        if self.classes is not None and not self.is_prob:
            self.allow(self.classes)

    def found_classes(self, seen: np.ndarray) -> list[ClassInfo]:
        """A class map's classes from the values it holds, with its category names and
        colour table where it has them."""
        return make_classes([int(v) for v in np.nonzero(seen)[0] if v > 0], self.names,
                            self.colors)

    def allow(self, classes: list[ClassInfo]) -> None:
        self._allowed = np.zeros(256, bool)
        self._allowed[[0] + [c.value for c in classes]] = True

    def read(self, win: Window) -> tuple[np.ndarray, np.ndarray | None]:
        """(classes uint8 (0 = NoData), probabilities (classes, h, w) or None)."""
        if not self.is_prob:
            arr = self.ds.read(1, window=win, masked=True)
            if not self.zero_class and self._zero_is_data:
                self.zero_class = bool(((np.ma.getdata(arr) == 0)
                                        & ~np.ma.getmaskarray(arr)).any())
            values, bad = class_values(np.asarray(arr.filled(0)))  # NaN is NoData too
            if bad is not None:
                raise InputError("input_raster", f"holds the value {bad:g}; class maps hold "
                                 "whole numbers 0..255 (0 = NoData)")
            cls = values.astype(np.uint8)
            self.seen[np.unique(cls)] = True
            if self._allowed is not None and not self._allowed[cls].all():
                raise InputError("input_raster", f"holds class value "
                                 f"{int(cls[~self._allowed[cls]][0])}, which its class list "
                                 "(LANDLEARN_CLASSES) does not name; the map was altered")
            return cls, None
        prob = self.ds.read(window=win).astype(np.float32)
        nodata = (prob < 0).any(0) | ~np.isfinite(prob).all(0) | ~(prob > 0).any(0)
        if self.threshold > 0:
            nodata |= np.nan_to_num(prob).max(0) < self.threshold
        prob[:, nodata] = 0
        cls = self.values[prob.argmax(0)]
        cls[nodata] = 0
        return cls, prob


def tag_classes(text: str, path: str) -> list[ClassInfo]:
    try:
        items = json.loads(text)
        return [ClassInfo(int(c["Value"]), str(c["Name"]), tuple(int(v) for v in c["Color"][:3]))
                for c in items]
    except (ValueError, KeyError, TypeError):
        raise InputError("input_raster", f"'{path}' carries a damaged LANDLEARN_CLASSES "
                         "tag; classify again") from None
