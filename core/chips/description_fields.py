"""The fields of a chip folder's description (esri_model_definition.emd, the accumulated
statistics, LandLearn's manifest) as others write them, read and checked one by one.

Why apart from training_data.py: a folder comes from whoever made it, and each field may
be missing, of another type or out of range; each reader here raises ValueError naming
the field, which training_data turns into one message naming the folder.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["band_nodata", "bounds", "color", "scaling", "turn"]


def color(raw) -> tuple[int, int, int] | None:
    """A class's colour as three 0..255 numbers, else None (the default colour)."""
    if isinstance(raw, (list, tuple)) and len(raw) >= 3 and \
            all(isinstance(c, (int, float)) and 0 <= c <= 255 for c in raw[:3]):
        return tuple(int(c) for c in raw[:3])
    return None  # ArcGIS writes [-1, -1, -1] for "no colour chosen"; other forms: default


def band_nodata(raw, count: int, chip_nodata: float | None) -> list[float | None]:
    """Each band's own NoData as the export described it (numbers, None, or the text
    "nan"/"inf" strict JSON holds them as), else the chip file's one value for every band
    (ArcGIS's folders, older exports). A band whose value differs from band 1's (a thermal
    band's -9999 beside 0) was read as data in training while Classify Pixels read it as
    the band's mean."""
    if not isinstance(raw, list) or len(raw) != count:
        return [chip_nodata] * count
    out: list[float | None] = []
    for v in raw:
        if v is None:
            out.append(None)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(float(v))
        elif isinstance(v, str) and v.strip().lower() in ("nan", "inf", "-inf"):
            out.append(float(v.strip().lower()))
        else:
            raise ValueError(f"NoData {str(v)[:20]} is not a number")
    return out


def scaling(raw, count: int) -> list[list[float]] | None:
    """SourceScaling: [scale, offset] of each exported band, finite, scales not 0."""
    if raw is None:
        return None
    pairs = [[float(s), float(o)] for s, o in raw]
    if len(pairs) != count or not all(np.isfinite(p).all() and p[0] != 0 for p in pairs):
        raise ValueError(f"SourceScaling {str(raw)[:60]} is not {count} [scale, offset] pairs")
    return pairs


def turn(raw) -> float:
    """A manifest's chip rotation in degrees, 0..360."""
    degrees = float(raw)
    if not math.isfinite(degrees):
        raise ValueError(f"chip rotation {str(raw)[:30]} is not a number of degrees")
    return degrees % 360.0


def bounds(raw) -> tuple[float, float, float, float] | None:
    """A manifest's chip bounds: four finite numbers around a positive area (zero-width
    bounds divided by zero where the labels are counted, text failed deep in numpy), or
    None for a rotated copy (ROTATION_ANGLE), which lies in no rows and columns of the map."""
    if raw is None:
        return None
    b = tuple(float(v) for v in raw)
    if len(b) != 4 or not all(np.isfinite(b)) or not (b[2] > b[0] and b[3] > b[1]):
        raise ValueError(f"chip bounds {str(raw)[:60]} are not (left, bottom, right, top)")
    return b
