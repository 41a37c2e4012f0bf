"""The class-area table of a collection classified item by item (CSV and JSON).

One row per item and class: pixels, area in square map units, hectares where the CRS is
in metres (empty otherwise: square degrees are no area), and the share of the item's
classified pixels. NoData / unclassified pixels get a row of their own (class 0).
"""

from __future__ import annotations

import csv
import io
import json

FIELDS = ["item", "output", "class_value", "class_name", "pixels", "area_map_units2",
          "hectares", "percent"]


def area_rows(item: str, output: str, counts: dict[int, int], names: dict[int, str],
              pixel_area: float, metres: bool) -> list[dict]:
    classified = sum(n for v, n in counts.items() if v) or 1
    rows = []
    for value in sorted(counts):
        n = counts[value]
        area = n * pixel_area
        rows.append({"item": item, "output": output, "class_value": value,
                     "class_name": names.get(value, "NoData / unclassified" if not value
                                             else str(value)),
                     "pixels": n, "area_map_units2": round(area, 6),
                     "hectares": round(area / 1e4, 6) if metres else "",
                     "percent": round(100 * n / classified, 4) if value else ""})
    return rows


def _cell(value):
    """A text cell a spreadsheet will not run: one starting with = + - @ (a class name
    '=HYPERLINK(...)' from someone's package) gets a leading apostrophe, as OWASP advises
    for CSV; numbers stay numbers (an adversarial sweep, stop 68)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def table_text(rows: list[dict]) -> tuple[str, str]:
    """(CSV, JSON) of the rows; the JSON holds the names as they are."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
    return buf.getvalue(), json.dumps(rows, indent=1) + "\n"
