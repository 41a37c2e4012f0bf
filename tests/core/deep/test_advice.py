"""deep.advice: the sparse-label note, on its threshold."""

from landlearn.core.deep.advice import SPARSE_LABELS, sparse_labels_note


def test_sparse_labels_get_the_benchmark_note_and_dense_ones_do_not():
    note = sparse_labels_note(31, 100)
    assert note.startswith("labels cover 31% of the training chips' pixels")
    assert "random forest" in note and "Assess Accuracy" in note
    assert sparse_labels_note(int(SPARSE_LABELS * 100), 100) is None
    assert sparse_labels_note(100, 100) is None
    assert sparse_labels_note(0, 0) is None


def test_sparse_labels_of_arcgis_chips_say_that_their_0_was_a_background_class():
    """arcgis.learn trains a Classified Tiles label 0 as 'background'; LandLearn reads it
    as no label, so a model of buildings on ArcGIS's chips has no 'other' class."""
    note = sparse_labels_note(31, 100, ["/data/a", "/data/b"])
    assert "'/data/a', '/data/b' have no LandLearn description (ArcGIS Pro's export)" in note
    assert "label the background as a class of its own" in note
    assert "ArcGIS" not in sparse_labels_note(31, 100)
    assert sparse_labels_note(90, 100, ["/data/a"]) is None  # wall to wall: nothing lost
