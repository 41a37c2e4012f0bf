"""The class-area table."""

import csv
import io
import json

from landlearn.core.classify.collection.areas import area_rows, table_text


def test_rows_give_areas_hectares_and_shares():
    rows = area_rows("a.tif", "a_classified.tif", {0: 5, 1: 30, 2: 10}, {1: "water", 2: "crop"},
                     900.0, metres=True)
    assert [(r["class_value"], r["class_name"], r["pixels"]) for r in rows] == \
        [(0, "NoData / unclassified", 5), (1, "water", 30), (2, "crop", 10)]
    assert rows[1]["area_map_units2"] == 27000.0 and rows[1]["hectares"] == 2.7
    assert rows[1]["percent"] == 75.0 and rows[0]["percent"] == ""
    degrees = area_rows("b.tif", "b_classified.tif", {1: 4}, {1: "water"}, 1e-6, metres=False)
    assert degrees[0]["hectares"] == ""
    text, js = table_text(rows + degrees)
    back = list(csv.DictReader(io.StringIO(text)))
    assert len(back) == 4 and back[1]["hectares"] == "2.7" and json.loads(js)[3]["item"] == "b.tif"


def test_a_class_name_a_spreadsheet_would_run_is_written_as_text():
    """Class names come from others' packages: '=HYPERLINK(...)' written as is ran in a
    spreadsheet that opened class_areas.csv (an adversarial sweep, stop 68)."""
    rows = area_rows("a.tif", "a_classified.tif", {1: 3, 2: 1},
                     {1: "=HYPERLINK(\"http://x\")", 2: "-1+1"}, 1.0, metres=True)
    text, js = table_text(rows)
    back = list(csv.DictReader(io.StringIO(text)))
    assert [r["class_name"] for r in back] == ["'=HYPERLINK(\"http://x\")", "'-1+1"]
    assert back[0]["pixels"] == "3" and json.loads(js)[0]["class_name"].startswith("=")
