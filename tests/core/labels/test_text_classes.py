"""labels.text_classes: which texts of a class field are classes, which spell codes, and
which mean no label."""

from landlearn.core.labels.text_classes import _code, _missing, _text_class


def test_codes_kept_as_text_and_texts_that_are_no_label():
    assert [_code(t) for t in ("3", "03", "3.0", " 12 ", "2.5", "water", "inf")] == \
        [3, 3, 3, 12, None, None, None]
    assert [_text_class(t) for t in ("Forest", "  ", "0", "0.0", "NA", "null", "n/a")] == \
        ["Forest", None, None, None, None, None, None]
    assert _missing(" NaN ") and _missing("<NULL>") and not _missing("Nanaimo")
