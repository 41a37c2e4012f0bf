"""Evaluation helpers of deep training (the training loop's own numbers are tested in
test_train_deep_learning_model on real chips)."""

import numpy as np

from landlearn.core.deep.evaluation import calibration_groups


def test_calibration_halves_follow_spatial_blocks_or_chips():
    """Overlapping chips share pixels, so the cross-fitted calibration error splits whole
    blocks; with one block only, whole chips."""
    from types import SimpleNamespace

    chips = [SimpleNamespace(block_key=k) for k in [(0, 1), (0, 1), (0, 2), (1, 1)]]
    data = SimpleNamespace(chips=chips)
    groups = calibration_groups(data, np.array([0, 1, 1, 2, 3, 0]))
    assert groups[0] == groups[1] == groups[2] == groups[5]  # chips 0 and 1: block (0, 1)
    assert len({groups[0], groups[3], groups[4]}) == 3
    one = SimpleNamespace(chips=[SimpleNamespace(block_key=(0, 0))] * 3)
    assert calibration_groups(one, np.array([2, 0, 2, 1])).tolist() == [2, 0, 2, 1]
