"""The summary a user reads after an export."""

from types import SimpleNamespace

from landlearn.core.chips.classified_tiles import ChipRecord, ExportDescription
from landlearn.core.chips.export_report import summarize
from landlearn.core.geo.classes import ClassInfo


def _result(**kw):
    chips = [ChipRecord(i, 0, 0, (0, 0, 1, 1), block, 0, 0, 100, {}) for i, block in
             enumerate([0, 0, 3])]
    d = ExportDescription("img.tif", [1, 2], 2, ["Band_1", "Band_2"], "uint16", [0, 0], None,
                          (10.0, 10.0), (0, 10, 0, 0, 0, -10), (256, 128), (128, 64), (256, 128),
                          [ClassInfo(1, "water", (0, 0, 255)), ClassInfo(4, "urban", (9, 9, 9))],
                          [], chips)
    base = dict(description=d, chips=3, windows=12, class_pixels={1: 750, 4: 250},
                skipped_unlabelled=0, skipped_below_fraction=0, skipped_nodata=0,
                labels_on_nodata=0, warnings=[])
    base.update(kw)
    return SimpleNamespace(**base)


def test_summary_lines():
    assert summarize(_result()).splitlines() == [
        "3 chips of 256 x 128 px (stride 128 x 64) from 12 windows",
        "2 bands (uint16), cell size 10 x 10, 2 spatial blocks",
        "1000 labelled pixels in the chips (overlapping chips count a pixel once per chip):",
        "    1 water: 750 px (75.0%)",
        "    4 urban: 250 px (25.0%)",
    ]


def test_skips_nodata_labels_and_warnings_are_told():
    text = summarize(_result(skipped_unlabelled=4, skipped_nodata=2, skipped_below_fraction=1,
                             labels_on_nodata=17, warnings=["class 4 'urban' is rare"],
                             class_pixels={1: 0}))
    lines = text.splitlines()
    assert lines[0].endswith("from 12 windows; skipped 4 without labels, 1 below the labelled "
                             "fraction, 2 all NoData")
    assert "    1 water: 0 px (0.0%)" in lines and "    4 urban: 0 px (0.0%)" in lines
    assert lines[-2] == "17 labelled chip pixels fell on image NoData and were set to 0"
    assert lines[-1] == "Warning: class 4 'urban' is rare"
