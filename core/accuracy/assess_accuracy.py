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
from dataclasses import dataclass, field, replace

import numpy as np
from rasterio.enums import ColorInterp
from rasterio.windows import Window

from ..errors import InputError
from ..files import write_text_atomic
from ..geo.classes import ClassInfo, class_values, make_classes
from ..geo.extent import Extent, extent_to_window
from ..geo.grid import count_tiles, tile_windows
from ..geo.ground_area import row_areas
from ..geo.outputs import GENERATOR, check_distinct
from ..geo.raster import RasterSource, open_dataset
from ..labels.base import LabelConfig, sidecar_class_names
from ..labels.open import open_labels
from ..labels.raster_labels import category_names
from ..progress import NullProgress, Progress, SubProgress, track
from ..termination import terminable
from .metrics import Accuracy, number, shown


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


def _map_names(map_path: str) -> dict[int, str]:
    """The map's class names: its categories, and a '<map>_classes.txt' beside it (what the
    refusal in _check_free_values tells users to add, and was never read)."""
    return sidecar_class_names(map_path, category_names(map_path))


def _map_classes(source: RasterSource, values: set[int]) -> list[ClassInfo]:
    return make_classes(values, _map_names(source.path))


def _matching(reference: LabelConfig, map_path: str) -> LabelConfig:
    """A reference whose class field holds text is matched to the map by class name (the
    names a LandLearn map carries; a class named by default, "Class 3", also matches "3");
    a map without names matches texts that are its values ("3" is class 3). Numbering the
    texts on their own would compare a reference's third name with the map's class 3
    whatever its name."""
    names = _map_names(map_path)
    known = ({n: v for v, n in names.items()} if names
             else {str(v): v for v in range(1, 256)})
    for v, n in names.items():  # a class named by default ("Class 3") is also "3"
        if n == f"Class {v}":
            known.setdefault(str(v), v)
    return replace(reference, text_values=known)


def _check_free_values(free: set[int], classes, map_values: set[int]) -> None:
    """Reference texts that match no class the map names took ``free`` values the map does
    not name; one the map holds all the same (a class without a name) would have been
    compared with it as if it were that class."""
    clash = sorted((c.name, c.value) for c in classes
                   if c.value in free and c.value in map_values)
    if clash:
        raise InputError("labels", f"the reference classes {[n for n, _ in clash][:10]} match "
                         "no class name of the map, and the map holds unnamed classes of the "
                         f"values they would take ({[v for _, v in clash][:10]}); give a "
                         "numeric class field holding the map's values, or name the map's "
                         "classes (a '<map>_classes.txt' beside it)")


def _off_map_warning(owners: np.ndarray, inside: np.ndarray, total: int,
                     progress: Progress) -> None:
    """Points not counted, in points and features apart: a MultiPoint feature holds
    several points, and comparing points on the map with the layer's features said
    nothing when 2 of 4 points (one per feature) lay off it (review, stop 67)."""
    counted = np.unique(owners[inside])
    features_off = total - len(counted)  # off the map, or holding no class
    points_off = int(np.count_nonzero(~inside & np.isin(owners, counted)))
    if features_off <= 0 and points_off == 0:
        return
    said = [f"{features_off} of the layer's {total} features have no point on it (they lie "
            "off it, or hold no class)"] if features_off > 0 else []
    if points_off:
        said.append(f"{points_off} further points of multipoint features lie off it")
    progress.warning(f"{int(np.count_nonzero(inside))} reference points lie on the map "
                     f"(inside EXTENT, where given) and are counted; " + ", and ".join(said)
                     + ": those are not counted")


def _points_in(ref, area: Window, progress: Progress):
    """A point reference's (rows, cols, values) inside ``area``, each point a sample; None
    for polygons and rasters (counted pixel by pixel)."""
    cells = ref.point_cells() if hasattr(ref, "point_cells") else None
    if cells is None:
        return None
    rows, cols, vals = cells
    r0, c0 = int(area.row_off), int(area.col_off)
    inside = ((rows >= r0) & (rows < r0 + int(area.height))
              & (cols >= c0) & (cols < c0 + int(area.width)))
    total = getattr(ref, "feature_count", None)
    if total is not None:
        _off_map_warning(ref.point_owners(), inside, total, progress)
    rows, cols, vals = rows[inside], cols[inside], vals[inside]
    _, where, count = np.unique(rows * (int(area.col_off + area.width) + 1) + cols,
                                return_inverse=True, return_counts=True)
    shared = int((count[where] > 1).sum())
    if shared:  # pixels whose points hold more than one class
        kinds = np.unique(where.astype(np.int64) * 256 + vals) // 256
        mixed = int((np.bincount(kinds, minlength=count.size) > 1).sum())
        progress.warning(f"{shared} reference points share a map pixel with another point"
                         + (f" ({mixed} pixel(s) hold points of different classes)" if mixed else "")
                         + ": each point is counted as a sample of its own, but points "
                         "closer than a pixel are not independent samples; thin them, or "
                         "assess a map of finer cells")
    return rows, cols, vals


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
    """The report is HTML unless its name ends in .json (a .txt becomes .html)."""
    if not path or path.lower().endswith((".json", ".html", ".htm")):
        return path
    return os.path.splitext(path)[0] + ".html"


@terminable
def assess_accuracy(config: AssessConfig, progress: Progress | None = None) -> AssessResult:
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
        with open_labels(_matching(config.reference, src.path), src.grid, progress) as ref:
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
            points = _points_in(ref, area, progress)
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
            _check_free_values(getattr(ref, "free_values", set()), ref.classes, map_values)
            # less the values texts naming no map class took: warned of by name already
            absent = sorted({int(v) for v in np.nonzero(cm.sum(0))[0]} - map_values
                            - getattr(ref, "free_values", set()))
            if absent:  # a missed class, or a reference coded otherwise (10, 20 vs 1, 2)
                progress.warning(f"Reference class value(s) {absent[:20]} never occur in the "
                                 "map: their producer's accuracy is 0. If the reference codes "
                                 "its classes with other values than the map, recode one")
            names = {c.value: c for c in _map_classes(src, set(values) | map_values)}
            for c in ref.classes:  # the reference's names fill in what the map does not name
                if names.get(c.value) is None or names[c.value].name.startswith("Class "):
                    names[c.value] = c
            classes = [names[v] for v in values]
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
