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


def _grid(folder=0, n=3, stride=32, size=64, px=10.0, bounds=True):
    from landlearn.core.chips.training_data import Chip

    return [Chip(f"i{folder}_{r}_{c}", "l", folder, 0,
                 (c * stride * px, -(r * stride + size) * px, (c * stride + size) * px,
                  -r * stride * px) if bounds else None)
            for r in range(n) for c in range(n)]


def test_coverage_counts_each_pixel_of_a_folder_once():
    """3 x 3 chips of 64 px every 32 px: a pixel lies in 1, 2 or 4 chips; the weights of all
    chips add up to the 128 x 128 pixels they cover. Another folder's chips over the same
    place (another date) and chips without bounds count apart."""
    from landlearn.core.deep.evaluation import Coverage

    chips = _grid(0) + _grid(1) + _grid(2, bounds=False)
    cov = Coverage(chips, list(range(len(chips))), (64, 64))
    middle = cov.weights(4)
    np.testing.assert_array_equal(middle, 0.25)
    corner = cov.weights(0)
    assert corner[0, 0] == 1 and corner[0, 40] == 0.5 and corner[40, 0] == 0.5
    assert corner[40, 40] == 0.25
    total = sum(cov.weights(i).sum() for i in range(9))
    assert total == 128 * 128
    assert sum(cov.weights(i).sum() for i in range(9, 18)) == 128 * 128  # folder 1 apart
    np.testing.assert_array_equal(cov.weights(20), 1)  # no bounds: every pixel once
    # only the chips evaluated count: the middle chip alone covers its pixels once
    np.testing.assert_array_equal(Coverage(chips, [4], (64, 64)).weights(4), 1)


def test_the_validation_matrix_holds_each_held_out_labelled_pixel_once(chips):
    """s2 sample, 64 px chips every 32 px, 20% held out: the matrix's total and supports
    are the labelled pixels the split held out (label_cells, each counted once), not the
    sum over overlapping chips (2.1x as many here)."""
    import torch

    from landlearn.core.chips.training_data import read_training_data
    from landlearn.core.deep.chip_dataset import IGNORE, ChipData
    from landlearn.core.deep.evaluation import evaluate
    from landlearn.core.deep.label_cells import label_cells
    from landlearn.core.deep.split import spatial_split
    from landlearn.core.progress import NullProgress

    data = read_training_data([str(chips)])
    values = [c.value for c in data.classes if c.value != 0]
    cd = ChipData(data, values)
    split = spatial_split(data.chips, 20, 0, label_cells(data.chips, cd.label_classes,
                                                         len(values)))

    class Constant(torch.nn.Module):  # every pixel class 0: the matrix is its first column
        def forward(self, x):
            out = torch.zeros((x.shape[0], len(values)) + tuple(x.shape[2:]))
            out[:, 0] = 1
            return out

    loss = torch.nn.CrossEntropyLoss(ignore_index=IGNORE)
    _, acc = evaluate(torch, Constant(), cd, split.valid, loss, torch.device("cpu"), 8,
                      len(values), [str(v) for v in values], False, torch.float32,
                      NullProgress())
    stacked = sum(int((cd.label_classes(i) != IGNORE).sum()) for i in split.valid)
    assert stacked > 2 * split.held_out
    np.testing.assert_allclose(acc.matrix.sum(), split.held_out, rtol=1e-9)
    np.testing.assert_allclose(acc.support, split.held_classes, rtol=1e-9)
