"""Which reference class is which map class: a text reference with no class of the map is
refused before the pixel loop; classes sharing a name are scored apart and named apart."""

import json

import numpy as np
import pytest

from landlearn.core.accuracy.assess_accuracy import AssessConfig, assess_accuracy
from landlearn.core.errors import InputError
from landlearn.core.labels.base import LabelConfig
from landlearn.core.progress import RecordingProgress
from synthetic import kind_layer, map_and_reference, write

LEFT, RIGHT = (500000, 4999800, 500100, 5000000), (500100, 4999800, 500200, 5000000)


def test_a_text_reference_none_of_whose_classes_the_map_names_is_refused(tmp_path):
    """Refine's map named 'Class 1..7' against a reference of 'forest', 'water': every
    sample an error, OA 0 and kappa 0 over twice the classes, no word (a PyQGIS sweep,
    stop 68). Refused, listing both; one name in common is enough to go on."""
    m = write(tmp_path / "map.tif", np.repeat([[1] * 10 + [2] * 10], 20, axis=0), nodata=0)
    (tmp_path / "map_classes.txt").write_text("1 = Class 1\n2 = Class 2\n")
    ref = kind_layer(tmp_path / "ref.gpkg", [("forest", LEFT), ("water", RIGHT)])
    with pytest.raises(InputError, match=r"^LABELS: none of the reference classes \['forest', "
                       r"'water'\] is a class of the map \(whose classes are \['Class 1', "
                       r"'Class 2'\]\)"):
        assess_accuracy(AssessConfig(m, LabelConfig(ref, class_field="kind")))
    ref = kind_layer(tmp_path / "ref2.gpkg", [("forest", LEFT), ("2", RIGHT)])
    res = assess_accuracy(AssessConfig(m, LabelConfig(ref, class_field="kind")))
    assert res.accuracy.matrix.sum() == 400


def test_classes_sharing_a_name_are_scored_apart_and_both_reported(tmp_path):
    """Two reference classes named 'vegetation': the JSON report, keyed by name, kept one
    and lost the other's numbers (a PyQGIS sweep, stop 68). Now each is 'name (value)',
    with its own numbers, and the shared name is said."""
    m, r = map_and_reference(tmp_path)
    (tmp_path / "ref_classes.txt").write_text("1 = vegetation\n2 = vegetation\n")
    progress = RecordingProgress()
    res = assess_accuracy(AssessConfig(m, LabelConfig(r), str(tmp_path / "acc.json")), progress)
    assert [c.name for c in res.classes] == ["vegetation (1)", "vegetation (2)"]
    assert any(w.startswith("Classes share a name ('vegetation': values [1, 2])")
               for w in progress.warnings), progress.warnings
    data = json.loads((tmp_path / "acc.json").read_text())
    per_class = data["pixel_counts"]["per_class"]
    assert sorted(per_class) == ["vegetation (1)", "vegetation (2)"]
    assert [per_class[k]["support"] for k in sorted(per_class)] == [228, 152]
    assert sorted(data["area_weighted"]["classes"]) == ["vegetation (1)", "vegetation (2)"]


def test_a_reference_raster_naming_a_value_otherwise_than_the_map_is_warned_of(tmp_path):
    """1 = water in the reference's classes file, 1 = developed in the map's: scored by
    value with no word, OA 0.79 (a PyQGIS sweep, stop 68). Said; names that agree (in
    any case) or default names say nothing."""
    m, r = map_and_reference(tmp_path)  # the reference names 1 water, 2 forest
    progress = RecordingProgress()
    assess_accuracy(AssessConfig(m, LabelConfig(r)), progress)
    assert not any("name" in w and "differently" in w for w in progress.warnings)
    (tmp_path / "map_classes.txt").write_text("1 = developed\n2 = Forest\n")
    progress = RecordingProgress()
    assess_accuracy(AssessConfig(m, LabelConfig(r)), progress)
    said = [w for w in progress.warnings if "differently" in w]
    assert said == ["The reference and the map name 1 class value(s) differently (1: 'water' "
                    "in the reference, 'developed' in the map); they are compared by value. "
                    "If the two code their classes differently, recode one (e.g. Reclassify "
                    "by table) or give a text class field"]
