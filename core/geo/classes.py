"""Class values, names and colours: what every label raster, package and map carries.

Value 0 is NoData everywhere (export, loss, metrics, maps), so classes are 1..255.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

# Distinct, colour-blind-friendly-ish defaults for classes 1, 2, ... (cycled past 20).
_PALETTE = [
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0),
    (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128), (128, 128, 128),
]


def default_color(value: int) -> tuple[int, int, int]:
    return _PALETTE[(int(value) - 1) % len(_PALETTE)]


@dataclass(frozen=True)
class ClassInfo:
    value: int
    name: str
    color: tuple[int, int, int]

    def to_esri(self) -> dict:
        """The Esri .emd / stats form: {"Value", "Name", "Color"}."""
        return {"Value": self.value, "Name": self.name, "Color": list(self.color)}


def colormap(classes: Iterable[ClassInfo]) -> dict[int, tuple[int, int, int, int]]:
    """A full 256-entry colour table: class colours opaque, every other value transparent."""
    cmap = {v: (0, 0, 0, 0) for v in range(256)}
    for c in classes:
        cmap[c.value] = (*c.color, 255)
    return cmap


def check_class_value(value: float, parameter: str, where: str = "") -> int:
    """Class values must be whole numbers 0..255 (0 = NoData); say which one is not."""
    at = f" ({where})" if where else ""
    if value != value or value in (float("inf"), float("-inf")) or float(value) != int(value):
        raise InputError(parameter, f"class value {value!r}{at} is not a whole number; "
                         "class values must be integers 1..255 (0 = NoData)")
    if not 0 <= int(value) <= 255:
        raise InputError(parameter, f"class value {int(value)}{at} is outside 0..255; "
                         "renumber the classes to 1..255 (0 = NoData)")
    return int(value)


def class_values(data: np.ndarray, valid: np.ndarray | None = None
                  ) -> tuple[np.ndarray, float | None]:
    """(int64 class values, 0 where not ``valid`` or NaN; the first value that is not a
    whole number 0..255, or None). A class map in any type: terra, SAGA and Raster
    Calculator write Float32 maps of whole numbers."""
    floating = np.issubdtype(data.dtype, np.floating)
    keep = np.ones(data.shape, bool) if valid is None else valid
    if floating:
        keep = keep & ~np.isnan(data)
    kept = data[keep]
    bad = (kept < 0) | (kept > 255)
    if floating:
        bad |= kept != np.round(kept)
    first = kept[bad][0].item() if bad.any() else None
    return np.where(keep, np.nan_to_num(data) if floating else data, 0).astype(np.int64), first


def make_classes(values: Iterable[int], names: dict[int, str] | None = None,
                 colors: dict[int, tuple[int, int, int]] | None = None) -> list[ClassInfo]:
    names = names or {}
    colors = colors or {}
    return [ClassInfo(v, names.get(v) or f"Class {v}", tuple(colors.get(v) or default_color(v)))
            for v in sorted({int(v) for v in values if int(v) != 0})]


_LINE = re.compile(r"^\s*(\d+)\s*[=:,\t]\s*(.+?)\s*$")


MAX_NAME = 256  # what a package's schema takes (model_package.schema: Classes.Name)


def check_class_names(names: dict[int, str], parameter: str, where: str) -> dict[int, str]:
    """``names``, refused where one holds a control character (a NUL cut the name short
    in the .aux.xml, and made the .qml a file QGIS would not load, unsaid) or is longer
    than a package takes (training ran to its end and wrote a package every reader then
    refused as damaged; an adversarial sweep, stop 68)."""
    for value, name in names.items():
        bad = next((ch for ch in name if ord(ch) < 32 or ord(ch) == 127), None)
        if bad is not None or len(name) > MAX_NAME:
            why = (f"holds the control character {bad!r}" if bad is not None
                   else f"is {len(name)} characters long (at most {MAX_NAME})")
            raise InputError(parameter, f"the name of class {value} in '{where}' {why}; "
                             "rename that class")
    return names


def read_class_names_file(path: str | os.PathLike) -> dict[int, str]:
    """Read 'value = name' lines (also ':', ',' or tab); other lines are ignored.

    This is the form the shared data's *_classes.txt files use, and what a user types.
    Value 0 lines ('0 = unlabeled') describe NoData and are skipped.
    """
    names: dict[int, str] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            m = _LINE.match(line)
            if m and int(m.group(1)) != 0:
                names[int(m.group(1))] = m.group(2)
    return names
