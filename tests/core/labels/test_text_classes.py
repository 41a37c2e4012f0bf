"""labels.text_classes: which texts of a class field are classes, which spell codes, and
which mean no label."""

from landlearn.core.labels.text_classes import _code, _missing, _text_class


def test_codes_kept_as_text_and_texts_that_are_no_label():
    assert [_code(t) for t in ("3", "03", "3.0", " 12 ", "2.5", "water", "inf")] == \
        [3, 3, 3, 12, None, None, None]
    assert [_text_class(t) for t in ("Forest", "  ", "0", "0.0", "NA", "null", "n/a")] == \
        ["Forest", None, None, None, None, None, None]
    assert _missing(" NaN ") and _missing("<NULL>") and not _missing("Nanaimo")


def test_a_text_field_of_class_codes_matches_a_map_that_names_its_classes():
    """Reference classes kept as text codes ('1', '2') against a map naming its classes
    Water, Forest: the codes took free values and every pixel counted as an error."""
    from landlearn.core.labels.text_classes import _matched_codes

    known = {"Water": 1, "Forest": 2, "Urban": 3, "7": 5}
    code = _matched_codes(["1", "2", "forest", "7", "9", "Bare"], known)
    assert code["1"] == 1 and code["2"] == 2 and code["forest"] == 2
    assert code["7"] == 5  # a class named "7" wins over the value 7
    assert code["9"] == 255 and code["Bare"] == 254  # no such class: free values from the top
