"""Accuracy assessment of any classified raster against reference polygons, points or raster.

Besides the pixel-count confusion matrix (overall accuracy, kappa, user's and producer's
accuracy), the area-weighted estimates of Olofsson et al. (2014, Remote Sensing of
Environment 148: 42-57) weight each map class by its share of the map: the error matrix
in proportions, overall/user's/producer's accuracy, and each class's area estimated from
the reference with a 95% confidence interval. Map area counts alone are biased by
classification errors; these estimates are what a land-cover report should quote.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np
from rasterio.enums import ColorInterp
from rasterio.windows import Window

from ..errors import InputError
from ..files import write_text_atomic
from ..geo.classes import ClassInfo, class_values
from ..geo.extent import Extent, extent_to_window
from ..geo.grid import count_tiles, tile_windows
from ..geo.ground_area import row_areas
from ..geo.outputs import GENERATOR, check_distinct
from ..geo.raster import RasterSource, open_dataset
from ..labels.base import LabelConfig
from ..labels.open import open_labels
from ..progress import NullProgress, Progress, SubProgress, track
from ..runtime.deps import require_gdal
from ..termination import terminable
from .class_matching import (
    check_free_values,
    check_some_class_matches,
    distinct_names,
    map_classes,
    matching,
    warn_names_differ,
)
from .metrics import Accuracy, number, shown
from .point_samples import points_in


@dataclass(frozen=True)
class AssessConfig:
    classified: str
    reference: LabelConfig
    output_report: str | None = None  # .html or .json
    extent: Extent | None = None
    band: int | None = None  # the band of class values; None: band 1, checked (_map_band)


# what the +- of the estimators take for granted, said wherever they are shown
INDEPENDENCE = ("the +- treat each reference pixel as an independent sample: the pixels "
                "of one polygon are not, so with polygons as the reference they are too "
                "narrow")


@dataclass
class AreaEstimate:
    classes: list[ClassInfo]
    counts: np.ndarray  # n_ij: rows map class, columns reference class
    map_pixels: np.ndarray  # mapped pixels per class (whole map); m² with pixel_area 1
    pixel_area: float
    unit: str
    # map classes no reference pixel falls on: name -> map area. Their strata cannot be
    # estimated, so the estimates cover the sampled classes' share of the map only
    unsampled: dict[str, float] = field(default_factory=dict)

    def _sampled(self) -> np.ndarray:
        return np.where(self.counts.sum(axis=1) > 0, self.map_pixels, 0)

    def _w(self):
        m = self._sampled()
        return m / max(m.sum(), 1)

    def _rows(self):
        return np.maximum(self.counts.sum(axis=1, keepdims=True), 1)

    @property
    def proportions(self) -> np.ndarray:
        """p_ij = W_i n_ij / n_i. (Olofsson et al. 2014, eq. 4)."""
        return self._w()[:, None] * self.counts / self._rows()

    @property
    def overall(self) -> float:
        return float(np.trace(self.proportions))

    @property
    def users(self) -> np.ndarray:
        """NaN for a class no reference pixel fell on in the map (undefined, not 0: read
        as 0.000 it said every such pixel was wrong)."""
        rows = self.counts.sum(axis=1)
        return np.divide(np.diag(self.counts), rows, out=np.full(len(rows), np.nan),
                         where=rows > 0)

    @property
    def producers(self) -> np.ndarray:
        """NaN for a class absent from the (weighted) reference."""
        p = self.proportions
        col = p.sum(axis=0)
        return np.divide(np.diag(p), col, out=np.full_like(col, np.nan), where=col > 0)

    @property
    def area(self) -> np.ndarray:
        """Estimated area of each reference class (eq. 9), in map units squared."""
        return self.proportions.sum(axis=0) * self._sampled().sum() * self.pixel_area

    @property
    def area_ci95(self) -> np.ndarray:
        w, n_i = self._w(), self._rows()[:, 0]
        f = self.counts / n_i[:, None]
        var = (w[:, None] ** 2 * f * (1 - f) / np.maximum(n_i - 1, 1)[:, None]).sum(axis=0)
        return 1.96 * np.sqrt(var) * self._sampled().sum() * self.pixel_area

    @property
    def overall_ci95(self) -> float:
        w, n_i = self._w(), self._rows()[:, 0]
        ua = np.nan_to_num(self.users)  # an unsampled stratum weighs 0
        return float(1.96 * np.sqrt((w ** 2 * ua * (1 - ua) / np.maximum(n_i - 1, 1)).sum()))

    def to_json(self) -> dict:
        return {
            "method": "Olofsson et al. 2014, stratified estimators with map classes as strata",
            "ci95_assumes": INDEPENDENCE,
            "overall_accuracy": self.overall, "overall_accuracy_ci95": self.overall_ci95,
            "area_unit": self.unit,
            "classes": {c.name: {"users_accuracy": number(self.users[i]),
                                 "producers_accuracy": number(self.producers[i]),
                                 "map_area": float(self.map_pixels[i] * self.pixel_area),
                                 "estimated_area": float(self.area[i]),
                                 "estimated_area_ci95": float(self.area_ci95[i])}
                        for i, c in enumerate(self.classes)},
            "map_classes_without_reference": self.unsampled,
        }

    def unsampled_note(self) -> str:
        """Which map classes the estimates leave out (empty when every one was sampled)."""
        if not self.unsampled:
            return ""
        left = sum(self.unsampled.values())
        share = left / max(left + self._sampled().sum() * self.pixel_area, 1e-300)
        return (f"map class(es) {sorted(self.unsampled)} ({share:.1%} of the classified map) "
                "hold no reference pixel: the area-weighted estimates cover the other classes "
                "only; add reference samples on them")


@dataclass
class AssessResult:
    accuracy: Accuracy  # rows reference, columns map (as everywhere in LandLearn)
    areas: AreaEstimate
    classes: list[ClassInfo]
    unclassified_reference: int
    report: str | None

    def summary(self) -> str:
        a, e = self.accuracy, self.areas
        lines = [a.table(), f"area-weighted overall accuracy {e.overall:.3f} +- "
                 f"{e.overall_ci95:.3f} (95%; {INDEPENDENCE})",
                 f"{'class':<20} {'users':>6} {'producers':>9} "
                 f"{'map area':>12} {'estimated area':>15} {'+- 95%':>10}  ({e.unit})"]
        for i, c in enumerate(self.classes):
            lines.append(f"{c.name[:20]:<20} {shown(e.users[i]):>6} {shown(e.producers[i]):>9} "
                         f"{e.map_pixels[i] * e.pixel_area:12.4g} {e.area[i]:15.4g} "
                         f"{e.area_ci95[i]:10.3g}")
        if e.unsampled:
            lines.append(e.unsampled_note())
        if self.unclassified_reference:
            lines.append(f"{self.unclassified_reference} reference pixels fall on unclassified "
                         "(0) map pixels and are not counted")
        return "\n".join(lines)


_RGB = {ColorInterp.red, ColorInterp.green, ColorInterp.blue}


def _map_band(config: AssessConfig, progress: Progress) -> int:
    """The band holding the class values. A map is one band; a file of several is either
    a rendering of one (an RGB export of a styled map: its red channel scored as class
    values gave a confusion matrix of colour levels, without a word) or a stack whose band
    the user has to name. Refused for a rendering, said for a stack, unless BAND is set."""
    with open_dataset(config.classified, "input") as ds:
        data = [ci for ci in ds.colorinterp if ci != ColorInterp.alpha]
        count = ds.count
    name = os.path.basename(config.classified)
    if config.band is not None:
        if not 1 <= config.band <= count:
            raise InputError("band", f"'{name}' has no band {config.band}; its bands are "
                             f"1..{count}")
        return config.band
    if len(data) <= 1:
        return 1
    if _RGB <= set(data):
        raise InputError("input", f"'{name}' is an RGB image (its bands are tagged red, green "
                         "and blue): a rendering of a map, whose colours are not class "
                         "values. Assess the classified raster it was rendered from (one "
                         "band of class values), or set BAND to the band holding them")
    progress.warning(f"'{name}' has {len(data)} bands: band 1 is assessed as the map's class "
                     "values; set BAND to assess another")
    return 1


def _unit(name: str | None) -> str:
    """A CRS's linear unit as the area unit names it: 'm' for PROJ's 'metre' (a map in
    degrees reports m², a UTM one said metre²)."""
    return {"metre": "m", "meter": "m", "": "map unit"}.get((name or "").lower(), name or "")


def _report_path(path: str | None) -> str | None:
    """The report is HTML, or JSON where its name ends in .json. Any other name is refused,
    as Rasterize Labels and Diagnostics refuse theirs: a folder wrote '<folder>.html' beside
    it, 'memory:' a file 'memory:.html' in the working folder, a .csv became .html unsaid (a
    PyQGIS sweep, stop 68)."""
    if not path:
        return None
    if os.path.isdir(path) or path.endswith(("/", os.sep)):
        raise InputError("output_report", f"'{path}' is a folder; give a file name ending in "
                         ".html or .json")
    if not path.lower().endswith((".json", ".html", ".htm")):
        raise InputError("output_report", f"'{path}': the report is HTML or JSON; give a "
                         "file name ending in .html or .json")
    return path


@terminable
def assess_accuracy(config: AssessConfig, progress: Progress | None = None) -> AssessResult:
    require_gdal()  # before any work (labels, sidecars and VRTs go through osgeo)
    progress = progress or NullProgress()
    check_distinct({"input": config.classified, "labels": config.reference.labels},
                   {"output_report": _report_path(config.output_report)})
    band = _map_band(config, progress)
    with RasterSource(config.classified, [band], parameter="input") as src:
        if not np.issubdtype(src.dtype, np.integer) and \
                not np.issubdtype(src.dtype, np.floating):
            raise InputError("input", f"'{config.classified}' is {src.dtype.name}; a classified "
                             "raster holds whole class values (uint8)")
        area = extent_to_window(config.extent, src.grid) if config.extent else src.grid.full_window
        with open_labels(matching(config.reference, src.path, band), src.grid,
                         progress) as ref:
            check_some_class_matches(ref, src.path, band)
            warn_names_differ(ref, src.path, progress, band)
            ratio = getattr(ref, "cell_ratio", None)
            if ratio is not None and ratio >= 1.5:
                # a 30 m reference on a 10 m map: each cell counted as nine samples
                progress.warning(f"The reference raster's cells are about {ratio:.1f} map "
                                 "pixels each: every reference cell is counted as that many "
                                 "pixels, which are not independent samples, so the counts and "
                                 "confidence intervals overstate the evidence by about that "
                                 "much; assess a map made at the reference's cell size")
            cm = np.zeros((256, 256), dtype=np.int64)  # [map, reference]
            map_pixels = np.zeros(256, dtype=np.int64)
            map_area = np.zeros(256, dtype=np.float64)  # square metres, on a grid in degrees
            geographic = row_areas(src.grid, Window(0, 0, 1, 1)) is not None
            unclassified = 0
            points = points_in(ref, area, progress)
            n = count_tiles(area, (1024, 1024))
            for win in track(tile_windows(area, (1024, 1024)), SubProgress(progress, 0, 1), n):
                inner = win.intersection(area)
                block = src.read(inner)
                m, bad = class_values(block.data[0], block.valid)
                if bad is not None:
                    raise InputError("input", f"the classified raster holds the value {bad:g}; "
                                     "class values are whole numbers 1..255 (0 = NoData): "
                                     "renumber the map (e.g. Reclassify by table) first")
                map_pixels += np.bincount(m.ravel(), minlength=256)
                if geographic:
                    per_row = row_areas(src.grid, inner)
                    map_area += np.bincount(m.ravel(), weights=np.repeat(
                        per_row, int(inner.width)), minlength=256)
                if points is None:
                    r = ref.read(inner).astype(np.int64)
                    both = (r > 0) & (m > 0)
                    mv, rv = m[both], r[both]
                    unclassified += int(((r > 0) & (m == 0)).sum())
                else:
                    rows, cols, vals = points
                    r0, c0 = int(inner.row_off), int(inner.col_off)
                    here = ((rows >= r0) & (rows < r0 + int(inner.height))
                            & (cols >= c0) & (cols < c0 + int(inner.width)))
                    mv, rv = m[rows[here] - r0, cols[here] - c0], vals[here]
                    unclassified += int((mv == 0).sum())
                    mv, rv = mv[mv > 0], rv[mv > 0]
                cm += np.bincount(mv * 256 + rv, minlength=256 * 256).reshape(256, 256)
            values = sorted({int(v) for v in np.nonzero(cm.sum(0) + cm.sum(1))[0]})
            if not values:
                raise InputError("labels", "no reference pixel falls on a classified pixel; check "
                                 "that the reference overlaps the map and uses its class values")
            map_values = {int(v) for v in np.nonzero(map_pixels[1:])[0] + 1}
            check_free_values(getattr(ref, "free_values", set()), ref.classes, map_values)
            # less the values texts naming no map class took: warned of by name already
            absent = sorted({int(v) for v in np.nonzero(cm.sum(0))[0]} - map_values
                            - getattr(ref, "free_values", set()))
            if absent:  # a missed class, or a reference coded otherwise (10, 20 vs 1, 2)
                progress.warning(f"Reference class value(s) {absent[:20]} never occur in the "
                                 "map: their producer's accuracy is 0. If the reference codes "
                                 "its classes with other values than the map, recode one")
            names = {c.value: c for c in map_classes(src, set(values) | map_values, band)}
            for c in ref.classes:  # the reference's names fill in what the map does not name
                if names.get(c.value) is None or names[c.value].name.startswith("Class "):
                    names[c.value] = c
            classes = distinct_names([names[v] for v in values], progress)
            sub = cm[np.ix_(values, values)]
            accuracy = Accuracy(sub.T.copy(), [c.name for c in classes])
            res = src.grid.res
            crs = src.grid.crs
            if crs is not None and crs.to_epsg() == 3857:
                progress.warning("The map is in Web Mercator (EPSG:3857), whose cells cover "
                                 "less ground away from the equator (by cos² of the "
                                 "latitude): its areas are exaggerated; assess a copy in an "
                                 "equal-area or local projected CRS for areas.")
            if geographic:  # the strata weigh by ground area: pixels shrink to the poles
                mapped, pixel_area, unit = map_area, 1.0, "m²"
            else:
                mapped, pixel_area = map_pixels.astype(np.float64), res[0] * res[1]
                unit = "map units²" if crs is None else (
                    "degrees²" if crs.is_geographic else f"{_unit(crs.linear_units)}²")
            sampled = {v for v in values if cm[v].sum() > 0}
            unsampled = {names[v].name if v in names else f"Class {v}":
                         float(mapped[v] * pixel_area)
                         for v in sorted(map_values - sampled)}
            estimate = AreaEstimate(classes, sub, mapped[values], pixel_area, unit, unsampled)
            if unsampled:
                progress.warning(estimate.unsampled_note()[0].upper()
                                 + estimate.unsampled_note()[1:] + ".")
    # the report written (a name that is neither .json nor .html becomes .html)
    report = _report_path(config.output_report)
    result = AssessResult(accuracy, estimate, classes, unclassified, report)
    if report:
        write_report(report, result)
    progress.set_fraction(1.0)
    return result


def write_report(path: str, result: AssessResult) -> None:
    data = {"generator": GENERATOR, "pixel_counts": result.accuracy.to_json(),
            "area_weighted": result.areas.to_json(),
            "unclassified_reference_pixels": result.unclassified_reference}
    if path.lower().endswith(".json"):
        write_text_atomic(path, json.dumps(data, indent=2), "output_report")
        return
    import html

    rows = "".join(f"<tr><td>{html.escape(line)}</td></tr>" for line in result.summary().splitlines())
    page = (f'<!doctype html><html><head><meta charset="utf-8"><meta name="generator" '
            f'content="{GENERATOR}"><title>Accuracy assessment</title>'
            f"</head><body style='font-family:sans-serif'><h1>Accuracy assessment</h1><table "
            f"style='font-family:monospace;white-space:pre'>{rows}</table><h2>Data</h2><pre>"
            f"{html.escape(json.dumps(data, indent=2))}</pre></body></html>")
    write_text_atomic(_report_path(path), page, "output_report")
