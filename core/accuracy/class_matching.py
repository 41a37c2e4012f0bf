"""Which reference class is which map class: a text reference matched to the map's class
names (its categories and a '<map>_classes.txt' beside it), and the refusals and warnings
where that matching cannot be trusted (no name matches; an unnamed map class in the way;
classes sharing a name). Kept apart from the assessment's pixel loop."""

from __future__ import annotations

from dataclasses import replace

from ..errors import InputError
from ..geo.classes import ClassInfo, make_classes
from ..geo.raster import RasterSource
from ..labels.base import LabelConfig, sidecar_class_names
from ..labels.raster_labels import category_names
from ..progress import Progress

__all__ = ["check_free_values", "check_some_class_matches", "distinct_names", "map_classes",
           "map_names", "matching", "warn_names_differ"]


def map_names(map_path: str, band: int = 1) -> dict[int, str]:
    """The map's class names: the categories of its ``band`` (the BAND assessed: band 1's
    names matched a text reference against another band's legend, a sweep, stop 71), and a
    '<map>_classes.txt' beside it (what the refusal in check_free_values tells users to
    add, and was never read)."""
    return sidecar_class_names(map_path, category_names(map_path, band), "input")


def map_classes(source: RasterSource, values: set[int], band: int = 1) -> list[ClassInfo]:
    return make_classes(values, map_names(source.path, band))


def matching(reference: LabelConfig, map_path: str, band: int = 1) -> LabelConfig:
    """A reference whose class field holds text is matched to the map by class name (the
    names a LandLearn map carries; a class named by default, "Class 3", also matches "3");
    a map without names matches texts that are its values ("3" is class 3). Numbering the
    texts on their own would compare a reference's third name with the map's class 3
    whatever its name."""
    names = map_names(map_path, band)
    known = ({n: v for v, n in names.items()} if names
             else {str(v): v for v in range(1, 256)})
    for v, n in names.items():  # a class named by default ("Class 3") is also "3"
        if n == f"Class {v}":
            known.setdefault(str(v), v)
    return replace(reference, text_values=known)


def check_free_values(free: set[int], classes, map_values: set[int]) -> None:
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


def check_some_class_matches(ref, map_path: str, band: int = 1) -> None:
    """A text reference none of whose classes names a class of the map was scored all the
    same, every sample an error: OA 0 and kappa 0 over twice the classes (a map named
    'Class 1..7' against 'forest', 'water' ...; a PyQGIS sweep, stop 68)."""
    free = getattr(ref, "free_values", set())
    if not free or any(c.value not in free for c in ref.classes):
        return
    names = sorted(map_names(map_path, band).values())
    texts = sorted(c.name for c in ref.classes)
    raise InputError("labels", f"none of the reference classes {texts[:10]}"
                     f" is a class of the map (whose classes are {names[:10]}); give a class "
                     "field whose texts are the map's class names, or a numeric field holding "
                     "its class values (a map named 'Class N' by default matches 'N')")


def distinct_names(classes: list[ClassInfo], progress: Progress) -> list[ClassInfo]:
    """Classes that share a name (a CLASS_NAME_FIELD grouping three codes as 'vegetation')
    are scored apart, by value, and named with it: keyed by name, the JSON report kept one
    of them and lost the others' numbers (a PyQGIS sweep, stop 68)."""
    shared = {n for n in (c.name for c in classes) if [d.name for d in classes].count(n) > 1}
    if not shared:
        return classes
    said = "; ".join(f"'{n}': values {[c.value for c in classes if c.name == n]}"
                     for n in sorted(shared))
    progress.warning(f"Classes share a name ({said}): they are scored apart, by value, as "
                     "'name (value)'; to score them as one class, give them one value in the "
                     "map and the reference")
    return [replace(c, name=f"{c.name} ({c.value})") if c.name in shared else c
            for c in classes]


def warn_names_differ(ref, map_path: str, progress: Progress, band: int = 1) -> None:
    """A reference raster (or a numeric field with CLASS_NAME_FIELD) is scored by value;
    where it names a value otherwise than the map (1 = water there, 1 = developed here)
    the two are coded differently and the scores mean nothing: that was said for text
    references only (a PyQGIS sweep, stop 68). Default names ('Class 3') say nothing."""
    mine = {v: n for v, n in map_names(map_path, band).items() if n != f"Class {v}"}
    free = getattr(ref, "free_values", set())
    differ = [(c.value, c.name, mine[c.value]) for c in ref.classes
              if c.value in mine and c.value not in free and c.name != f"Class {c.value}"
              and c.name.strip().casefold() != mine[c.value].strip().casefold()]
    if not differ:
        return
    said = ", ".join(f"{v}: '{a}' in the reference, '{b}' in the map" for v, a, b in differ[:5])
    progress.warning(f"The reference and the map name {len(differ)} class value(s) "
                     f"differently ({said}{', ...' if len(differ) > 5 else ''}); they are "
                     "compared by value. If the two code their classes differently, recode "
                     "one (e.g. Reclassify by table) or give a text class field")
