"""What a text class field's values mean: names numbered 1..n, codes kept as text ("3",
"3.0"), the number 0 and missing-value texts (NA, NULL) as no label, and a reference's
names matched to a map's classes. Shared by every reading of a vector label layer
(vector_labels), apart from the geometry side."""

from __future__ import annotations

import os

import numpy as np

from ..errors import InputError

__all__ = ["MAX_TEXT_CLASSES", "MISSING_TEXTS", "utf8_text"]

MAX_TEXT_CLASSES = 255


def _matched_codes(texts: list[str], known: dict[str, int]) -> dict[str, int]:
    """Each text's value in ``known`` (exact name first, then ignoring case, then a text of
    digits as the class value it spells); the others take the largest values ``known``
    does not use, in the texts' order."""
    folded = {}
    for name, value in known.items():
        folded.setdefault(name.strip().casefold(), value)
    code = {}
    values = set(known.values())
    for t in texts:
        value = known.get(t, folded.get(t.casefold()))
        if value is None and _code(t) in values:
            value = _code(t)  # a class code kept as text ("3", "3.0"): the map's class 3
        if value is not None:
            code[t] = value
    # from the top: a map's classes are numbered from 1, and one the map holds without a
    # name must not be taken for a reference class it does not have (checked after the map
    # is read, by Assess Accuracy)
    free = (v for v in range(255, 0, -1) if v not in values)
    rest = [t for t in texts if t not in code]
    for t in rest:
        value = next(free, None)
        if value is None and known == _UNNAMED:
            # the map names no class: texts match it only as numbers (a sweep, stop 71)
            raise InputError("class_field", f"the texts {rest[:10]} are not class values, "
                             "and the map names no classes to match them to; name the map's "
                             "classes (a '<map>_classes.txt' beside it with lines such as "
                             "'3 = forest'), or use a numeric class field holding the map's "
                             "values")
        if value is None:
            raise InputError("class_field", f"the texts {rest[:10]} match none of the map's "
                             "class names and no class value is left for them; use a numeric "
                             "class field holding the map's values, or a map that names its "
                             "classes (LandLearn's maps do)")
        code[t] = value
    return code


# what Assess Accuracy matches texts against where the map names no class: its values
_UNNAMED = {str(v): v for v in range(1, 256)}


def utf8_text(text: str, field: str, labels: str, parameter: str) -> str:
    """``text`` as OGR gave it, refused where it holds bytes that are not UTF-8 (which
    Python hands over as lone surrogates), or the replacement character QGIS puts for
    them in a copy of the layer (a selection, a subset): a shapefile with no .cpg file
    beside it is read without recoding, and a Latin-1 "Foret" with its circumflex made
    Rasterize Labels fail as a bug, Assess Accuracy score its class as matching none of
    the map's (a PyQGIS sweep, stop 68), and, copied, 'Foret' and 'Foret' with another
    accent one class (review, stop 68)."""
    if not any("\udc80" <= ch <= "\udcff" or ch == "\ufffd" for ch in text):
        return text
    shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    stem = labels.rsplit(".", 1)[0] if labels.lower().endswith((".shp", ".dbf")) else None
    cpg = f"{stem}.cpg" if stem else None
    if cpg and os.path.isfile(cpg):
        with open(cpg, "rb") as fh:
            said = fh.read(64).decode("ascii", "replace").strip()
        fix = (f"'{cpg}' says '{said}', which the text is not; write its true encoding "
               "there (windows-1252, ISO-8859-1 ...)")
    elif cpg:
        fix = f"add a file '{cpg}' holding its encoding (windows-1252, ISO-8859-1 ...)"
    else:
        fix = "save the layer again as UTF-8 (a GeoPackage always is)"
    raise InputError(parameter, f"the text '{shown}' of field '{field}' in '{labels}' is not "
                     f"UTF-8 as read; {fix}, or set the layer's encoding in QGIS (Layer "
                     "Properties > Source) and pick the layer")


def _zero(text: str) -> bool:
    """A text class that is the number 0 ("0", "00", "0.0"): no label, as 0 is in a numeric
    field (a CSV's background code; numbered alphabetically it became class 1)."""
    try:
        return float(text) == 0
    except ValueError:
        return False


# what spreadsheets, R and pandas write for a missing value: no class, as NULL is
MISSING_TEXTS = frozenset({"na", "n/a", "nan", "null", "none", "<null>"})


def _missing(text: str) -> bool:
    return text.strip().casefold() in MISSING_TEXTS


def _text_class(text: str) -> str | None:
    """A feature's text class, or None where it has none (empty, missing, or the number 0)."""
    text = text.strip()
    return text if text and not _zero(text) and not _missing(text) else None


def _code(text: str) -> int | None:
    """The whole number a text class spells ("12", "012", "12.0": 12), or None (a word,
    a fraction): class codes kept as text by a CSV or a pandas export."""
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if np.isfinite(number) and number == int(number) else None
