"""deep.advice: the sparse-label note, on its threshold."""

from landlearn.core.deep.advice import SPARSE_LABELS, sparse_labels_note


def test_sparse_labels_get_the_benchmark_note_and_dense_ones_do_not():
    note = sparse_labels_note(31, 100)
    assert note.startswith("labels cover 31% of the training chips' pixels")
    assert "random forest" in note and "Assess Accuracy" in note
    assert sparse_labels_note(int(SPARSE_LABELS * 100), 100) is None
    assert sparse_labels_note(100, 100) is None
    assert sparse_labels_note(0, 0) is None
