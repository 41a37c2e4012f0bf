"""Band numbers as users type them: '1;2;10' (QGIS's list separator) or '1,2,10'."""

from __future__ import annotations

import re

from qgis.core import QgsProcessingException

__all__ = ["band_numbers"]


def band_numbers(alg, parameters: dict, key: str, context) -> tuple[int, ...]:
    """The band numbers of a (multiple) band parameter. QGIS reads a text list split at
    ';' only, and '1,2,10' (how NEIGHBOURHOOD_SIZES and EXTENT take their lists) became
    band 0, refused as 'band(s) [0] do not exist' (qgis_process sweep, stop 69). A text of
    numbers split by commas, semicolons or spaces is read as those bands; anything else
    that is not a band number is refused naming the key."""
    raw = parameters.get(key)
    if isinstance(raw, str) and raw.strip():
        parts = [p for p in re.split(r"[\s,;]+", raw.strip()) if p]
        if not all(re.fullmatch(r"\d+", p) for p in parts):
            raise QgsProcessingException(f"{key}: '{raw}' is not a list of band numbers; "
                                         "give them as 1;2;3 (or 1,2,3)")
        values = tuple(int(p) for p in parts)
    else:
        values = tuple(alg.parameterAsInts(parameters, key, context))
    if any(v < 1 for v in values):
        raise QgsProcessingException(f"{key}: band numbers start at 1 (got "
                                     f"{', '.join(str(v) for v in values)})")
    return values
